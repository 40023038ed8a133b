// Throughput and tail latency against the offered load: the max-throughput search's steps
// (each a constant rate), or the seconds of a ramp. Where completed falls below offered, or
// p99 leaves the SLO, the variant has reached its capacity.
import { parseDurationMillis } from '../../api/units.ts';
import type { JsonReport } from '../json.ts';
import { type LineSeries, lineChart, type PointMark } from './line-chart.ts';
import { type Colors, type LegendItem, short } from './svg.ts';

interface Curve {
  variant: string;
  trial: number;
  points: { offered: number; completed: number; p99: number; passed: boolean | undefined; unreliable: boolean }[];
}

function curves(report: JsonReport): { curves: Curve[]; from: 'search' | 'ramp' } | undefined {
  const searched = report.trials.filter((t) => t.search && t.search.steps.length > 0);
  if (searched.length > 0) {
    return {
      from: 'search',
      curves: searched.map((t) => ({
        variant: t.variant,
        trial: t.trial,
        points: [...(t.search?.steps ?? [])]
          .sort((a, b) => a.rate - b.rate)
          .map((s) => ({
            offered: s.rate,
            completed: s.completedPerSecond,
            p99: s.latencyMillis.p99,
            passed: s.passed,
            unreliable: s.unreliable,
          })),
      })),
    };
  }
  if (report.config.load.pattern !== 'ramping-arrival-rate') return undefined;
  return {
    from: 'ramp',
    curves: report.trials.map((t) => ({
      variant: t.variant,
      trial: t.trial,
      points: t.perSecond
        .filter((s) => s.sent + s.dropped > 0)
        .map((s) => ({
          offered: s.sent + s.dropped,
          completed: s.completed,
          p99: s.p99Millis,
          passed: undefined,
          unreliable: false,
        })),
    })),
  };
}

/** Two charts side by side (throughput, p99) against the offered rate; undefined without a search or ramp. */
export function loadCurveCharts(report: JsonReport, colors: Colors): string[] {
  const found = curves(report);
  if (!found || found.curves.every((c) => c.points.length === 0)) return [];
  const throughput: LineSeries[] = [];
  const latency: LineSeries[] = [];
  const tPoints: PointMark[] = [];
  const lPoints: PointMark[] = [];
  for (const c of found.curves) {
    const color = colors.get(c.variant) ?? '#333';
    const name = `${c.variant} trial ${c.trial}`;
    throughput.push({
      name,
      color,
      points: c.points.map((p) => [p.offered, p.completed]),
      faint: found.from === 'ramp',
    });
    latency.push({
      name,
      color,
      points: c.points.filter((p) => p.p99 > 0).map((p) => [p.offered, p.p99]),
      faint: found.from === 'ramp',
    });
    if (found.from === 'search') {
      for (const p of c.points) {
        const verdict = p.unreliable ? 'unjudged' : p.passed ? 'met the SLO' : 'failed the SLO';
        const title = `${name}: ${short(p.offered)} req/s offered, ${short(p.completed)} completed, p99 ${short(p.p99)} ms, ${verdict}`;
        tPoints.push({ x: p.offered, y: p.completed, color, hollow: p.passed !== true, title });
        if (p.p99 > 0) lPoints.push({ x: p.offered, y: p.p99, color, hollow: p.passed !== true, title });
      }
    }
  }
  const legendItems: LegendItem[] = report.variants.map((v) => ({
    label: v.name,
    color: colors.get(v.name) ?? '#333',
    kind: 'line',
  }));
  if (found.from === 'search') {
    legendItems.push({ label: 'step met the SLO', color: '#555', kind: 'dot' });
    legendItems.push({ label: 'step failed', color: '#555', kind: 'hollow' });
  }
  const sloP99 = report.config.slo?.latency?.p99;
  let sloMillis: number | undefined;
  try {
    sloMillis = sloP99 ? parseDurationMillis(sloP99) : undefined;
  } catch {
    sloMillis = undefined;
  }
  const source = found.from === 'search' ? 'max-throughput search steps' : 'seconds of the ramp';
  return [
    lineChart({
      id: 'load-throughput',
      title: `Completed against offered load (${source})`,
      width: 520,
      x: { label: 'offered, req/s', format: short },
      y: { label: 'completed, req/s', format: short },
      series: throughput,
      points: tPoints,
      diagonal: 'served = offered',
      legend: legendItems,
    }),
    lineChart({
      id: 'load-latency',
      title: `p99 latency against offered load (${source})`,
      width: 520,
      x: { label: 'offered, req/s', format: short },
      y: { scale: 'log', label: 'p99, ms (log)', format: short },
      series: latency,
      points: lPoints,
      ...(sloMillis ? { hLines: [{ y: sloMillis, label: `SLO p99 ${sloP99}`, color: '#c0392b' }] } : {}),
      legend: legendItems,
    }),
  ];
}
