// Theory check, one worker out of four stuck in a busy loop: its event loop stops, so requests
// on its connections stall until they time out (1 s here), while the other workers keep serving.
// Nothing crashes, so nothing is restarted or replaced: a hang is only seen by the clients.
//
// What a keep-alive client sees: SO_REUSEPORT hands connections, not requests, to workers, so
// about a quarter of the driver's connections sit on the hung worker; each stalls one request
// until the timeout, then reconnects and lands on a live worker three times in four. The dip is
// therefore about a quarter at first and fades as connections move off the hung worker.
import test from 'ava';
import { assertInjectedOnce, runFaultExperiment } from './run-fault.ts';

test("hang: under both models one worker's share of requests stalls into timeouts (peak dip 8-50%) while the others keep serving (>= 40% of baseline every second), with no restart", async (t) => {
  const { processes, threads } = await runFaultExperiment(t, 'hang');
  for (const [name, trial] of [
    ['processes', processes],
    ['threads', threads],
  ] as const) {
    assertInjectedOnce(t, trial, 'hang');
    const b = trial.blast;
    const timeouts = b.failedByKind.timeout ?? 0;
    t.true(timeouts >= 3, `${name}: ${timeouts} requests timed out on the hung worker`);
    t.true(b.peakCapacityLostPercent >= 8, `${name} peak loss ${b.peakCapacityLostPercent}%`);
    t.true(b.peakCapacityLostPercent <= 50, `${name} peak loss ${b.peakCapacityLostPercent}%`);
    t.true(
      trial.afterFault.every((n) => n >= b.baselineThroughput * 0.4),
      `${name} ok/s after the fault: ${trial.afterFault.join(' ')}`,
    );
    t.false(b.restarted, `${name}: nothing restarted`);
    t.is(b.workersReplaced, 0, `${name}: a hung worker is not replaced`);
    // Spans: the hung worker had its share of the work before (the driver spreads connections).
    t.truthy(b.spans, `${name}: spans reached the receiver`);
    const share = b.spans?.brokenWorkerShareBeforePercent ?? 0;
    t.true(share >= 5 && share <= 50, `${name}: hung worker served ${share}% before the fault`);
  }
});
