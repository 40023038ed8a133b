// The Markdown summary: what a platform engineer reads in a pull request or a ticket. Verdict
// first, then the numbers behind it, then what could make them wrong.

import { capacityBlocks } from './capacity.ts';
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
  timelineText,
  trialOf,
  trialsTable,
} from './format.ts';
import type { JsonReport } from './json.ts';
import { toJsonReport } from './json.ts';
import type { ReportModel } from './model.ts';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function markdownTable(table: Table): string {
  const head = `| ${table.headers.map(cell).join(' | ')} |`;
  const rule = `|${table.align.map((a) => (a === 'right' ? '---:' : ':---')).join('|')}|`;
  const body = table.rows.map((r) => `| ${r.map(cell).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}

/** Renders the report (model or stored JSON document) as Markdown. */
export function renderMarkdown(input: ReportModel | JsonReport): string {
  const report = 'schemaVersion' in input ? input : toJsonReport(input);
  const out: string[] = [];
  const title = report.experiment.namespace
    ? `${report.experiment.namespace}/${report.experiment.name}`
    : report.experiment.name;
  out.push(`# conclab: ${title}${report.partial ? ' (PARTIAL)' : ''}`);
  out.push('');
  out.push(`**Verdict:** ${report.verdict.summary}`);
  out.push('');
  const glance = [
    report.verdict.winner ? `winner **${report.verdict.winner}**` : 'no throughput winner',
    report.verdict.throughputDelta ? `throughput ${report.verdict.throughputDelta}` : undefined,
    report.verdict.p99Delta ? `p99 ${report.verdict.p99Delta}` : undefined,
    report.verdict.blastRadius ? `capacity lost to the fault: ${report.verdict.blastRadius}` : undefined,
  ].filter(Boolean);
  out.push(glance.join(' · '));
  out.push('');
  if (report.warnings.length > 0) {
    out.push('> **Warnings**');
    for (const w of report.warnings) out.push(`> - ${w}`);
    out.push('');
  }
  out.push(markdownTable(dimensionsTable(report)));
  out.push('');
  out.push(`_${configLine(report)}_`);
  out.push('');

  out.push('## Results');
  out.push('');
  out.push(
    'Client-side latency counts from the intended send time (queueing included), percentiles from histograms merged over all trials; failed = errors + dropped, of requests scheduled.',
  );
  out.push('');
  out.push(markdownTable(resultsTable(report)));
  out.push('');
  const server = serverTable(report);
  if (server) {
    out.push('### Server side and worker spread (spans)');
    out.push('');
    out.push(markdownTable(server));
    out.push('');
    out.push('A spread CV near the sampling CV means the workers shared the work evenly.');
    out.push('');
  }
  const memory = memoryTable(report);
  if (memory) {
    out.push('### Memory by process');
    out.push('');
    out.push(
      'At the end of each window, from smaps_rollup: RSS counts a shared page once in every process that maps it, PSS divides it among them (the real footprint), USS is what one process alone holds.',
    );
    out.push('');
    out.push(markdownTable(memory));
    out.push('');
    for (const m of memoryFindings(report)) out.push(`- ${m}`);
    out.push('');
  }
  const switches = contextSwitchTable(report);
  if (switches) {
    out.push('### Context switches per request');
    out.push('');
    out.push(
      'Every thread of the variant, over the same window as the server-side request count: voluntary when a thread blocked, involuntary when it was preempted (time slice or CFS quota); run-queue wait is time runnable without a CPU.',
    );
    out.push('');
    out.push(markdownTable(switches));
    out.push('');
  }
  const shared = sharedStateTable(report);
  if (shared) {
    out.push('### Shared state');
    out.push('');
    out.push(
      'Cost of one update from spans: lock wait + hold under threads, IPC round trip(s) to the state owner under processes. Lost updates: attempts minus the final value, as the workloads count them (racy mode loses them; synchronised mode must show 0).',
    );
    out.push('');
    out.push(markdownTable(shared));
    out.push('');
  }
  const capacity = report.variants.filter((v) => v.capacity);
  if (capacity.length > 0) {
    out.push('### Capacity check');
    out.push('');
    for (const v of capacity) out.push(`- **${v.name}**: ${v.capacity?.note}.`);
    out.push('');
  }
  const kinds = report.variants.filter((v) => v.errors.errors > 0);
  if (kinds.length > 0) {
    out.push('### Errors by kind');
    out.push('');
    for (const v of kinds) {
      const parts = Object.entries(v.errors.byKind)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`);
      out.push(`- **${v.name}**: ${parts.join(', ')}; dropped ${v.errors.dropped}`);
    }
    out.push('');
  }

  const search = searchTable(report);
  if (search) {
    out.push('## Capacity search');
    out.push('');
    out.push(
      'max-throughput: each trial steps the offered rate up while the SLO holds, then bisects between the best pass and the lowest failure; capacity is the highest rate that passed.',
    );
    out.push('');
    out.push(markdownTable(search));
    out.push('');
  }

  for (const block of capacityBlocks(report, {
    table: markdownTable,
    heading: (text, level) => `${'#'.repeat(level)} ${text}`,
    paragraph: (text) => text,
  })) {
    out.push(block);
    out.push('');
  }

  const blast = blastTable(report);
  if (blast) {
    out.push('## Blast radius');
    out.push('');
    out.push(
      'One worker broken per trial. Capacity lost is the deepest one-second dip of completed requests against the pre-fault baseline; requests lost is the shortfall summed until throughput is back to 95% of the baseline for 3 s.',
    );
    out.push('');
    out.push(markdownTable(blast));
    out.push('');
    for (const v of report.variants) {
      const b = representativeBlast(report, v.name);
      if (!b) continue;
      const trial = trialOf(report, b);
      out.push(
        `**${v.name}**, trial ${trial}: ${b.fault.kind} of worker ${b.fault.worker} at ${num(b.faultOffsetSeconds, 3)} s; baseline ${num(b.baselineThroughput)} req/s; peak loss ${percent(b.peakCapacityLostPercent, 3)}; ${b.recovered ? `recovered after ${seconds(b.recoverySeconds)}` : 'never recovered in the trial'}${b.restarted ? `; process restarted (down ${seconds(b.downSeconds)}, cold start ${seconds(b.coldStartSeconds)})` : ''}${b.workersReplaced > 0 ? `; ${b.workersReplaced} worker(s) replaced` : ''}; survivors' p99 ${num(b.p99BeforeMillis)} ms before, ${num(b.p99DuringMillis)} ms during.`,
      );
      if (b.spans) {
        const change = b.spans.survivorsChangePercent;
        out.push(
          `Spans: the broken worker served ${percent(b.spans.brokenWorkerShareBeforePercent, 2)} before the fault; the other workers' rate changed by ${change === undefined ? '–' : percent(change, 2)}${b.spans.brokenWorkerNewPid ? '; it came back with a new pid' : ''}.`,
        );
      }
      out.push('');
      if (b.timeline.length > 0) {
        out.push('```');
        out.push(...timelineText(b));
        out.push('```');
        out.push('');
      }
    }
    out.push('What each fault is expected to take down:');
    out.push('');
    for (const n of faultNuances(report)) out.push(`- ${n}`);
    out.push('');
  }

  out.push('## Trials');
  out.push('');
  out.push(markdownTable(trialsTable(report)));
  out.push('');

  out.push('## Environment');
  out.push('');
  const e = report.environment;
  out.push(
    `- conclab ${report.tool.version}, report generated ${report.generatedAt}; run ${report.run.startedAt} to ${report.run.endedAt}`,
  );
  out.push(`- host ${e.hostname}: ${e.cores} cores, ${e.cpuModel}, kernel ${e.kernel}`);
  out.push(`- runtime ${e.runtime}, cgroup ${e.cgroupVersion}`);
  const versions = Object.entries(e.runtimeVersions).map(([k, v]) => `${k} ${v}`);
  if (versions.length) out.push(`- versions: ${versions.join(', ')}`);
  for (const v of report.variants) {
    if (!v.resources) continue;
    const l = v.resources.limits;
    out.push(`- limits read back for ${v.name}: ${num(l.cpuCores)} CPU, ${bytes(l.memoryBytes)} (${l.source})`);
  }
  out.push('');
  out.push('## Caveats');
  out.push('');
  for (const c of report.caveats) out.push(`- ${c}`);
  if (report.omitted?.length)
    out.push(`- Left out of this stored report to fit its size limit: ${report.omitted.join('; ')}.`);
  out.push('');
  return out.join('\n');
}
