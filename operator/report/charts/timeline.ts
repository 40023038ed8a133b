// Per second, per variant: completed and failed requests, and p99, with the fault, what the
// workload did about it (worker exit, replacement, process restart) and where sending stopped.
// Each variant gets its own panel because its events are its own; the mean over trials is the
// bold line, single trials are thin lines behind it.
import type { JsonReport } from '../json.ts';
import { type LineSeries, lineChart } from './line-chart.ts';
import { type Colors, ERROR_COLOR, MUTED, short } from './svg.ts';

type Trial = JsonReport['trials'][number];
type Second = Trial['perSecond'][number];

/** Per-second mean over trials (over the trials that have that second). */
export function meanSeries(trials: readonly Trial[], pick: (s: Second) => number | undefined): [number, number][] {
  const sums = new Map<number, { sum: number; n: number }>();
  for (const t of trials) {
    for (const s of t.perSecond) {
      const v = pick(s);
      if (v === undefined) continue;
      const e = sums.get(s.second) ?? { sum: 0, n: 0 };
      e.sum += v;
      e.n++;
      sums.set(s.second, e);
    }
  }
  return [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([x, e]) => [x, e.sum / e.n]);
}

const EVENT_LABEL: Record<string, string> = {
  'worker-exit': 'worker exit',
  'worker-replaced': 'replaced',
  'process-exit': 'process exit',
  'process-restart': 'restarted',
  'not-ready': 'not ready',
  ready: 'ready',
};

function markersOf(trials: readonly Trial[], windowEnd: number) {
  const markers: { x: number; label: string; color?: string; row?: number }[] = [];
  const first = trials[0];
  if (!first) return markers;
  const seen = new Set<string>();
  for (const t of trials) {
    for (const fl of t.faults) {
      const x = (fl.atMillis - t.startedAtMillis) / 1000;
      const key = `${fl.kind}@${x.toFixed(0)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      markers.push({ x, label: `${fl.kind} of worker ${fl.worker}` });
    }
  }
  // Events of the first trial only: every trial has its own, and one set is readable.
  let row = 1;
  for (const e of first.events) {
    const x = (e.atMillis - first.startedAtMillis) / 1000;
    if (x < 0 || x > windowEnd + 30) continue;
    if (e.kind === 'ready' && first.events.some((o) => o.kind === 'process-restart' && o.atMillis === e.atMillis))
      continue;
    markers.push({
      x,
      label: `${EVENT_LABEL[e.kind] ?? e.kind}${e.worker !== undefined && e.worker >= 0 ? ` w${e.worker}` : ''}`,
      color: '#6b4e9b',
      row: row++ % 3,
    });
    if (markers.length > 12) break;
  }
  const lastSecond = Math.max(0, ...trials.flatMap((t) => t.perSecond.map((s) => s.second)));
  if (windowEnd > 0 && lastSecond >= windowEnd)
    markers.push({ x: windowEnd, label: 'load ends', color: MUTED, row: 0 });
  return markers;
}

/** One card per variant: requests per second (ok, failed, dropped) and p99 per second. */
export function timelineCards(report: JsonReport, colors: Colors): { variant: string; charts: string[] }[] {
  const windowEnd = Math.max(0, ...report.trials.map((t) => t.measuredSeconds));
  return report.variants.flatMap((v) => {
    const trials = report.trials.filter((t) => t.variant === v.name && t.perSecond.length > 0);
    if (trials.length === 0) return [];
    const color = colors.get(v.name) ?? '#333';
    const markers = markersOf(trials, windowEnd);
    const requests: LineSeries[] = [];
    if (trials.length > 1) {
      for (const t of trials) {
        requests.push({
          name: `trial ${t.trial}`,
          color,
          faint: true,
          step: true,
          points: t.perSecond.map((s) => [s.second, s.completed]),
        });
      }
    }
    requests.push({ name: 'completed/s', color, step: true, points: meanSeries(trials, (s) => s.completed) });
    const errors = meanSeries(trials, (s) => s.errors);
    const dropped = meanSeries(trials, (s) => s.dropped);
    const legend = [{ label: 'completed/s (mean)', color, kind: 'line' as const }];
    if (errors.some((p) => p[1] > 0)) {
      requests.push({ name: 'failed/s', color: ERROR_COLOR, step: true, points: errors });
      legend.push({ label: 'failed/s', color: ERROR_COLOR, kind: 'line' });
    }
    if (dropped.some((p) => p[1] > 0)) {
      requests.push({ name: 'dropped/s', color: MUTED, step: true, points: dropped, dashed: true });
      legend.push({ label: 'dropped/s', color: MUTED, kind: 'line' });
    }
    const p99 = meanSeries(trials, (s) => (s.completed > 0 ? s.p99Millis : undefined));
    const values = p99.map((p) => p[1]).filter((x) => x > 0);
    const log = values.length > 0 && Math.max(...values) / Math.max(1e-6, Math.min(...values)) > 20;
    const id = v.name.replace(/[^A-Za-z0-9_-]/g, '_');
    return [
      {
        variant: v.name,
        charts: [
          lineChart({
            id: `timeline-requests-${id}`,
            title: `${v.name}: requests per second`,
            width: 520,
            plotHeight: 150,
            x: { label: 'second of the measured window', format: short },
            y: { label: 'req/s', format: short },
            series: requests,
            markers,
            legend,
          }),
          lineChart({
            id: `timeline-p99-${id}`,
            title: `${v.name}: p99 per second, ms${log ? ' (log)' : ''}`,
            width: 520,
            plotHeight: 120,
            x: { label: 'second of the measured window', format: short },
            y: { scale: log ? 'log' : 'linear', label: 'p99, ms', format: short },
            series: [{ name: 'p99', color, points: p99, maxGap: 1, step: true, dots: p99.length < 4 }],
            markers,
          }),
        ],
      },
    ];
  });
}
