// Pure: one LoadResult from the parts of one trial's load, produced by several generators
// (processes of the built-in driver, k6 runners, load pods) that shared its schedule. The
// merge is exact when the parts carry what a record alone cannot: counts add, HDR latency
// histograms add, per-second rows add by second with each second's p99 read from the sum
// of that second's histograms (a max of p99s would only bound it), perTarget adds by replica,
// and the send-slip p99 comes from the summed slip histograms. The merge is marked exact only
// when every part is: one part whose histogram was rebuilt from a k6 summary makes the whole
// approximate (latencyHistogramSynthesized). `parts` keeps each generator's counts, by index.
import { decodeHistogram, encodeHistogram, type Histogram, newHistogram } from '../contracts/histogram.ts';
import { ERROR_KINDS } from '../contracts/records.ts';
import type { LoadResult, SecondSample, TargetLoad } from './types.ts';

/** One generator's share of a trial, with the histograms an exact merge needs. */
export interface LoadPart {
  result: LoadResult;
  /**
   * Encoded HDR histogram (microseconds) of the successful latencies completed in each second of
   * result.perSecond, by index; '' for a second without any. Absent: per-second p99 of the
   * merge falls back to the largest part's p99, an upper bound.
   */
  perSecondLatency?: string[];
  /** Encoded HDR histogram (microseconds) of how late each request was sent. */
  sendSlip?: string;
  /** CPU time (user + system) the generator's process spent from time 0 to the end, s. */
  cpuSeconds?: number;
}

const decodeOrEmpty = (encoded: string | undefined): Histogram => (encoded ? decodeHistogram(encoded) : newHistogram());

/** p99 in ms of a histogram, 0 when it is empty. */
export function p99Millis(h: Histogram): number {
  return h.totalCount === 0 ? 0 : h.getValueAtPercentile(99) / 1000;
}

export function mergeLoadParts(parts: readonly LoadPart[]): LoadPart {
  const [first] = parts;
  if (!first) throw new Error('mergeLoadParts: no parts to merge');
  if (parts.length === 1) return first;
  const results = parts.map((p) => p.result);
  const sum = (f: (r: LoadResult) => number) => results.reduce((a, r) => a + f(r), 0);

  const errors = Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as LoadResult['errors'];
  for (const r of results) for (const k of ERROR_KINDS) errors[k] += r.errors[k] ?? 0;

  // Per second: counts add; the latency histograms of one second add, then give its p99. A
  // part that sent requests without a series (a k6 summary) leaves the merge without one: a
  // series of only the other parts' requests would pass for all of them.
  const seriesComplete = results.every((r) => r.perSecond.length > 0 || r.scheduled === 0);
  const length = seriesComplete ? Math.max(...results.map((r) => r.perSecond.length)) : 0;
  const exact = parts.every((p) => p.perSecondLatency !== undefined);
  const perSecond: SecondSample[] = [];
  const perSecondLatency: string[] = [];
  for (let second = 0; second < length; second++) {
    const row: SecondSample = { second, sent: 0, completed: 0, errors: 0, dropped: 0, p99Millis: 0 };
    const h = exact ? newHistogram() : undefined;
    for (const p of parts) {
      const s = p.result.perSecond.find((x) => x.second === second);
      if (!s) continue;
      row.sent += s.sent;
      row.completed += s.completed;
      row.errors += s.errors;
      row.dropped += s.dropped;
      if (h) {
        const encoded = p.perSecondLatency?.[p.result.perSecond.indexOf(s)];
        if (encoded) h.add(decodeHistogram(encoded));
      } else row.p99Millis = Math.max(row.p99Millis, s.p99Millis);
    }
    if (h) {
      row.p99Millis = p99Millis(h);
      perSecondLatency.push(h.totalCount > 0 ? encodeHistogram(h) : '');
    }
    perSecond.push(row);
  }

  const latency = newHistogram();
  for (const r of results) latency.add(decodeHistogram(r.latencyHistogram));
  const everyAll = results.every((r) => r.latencyHistogramAll !== undefined);
  const all = everyAll ? newHistogram() : undefined;
  if (all) for (const r of results) all.add(decodeOrEmpty(r.latencyHistogramAll));

  const perTarget = mergePerTarget(results);
  const slipExact = parts.every((p) => p.sendSlip !== undefined);
  const slip = slipExact ? newHistogram() : undefined;
  if (slip) for (const p of parts) slip.add(decodeOrEmpty(p.sendSlip));
  const unreliable = results.filter((r) => r.saturation.unreliable);
  const synthesized = results.some((r) => r.latencyHistogramSynthesized === true);
  const generators = sum((r) => r.generators ?? 1);

  const result: LoadResult = {
    driver: first.result.driver,
    startedAtMillis: Math.min(...results.map((r) => r.startedAtMillis)),
    endedAtMillis: Math.max(...results.map((r) => r.endedAtMillis)),
    scheduled: sum((r) => r.scheduled),
    sent: sum((r) => r.sent),
    completed: sum((r) => r.completed),
    dropped: sum((r) => r.dropped),
    errors,
    inFlightAtEnd: sum((r) => r.inFlightAtEnd),
    latencyHistogram: encodeHistogram(latency),
    ...(all ? { latencyHistogramAll: encodeHistogram(all) } : {}),
    perSecond,
    ...(perTarget ? { perTarget } : {}),
    generators,
    parts: results.map((r, generator) => ({
      generator,
      scheduled: r.scheduled,
      sent: r.sent,
      completed: r.completed,
    })),
    saturation: {
      unreliable: unreliable.length > 0,
      sendSlipP99Millis: slip ? p99Millis(slip) : Math.max(...results.map((r) => r.saturation.sendSlipP99Millis)),
      eventLoopLagMaxMillis: Math.max(...results.map((r) => r.saturation.eventLoopLagMaxMillis)),
      ...(unreliable.length > 0
        ? { reason: [...new Set(unreliable.map((r) => r.saturation.reason ?? 'unreliable'))].join('; ') }
        : {}),
    },
    partial: results.some((r) => r.partial),
    ...(synthesized ? { latencyHistogramSynthesized: true } : {}),
  };
  const cpu = parts.every((p) => p.cpuSeconds !== undefined);
  return {
    result,
    ...(exact && seriesComplete ? { perSecondLatency } : {}),
    ...(slip ? { sendSlip: encodeHistogram(slip) } : {}),
    ...(cpu ? { cpuSeconds: parts.reduce((a, p) => a + (p.cpuSeconds ?? 0), 0) } : {}),
  };
}

/** perTarget added by replica; absent when no part has it. */
function mergePerTarget(results: readonly LoadResult[]): TargetLoad[] | undefined {
  if (results.every((r) => r.perTarget === undefined)) return undefined;
  const byReplica = new Map<number, TargetLoad>();
  for (const r of results) {
    for (const t of r.perTarget ?? []) {
      const cur = byReplica.get(t.replica);
      if (!cur) byReplica.set(t.replica, { ...t });
      else {
        cur.sent += t.sent;
        cur.completed += t.completed;
        cur.errors += t.errors;
      }
    }
  }
  return [...byReplica.values()].sort((a, b) => a.replica - b.replica);
}

/**
 * Merges bare records (no per-second histograms): exact for counts and latency histograms;
 * each second's p99 is then the largest part's, an upper bound.
 */
export function mergeLoadResults(results: readonly LoadResult[]): LoadResult {
  return mergeLoadParts(results.map((result) => ({ result }))).result;
}
