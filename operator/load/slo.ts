// The SLO as the load side uses it (durations already in ms), and the pure judgement of a
// trial against it, shared by the max-throughput search and the k6 thresholds.
import type { Slo } from '../api/schema.ts';
import { SLO_PERCENTILES, type SloPercentile } from '../contracts/records.ts';
import type { LoadResult } from './types.ts';

export { SLO_PERCENTILES, type SloPercentile };

/** The numeric percentile of each SLO key, as HDR histograms and k6 name them. */
export const PERCENTILE_VALUE: Record<SloPercentile, number> = { p50: 50, p90: 90, p99: 99, p999: 99.9 };

export interface LoadSlo {
  /** Highest acceptable share of failed requests (errors, drops, lost in flight), 0..1. */
  errorRate: number;
  /** Upper bounds on client latency percentiles, in ms, counted from the intended send time. */
  latencyMillis: Partial<Record<SloPercentile, number>>;
}

/** The API default when a manifest names no SLO: 1% errors, no latency bound. */
export const DEFAULT_SLO: LoadSlo = { errorRate: 0.01, latencyMillis: {} };

/** Converts the API's slo (durations as text) with the API's duration parser. */
export function sloFromApi(slo: Slo | undefined, parseMillis: (duration: string) => number): LoadSlo {
  if (!slo) return DEFAULT_SLO;
  const latencyMillis: LoadSlo['latencyMillis'] = {};
  for (const key of SLO_PERCENTILES) {
    const text = slo.latency?.[key];
    if (text !== undefined) latencyMillis[key] = parseMillis(text);
  }
  return { errorRate: slo.errorRate ?? DEFAULT_SLO.errorRate, latencyMillis };
}

/** Share of scheduled requests that did not complete successfully. */
export function failureRate(r: LoadResult): number {
  if (r.scheduled === 0) return 0;
  const failed = Object.values(r.errors).reduce((a, b) => a + b, 0) + r.dropped + r.inFlightAtEnd;
  return failed / r.scheduled;
}
