import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { parseJsonReport, toJsonReport } from '../../operator/report/json.ts';
import { renderMarkdown } from '../../operator/report/markdown.ts';
import { buildReport } from '../../operator/report/model.ts';
import { alignTable, renderTerminal, shouldUseColor } from '../../operator/report/terminal.ts';
import { renderReport, writeReports } from '../../operator/report/write.ts';
import { buildExperiment, buildRun } from '../analysis/records-builder.ts';
import { crashReport, quickstartReport } from './report-fixture.ts';

const crash = crashReport();
const quick = quickstartReport();

test('Markdown puts the verdict first, then the dimension table', (t) => {
  const md = renderMarkdown(crash);
  const lines = md.split('\n');
  t.is(lines[0], '# conclab: default/quickstart');
  t.regex(lines[2] ?? '', /^\*\*Verdict:\*\* Thread delivered \d+% more throughput than process/);
  t.true(md.indexOf('| dimension | winner | finding |') < md.indexOf('## Results'));
});

test('Markdown has a blast radius section with a per-second timeline around the fault', (t) => {
  const md = renderMarkdown(crash);
  t.true(md.includes('## Blast radius'));
  const timeline = md.split('\n').filter((l) => l.startsWith('ok/s'));
  t.is(timeline.length, 2);
  // thread: three seconds with nothing served after the abort.
  t.regex(timeline[1] ?? '', /196\s+0\s+0\s+0\s+100\s+196/);
  t.regex(md, /process restarted \(down 2\.3 s, cold start 2\.1 s\)/);
  t.regex(md, /other workers' rate changed by -100%/);
  // The expected scope of the injected fault kind is stated next to the numbers.
  t.regex(md, /- abort: a native abort .* ends the whole OS process/);
  t.false(md.includes('- throw:'));
});

test('Markdown lists environment, limits read back, and caveats', (t) => {
  const md = renderMarkdown(crash);
  t.regex(md, /## Environment[\s\S]*2 cores[\s\S]*limits read back for thread: 1 CPU, 512 MiB/);
  t.regex(md, /## Caveats\n\n- 3 trials per variant/);
});

test('Markdown without faults has no blast radius section and says throughput cannot separate', (t) => {
  const md = renderMarkdown(quick);
  t.false(md.includes('## Blast radius'));
  t.regex(md, /every variant served the offered 100 req\/s/);
});

test('a stored JSON report renders the same Markdown as the model', (t) => {
  const stored = parseJsonReport(renderReport(crash, 'json'));
  t.is(renderMarkdown(stored), renderMarkdown(crash));
});

test('warnings such as unequal limits are shown loudly', (t) => {
  const doc = toJsonReport(crash);
  doc.warnings.unshift('UNEQUAL LIMITS: test');
  t.regex(renderMarkdown(doc), /> \*\*Warnings\*\*\n> - UNEQUAL LIMITS: test/);
  t.regex(renderTerminal(doc, { color: false }), /warning: UNEQUAL LIMITS: test/);
});

test('the terminal table is aligned and has no colour when colour is off', (t) => {
  const text = renderTerminal(crash, { color: false });
  t.false(text.includes('\x1b['));
  const lines = text.split('\n');
  const header = lines.findIndex((l) => l.startsWith('variant  model'));
  t.true(header > 0);
  const rule = lines[header + 1] ?? '';
  t.regex(rule, /^-+( {2}-+)+$/);
  // Right-aligned columns end at the same place in the header and in every row.
  const p99End = (lines[header] ?? '').indexOf('p99 ms') + 'p99 ms'.length;
  for (const row of [lines[header + 2], lines[header + 3]]) t.regex((row ?? '').slice(p99End - 1, p99End), /\d/);
  t.regex(text, /verdict: Thread delivered/);
});

test('the terminal table uses colour only when asked and fits a narrow terminal', (t) => {
  t.true(renderTerminal(crash, { color: true }).includes('\x1b[1m'));
  const narrow = renderTerminal(crash, { color: false, widthColumns: 60 });
  const table = narrow.split('\n').filter((l) => l.startsWith('process') || l.startsWith('variant'));
  t.true(
    table.slice(0, 2).every((l) => l.length <= 60),
    table.join('\n'),
  );
});

test('colour follows the TTY, NO_COLOR and FORCE_COLOR', (t) => {
  t.true(shouldUseColor({ isTTY: true }, {}));
  t.false(shouldUseColor({ isTTY: false }, {}));
  t.false(shouldUseColor({}, {}));
  t.false(shouldUseColor({ isTTY: true }, { NO_COLOR: '' }));
  t.true(shouldUseColor({ isTTY: false }, { FORCE_COLOR: '1' }));
  t.false(shouldUseColor({ isTTY: true }, { FORCE_COLOR: '0' }));
});

test('alignTable pads left- and right-aligned columns', (t) => {
  t.deepEqual(
    alignTable({
      headers: ['a', 'n'],
      align: ['left', 'right'],
      rows: [
        ['xyz', '1'],
        ['b', '100'],
      ],
    }),
    ['a      n', '---  ---', 'xyz    1', 'b    100'],
  );
});

test('writeReports writes every format atomically into the directory', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conclab-report-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const written = writeReports(crash, dir);
  t.deepEqual(readdirSync(dir).sort(), ['report.html', 'report.json', 'report.md']);
  t.is(parseJsonReport(readFileSync(written.json ?? '', 'utf8')).verdict.winner, 'thread');
  t.true(readFileSync(written.md ?? '', 'utf8').startsWith('# conclab'));
  t.true(readFileSync(written.html ?? '', 'utf8').startsWith('<!doctype html>'));
});

test('renderReport refuses an unknown format with the allowed ones', (t) => {
  t.throws(() => renderReport(crash, 'pdf' as 'md'), {
    message: /unknown report format "pdf"; use one of json, md, html/,
  });
});

test('the terminal shows each faulted variant with its per-second timeline around the fault and what the fault is expected to take down', (t) => {
  const text = renderTerminal(crash, { color: false });
  const blast = text.slice(text.indexOf('blast radius'));
  for (const row of ['t (s)', 'ok/s', 'err/s', 'p99 ms'])
    t.regex(blast, new RegExp(`^  ${row.replace(/[()]/g, '\\$&')} `, 'm'));
  t.regex(blast, /peak loss \d/);
  t.regex(blast, /^expected: abort: a native abort/m);
  // A narrow terminal cuts timeline rows instead of wrapping them.
  const narrow = renderTerminal(crash, { color: false, widthColumns: 60 });
  for (const line of narrow.split('\n').filter((l) => l.startsWith('  ok/s'))) t.true(line.length <= 60, line);
});

test('a max-throughput search is shown step by step and its capacity reaches status and the printer column', (t) => {
  const step = (rate: number, passed: boolean, p99: number) => ({
    rate,
    passed,
    failureRate: passed ? 0 : 0.2,
    completedPerSecond: passed ? rate : rate * 0.8,
    latencyMillis: { p50: 2, p90: 5, p99, p999: p99 * 2 },
    unreliable: false,
  });
  const search = (capacity: number) => ({
    capacity,
    end: 'converged' as const,
    lowestFailingRate: capacity + 20,
    steps: [step(100, true, 8), step(200, true, 12), step(400, false, 900), step(capacity, true, 30)],
  });
  const run = buildRun(
    {
      process: (i) => ({ rate: 300, search: search(300 + i) }),
      thread: (i) => ({ rate: 200, search: search(200 + i) }),
    },
    {
      experiment: buildExperiment({
        trials: 3,
        load: { ...buildExperiment().spec.load, pattern: 'max-throughput', rate: 100 },
      }),
    },
  );
  const report = toJsonReport(buildReport(run, { generatedAt: new Date(0), seed: 1 }));
  const md = renderMarkdown(report);
  t.true(md.includes('## Capacity search'));
  t.regex(md, /\| process \| 1 \| 301 \| converged \| 100: ok 8, 200: ok 12, 400: failed 900, 301: ok 30 \|/);
  const processRow = report.results.find((r) => r.name === 'process');
  t.is(processRow?.capacity, 302);
  t.deepEqual(
    processRow?.search?.map((s) => [s.trial, s.capacity, s.steps]),
    [
      [1, 301, '100 ok, 200 ok, 400 failed, 301 ok'],
      [2, 302, '100 ok, 200 ok, 400 failed, 302 ok'],
      [3, 303, '100 ok, 200 ok, 400 failed, 303 ok'],
    ],
  );
  t.is(report.verdict.capacity, 'process 302 / thread 202 req/s');
  t.regex(renderTerminal(report, { color: false, widthColumns: 200 }), /capacity search \(max-throughput\)/);
});
