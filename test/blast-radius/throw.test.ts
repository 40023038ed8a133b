// Theory check, uncaught JavaScript exception in one worker out of four: contained per thread
// (a worker_thread dies alone) and per process, so only that worker is lost under both models.
import test from 'ava';
import { assertInjectedOnce, EXPECTED_WORKER, eventsOf, runFaultExperiment } from './run-fault.ts';

test('throw: only that worker is lost under threads and under processes (peak loss <= 40%, no process restart, worker replaced)', async (t) => {
  const { processes, threads } = await runFaultExperiment(t, 'throw');
  for (const [name, trial] of [
    ['threads', threads],
    ['processes', processes],
  ] as const) {
    assertInjectedOnce(t, trial, 'throw');
    const b = trial.blast;
    t.true(b.peakCapacityLostPercent <= 40, `${name} peak loss ${b.peakCapacityLostPercent}%`);
    t.false(b.restarted, `${name}: the process stayed up`);
    const exits = eventsOf(trial, 'worker-exit');
    t.is(exits.length, 1, `${name}: one worker exited`);
    t.is(exits[0]!.worker, EXPECTED_WORKER);
    t.true(b.workersReplaced >= 1, `${name}: the supervisor replaced the worker`);
    // The other workers kept serving every second.
    t.true(
      trial.afterFault.every((n) => n >= b.baselineThroughput * 0.5),
      `${name} ok/s after the fault: ${trial.afterFault.join(' ')}`,
    );
  }
  t.regex(eventsOf(threads, 'worker-exit')[0]!.exit ?? '', /uncaught exception/);
});
