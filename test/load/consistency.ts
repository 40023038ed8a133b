// The bookkeeping every LoadResult must satisfy, whatever happened during the run.
import type { ExecutionContext } from 'ava';
import { decodeHistogram } from '../../operator/contracts/histogram.ts';
import { loadResultProblems } from '../../operator/contracts/records.ts';
import type { LoadResult } from '../../operator/load/types.ts';

export const errorSum = (r: LoadResult) => Object.values(r.errors).reduce((a, b) => a + b, 0);

export function assertConsistent(t: ExecutionContext, r: LoadResult): void {
  t.deepEqual(loadResultProblems(r), [], 'a valid record');
  t.is(r.scheduled, r.sent + r.dropped, 'scheduled = sent + dropped');
  t.is(r.sent, r.completed + errorSum(r) + r.inFlightAtEnd, 'sent = completed + errors + inFlightAtEnd');
  const sum = (f: (s: LoadResult['perSecond'][number]) => number) => r.perSecond.reduce((a, s) => a + f(s), 0);
  t.is(
    sum((s) => s.sent),
    r.sent,
    'per-second sent sums to the total',
  );
  t.is(
    sum((s) => s.completed),
    r.completed,
    'per-second completed sums to the total',
  );
  t.is(
    sum((s) => s.errors),
    errorSum(r),
    'per-second errors sum to the total',
  );
  t.is(
    sum((s) => s.dropped),
    r.dropped,
    'per-second dropped sums to the total',
  );
  t.is(decodeHistogram(r.latencyHistogram).totalCount, r.completed, 'histogram holds every success');
  t.is(
    decodeHistogram(r.latencyHistogramAll ?? '').totalCount,
    r.scheduled,
    'the honest histogram holds every scheduled request',
  );
  t.deepEqual(
    r.perSecond.map((s) => s.second),
    r.perSecond.map((_, i) => i),
  );
  const targets = r.perTarget ?? [];
  t.is(
    targets.reduce((a, x) => a + x.sent, 0),
    r.sent,
    'perTarget sent sums to the total',
  );
  t.is(
    targets.reduce((a, x) => a + x.completed, 0),
    r.completed,
    'perTarget completed sums to the total',
  );
  t.is(
    targets.reduce((a, x) => a + x.errors, 0),
    errorSum(r),
    'perTarget errors sum to the total',
  );
}
