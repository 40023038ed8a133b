// The latency percentile distribution per variant, HDR style: x is the percentile on a log
// scale of 1 / (1 - p), so p50, p90, p99, p99.9 sit at equal distances and the tail is as
// visible as the median; y is the client latency. Curves come from the latency histograms of
// the counted trials merged exactly (mergeable HDR), not from averaged percentiles.
import { decodeHistogram, type Histogram, mergeHistograms } from '../../contracts/histogram.ts';
import type { JsonReport } from '../json.ts';
import { type LineSeries, lineChart } from './line-chart.ts';
import { type Colors, short } from './svg.ts';

/** log10(1 / (1 - p)) for p in [0, 1): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9. */
export function nines(p: number): number {
  return Math.log10(1 / (1 - p));
}

const TICKS: [number, string][] = [
  [0, '0%'],
  [0.5, '50%'],
  [0.9, '90%'],
  [0.99, '99%'],
  [0.999, '99.9%'],
  [0.9999, '99.99%'],
  [0.99999, '99.999%'],
];

/** The merged client histogram of a variant's counted trials; undefined when none is kept. */
export function variantHistogram(report: JsonReport, variant: string): Histogram | undefined {
  const v = report.variants.find((x) => x.name === variant);
  const counted = new Set(v?.trialsCounted ?? []);
  const encoded = report.trials
    .filter((t) => t.variant === variant && (counted.size === 0 || counted.has(t.trial)))
    .map((t) => t.latencyHistogram)
    .filter((h) => h.length > 0);
  if (encoded.length === 0) return undefined;
  const merged = mergeHistograms(encoded.map(decodeHistogram));
  return merged.totalCount > 0 ? merged : undefined;
}

/** Points of the percentile curve: fine steps in "nines" up to what the count can resolve. */
export function percentileCurve(h: Histogram): [number, number][] {
  const top = Math.log10(Math.max(10, h.totalCount));
  const points: [number, number][] = [];
  for (let k = 0; k <= top + 1e-9; k += 0.025) {
    const p = 1 - 10 ** -k;
    points.push([k, h.getValueAtPercentile(p * 100) / 1000]);
  }
  return points;
}

export function percentileChart(report: JsonReport, colors: Colors): string | undefined {
  const series: LineSeries[] = [];
  let summaryOnly = false;
  for (const v of report.variants) {
    const color = colors.get(v.name) ?? '#333';
    const h = variantHistogram(report, v.name);
    if (h) {
      series.push({ name: v.name, color, points: percentileCurve(h) });
      continue;
    }
    // Histograms left out of a stored report: the summary percentiles still draw the shape.
    const c = v.latency.client;
    if (c.count === 0) continue;
    summaryOnly = true;
    series.push({
      name: v.name,
      color,
      dots: true,
      points: [
        [nines(0.5), c.p50Millis],
        [nines(0.9), c.p90Millis],
        [nines(0.99), c.p99Millis],
        [nines(0.999), c.p999Millis],
      ],
    });
  }
  if (series.length === 0) return undefined;
  const maxK = Math.max(...series.flatMap((s) => s.points.map((p) => p[0])));
  const lows = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v > 0);
  const spread = Math.max(...lows) / Math.max(1e-6, Math.min(...lows));
  return lineChart({
    id: 'latency-percentiles',
    title: `Client latency by percentile (merged over trials${summaryOnly ? '; summary points only, histograms were left out' : ''})`,
    x: {
      domain: [0, Math.max(3, Math.ceil(maxK))],
      label: 'percentile (log scale of 1 / (1 - p))',
      tickValues: TICKS.filter(([p]) => nines(p) <= Math.max(3, Math.ceil(maxK)) + 1e-6).map(([p]) => nines(p)),
      format: (k) => TICKS.find(([p]) => Math.abs(nines(p) - k) < 1e-9)?.[1] ?? '',
    },
    y: { scale: spread > 30 ? 'log' : 'linear', label: 'latency, ms', format: (v) => short(v) },
    series,
    legend: series.map((s) => ({ label: s.name, color: s.color, kind: 'line' as const })),
  });
}
