import test from 'ava';
import { decodeHistogram, encodeHistogram, newHistogram, recordMillis } from '../../../operator/analysis/histogram.ts';
import { sharePlan } from '../../../operator/cli/load.ts';
import type { LoadResult } from '../../../operator/load/types.ts';
import { mergeLoadResults } from '../../../operator/runtime/kube/merge-results.ts';

function result(completed: number, latencyMillis: number, startedAtMillis: number, unreliable = false): LoadResult {
  const h = newHistogram();
  for (let i = 0; i < completed; i++) recordMillis(h, latencyMillis);
  return {
    driver: 'builtin',
    startedAtMillis,
    endedAtMillis: startedAtMillis + 1000,
    scheduled: completed + 1,
    sent: completed,
    completed,
    dropped: 1,
    errors: { refused: 1, reset: 0, timeout: 0, http4xx: 0, http5xx: 0, other: 0 },
    inFlightAtEnd: 0,
    latencyHistogram: encodeHistogram(h),
    perSecond: [{ second: 0, sent: completed, completed, errors: 1, dropped: 1, p99Millis: latencyMillis }],
    saturation: {
      unreliable,
      sendSlipP99Millis: unreliable ? 50 : 1,
      eventLoopLagMaxMillis: 3,
      ...(unreliable ? { reason: 'slip' } : {}),
    },
    partial: false,
  };
}

test('results of drivers that shared a trial add up, with latency histograms merged exactly', (t) => {
  const m = mergeLoadResults([result(10, 2, 1000), result(30, 8, 900, true)]);
  t.is(m.completed, 40);
  t.is(m.dropped, 2);
  t.is(m.errors.refused, 2);
  t.is(m.startedAtMillis, 900);
  t.is(m.endedAtMillis, 2000);
  t.is(decodeHistogram(m.latencyHistogram).totalCount, 40);
  t.deepEqual(m.perSecond, [{ second: 0, sent: 40, completed: 40, errors: 2, dropped: 2, p99Millis: 8 }]);
  t.true(m.saturation.unreliable, 'one unreliable driver makes the trial unreliable');
  t.is(m.saturation.reason, 'slip');
});

test('the rate and in-flight cap are shared between the drivers of a variant’s replicas', (t) => {
  const p = sharePlan(
    { rate: 90, durationMillis: 1000, warmUpMillis: 0, maxInFlight: 100, timeoutMillis: 1000 },
    'http://x/work',
    3,
  );
  t.is(p.rate, 30);
  t.is(p.maxInFlight, 33);
  t.deepEqual(p.targets, ['http://x/work']);
});
