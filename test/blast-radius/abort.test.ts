// Theory check, native abort (SIGABRT) of one worker out of four, through the whole fault path:
// under threads it takes the whole OS process, so about all capacity is lost until the runtime
// restarts the process; under processes only that worker dies and the supervisor replaces it.
import test from 'ava';
import { assertInjectedOnce, EXPECTED_WORKER, eventsOf, runFaultExperiment } from './run-fault.ts';

test('abort: threads lose about all capacity (>= 90% while the port is closed) until the process restarts; processes lose at most about a quarter (<= 40%) and recover once the worker is replaced', async (t) => {
  const { processes, threads } = await runFaultExperiment(t, 'abort');
  assertInjectedOnce(t, threads, 'abort');
  assertInjectedOnce(t, processes, 'abort');

  // threads: the whole process went down and was restarted by the runtime.
  const tb = threads.blast;
  // "About all" is about the outage as the client saw it, not downSeconds: downSeconds runs from
  // not-ready to ready, and the restarted process serves on its first thread before all four
  // report ready (CI once saw down 1.95 s with the port closed for about 0.8 s). Requests sent
  // while the port is closed fail at once, so each second's failures over the baseline rate is
  // the share of that second the process was gone, and the client's outage in seconds is all
  // failures over the baseline rate.
  const faultSecond = Math.floor(tb.faultOffsetSeconds);
  const shareDown = threads.record.load.perSecond
    .filter((s) => s.second >= faultSecond)
    .map((s) => s.errors / tb.baselineThroughput);
  const worstShare = Math.min(1, Math.max(0, ...shareDown));
  const outage = tb.failedAfterFault / tb.baselineThroughput;
  // Threads lose every worker at once: in the second the port was closed longest, capacity is
  // lost for at least the share of it the port was closed (>= 90% of it; nothing is half-served).
  t.true(
    tb.peakCapacityLostPercent >= 90 * worstShare,
    `threads peak loss ${tb.peakCapacityLostPercent}% with the port closed for ${(worstShare * 100).toFixed(1)}% of its worst second (outage ${outage.toFixed(2)} s, down ${tb.downSeconds} s)`,
  );
  // A whole second with (almost) nothing served exists only when the outage covers one, which
  // any outage of 2 s or more must; a shorter one straddles seconds, and its cost shows as
  // requests refused while the port was closed: at least a quarter second of the offered load.
  if (outage >= 2) {
    t.true(
      tb.peakCapacityLostPercent >= 90,
      `threads peak loss ${tb.peakCapacityLostPercent}% in a ${outage.toFixed(2)} s outage`,
    );
    t.true(
      threads.afterFault.some((n) => n <= tb.baselineThroughput * 0.1),
      'a second with (almost) nothing served',
    );
  } else {
    t.true(
      tb.requestsLost >= tb.baselineThroughput * 0.25,
      `requests lost ${tb.requestsLost} in a ${outage.toFixed(2)} s outage`,
    );
  }
  t.true(tb.restarted, 'process restart observed');
  t.is(eventsOf(threads, 'process-restart').length, 1);
  t.true(threads.record.faults[0]!.restartedAtMillis !== undefined, 'InjectedFault.restartedAtMillis set');
  t.true(tb.coldStartSeconds !== undefined && tb.coldStartSeconds > 0, `cold start ${tb.coldStartSeconds}`);
  t.true((tb.failedByKind.refused ?? 0) + (tb.failedByKind.reset ?? 0) > 0, 'refused or reset requests');
  t.true(tb.detectSeconds !== undefined && tb.detectSeconds <= 1, `detected after ${tb.detectSeconds} s`);

  // processes: one worker lost and replaced; the process stayed up.
  const pb = processes.blast;
  t.true(pb.peakCapacityLostPercent <= 40, `processes peak loss ${pb.peakCapacityLostPercent}%`);
  t.false(pb.restarted, 'no process restart');
  const exits = eventsOf(processes, 'worker-exit');
  t.is(exits.length, 1);
  t.is(exits[0]!.worker, EXPECTED_WORKER);
  t.regex(exits[0]!.exit ?? '', /SIGABRT/, 'the exit as the supervisor saw it');
  t.true(pb.workersReplaced >= 1, 'the supervisor replaced the worker');
  t.true(pb.recovered, 'throughput recovered to 95% of the baseline and held');
  // Threads lost strictly more than processes: the point of the comparison.
  t.true(tb.requestsLost > pb.requestsLost, `requests lost: threads ${tb.requestsLost}, processes ${pb.requestsLost}`);
});
