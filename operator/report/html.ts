// A self-contained HTML page: inline CSS and SVG, no scripts or assets from anywhere, so it
// opens from a file, an email attachment or an air-gapped cluster alike. It embeds the JSON
// report so the page is also the data.
//
// The first screen answers the question: the verdict in one sentence and the one picture that
// shows why (charts/hero.ts). Below it every claim has its chart, built at report time on
// d3-scale and d3-shape (operator/report/charts/): latency percentiles, load curves, the
// seconds of each variant with its fault and events, CPU, memory by process, context
// switches, shared-state cost, the spread over workers, and the fairness evidence.

import { capacityHtml } from './capacity.ts';
import { fairnessChart } from './charts/fairness.ts';
import { heroFigure } from './charts/hero.ts';
import { percentileChart } from './charts/latency.ts';
import { loadCurveCharts } from './charts/load.ts';
import { contextSwitchChart, cpuChart, memoryChart, sharedStateChart } from './charts/resources.ts';
import { spreadChart } from './charts/spread.ts';
import { escapeXml, variantColors } from './charts/svg.ts';
import { timelineCards } from './charts/timeline.ts';
import {
  blastTable,
  bytes,
  configLine,
  contextSwitchTable,
  dimensionsTable,
  faultNuances,
  memoryFindings,
  memoryTable,
  num,
  percent,
  representativeBlast,
  resultsTable,
  searchTable,
  seconds,
  serverTable,
  sharedStateTable,
  type Table,
  timelineRows,
  trialOf,
  trialsTable,
} from './format.ts';
import { type JsonReport, toJsonReport } from './json.ts';
import type { ReportModel } from './model.ts';

/** HTML text and attribute escaping: the same five characters as XML (charts/svg.ts). */
export const escapeHtml = escapeXml;

function htmlTable(table: Table, className = ''): string {
  const cls = (i: number) => (table.align[i] === 'right' ? ' class="num"' : '');
  const head = table.headers.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('');
  const body = table.rows
    .map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table${className ? ` class="${className}"` : ''}><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;margin:16px auto;max-width:1080px;padding:0 16px}
