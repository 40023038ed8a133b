// The parts every chart shares: escaping, the variant palette, a legend that wraps for any
// number of variants, axes drawn from d3 scales (ticks and their formats come from d3-scale,
// not from hand-rolled step arithmetic), and the frame of one chart. Charts are SVG strings
// rendered at report time, so the page needs no script and opens offline.
//
// Every element that carries data has class "mark" (tests check that each chart has marks
// with real coordinates); decoration (grid, axes, labels) does not.
import type { ScaleBand, ScaleContinuousNumeric } from 'd3-scale';

/**
 * Eight distinguishable colours (Tableau 10 without its red, which marks failures and faults);
 * a variant keeps its colour in every chart.
 */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#9c755f', '#edc948', '#ff9da7'];
export const ERROR_COLOR = '#c0392b';
export const MUTED = '#8a8a8a';

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Coordinates with one decimal: enough for a screen, short in the file. */
export function f(x: number): string {
  return Number.isFinite(x) ? (Math.round(x * 10) / 10).toString() : '0';
}

export type Colors = Map<string, string>;

export function variantColors(names: readonly string[]): Colors {
  return new Map(names.map((n, i) => [n, PALETTE[i % PALETTE.length] as string]));
}

/** Rough width of a label at the chart font size: enough to lay a legend out without a DOM. */
export function textWidth(text: string, fontPx = 12): number {
  return text.length * fontPx * 0.6;
}

export interface LegendItem {
  label: string;
  color: string;
  /** line: a stroke; box: a filled square; dot: a circle; dash: a dashed stroke. */
  kind?: 'line' | 'box' | 'dot' | 'dash' | 'hollow';
}

/**
 * A legend laid out left to right, wrapping to new rows within the width: eight variant
 * names fit without overlapping. Returns the SVG and the height it takes.
 */
export function legend(items: readonly LegendItem[], x0: number, y0: number, width: number) {
  const rowHeight = 18;
  const parts: string[] = [];
  let x = x0;
  let row = 0;
  for (const item of items) {
    const w = 22 + textWidth(item.label) + 14;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      row++;
    }
    const y = y0 + row * rowHeight;
    const kind = item.kind ?? 'box';
    if (kind === 'line' || kind === 'dash') {
      parts.push(
        `<line x1="${f(x)}" x2="${f(x + 16)}" y1="${f(y + 6)}" y2="${f(y + 6)}" stroke="${item.color}" stroke-width="2.5"${kind === 'dash' ? ' stroke-dasharray="4 3"' : ''}/>`,
      );
    } else if (kind === 'dot' || kind === 'hollow') {
      parts.push(
        `<circle cx="${f(x + 8)}" cy="${f(y + 6)}" r="4.5" fill="${kind === 'dot' ? item.color : '#fff'}" stroke="${item.color}" stroke-width="1.5"/>`,
      );
    } else {
      parts.push(`<rect x="${f(x + 2)}" y="${f(y)}" width="12" height="12" fill="${item.color}"/>`);
    }
    parts.push(`<text x="${f(x + 22)}" y="${f(y + 10)}" class="legend">${escapeXml(item.label)}</text>`);
    x += w;
  }
  return { svg: parts.join(''), height: items.length === 0 ? 0 : (row + 1) * rowHeight };
}

