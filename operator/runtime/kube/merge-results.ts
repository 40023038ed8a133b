// Pure: one LoadResult from several drivers that shared a trial's rate between a variant's
// replicas (one driver per pod IP). Counts add; latency histograms merge exactly (HDR);
// per-second rows add by second (p99 per second takes the worst runner, an upper bound).
import { decodeHistogram, encodeHistogram, mergeHistograms } from '../../analysis/histogram.ts';
import type { LoadResult, SecondSample } from '../../load/types.ts';

export function mergeLoadResults(results: readonly LoadResult[]): LoadResult {
  const [first] = results;
  if (!first) throw new Error('mergeLoadResults: no results');
  if (results.length === 1) return first;
  const sum = (f: (r: LoadResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const errors = { ...first.errors };
  for (const r of results.slice(1)) {
    for (const [k, v] of Object.entries(r.errors) as [keyof LoadResult['errors'], number][])
      errors[k] = (errors[k] ?? 0) + v;
  }
  const seconds = new Map<number, SecondSample>();
  for (const r of results) {
    for (const s of r.perSecond) {
      const cur = seconds.get(s.second);
      if (!cur) seconds.set(s.second, { ...s });
      else {
        cur.sent += s.sent;
        cur.completed += s.completed;
        cur.errors += s.errors;
        cur.dropped += s.dropped;
        cur.p99Millis = Math.max(cur.p99Millis, s.p99Millis);
      }
    }
  }
  const unreliable = results.filter((r) => r.saturation.unreliable);
  return {
    driver: first.driver,
    startedAtMillis: Math.min(...results.map((r) => r.startedAtMillis)),
    endedAtMillis: Math.max(...results.map((r) => r.endedAtMillis)),
    scheduled: sum((r) => r.scheduled),
    sent: sum((r) => r.sent),
    completed: sum((r) => r.completed),
    dropped: sum((r) => r.dropped),
    errors,
    inFlightAtEnd: sum((r) => r.inFlightAtEnd),
    latencyHistogram: encodeHistogram(mergeHistograms(results.map((r) => decodeHistogram(r.latencyHistogram)))),
    perSecond: [...seconds.values()].sort((a, b) => a.second - b.second),
    saturation: {
      unreliable: unreliable.length > 0,
      sendSlipP99Millis: Math.max(...results.map((r) => r.saturation.sendSlipP99Millis)),
      eventLoopLagMaxMillis: Math.max(...results.map((r) => r.saturation.eventLoopLagMaxMillis)),
      ...(unreliable.length ? { reason: unreliable.map((r) => r.saturation.reason ?? 'unreliable').join('; ') } : {}),
    },
    partial: results.some((r) => r.partial),
  };
}
