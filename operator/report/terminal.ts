// The compact table printed at the end of `conclab run`: aligned columns, the verdict, the
// warnings. Colour only when asked for (a TTY that did not opt out), never in pipes or logs.

import { capacityBlocks } from './capacity.ts';
import {
  blastTable,
  contextSwitchTable,
  dimensionsTable,
  faultNuances,
  memoryTable,
  num,
  percent,
  representativeBlast,
  resultsTable,
  searchTable,
  seconds,
  sharedStateTable,
  type Table,
  timelineText,
  trialOf,
} from './format.ts';
import { type JsonReport, toJsonReport } from './json.ts';
import type { ReportModel } from './model.ts';

export interface TerminalOptions {
  /** Use ANSI colour and bold; decide with shouldUseColor(). */
  color: boolean;
  /** Terminal width; columns that do not fit are dropped from the right of the results table. */
  widthColumns?: number;
}

/**
 * Colour on a TTY unless NO_COLOR is set (any value, per no-color.org); FORCE_COLOR=0 turns
 * it off and any other FORCE_COLOR value turns it on even in a pipe.
 */
export function shouldUseColor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0';
  if (env.NO_COLOR !== undefined) return false;
  return stream.isTTY === true;
}

const ANSI = {
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  red: '\x1b[31m',
  reset: '\x1b[0m',
};

/** Lays out a table with two spaces between columns, header underlined with dashes. */
export function alignTable(
  table: Table,
  style: (text: string, kind: 'header' | 'cell') => string = (t) => t,
): string[] {
  const widths = table.headers.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const pad = (text: string, i: number) =>
    table.align[i] === 'right' ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0);
  const line = (cells: string[], kind: 'header' | 'cell') =>
    cells
      .map((c, i) => style(pad(c, i), kind))
      .join('  ')
      .trimEnd();
  return [
    line(table.headers, 'header'),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.rows.map((r) => line(r, 'cell')),
  ];
}

/** Drops columns from the right until the table fits the width (keeping at least two). */
function fitTable(table: Table, width: number | undefined): Table {
  if (width === undefined) return table;
  let t = table;
  while (t.headers.length > 2) {
    const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
    const total = widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
    if (total <= width) break;
    t = { headers: t.headers.slice(0, -1), align: t.align.slice(0, -1), rows: t.rows.map((r) => r.slice(0, -1)) };
  }
  return t;
}

export function renderTerminal(input: ReportModel | JsonReport, options: TerminalOptions): string {
  const report = 'schemaVersion' in input ? input : toJsonReport(input);
  const c = (code: keyof typeof ANSI, text: string) => (options.color ? `${ANSI[code]}${text}${ANSI.reset}` : text);
  const header = (text: string, kind: 'header' | 'cell') => (kind === 'header' ? c('bold', text) : text);
  const out: string[] = [];
  const trials = Math.max(0, ...report.variants.map((v) => v.trials));
  out.push(
    c(
      'bold',
      `conclab ${report.experiment.name}: ${report.variants.length} variants x ${trials} trial(s)${report.partial ? ' (PARTIAL)' : ''}`,
    ),
  );
  out.push('');
  out.push(...alignTable(fitTable(resultsTable(report), options.widthColumns), header));
  for (const [title, table] of [
    ['memory by process (end of window)', memoryTable(report)],
    ['context switches per request', contextSwitchTable(report)],
    ['shared state', sharedStateTable(report)],
  ] as const) {
    if (!table) continue;
    out.push('');
    out.push(c('bold', title));
    out.push(...alignTable(fitTable(table, options.widthColumns), header));
  }
  const search = searchTable(report);
  if (search) {
    out.push('');
    out.push(c('bold', 'capacity search (max-throughput)'));
    out.push(...alignTable(fitTable(search, options.widthColumns), header));
  }
  for (const block of capacityBlocks(report, {
    table: (t) => alignTable(fitTable(t, options.widthColumns), header).join('\n'),
    heading: (text) => `\n${c('bold', text.toLowerCase())}`,
    paragraph: (text) => fitLine(text, undefined),
  })) {
    out.push(block);
  }
  const blast = blastTable(report);
  if (blast) {
    out.push('');
    out.push(c('bold', 'blast radius'));
    out.push(...alignTable(fitTable(blast, options.widthColumns), header));
    out.push(...blastTimelines(report, options.widthColumns));
  }
  out.push('');
  out.push(...alignTable(dimensionsTable(report), header).map((l) => l));
  out.push('');
  const winner = report.verdict.winner;
  const summary = winner ? report.verdict.summary.replace(winner, c('green', winner)) : report.verdict.summary;
  out.push(`${c('bold', 'verdict:')} ${summary}`);
  for (const w of report.warnings) out.push(c('yellow', `warning: ${w}`));
  return `${out.join('\n')}\n`;
}

/**
 * Per variant, the trial the reports chart: one line of figures and the per-second timeline
 * around the fault (ok/s, err/s, p99), then what each fault kind is expected to take down, so
 * the numbers can be read against the theory without opening the Markdown report.
 */
function blastTimelines(report: JsonReport, widthColumns: number | undefined): string[] {
  const out: string[] = [];
  for (const v of report.variants) {
    const b = representativeBlast(report, v.name);
    if (!b) continue;
    const restart = b.restarted
      ? `; process restarted (down ${seconds(b.downSeconds)}, cold start ${seconds(b.coldStartSeconds)})`
      : '';
    const replaced = b.workersReplaced > 0 ? `; ${b.workersReplaced} worker(s) replaced` : '';
    out.push('');
    out.push(
      `${v.name}, trial ${trialOf(report, b)}: ${b.fault.kind} of worker ${b.fault.worker} at ${num(b.faultOffsetSeconds, 3)} s; ` +
        `baseline ${num(b.baselineThroughput)} req/s; peak loss ${percent(b.peakCapacityLostPercent, 3)}; ` +
        `${b.recovered ? `recovered after ${seconds(b.recoverySeconds)}` : 'never recovered in the trial'}${restart}${replaced}`,
    );
    out.push(
      ...timelineText(b).map((line) => `  ${fitLine(line, widthColumns === undefined ? undefined : widthColumns - 2)}`),
    );
  }
  const nuances = faultNuances(report);
  if (nuances.length > 0) {
    out.push('');
    for (const n of nuances) out.push(`expected: ${n}`);
  }
  return out;
}

/** Cuts a timeline row to the width at a column boundary (the columns are space-separated). */
function fitLine(line: string, width: number | undefined): string {
  if (width === undefined || line.length <= width) return line;
  const cut = line.lastIndexOf(' ', width);
  return cut > 0 ? line.slice(0, cut) : line.slice(0, width);
}
