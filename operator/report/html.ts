// A self-contained HTML page: inline CSS and SVG, no scripts or assets from anywhere, so it
// opens from a file, an email attachment or an air-gapped cluster alike. It embeds the JSON
// report so the page is also the data.
import {
  blastTable,
  bytes,
  dimensionsTable,
  faultNuances,
  num,
  percent,
  representativeBlast,
  resultsTable,
  searchTable,
  seconds,
  serverTable,
  type Table,
  timelineRows,
  trialOf,
  trialsTable,
} from './format.ts';
import { type JsonReport, toJsonReport } from './json.ts';
import type { ReportModel } from './model.ts';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function htmlTable(table: Table, className = ''): string {
  const cls = (i: number) => (table.align[i] === 'right' ? ' class="num"' : '');
  const head = table.headers.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('');
  const body = table.rows
    .map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table${className ? ` class="${className}"` : ''}><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** 1, 2, 2.5 or 5 times a power of ten: axis steps a reader can add up. */
export function niceStep(range: number, ticks: number): number {
  if (!(range > 0)) return 1;
  const raw = range / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

export interface ChartSeries {
  name: string;
  color: string;
  points: [number, number][];
  /** Drawn thin and translucent (single trials behind the mean). */
  faint?: boolean;
}

export interface ChartOptions {
  title: string;
  yLabel: string;
  xLabel: string;
  series: ChartSeries[];
  /** Vertical dashed lines, e.g. the fault. */
  markers?: { x: number; label: string }[];
  widthPx?: number;
  heightPx?: number;
}

/** A line chart as inline SVG. */
export function svgLineChart(o: ChartOptions): string {
  const width = o.widthPx ?? 760;
  const height = o.heightPx ?? 260;
  const m = { left: 64, right: 16, top: 46, bottom: 44 };
  const all = o.series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]), ...(o.markers ?? []).map((mk) => mk.x));
  const yTop = Math.max(...all.map((p) => p[1]), 0);
  const yStep = niceStep(yTop || 1, 5);
  const yMax = Math.max(yStep, Math.ceil((yTop || 1) / yStep) * yStep);
  const xStep = niceStep(xMax, 10);
  const px = (x: number) => m.left + (x / xMax) * (width - m.left - m.right);
  const py = (y: number) => height - m.bottom - (y / yMax) * (height - m.top - m.bottom);
  const parts: string[] = [];
  parts.push(
    `<svg class="chart" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" aria-label="${escapeHtml(o.title)}">`,
  );
  parts.push(`<title>${escapeHtml(o.title)}</title>`);
  parts.push(`<text x="${m.left}" y="18" class="chart-title">${escapeHtml(o.title)}</text>`);
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    parts.push(
      `<line x1="${m.left}" x2="${width - m.right}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" class="grid"/>`,
    );
    parts.push(`<text x="${m.left - 6}" y="${(py(y) + 4).toFixed(1)}" class="tick" text-anchor="end">${num(y)}</text>`);
  }
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    parts.push(
      `<text x="${px(x).toFixed(1)}" y="${height - m.bottom + 16}" class="tick" text-anchor="middle">${num(x)}</text>`,
    );
  }
  parts.push(
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${height - m.bottom}" class="axis"/><line x1="${m.left}" x2="${width - m.right}" y1="${height - m.bottom}" y2="${height - m.bottom}" class="axis"/>`,
  );
  parts.push(
    `<text x="${(m.left + width - m.right) / 2}" y="${height - 8}" class="axis-label" text-anchor="middle">${escapeHtml(o.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${(m.top + height - m.bottom) / 2}) rotate(-90)" class="axis-label" text-anchor="middle">${escapeHtml(o.yLabel)}</text>`,
  );
  for (const mk of o.markers ?? []) {
    parts.push(
      `<line x1="${px(mk.x).toFixed(1)}" x2="${px(mk.x).toFixed(1)}" y1="${m.top}" y2="${height - m.bottom}" class="marker"/>`,
    );
    parts.push(
      `<text x="${(px(mk.x) + 4).toFixed(1)}" y="${m.top + 10}" class="marker-label">${escapeHtml(mk.label)}</text>`,
    );
  }
  for (const s of o.series) {
    if (s.points.length === 0) continue;
    // A second without data (nothing completed, so no p99) breaks the line rather than
    // drawing a slope through an outage.
    const d = s.points
      .map((p, i) => {
        const prev = s.points[i - 1];
        const move = prev === undefined || p[0] - prev[0] > 1;
        return `${move ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`;
      })
      .join(' ');
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.faint ? 1 : 2.2}" stroke-opacity="${s.faint ? 0.3 : 1}" class="series" data-series="${escapeHtml(s.name)}"/>`,
    );
  }
  const legend = o.series.filter((s) => !s.faint);
  legend.forEach((s, i) => {
    const x = m.left + 130 * i;
    parts.push(`<rect x="${x}" y="26" width="12" height="12" fill="${s.color}"/>`);
    parts.push(`<text x="${x + 16}" y="36" class="legend">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

type Trial = JsonReport['trials'][number];

/** Per-second mean over trials of one variant (seconds present in any trial). */
function meanSeries(trials: readonly Trial[], pick: (s: Trial['perSecond'][number]) => number | undefined) {
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
  return [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([x, e]) => [x, e.sum / e.n] as [number, number]);
}

function charts(report: JsonReport): string {
  const colors = new Map(report.variants.map((v, i) => [v.name, PALETTE[i % PALETTE.length] as string]));
  const faults = report.trials.flatMap((t) => t.faults.map((f) => (f.atMillis - t.startedAtMillis) / 1000));
  const markers: { x: number; label: string }[] =
    faults.length > 0 ? [{ x: faults.reduce((a, b) => a + b, 0) / faults.length, label: 'fault' }] : [];
  // Seconds past the window only drain requests already sent; mark where sending stopped.
  const windowEnd = Math.max(0, ...report.trials.map((t) => t.measuredSeconds));
  const lastSecond = Math.max(0, ...report.trials.flatMap((t) => t.perSecond.map((s) => s.second)));
  if (windowEnd > 0 && lastSecond >= windowEnd) markers.push({ x: windowEnd, label: 'load ends' });
  const build = (
    title: string,
    yLabel: string,
    pick: (s: Trial['perSecond'][number]) => number | undefined,
  ): string => {
    const series: ChartSeries[] = [];
    for (const v of report.variants) {
      const trials = report.trials.filter((t) => t.variant === v.name);
      const color = colors.get(v.name) ?? '#333';
      if (trials.length > 1) {
        for (const t of trials) {
          series.push({
            name: `${v.name} trial ${t.trial}`,
            color,
            faint: true,
            points: t.perSecond.flatMap((s) => {
              const y = pick(s);
              return y === undefined ? [] : [[s.second, y] as [number, number]];
            }),
          });
        }
      }
      series.push({ name: v.name, color, points: meanSeries(trials, pick) });
    }
    return svgLineChart({ title, yLabel, xLabel: 'second of the measured window', series, markers });
  };
  return [
    build('Completed requests per second (mean over trials; thin lines: single trials)', 'req/s', (s) => s.completed),
    build('p99 latency per second, ms (client side, from intended send time)', 'p99 ms', (s) =>
      s.completed > 0 ? s.p99Millis : undefined,
    ),
    build('Failed requests per second', 'errors/s', (s) => s.errors),
  ].join('\n');
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.verdict{font-size:16px;background:#f3f7fb;border-left:4px solid #1f77b4;padding:10px 14px;margin:12px 0}
.glance{color:#444;margin:6px 0 12px}.warn{background:#fff6e5;border-left:4px solid #e69500;padding:8px 14px;margin:12px 0}
.partial{color:#b00020}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{padding:4px 10px;border-bottom:1px solid #e5e5e5;text-align:left;vertical-align:top}
th{background:#fafafa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.timeline td,table.timeline th{padding:2px 6px;text-align:right;font-variant-numeric:tabular-nums}
svg.chart{display:block;margin:10px 0;background:#fff}
.chart-title{font-size:13px;font-weight:600;fill:#222}.tick{font-size:11px;fill:#555}.axis-label{font-size:11px;fill:#555}
.grid{stroke:#eee}.axis{stroke:#999}.marker{stroke:#b00020;stroke-dasharray:4 3}.marker-label{font-size:11px;fill:#b00020}.legend{font-size:12px;fill:#222}
ul{margin:6px 0 6px 18px;padding:0}.muted{color:#666}
`;

/** Renders the report (model or stored JSON document) as one self-contained HTML page. */
export function renderHtml(input: ReportModel | JsonReport): string {
  const report = 'schemaVersion' in input ? input : toJsonReport(input);
  const e = escapeHtml;
  const title = report.experiment.namespace
    ? `${report.experiment.namespace}/${report.experiment.name}`
    : report.experiment.name;
  const body: string[] = [];
  body.push(`<h1>conclab: ${e(title)}${report.partial ? ' <span class="partial">(PARTIAL)</span>' : ''}</h1>`);
  body.push(`<div class="verdict" id="verdict"><strong>Verdict:</strong> ${e(report.verdict.summary)}</div>`);
  const glance = [
    report.verdict.winner ? `winner ${report.verdict.winner}` : 'no throughput winner',
    report.verdict.throughputDelta ? `throughput ${report.verdict.throughputDelta}` : undefined,
    report.verdict.p99Delta ? `p99 ${report.verdict.p99Delta}` : undefined,
    report.verdict.blastRadius ? `capacity lost to the fault: ${report.verdict.blastRadius}` : undefined,
  ].filter((x): x is string => x !== undefined);
  body.push(`<div class="glance">${e(glance.join(' · '))}</div>`);
  if (report.warnings.length > 0) {
    body.push(
      `<div class="warn"><strong>Warnings</strong><ul>${report.warnings.map((w) => `<li>${e(w)}</li>`).join('')}</ul></div>`,
    );
  }
  body.push(htmlTable(dimensionsTable(report), 'dimensions'));

  body.push('<h2>Per second</h2>');
  body.push(charts(report));

  body.push('<h2>Results</h2>');
  body.push(
    '<p class="muted">Client-side latency counts from the intended send time (queueing included); percentiles come from histograms merged over all trials; failed = errors + dropped, of requests scheduled.</p>',
  );
  body.push(htmlTable(resultsTable(report), 'results'));
  const server = serverTable(report);
  if (server) {
    body.push('<h3>Server side and worker spread (spans)</h3>');
    body.push(htmlTable(server));
  }
  const capacity = report.variants.filter((v) => v.capacity);
  if (capacity.length > 0) {
    body.push('<h3>Capacity check</h3><ul>');
    for (const v of capacity) body.push(`<li><strong>${e(v.name)}</strong>: ${e(v.capacity?.note ?? '')}</li>`);
    body.push('</ul>');
  }

  const search = searchTable(report);
  if (search) {
    body.push('<h2 id="capacity-search">Capacity search</h2>');
    body.push(htmlTable(search, 'search'));
  }

  const blast = blastTable(report);
  if (blast) {
    body.push('<h2 id="blast-radius">Blast radius</h2>');
    body.push(htmlTable(blast, 'blast'));
    body.push(
      `<ul class="nuance">${faultNuances(report)
        .map((n) => `<li>${e(n)}</li>`)
        .join('')}</ul>`,
    );
    for (const v of report.variants) {
      const b = representativeBlast(report, v.name);
      if (!b) continue;
      body.push(
        `<h3>${e(v.name)}, trial ${trialOf(report, b)}: ${e(b.fault.kind)} of worker ${b.fault.worker} at ${num(b.faultOffsetSeconds, 3)} s</h3>`,
      );
      body.push(
        `<p>Baseline ${num(b.baselineThroughput)} req/s; peak loss ${percent(b.peakCapacityLostPercent, 3)}; ${b.recovered ? `recovered after ${seconds(b.recoverySeconds)}` : 'never recovered in the trial'}${b.restarted ? `; process restarted (down ${seconds(b.downSeconds)}, cold start ${seconds(b.coldStartSeconds)})` : ''}; survivors' p99 ${num(b.p99BeforeMillis)} ms before, ${num(b.p99DuringMillis)} ms during.</p>`,
      );
      const rows = timelineRows(b);
      const [head, ...rest] = rows;
      if (b.timeline.length > 0) {
        body.push(
          `<table class="timeline"><thead><tr><th>${e(head?.label ?? '')}</th>${(head?.cells ?? []).map((c) => `<th>${e(c)}</th>`).join('')}</tr></thead><tbody>${rest.map((r) => `<tr><th>${e(r.label)}</th>${r.cells.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`,
        );
      }
    }
  }

  body.push('<h2>Trials</h2>');
  body.push(htmlTable(trialsTable(report), 'trials'));

  const env = report.environment;
  body.push('<h2>Environment</h2><ul>');
  body.push(
    `<li>conclab ${e(report.tool.version)}, report generated ${e(report.generatedAt)}; run ${e(report.run.startedAt)} to ${e(report.run.endedAt)}</li>`,
  );
  body.push(`<li>host ${e(env.hostname)}: ${env.cores} cores, ${e(env.cpuModel)}, kernel ${e(env.kernel)}</li>`);
  body.push(`<li>runtime ${e(env.runtime)}, cgroup ${e(env.cgroupVersion)}</li>`);
  const versions = Object.entries(env.runtimeVersions).map(([k, v]) => `${k} ${v}`);
  if (versions.length) body.push(`<li>versions: ${e(versions.join(', '))}</li>`);
  for (const v of report.variants) {
    if (!v.resources) continue;
    const l = v.resources.limits;
    body.push(
      `<li>limits read back for ${e(v.name)}: ${num(l.cpuCores)} CPU, ${bytes(l.memoryBytes)} (${e(l.source)})</li>`,
    );
  }
  body.push('</ul>');
  body.push('<h2>Caveats</h2><ul>');
  for (const c of report.caveats) body.push(`<li>${e(c)}</li>`);
  if (report.omitted?.length) {
    body.push(`<li>Left out of this stored report to fit its size limit: ${e(report.omitted.join('; '))}.</li>`);
  }
  body.push('</ul>');

  // The data travels with the page; "<" is escaped so no string can close the script element.
  const data = JSON.stringify(report).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>conclab: ${e(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body.join('\n')}
<script type="application/json" id="conclab-report">${data}</script>
</body>
</html>
`;
}
