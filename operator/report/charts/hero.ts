// The one picture under the verdict, chosen by what the experiment asked: when faults were
// injected, what share of its capacity each variant kept around the fault; otherwise the
// compared figures side by side (throughput or searched capacity, p99, memory), each trial a
// dot over the mean and its confidence interval, so the reader sees difference and noise.
import type { JsonReport } from '../json.ts';
import { type BarPanel, barChart } from './bar-chart.ts';
import { type LineSeries, lineChart } from './line-chart.ts';
import { type Colors, mib, short } from './svg.ts';

type Estimate = JsonReport['variants'][number]['throughput'];

export interface Hero {
  kind: 'blast-radius' | 'comparison';
  svg: string;
  caption: string;
}

function ciOf(e: Estimate | undefined): { lower?: number; upper?: number } {
  return e?.ci ? { lower: e.ci.lower, upper: e.ci.upper } : {};
}

/** Served throughput as % of the pre-fault baseline, seconds from the fault, per variant. */
export function blastHero(report: JsonReport, colors: Colors): Hero | undefined {
  const series: LineSeries[] = [];
  const markers: { x: number; label: string; color?: string; row?: number }[] = [{ x: 0, label: 'fault' }];
  let row = 1;
  for (const v of report.variants) {
    const blasts = report.trials
      .filter((t) => t.variant === v.name)
      .flatMap((t) => t.blastRadius.filter((b) => b.measurable && b.baselineThroughput > 0));
    if (blasts.length === 0) continue;
    const color = colors.get(v.name) ?? '#333';
    const byOffset = new Map<number, number[]>();
    for (const b of blasts) {
      const points = b.timeline.map(
        (p) => [p.offsetSeconds, (p.completed / b.baselineThroughput) * 100] as [number, number],
      );
      if (blasts.length > 1) series.push({ name: `${v.name} trial`, color, faint: true, points, step: true });
      for (const [x, y] of points) byOffset.set(x, [...(byOffset.get(x) ?? []), y]);
    }
    series.push({
      name: v.name,
      color,
      step: true,
      points: [...byOffset.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([x, ys]) => [x, ys.reduce((a, b) => a + b, 0) / ys.length] as [number, number]),
    });
    const restarted = blasts.filter((b) => b.restarted);
    const down = restarted.flatMap((b) => (b.downSeconds === undefined ? [] : [b.downSeconds]));
    if (down.length > 0) {
      markers.push({
        x: down.reduce((a, b) => a + b, 0) / down.length,
        label: `${v.name}: process back`,
        color,
        row: row++ % 3,
      });
    }
  }
  if (series.length === 0) return undefined;
  const kinds = [...new Set(report.trials.flatMap((t) => t.faults.map((f) => f.kind)))].join(', ');
  return {
    kind: 'blast-radius',
    svg: lineChart({
      id: 'hero',
      title: `Capacity kept around the fault (${kinds}): completed requests per second as % of each variant's pre-fault rate`,
      width: 1040,
      plotHeight: 230,
      x: { label: 'seconds from the fault', format: (s) => (s > 0 ? `+${s}` : String(s)) },
      y: {
        label: '% of pre-fault throughput',
        domain: [0, Math.max(120, ...series.flatMap((s) => s.points.map((p) => p[1])))],
        format: short,
      },
      series,
      markers,
      hLines: [{ y: 100, label: 'pre-fault rate' }],
      legend: report.variants
        .filter((v) => series.some((s) => s.name === v.name))
        .map((v) => ({ label: v.name, color: colors.get(v.name) ?? '#333', kind: 'line' as const })),
    }),
    caption:
      'Bold: mean over trials; thin: single trials. A line at 0% is a variant that served nothing: the fault took its whole process.',
  };
}

/** Indexes (into a variant's counted trials) of trials whose load generator was saturated. */
function saturatedDots(report: JsonReport, variant: JsonReport['variants'][number]): number[] {
  const counted = report.trials.filter(
    (t) => t.variant === variant.name && (variant.trialsCounted?.includes(t.trial) ?? true),
  );
  return counted.flatMap((t, i) => (t.generator.unreliable ? [i] : []));
}

