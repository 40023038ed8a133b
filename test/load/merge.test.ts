import test from 'ava';
import { decodeHistogram, encodeHistogram, newHistogram, recordMillis } from '../../operator/contracts/histogram.ts';
import { loadResultProblems } from '../../operator/contracts/records.ts';
import { type LoadPart, mergeLoadParts, mergeLoadResults } from '../../operator/load/merge.ts';
import type { LoadResult } from '../../operator/load/types.ts';

const histogramOf = (millis: readonly number[]) => {
  const h = newHistogram();
  for (const m of millis) recordMillis(h, m);
  return h;
};

function result(completed: number, latencyMillis: number, startedAtMillis: number, unreliable = false): LoadResult {
  const h = histogramOf(new Array(completed).fill(latencyMillis));
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
  t.deepEqual(
    m.perSecond,
    [{ second: 0, sent: 40, completed: 40, errors: 2, dropped: 2, p99Millis: 8 }],
    'without per-second histograms a second p99 is the largest part p99 (an upper bound)',
  );
  t.true(m.saturation.unreliable, 'one unreliable driver makes the trial unreliable');
  t.is(m.saturation.reason, 'slip');
  t.deepEqual(loadResultProblems(m), []);
});

/** A part with one second whose successes took `millis`, split by target. */
function part(millis: number[], slipMillis: number[], replica: number, unreliable = false): LoadPart {
  const h = histogramOf(millis);
  const r: LoadResult = {
    ...result(millis.length, 1, 5000, unreliable),
    latencyHistogram: encodeHistogram(h),
    latencyHistogramAll: encodeHistogram(histogramOf([...millis, 5000])),
    perSecond: [{ second: 0, sent: millis.length, completed: millis.length, errors: 1, dropped: 1, p99Millis: 0 }],
    perTarget: [{ replica, url: `http://r${replica}/work`, sent: millis.length, completed: millis.length, errors: 1 }],
  };
  r.perSecond[0] = {
    ...(r.perSecond[0] as LoadResult['perSecond'][number]),
    p99Millis: h.getValueAtPercentile(99) / 1000,
  };
  return { result: r, perSecondLatency: [encodeHistogram(h)], sendSlip: encodeHistogram(histogramOf(slipMillis)) };
}

test('parts with per-second histograms merge exactly: each second p99 is that of the summed histograms', (t) => {
  // 99 fast answers in one part, 1 slow one in the other: the true p99 of the 100 is fast,
  // while the worse part alone has p99 = 900 ms.
  const fast = part(new Array(99).fill(2), new Array(99).fill(0.1), 0);
  const slow = part([900], [30], 1, true);
  const m = mergeLoadParts([fast, slow]);
  const second = m.result.perSecond[0];
  t.is(second?.completed, 100);
  t.true(Math.abs((second?.p99Millis ?? 0) - 2) < 0.01, `p99 ${second?.p99Millis} of the union, not 900 of a part`);
  const union = histogramOf([...new Array(99).fill(2), 900]);
  t.deepEqual(
    decodeHistogram(m.perSecondLatency?.[0] ?? '').getValueAtPercentile(99.5),
    union.getValueAtPercentile(99.5),
  );
  t.is(decodeHistogram(m.result.latencyHistogramAll ?? '').totalCount, 102, 'every scheduled request of both parts');
  t.deepEqual(
    m.result.perTarget?.map((x) => [x.replica, x.sent]),
    [
      [0, 99],
      [1, 1],
    ],
  );
  // Slip: 99 of 100 sends were 0.1 ms late, so the merged p99 is 0.1 ms, not the slow part's 30.
  t.true(m.result.saturation.sendSlipP99Millis < 1, `slip p99 ${m.result.saturation.sendSlipP99Millis}`);
  t.true(m.result.saturation.unreliable);
  t.is(m.result.generators, 2);
  t.deepEqual(loadResultProblems(m.result), []);
});

test('perTarget of parts that each drove every target adds by replica', (t) => {
  const a = part([1, 2], [0], 0);
  const b = part([3], [0], 0);
  b.result.perTarget = [
    { replica: 1, url: 'http://r1/work', sent: 5, completed: 4, errors: 1 },
    { replica: 0, url: 'http://r0/work', sent: 1, completed: 1, errors: 0 },
  ];
  const m = mergeLoadParts([a, b]).result;
  t.deepEqual(m.perTarget, [
    { replica: 0, url: 'http://r0/work', sent: 3, completed: 3, errors: 1 },
    { replica: 1, url: 'http://r1/work', sent: 5, completed: 4, errors: 1 },
  ]);
});

test('a synthesized histogram in any part marks the merge approximate', (t) => {
  const a = result(5, 1, 0);
  const b = { ...result(5, 1, 0), latencyHistogramSynthesized: true };
  t.true(mergeLoadResults([a, b]).latencyHistogramSynthesized);
  t.false('latencyHistogramSynthesized' in mergeLoadResults([a, a]));
  t.throws(() => mergeLoadParts([]), { message: /no parts/ });
});
