// Parses k6's summary JSON into a LoadResult, as far as k6 gives it.
//
// Two shapes are accepted: the `handleSummary(data)` object our scripts write (metrics with
// `values`) and the `--summary-export` file (values flattened into the metric). Limits, by
// what a summary holds:
// - latency comes as a few percentiles, not samples: the histogram is rebuilt from them
//   (latencyHistogramSynthesized: true). Its percentiles at those points match k6's; merges of
//   such histograms across trials are approximate, unlike the built-in driver's;
// - no per-second series (perSecond is empty) and no requests lost in flight (k6 waits for or
//   interrupts them within gracefulStop);
// - no send-slip or event-loop figures: k6's own saturation is not visible here.
import { encodeHistogram, type Histogram, MAX_TRACKABLE_MICROS, newHistogram } from '../contracts/histogram.ts';
import { newErrorCounts } from './classify.ts';
import { ERROR_KINDS, METRIC } from './k6-script.ts';
import type { LoadResult } from './types.ts';

export class K6SummaryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'K6SummaryError';
  }
}

type Values = Record<string, number>;

/** The values of a metric in either summary shape, or undefined when absent. */
function valuesOf(metrics: Record<string, unknown>, name: string): Values | undefined {
  const m = metrics[name];
  if (typeof m !== 'object' || m === null) return undefined;
  const inner = (m as { values?: unknown }).values;
  const source = typeof inner === 'object' && inner !== null ? inner : m;
  const out: Values = {};
  for (const [k, v] of Object.entries(source)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

/** The measured-scenario submetric when the script defined it, else the whole-run metric. */
function pick(metrics: Record<string, unknown>, sub: string, whole: string): Values | undefined {
  return valuesOf(metrics, sub) ?? valuesOf(metrics, whole);
}

/**
 * Rebuilds a histogram of `count` values from percentile points: each band between two
 * points gets its share of the count at the band's upper value, so the histogram's value at
 * each given percentile equals k6's, and nothing is placed below the true value (conservative).
 */
/** Records `n` copies at once (recordMillis does one), same rounding and clamping. */
function recordMillisTimes(h: Histogram, millis: number, n: number): void {
  if (n <= 0) return;
  h.recordValueWithCount(Math.min(MAX_TRACKABLE_MICROS, Math.max(1, Math.round(millis * 1000))), n);
}

export function histogramFromPercentiles(count: number, points: readonly [number, number][]) {
  const h = newHistogram();
  if (count <= 0 || points.length === 0) return h;
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  // The lowest point (min when given) holds one value; each later band fills up to its share.
  recordMillisTimes(h, (sorted[0] as [number, number])[1], 1);
  let placed = 1;
  for (const [percentile, value] of sorted) {
    // ceil: the value at percentile p must cover at least p% of the count, as HDR reads it.
    const n = Math.min(count, Math.ceil((count * percentile) / 100 - 1e-9)) - placed;
    recordMillisTimes(h, value, n);
    if (n > 0) placed += n;
  }
  const highest = (sorted.at(-1) as [number, number])[1];
  recordMillisTimes(h, highest, count - placed);
  return h;
}

export interface K6SummaryTiming {
  /** Epoch millis the measured window started (k6 start + warm-up). */
  startedAtMillis: number;
  endedAtMillis: number;
  partial?: boolean;
}

export function parseK6Summary(summary: unknown, timing: K6SummaryTiming): LoadResult {
  if (
    typeof summary !== 'object' ||
    summary === null ||
    typeof (summary as { metrics?: unknown }).metrics !== 'object'
  ) {
    throw new K6SummaryError(
      'k6 summary has no "metrics" object; was it written by handleSummary or --summary-export?',
    );
  }
  const metrics = (summary as { metrics: Record<string, unknown> }).metrics;
  const reqs = pick(metrics, METRIC.reqs, 'http_reqs');
  if (!reqs) throw new K6SummaryError('k6 summary has no http_reqs metric: the script made no HTTP request');
  const sent = Math.round(reqs.count ?? 0);
  const dropped = Math.round(pick(metrics, METRIC.dropped, 'dropped_iterations')?.count ?? 0);
  const failedRate = pick(metrics, METRIC.failed, 'http_req_failed');
  // For http_req_failed a "pass" is a non-zero sample, i.e. a failed request.
  const failed = Math.round(failedRate?.passes ?? (failedRate?.rate ?? failedRate?.value ?? 0) * sent);

  const errors = newErrorCounts();
  let counted = 0;
  for (const kind of ERROR_KINDS) {
    const n = Math.round(valuesOf(metrics, METRIC.errorCounter(kind))?.count ?? 0);
    errors[kind] += n;
    counted += n;
  }
  // Failures the script did not classify (a script without our counters) count as other.
  if (failed > counted) errors.other += failed - counted;
  const errorTotal = Math.max(failed, counted);
  const completed = Math.max(0, sent - errorTotal);

  const duration =
    valuesOf(metrics, METRIC.duration) ??
    valuesOf(metrics, 'http_req_duration{expected_response:true}') ??
    valuesOf(metrics, 'http_req_duration');
  const points: [number, number][] = [];
  if (duration) {
    const add = (p: number, key: string) => {
      const v = duration[key];
      if (v !== undefined) points.push([p, v]);
    };
    add(0, 'min');
    add(50, 'med');
    add(50, 'p(50)');
    add(90, 'p(90)');
    add(95, 'p(95)');
    add(99, 'p(99)');
    add(99.9, 'p(99.9)');
    add(100, 'max');
  }
  const count = Math.round(duration?.count ?? completed);
  const histogram = histogramFromPercentiles(count, points);

  return {
    driver: 'k6',
    startedAtMillis: timing.startedAtMillis,
    endedAtMillis: timing.endedAtMillis,
    scheduled: sent + dropped,
    sent,
    completed,
    dropped,
    errors,
    inFlightAtEnd: 0,
    latencyHistogram: encodeHistogram(histogram),
    perSecond: [],
    saturation: { unreliable: false, sendSlipP99Millis: 0, eventLoopLagMaxMillis: 0 },
    partial: timing.partial ?? false,
    latencyHistogramSynthesized: true,
  };
}
