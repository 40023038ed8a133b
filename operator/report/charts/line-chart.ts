// A line chart over two continuous axes (linear or log), built on d3-scale and d3-shape:
// percentile curves, load curves, per-second timelines, the blast-radius picture.
import { extent } from 'd3-array';
import { type ScaleContinuousNumeric, scaleLinear, scaleLog } from 'd3-scale';
import { curveLinear, curveStepAfter, line } from 'd3-shape';
import {
  bottomAxis,
  escapeXml,
  f,
  frame,
  headerHeight,
  type LegendItem,
  leftAxis,
  legend,
  type Margins,
  MUTED,
  vMarker,
} from './svg.ts';

export interface LineSeries {
  name: string;
  color: string;
  points: [number, number][];
  /** Drawn thin and translucent (single trials behind their mean). */
  faint?: boolean;
  dashed?: boolean;
  /** Break the line where consecutive x values are further apart than this (an outage). */
  maxGap?: number;
  /** Draw a dot at every point as well. */
  dots?: boolean;
  /**
   * Per-second buckets: each value holds from its x to the next (x + 1 for the last), drawn
   * as steps, not as slopes that would show a drop before it happened.
   */
  step?: boolean;
}

export interface PointMark {
  x: number;
  y: number;
  color: string;
  hollow?: boolean;
  /** Tooltip text. */
  title?: string;
}

export interface AxisOptions {
  scale?: 'linear' | 'log';
  domain?: [number, number];
  label: string;
  format?: (v: number) => string;
  tickValues?: readonly number[];
  ticks?: number;
  /** Linear axes start at zero unless told otherwise. */
  zero?: boolean;
}

export interface LineChartOptions {
  id: string;
  title: string;
  width?: number;
  /** Height of the plot area alone, px. */
  plotHeight?: number;
  x: AxisOptions;
  y: AxisOptions;
  series: LineSeries[];
  points?: PointMark[];
  markers?: { x: number; label: string; color?: string; row?: number }[];
  /** Horizontal reference lines (an SLO, 100% of baseline). */
  hLines?: { y: number; label: string; color?: string }[];
  /** The y = x line (served = offered). */
  diagonal?: string;
  legend?: LegendItem[];
}

function scaleFor(o: AxisOptions, values: number[], range: [number, number]): ScaleContinuousNumeric<number, number> {
  if (o.scale === 'log') {
    const positive = values.filter((v) => v > 0);
    const [lo, hi] = o.domain ?? (extent(positive) as [number | undefined, number | undefined]);
    const low = lo ?? 1;
    const high = Math.max(hi ?? low * 10, low * 1.5);
    return scaleLog().domain([low, high]).range(range).nice().clamp(true);
  }
  const [lo, hi] = o.domain ?? (extent(values) as [number | undefined, number | undefined]);
  const low = o.domain ? (lo ?? 0) : o.zero === false ? (lo ?? 0) : Math.min(0, lo ?? 0);
  const high = hi ?? 1;
  const s = scaleLinear()
    .domain([low, high > low ? high : low + 1])
    .range(range);
  return o.domain ? s : s.nice();
}