export interface Margins {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/** The outer frame: an accessible SVG with its title, caption line and legend above the plot. */
export function frame(o: {
  id: string;
  title: string;
  width: number;
  height: number;
  body: string;
  legendSvg?: string;
}): string {
  return [
    `<svg class="chart" data-chart="${escapeXml(o.id)}" role="img" width="${o.width}" height="${f(o.height)}" viewBox="0 0 ${o.width} ${f(o.height)}" aria-label="${escapeXml(o.title)}">`,
    `<title>${escapeXml(o.title)}</title>`,
    `<text x="8" y="16" class="chart-title">${escapeXml(o.title)}</text>`,
    o.legendSvg ?? '',
    o.body,
    '</svg>',
  ].join('\n');
}

/** Space the title and a legend take above the plot area. */
export function headerHeight(legendHeight: number): number {
  return 26 + legendHeight + (legendHeight > 0 ? 8 : 0);
}

type Numeric = ScaleContinuousNumeric<number, number>;

/**
 * Ticks of a scale; on a log scale only 1, 2 and 5 times a power of ten (or the powers alone
 * when that is still crowded), since d3 returns every integer multiple there.
 */
export function ticksOf(scale: Numeric, count: number): number[] {
  const ticks = scale.ticks(count);
  if (!('base' in scale)) return ticks;
  const mantissa = (t: number) => Math.round(t / 10 ** Math.floor(Math.log10(t) + 1e-9));
  const fewer = ticks.filter((t) => [1, 2, 5].includes(mantissa(t)));
  return fewer.length > count + 3 ? fewer.filter((t) => mantissa(t) === 1) : fewer;
}

/** A left axis with grid lines across the plot, ticks and format from the scale itself. */
export function leftAxis(
  y: Numeric,
  o: { x0: number; x1: number; label: string; ticks?: number; format?: (v: number) => string },
): string {
  const ticks = ticksOf(y, o.ticks ?? 5);
  const format = o.format ?? y.tickFormat(o.ticks ?? 5);
  const [r0, r1] = y.range() as [number, number];
  const parts = ticks.map(
    (t) =>
      `<line x1="${f(o.x0)}" x2="${f(o.x1)}" y1="${f(y(t))}" y2="${f(y(t))}" class="grid"/><text x="${f(o.x0 - 6)}" y="${f(y(t) + 4)}" class="tick" text-anchor="end">${escapeXml(format(t))}</text>`,
  );
  parts.push(`<line x1="${f(o.x0)}" x2="${f(o.x0)}" y1="${f(r0)}" y2="${f(r1)}" class="axis"/>`);
  parts.push(
    `<text transform="translate(${f(o.x0 - 48)} ${f((r0 + r1) / 2)}) rotate(-90)" class="axis-label" text-anchor="middle">${escapeXml(o.label)}</text>`,
  );
  return parts.join('');
}

/** A bottom axis; tickValues and labels may be given (e.g. percentiles on a transformed scale). */
export function bottomAxis(
  x: Numeric,
  o: {
    y: number;
    label: string;
    ticks?: number;
    format?: (v: number) => string;
    tickValues?: readonly number[];
    grid?: { y0: number };
  },
): string {
  const ticks = o.tickValues ?? ticksOf(x, o.ticks ?? 8);
  const format = o.format ?? x.tickFormat(o.ticks ?? 8);
  const [r0, r1] = x.range() as [number, number];
  const parts = ticks.map((t) => {
    const grid = o.grid
      ? `<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${f(o.grid.y0)}" y2="${f(o.y)}" class="grid"/>`
      : '';
    return `${grid}<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${f(o.y)}" y2="${f(o.y + 4)}" class="axis"/><text x="${f(x(t))}" y="${f(o.y + 16)}" class="tick" text-anchor="middle">${escapeXml(format(t))}</text>`;
  });
  parts.push(`<line x1="${f(r0)}" x2="${f(r1)}" y1="${f(o.y)}" y2="${f(o.y)}" class="axis"/>`);
  parts.push(
    `<text x="${f((r0 + r1) / 2)}" y="${f(o.y + 32)}" class="axis-label" text-anchor="middle">${escapeXml(o.label)}</text>`,
  );
  return parts.join('');
}

/** Category labels to the left of a band scale (one row per variant). */
export function bandLabels(y: ScaleBand<string>, x: number, labels?: (key: string) => string): string {
  return y
    .domain()
    .map(
      (key) =>
        `<text x="${f(x)}" y="${f((y(key) ?? 0) + y.bandwidth() / 2 + 4)}" class="tick" text-anchor="end">${escapeXml(labels ? labels(key) : key)}</text>`,
    )
    .join('');
}

/** A vertical marker line with a label (fault, load end, event). */
export function vMarker(x: number, y0: number, y1: number, label: string, o: { color?: string; row?: number } = {}) {
  const color = o.color ?? ERROR_COLOR;
  const ly = y0 + 10 + (o.row ?? 0) * 12;
  return `<line x1="${f(x)}" x2="${f(x)}" y1="${f(y0)}" y2="${f(y1)}" stroke="${color}" stroke-dasharray="4 3" class="marker"/><text x="${f(x + 3)}" y="${f(ly)}" class="marker-label" fill="${color}">${escapeXml(label)}</text>`;
}

/** Short, readable numbers for ticks and labels (SI suffixes from 10k on). */
export function short(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const abs = Math.abs(x);
  if (abs >= 1e9) return `${trim(x / 1e9)}G`;
  if (abs >= 1e6) return `${trim(x / 1e6)}M`;
  if (abs >= 1e4) return `${trim(x / 1e3)}k`;
  return trim(x);
}

function trim(x: number): string {
  const abs = Math.abs(x);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return Number(x.toFixed(digits)).toString();
}

export function mib(bytes: number): string {
  return `${short(bytes / 1048576)} MiB`;
}
