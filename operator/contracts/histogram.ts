// Latency histograms shared by the load driver, the trace receiver, the trial runner and the
// analysis: the one encoding every record carries.
//
// HDR histograms in microseconds with 3 significant digits: percentiles are exact to 0.1%,
// and histograms from different trials, runners or workers merge without loss (averaging
// percentiles of summaries would not, a known complaint of k6-operator users).
import hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/** Highest latency we can record: one hour, in microseconds. Larger values are clamped. */
export const MAX_TRACKABLE_MICROS = 3_600_000_000;

export function newHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_MICROS,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Records a duration given in milliseconds (fractions allowed) as whole microseconds. */
export function recordMillis(histogram: Histogram, millis: number): void {
  const micros = Math.min(MAX_TRACKABLE_MICROS, Math.max(1, Math.round(millis * 1000)));
  histogram.recordValue(micros);
}

/** Compact, mergeable text form for reports and for results sent between processes. */
export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(encoded: string): Histogram {
  const decoded = hdr.decodeFromCompressedBase64(encoded, 32, false);
  // Re-home into a histogram with our settings so merges never lose range.
  const h = newHistogram();
  h.add(decoded);
  return h;
}

export function mergeHistograms(histograms: readonly Histogram[]): Histogram {
  const merged = newHistogram();
  for (const h of histograms) merged.add(h);
  return merged;
}

/** Latency summary in milliseconds. */
export interface LatencySummary {
  count: number;
  minMillis: number;
  meanMillis: number;
  p50Millis: number;
  p90Millis: number;
  p99Millis: number;
  p999Millis: number;
  maxMillis: number;
}

export function summarize(histogram: Histogram): LatencySummary {
  const ms = (micros: number) => micros / 1000;
  const empty = histogram.totalCount === 0;
  return {
    count: histogram.totalCount,
    minMillis: empty ? 0 : ms(histogram.minNonZeroValue),
    meanMillis: empty ? 0 : ms(histogram.mean),
    p50Millis: ms(histogram.getValueAtPercentile(50)),
    p90Millis: ms(histogram.getValueAtPercentile(90)),
    p99Millis: ms(histogram.getValueAtPercentile(99)),
    p999Millis: ms(histogram.getValueAtPercentile(99.9)),
    // The bucket-equivalent max, so a histogram and its decoded copy agree exactly.
    maxMillis: ms(histogram.getValueAtPercentile(100)),
  };
}