export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 1040;
  const plotHeight = o.plotHeight ?? 200;
  const leg = legend(o.legend ?? [], 8, 26, width - 16);
  const m: Margins = { top: headerHeight(leg.height) + 4, right: 18, bottom: 44, left: 70 };
  const height = m.top + plotHeight + m.bottom;
  const xs = [...o.series.flatMap((s) => s.points.map((p) => p[0])), ...(o.points ?? []).map((p) => p.x)];
  const ys = [
    ...o.series.flatMap((s) => s.points.map((p) => p[1])),
    ...(o.points ?? []).map((p) => p.y),
    ...(o.hLines ?? []).map((h) => h.y),
  ];
  for (const mk of o.markers ?? []) xs.push(mk.x);
  const x = scaleFor(o.x, xs, [m.left, width - m.right]);
  const y = scaleFor(o.y, ys, [m.top + plotHeight, m.top]);
  const parts: string[] = [];
  parts.push(
    leftAxis(y, { x0: m.left, x1: width - m.right, label: o.y.label, ...(o.y.format ? { format: o.y.format } : {}) }),
  );
  parts.push(
    bottomAxis(x, {
      y: m.top + plotHeight,
      label: o.x.label,
      ...(o.x.format ? { format: o.x.format } : {}),
      ...(o.x.tickValues ? { tickValues: o.x.tickValues } : {}),
      ...(o.x.ticks ? { ticks: o.x.ticks } : {}),
    }),
  );
  const inPlot: string[] = [];
  if (o.diagonal) {
    const [d0, d1] = x.domain() as [number, number];
    const lo = Math.max(d0, (y.domain() as [number, number])[0]);
    const hi = Math.min(d1, (y.domain() as [number, number])[1]);
    if (hi > lo) {
      inPlot.push(
        `<line x1="${f(x(lo))}" y1="${f(y(lo))}" x2="${f(x(hi))}" y2="${f(y(hi))}" stroke="${MUTED}" stroke-dasharray="2 3"/><text x="${f(x(hi) - 4)}" y="${f(y(hi) + 14)}" class="marker-label" fill="${MUTED}" text-anchor="end">${escapeXml(o.diagonal)}</text>`,
      );
    }
  }
  for (const h of o.hLines ?? []) {
    const color = h.color ?? MUTED;
    inPlot.push(
      `<line x1="${m.left}" x2="${f(width - m.right)}" y1="${f(y(h.y))}" y2="${f(y(h.y))}" stroke="${color}" stroke-dasharray="6 3"/><text x="${f(width - m.right - 4)}" y="${f(y(h.y) - 4)}" class="marker-label" fill="${color}" text-anchor="end">${escapeXml(h.label)}</text>`,
    );
  }
  for (const s of o.series) {
    if (s.points.length === 0) continue;
    const last = s.points.at(-1);
    const sorted: [number, number][] = s.step && last ? [...s.points, [last[0] + 1, last[1]]] : s.points;
    const gap = s.maxGap;
    const path = line<[number, number]>()
      .x((p) => x(p[0]))
      .y((p) => y(o.y.scale === 'log' ? Math.max(p[1], (y.domain() as [number, number])[0]) : p[1]))
      .defined((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))
      .curve(s.step ? curveStepAfter : curveLinear);
    // Split into runs where the gap is too wide, so an outage is not drawn as a slope.
    const runs: [number, number][][] = [];
    let run: [number, number][] = [];
    for (const p of sorted) {
      const prev = run.at(-1);
      if (prev && gap !== undefined && p[0] - prev[0] > gap) {
        // A step run ends where its last bucket ends.
        if (s.step) run.push([prev[0] + 1, prev[1]]);
        runs.push(run);
        run = [];
      }
      run.push(p);
    }
    if (run.length) runs.push(run);
    const d = runs
      .map((r) => (r.length === 1 ? `M${f(x(r[0]?.[0] ?? 0))},${f(y(r[0]?.[1] ?? 0))}h0.01` : (path(r) ?? '')))
      .join('');
    inPlot.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.faint ? 1 : 2.2}" stroke-opacity="${s.faint ? 0.35 : 1}"${s.dashed ? ' stroke-dasharray="5 3"' : ''} stroke-linecap="round" class="mark series" data-series="${escapeXml(s.name)}"/>`,
    );
    if (s.dots) {
      for (const p of s.points) {
        inPlot.push(`<circle cx="${f(x(p[0]))}" cy="${f(y(p[1]))}" r="2.5" fill="${s.color}" class="mark"/>`);
      }
    }
  }
  for (const p of o.points ?? []) {
    inPlot.push(
      `<circle cx="${f(x(p.x))}" cy="${f(y(p.y))}" r="4.5" fill="${p.hollow ? '#fff' : p.color}" stroke="${p.color}" stroke-width="1.8" class="mark">${p.title ? `<title>${escapeXml(p.title)}</title>` : ''}</circle>`,
    );
  }
  parts.push(`<g>${inPlot.join('')}</g>`);
  for (const mk of o.markers ?? []) {
    parts.push(
      vMarker(x(mk.x), m.top, m.top + plotHeight, mk.label, {
        ...(mk.color ? { color: mk.color } : {}),
        row: mk.row ?? 0,
      }),
    );
  }
  return frame({ id: o.id, title: o.title, width, height, body: parts.join('\n'), legendSvg: leg.svg });
}