/** Throughput (or capacity), p99 and memory per variant, with every trial and the 95% CI. */
export function comparisonHero(report: JsonReport, colors: Colors): Hero | undefined {
  const variants = report.variants.filter((v) => v.trials > 0);
  if (variants.length === 0) return undefined;
  const saturated = variants.reduce((n, v) => n + saturatedDots(report, v).length, 0);
  const panels: BarPanel[] = [];
  const searched = variants.some((v) => v.searchedCapacity?.mean !== undefined);
  if (searched) {
    panels.push({
      title: 'capacity found by the search, req/s',
      xLabel: 'req/s',
      rows: variants.map((v) => ({
        key: v.name,
        bars: [
          {
            group: 'capacity',
            value: v.searchedCapacity?.mean ?? 0,
            color: colors.get(v.name) ?? '#333',
            ...ciOf(v.searchedCapacity),
            dots: v.searchedCapacity?.values ?? [],
          },
        ],
      })),
    });
  } else {
    const offered = variants.map((v) => v.offeredRate);
    const sameOffer = Math.max(...offered) - Math.min(...offered) <= 0.02 * Math.max(...offered);
    panels.push({
      title: 'throughput, req/s',
      xLabel: 'req/s',
      rows: variants.map((v) => ({
        key: v.name,
        bars: [
          {
            group: 'throughput',
            value: v.throughput.mean ?? 0,
            color: colors.get(v.name) ?? '#333',
            ...ciOf(v.throughput),
            dots: v.throughput.values ?? [],
            suspectDots: saturatedDots(report, v),
          },
        ],
      })),
      ...(sameOffer && offered[0] ? { refLine: { value: offered[0], label: 'offered' } } : {}),
    });
  }
  panels.push({
    title: 'p99 latency per trial, ms',
    xLabel: 'ms',
    rows: variants.map((v) => ({
      key: v.name,
      bars: [
        {
          group: 'p99',
          value: v.latency.p99MeanMillis,
          color: colors.get(v.name) ?? '#333',
          ...(v.latency.p99CI ? { lower: v.latency.p99CI.lower, upper: v.latency.p99CI.upper } : {}),
          dots: v.latency.p99PerTrialMillis,
          suspectDots: saturatedDots(report, v),
        },
      ],
    })),
  });
  if (variants.some((v) => v.resources)) {
    panels.push({
      title: 'peak memory (cgroup), MiB',
      xLabel: 'MiB',
      format: mib,
      divisor: 1048576,
      rows: variants.map((v) => ({
        key: v.name,
        bars: [
          {
            group: 'memory',
            value: v.resources?.peakMemoryBytes.mean ?? 0,
            color: colors.get(v.name) ?? '#333',
            ...ciOf(v.resources?.peakMemoryBytes),
            dots: v.resources?.peakMemoryBytes.values ?? [],
            text: mib(v.resources?.peakMemoryBytes.mean ?? 0),
          },
        ],
      })),
    });
  }
  const suspect =
    saturated > 0
      ? ` Red dots: ${saturated} trial(s) whose load generator was saturated; their client-side figures describe the generator, not the server.`
      : '';
  return {
    kind: 'comparison',
    svg: barChart({
      id: 'hero',
      title: 'The compared figures: bars are means, dots single trials, whiskers the 95% CI',
      width: 1040,
      panels,
      barHeight: 16,
    }),
    caption: `${
      searched
        ? "Capacity is the highest offered rate that met the SLO in each trial's search."
        : "Throughput counts completed requests per second of the measured window; p99 is each trial's client-side p99 from the intended send time."
    }${suspect}`,
  };
}

export function heroFigure(report: JsonReport, colors: Colors): Hero | undefined {
  return blastHero(report, colors) ?? comparisonHero(report, colors);
}
