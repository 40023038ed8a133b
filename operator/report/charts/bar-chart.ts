// Horizontal bars, one row per variant, built on d3-scale: a mean with its confidence interval
// as a whisker and every trial as a dot, so a reader sees both the difference and the noise.
// Several panels share one SVG when they answer one question together (throughput and p99).
import { max, min } from 'd3-array';
import { scaleBand, scaleLinear, scaleLog } from 'd3-scale';
import {
  bandLabels,
  bottomAxis,
  escapeXml,
  f,
  frame,
  headerHeight,
  type LegendItem,
  legend,
  MUTED,
  short,
} from './svg.ts';

export interface Segment {
  value: number;
  color: string;
  /** For the tooltip and the legend. */
  label: string;
  opacity?: number;
}

export interface Bar {
  /** Sub-row within the variant's row (e.g. "voluntary" and "involuntary"); one per row when alone. */
  group: string;
  value: number;
  color: string;
  opacity?: number;
  lower?: number;
  upper?: number;
  /** Per-trial values, drawn as dots over the bar. */
  dots?: number[];
  /** Dots to draw as suspect (red), by index into dots: e.g. trials with a saturated generator. */
  suspectDots?: number[];
  /** Stacked parts instead of one bar (their sum is the value). */
  segments?: Segment[];
  /** Text after the bar; the formatted value by default. */
  text?: string;
  /** A marker on the bar's row (e.g. the cgroup peak next to the process sums). */
  tick?: { value: number; label: string };
}

export interface BarRow {
  key: string;
  bars: Bar[];
}

export interface BarPanel {
  title: string;
  xLabel: string;
  rows: BarRow[];
  format?: (v: number) => string;
  /** Vertical reference line (offered rate, declared limit, equal share). */
  refLine?: { value: number; label: string };
  scale?: 'linear' | 'log';
  /**
   * Values are in a unit the axis shows divided (1048576 for bytes shown in MiB), so its
   * ticks fall on round numbers of the shown unit; bar texts still use `format`.
   */
  divisor?: number;
}

export interface BarChartOptions {
  id: string;
  title: string;
  width?: number;
  panels: BarPanel[];
  legend?: LegendItem[];
  /** Row height per bar of a group, px. */
  barHeight?: number;
  /** Width of the variant labels column, px. */
  labelWidth?: number;
}