h1{font-size:20px;margin:0 0 2px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.config{color:#555;font-size:13px;margin:0 0 8px}
.verdict{font-size:16px;background:#f3f7fb;border-left:4px solid #4e79a7;padding:8px 14px;margin:8px 0}
.glance{color:#444;margin:4px 0 6px}.warned{color:#a05a00;font-weight:600}
.warn{background:#fff6e5;border-left:4px solid #e69500;padding:8px 14px;margin:12px 0}
.partial{color:#b00020}
figure{margin:6px 0 14px}figcaption{color:#555;font-size:12px;margin:2px 0 0 8px}
.row{display:flex;flex-wrap:wrap;gap:0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));gap:4px 16px}
.card h3{margin:10px 0 0}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{padding:4px 10px;border-bottom:1px solid #e5e5e5;text-align:left;vertical-align:top}
th{background:#fafafa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.timeline td,table.timeline th{padding:2px 6px;text-align:right;font-variant-numeric:tabular-nums}
svg.chart{display:block;margin:4px 0;background:#fff;max-width:100%;height:auto}
.chart-title{font-size:13px;font-weight:600;fill:#222}.panel-title{font-size:12px;font-weight:600;fill:#333}
.tick{font-size:11px;fill:#555}.axis-label{font-size:11px;fill:#555}.value{font-size:11px;fill:#222}
.grid{stroke:#eee}.axis{stroke:#999}.marker-label{font-size:11px}.legend{font-size:12px;fill:#222}
ul{margin:6px 0 6px 18px;padding:0}.muted{color:#666}.missing{color:#666;font-style:italic}
`;

function figure(svg: string | undefined, caption?: string, id?: string): string {
  if (!svg) return '';
  return `<figure${id ? ` id="${id}"` : ''}>${svg}${caption ? `<figcaption>${escapeHtml(caption)}</figcaption>` : ''}</figure>`;
}

function missing(text: string): string {
  return `<p class="missing">${escapeHtml(text)}</p>`;
}

/** Renders the report (model or stored JSON document) as one self-contained HTML page. */
export function renderHtml(input: ReportModel | JsonReport): string {
  const report = 'schemaVersion' in input ? input : toJsonReport(input);
  const e = escapeHtml;
  const colors = variantColors(report.variants.map((v) => v.name));
  const title = report.experiment.namespace
    ? `${report.experiment.namespace}/${report.experiment.name}`
    : report.experiment.name;
  const body: string[] = [];

  // ---- first screen: the answer and the picture that shows why --------------------------
  body.push(`<h1>conclab: ${e(title)}${report.partial ? ' <span class="partial">(PARTIAL)</span>' : ''}</h1>`);
  body.push(`<p class="config">${e(configLine(report))}</p>`);
  body.push(`<div class="verdict" id="verdict"><strong>Verdict:</strong> ${e(report.verdict.summary)}</div>`);
  const glance = [
    report.verdict.winner ? `winner ${report.verdict.winner}` : 'no throughput winner',
    report.verdict.throughputDelta ? `throughput ${report.verdict.throughputDelta}` : undefined,
    report.verdict.p99Delta ? `p99 ${report.verdict.p99Delta}` : undefined,
    report.verdict.capacity ? `capacity ${report.verdict.capacity}` : undefined,
    report.verdict.blastRadius ? `capacity lost to the fault: ${report.verdict.blastRadius}` : undefined,
  ].filter((x): x is string => x !== undefined);
  const warned =
    report.warnings.length > 0
      ? ` · <span class="warned">${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'} below</span>`
      : '';
  body.push(`<div class="glance">${e(glance.join(' · '))}${warned}</div>`);
  const hero = heroFigure(report, colors);
  if (hero) {
    body.push(
      `<figure id="hero" data-kind="${hero.kind}">${hero.svg}<figcaption>${e(hero.caption)}</figcaption></figure>`,
    );
  }
  if (report.warnings.length > 0) {
    body.push(
      `<div class="warn" id="warnings"><strong>Warnings</strong><ul>${report.warnings.map((w) => `<li>${e(w)}</li>`).join('')}</ul></div>`,
    );
  }
  body.push(htmlTable(dimensionsTable(report), 'dimensions'));

  // ---- latency and load ---------------------------------------------------------------------
  body.push('<h2 id="latency">Latency</h2>');
  body.push(
    figure(
      percentileChart(report, colors),
      'Client side, from the intended send time (queueing included), every request counted: the further right, the rarer the request.',
    ) || missing('No latency histogram was recorded.'),
  );
  const curves = loadCurveCharts(report, colors);
  if (curves.length > 0) {
    body.push('<h2 id="load">Throughput and latency against offered load</h2>');
    body.push(`<div class="row">${curves.map((c) => figure(c)).join('')}</div>`);
  }
  const search = searchTable(report);
  if (search) {
    body.push('<h3 id="capacity-search">Capacity search</h3>');
    body.push(htmlTable(search, 'search'));
  }
  const capacitySection = capacityHtml(report, { table: (t) => htmlTable(t, 'capacity'), escape: escapeHtml });
  if (capacitySection) body.push(capacitySection);

  // ---- per second ---------------------------------------------------------------------------
  body.push('<h2 id="per-second">Per second, per variant</h2>');
  body.push(
    '<p class="muted">Bold: mean over trials; thin: single trials. Red dashed: the fault; purple: what the workload reported (first trial); grey: where sending stopped and only answers drained.</p>',
  );
  body.push(
    `<div class="cards">${timelineCards(report, colors)
      .map((c) => `<div class="card">${c.charts.join('')}</div>`)
      .join('')}</div>`,
  );

  // ---- blast radius -------------------------------------------------------------------------
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

  // ---- resources ----------------------------------------------------------------------------
  body.push('<h2 id="resources">CPU, memory and scheduling</h2>');
  body.push(figure(cpuChart(report, colors)) || missing(resourcesMissingText(report, 'CPU')));
  const memory = memoryChart(report, colors);
  if (memory) {
    body.push(figure(memory));
    body.push(
      `<ul class="memory-findings">${memoryFindings(report)
        .map((m) => `<li>${e(m)}</li>`)
        .join('')}</ul>`,
    );
    body.push(htmlTable(memoryTable(report) as Table, 'memory'));
  } else {
    body.push(missing('Memory by process (RSS, PSS, USS) was not reported by this placement.'));
  }
  const switches = contextSwitchChart(report, colors);
  if (switches) {
    body.push(
      figure(
        switches,
        'Voluntary: a thread blocked (waiting for I/O, a lock, a message). Involuntary: it was preempted (its time slice or the CFS quota ran out). Run-queue wait: time runnable but without a CPU.',
      ),
    );
    body.push(htmlTable(contextSwitchTable(report) as Table, 'context-switches'));
  } else {
    body.push(missing('Context switches were not reported by this placement.'));
  }
  const shared = sharedStateTable(report);
  if (shared) {
    body.push('<h2 id="shared-state">Shared state</h2>');
    body.push(
      figure(sharedStateChart(report, colors)) ||
        missing('No span carried a shared-state cost (tracing off or unsampled).'),
    );
    body.push(htmlTable(shared, 'shared-state'));
  }

  // ---- workers, fairness, the numbers -------------------------------------------------------
  const spread = spreadChart(report, colors);
  if (spread) {
    body.push('<h2 id="spread">Load per worker</h2>');
    body.push(figure(spread));
  }
  body.push('<h2 id="fairness">Fairness</h2>');
  body.push(
    figure(
      fairnessChart(report, colors),
      "Every variant must run under the same budget (dots: each trial's limits read back from the kernel) and with a healthy load generator (send slip: how late requests left against their schedule).",
    ),
  );
  body.push('<ul>');
  for (const v of report.variants) {
    if (!v.resources) continue;
    const l = v.resources.limits;
    body.push(
      `<li>limits read back for ${e(v.name)}: ${num(l.cpuCores)} CPU, ${bytes(l.memoryBytes)} (${e(l.source)})</li>`,
    );
  }
  body.push('</ul>');

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

function resourcesMissingText(report: JsonReport, what: string): string {
  const reasons = [...new Set(report.variants.flatMap((v) => (v.resourcesMissing ? [v.resourcesMissing] : [])))];
  return `${what} was not measured${reasons.length ? `: ${reasons.join('; ')}` : '.'}`;
}