function panelSvg(
  p: BarPanel,
  keys: readonly string[],
  x0: number,
  x1: number,
  top: number,
  plotHeight: number,
  barHeight: number,
): string {
  const format = p.format ?? short;
  const rows = p.rows;
  const groups = [...new Set(rows.flatMap((r) => r.bars.map((b) => b.group)))];
  const k = p.divisor ?? 1;
  const values = rows
    .flatMap((r) => r.bars.flatMap((b) => [b.value, b.upper ?? b.value, ...(b.dots ?? []), b.tick?.value ?? 0]))
    .map((v) => v / k);
  if (p.refLine) values.push(p.refLine.value / k);
  const textRoom = 96;
  const range: [number, number] = [x0, x1 - textRoom];
  const xs =
    p.scale === 'log'
      ? scaleLog()
          .domain([Math.max(1e-9, (min(values.filter((v) => v > 0)) ?? 1) / 1.5), (max(values) ?? 1) * 1.1])
          .range(range)
          .nice()
          .clamp(true)
      : scaleLinear()
          .domain([0, (max(values) ?? 0) > 0 ? (max(values) as number) : 1])
          .range(range)
          .nice();
  const y = scaleBand<string>()
    .domain(keys)
    .range([top, top + plotHeight])
    .paddingInner(0.25)
    .paddingOuter(0.1);
  const inner = scaleBand<string>().domain(groups).range([0, y.bandwidth()]).paddingInner(0.15);
  const x = (v: number) => xs(v / k);
  const domainLow = (xs.domain()[0] as number) * k;
  const zero = p.scale === 'log' ? x0 : x(0);
  const parts: string[] = [];
  parts.push(`<text x="${f(x0)}" y="${f(top - 8)}" class="panel-title">${escapeXml(p.title)}</text>`);
  const tickFormat = k === 1 ? format : short;
  parts.push(bottomAxis(xs, { y: top + plotHeight, label: p.xLabel, ticks: 5, format: tickFormat, grid: { y0: top } }));
  for (const r of rows) {
    for (const b of r.bars) {
      const by = (y(r.key) ?? 0) + (inner(b.group) ?? 0);
      const h = Math.min(inner.bandwidth(), barHeight * 1.6);
      const cy = by + inner.bandwidth() / 2;
      const yTop = cy - h / 2;
      if (b.segments) {
        let at = 0;
        for (const s of b.segments) {
          if (!(s.value > 0)) continue;
          const xa = x(at);
          const xb = x(at + s.value);
          parts.push(
            `<rect x="${f(xa)}" y="${f(yTop)}" width="${f(Math.max(0.5, xb - xa))}" height="${f(h)}" fill="${s.color}" fill-opacity="${s.opacity ?? 1}" class="mark"><title>${escapeXml(`${r.key}: ${s.label} ${format(s.value)}`)}</title></rect>`,
          );
          at += s.value;
        }
      } else {
        const xb = x(Math.max(b.value, p.scale === 'log' ? domainLow : 0));
        parts.push(
          `<rect x="${f(zero)}" y="${f(yTop)}" width="${f(Math.max(1, xb - zero))}" height="${f(h)}" fill="${b.color}" fill-opacity="${b.opacity ?? 0.85}" class="mark"><title>${escapeXml(`${r.key} ${b.group}: ${format(b.value)}`)}</title></rect>`,
        );
      }
      if (b.lower !== undefined && b.upper !== undefined && b.upper > b.lower) {
        // An interval reaching below zero (few noisy trials) is cut at the axis, without a cap there.
        const lo = Math.max(x(Math.max(b.lower, p.scale === 'log' ? domainLow : 0)), zero);
        const hi = x(b.upper);
        const loCap = b.lower >= (p.scale === 'log' ? domainLow : 0) ? `M${f(lo)},${f(cy - 5)}V${f(cy + 5)}` : '';
        parts.push(
          `<path d="M${f(lo)},${f(cy)}H${f(hi)}${loCap}M${f(hi)},${f(cy - 5)}V${f(cy + 5)}" stroke="#222" stroke-width="1.4" fill="none" class="ci"/>`,
        );
      }
      (b.dots ?? []).forEach((d, i) => {
        const suspect = b.suspectDots?.includes(i) === true;
        parts.push(
          `<circle cx="${f(x(d))}" cy="${f(cy)}" r="3.2" fill="${suspect ? '#c0392b' : '#fff'}" stroke="${suspect ? '#c0392b' : '#222'}" stroke-width="1.2" class="mark trial-dot${suspect ? ' suspect' : ''}"/>`,
        );
      });
      if (b.tick) {
        const tx = x(b.tick.value);
        parts.push(
          `<path d="M${f(tx)},${f(yTop - 3)}V${f(yTop + h + 3)}" stroke="#222" stroke-width="2" class="mark"><title>${escapeXml(`${r.key}: ${b.tick.label} ${format(b.tick.value)}`)}</title></path>`,
        );
      }
      const end = Math.max(x(b.upper ?? b.value), ...(b.dots ?? []).map((d) => x(d)), b.tick ? x(b.tick.value) : 0);
      parts.push(
        `<text x="${f(end + 6)}" y="${f(cy + 4)}" class="value">${escapeXml(b.text ?? format(b.value))}</text>`,
      );
    }
  }
  if (p.refLine) {
    const rx = x(p.refLine.value);
    parts.push(
      `<line x1="${f(rx)}" x2="${f(rx)}" y1="${f(top - 4)}" y2="${f(top + plotHeight)}" stroke="${MUTED}" stroke-dasharray="5 3"/><text x="${f(rx + 3)}" y="${f(top + 4)}" class="marker-label" fill="#555">${escapeXml(p.refLine.label)}</text>`,
    );
  }
  return parts.join('');
}

export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 1040;
  const barHeight = o.barHeight ?? 14;
  const leg = legend(o.legend ?? [], 8, 26, width - 16);
  const labelWidth = o.labelWidth ?? 110;
  const rows = Math.max(1, new Set(o.panels.flatMap((p) => p.rows.map((r) => r.key))).size);
  const groups = Math.max(1, ...o.panels.map((p) => new Set(p.rows.flatMap((r) => r.bars.map((b) => b.group))).size));
  const plotHeight = rows * (groups * barHeight * 1.5 + 12) + 8;
  const top = headerHeight(leg.height) + 20;
  const height = top + plotHeight + 44;
  const gap = 28;
  const panelWidth = (width - labelWidth - 8 - gap * (o.panels.length - 1)) / o.panels.length;
  const parts: string[] = [];
  // Every panel lays its rows on the same variants, so one label column serves them all.
  const keys = [...new Set(o.panels.flatMap((p) => p.rows.map((r) => r.key)))];
  const y = scaleBand<string>()
    .domain(keys)
    .range([top, top + plotHeight])
    .paddingInner(0.25)
    .paddingOuter(0.1);
  parts.push(bandLabels(y, labelWidth - 8));
  o.panels.forEach((p, i) => {
    const x0 = labelWidth + i * (panelWidth + gap);
    parts.push(panelSvg(p, keys, x0, x0 + panelWidth, top, plotHeight, barHeight));
  });
  return frame({ id: o.id, title: o.title, width, height, body: parts.join('\n'), legendSvg: leg.svg });
}
