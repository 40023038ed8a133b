import { readFileSync } from 'node:fs';
import test from 'ava';
import Schema from 'typebox/schema';
import { renderHtml } from '../../operator/report/html.ts';
import {
  parseJsonReport,
  renderJson,
  reportJsonSchema,
  SCHEMA_VERSION,
  toJsonReport,
  validateJsonReport,
} from '../../operator/report/json.ts';
import { renderMarkdown } from '../../operator/report/markdown.ts';
import { buildReport } from '../../operator/report/model.ts';
import { renderTerminal } from '../../operator/report/terminal.ts';
import { buildRun } from '../analysis/records-builder.ts';
import { crashReport, GENERATED_AT, quickstartReport } from './report-fixture.ts';

test('a report with faults validates against the exported JSON Schema', (t) => {
  const doc = JSON.parse(renderJson(crashReport()));
  const [ok, errors] = Schema.Errors(reportJsonSchema(), doc);
  t.true(ok, JSON.stringify(errors.slice(0, 5)));
  t.deepEqual(validateJsonReport(doc), []);
});

test('a report without faults, with one trial, validates too', (t) => {
  t.deepEqual(validateJsonReport(JSON.parse(renderJson(quickstartReport(1)))), []);
});

test('the report carries version, tool, time, config, environment and every trial', (t) => {
  const doc = toJsonReport(crashReport());
  t.is(doc.schemaVersion, SCHEMA_VERSION);
  t.is(doc.kind, 'ConcurrencyExperimentReport');
  t.is(doc.tool.name, 'conclab');
  t.is(doc.tool.version, '0.1.0');
  t.is(doc.generatedAt, GENERATED_AT.toISOString());
  t.is(doc.config.variants.length, 2);
  t.is(doc.environment.cgroupVersion, 'v2');
  t.is(doc.trials.length, 6);
  t.is(doc.variants.length, 2);
  t.false(doc.partial);
  t.is(doc.verdict.winner, 'thread');
  t.is(doc.verdict.blastRadius, 'process 25% / thread 100%');
  const thread = doc.trials.find((tr) => tr.variant === 'thread' && tr.trial === 1);
  t.is(thread?.perSecond.length, 30);
  t.is(thread?.blastRadius[0]?.restarted, true);
  t.true((thread?.latencyHistogram.length ?? 0) > 10);
});

test('the same records give byte-identical reports', (t) => {
  t.is(renderJson(crashReport()), renderJson(crashReport()));
});

test('the schema catches a report that is not one', (t) => {
  const doc = JSON.parse(renderJson(crashReport()));
  doc.variants[0].throughput.mean = 'fast';
  delete doc.trials[0].perSecond;
  doc.extra = true;
  const problems = validateJsonReport(doc);
  t.true(
    problems.some((p) => p.startsWith('/variants/0/throughput/mean')),
    problems.join('\n'),
  );
  t.true(
    problems.some((p) => /perSecond/.test(p)),
    problems.join('\n'),
  );
  t.true(problems.some((p) => /additional properties/.test(p)));
});

test('parsing a stored report checks JSON, version and schema with a message naming the fix', (t) => {
  const text = renderJson(crashReport());
  t.is(parseJsonReport(text).verdict.winner, 'thread');
  t.throws(() => parseJsonReport('{nope'), { message: /not JSON/ });
  t.throws(() => parseJsonReport(JSON.stringify({ schemaVersion: '2' })), { message: /schemaVersion "2".*reads "1"/ });
  const broken = JSON.parse(text);
  broken.trials = 'none';
  t.throws(() => parseJsonReport(JSON.stringify(broken)), { message: /\/trials: must be array/ });
});

test('SCHEMA.md documents every top-level field of the schema', (t) => {
  const doc = readFileSync(new URL('../../operator/report/SCHEMA.md', import.meta.url), 'utf8');
  const properties = Object.keys((reportJsonSchema().properties ?? {}) as Record<string, unknown>);
  t.true(properties.length > 10);
  const missing = properties.filter((p) => !new RegExp(`\\| \`${p}\\??\` +\\|`).test(doc));
  t.deepEqual(missing, []);
  t.true(doc.includes(`schemaVersion "${SCHEMA_VERSION}"`));
});

test('optional fields from newer producers (OOM kills, synthesized histograms) validate', (t) => {
  const doc = JSON.parse(renderJson(crashReport()));
  doc.trials[0].usage.oomKills = 1;
  doc.trials[0].latencyHistogramSynthesized = true;
  doc.variants[0].resources.oomKills = 1;
  t.deepEqual(validateJsonReport(doc), []);
});

test('a partial run where one variant never ran still gives a valid report in every format', (t) => {
  const run = buildRun({ process: () => ({}), thread: () => ({}) }, { trials: 1, partial: true });
  run.trials = run.trials.filter((r) => r.variant === 'process');
  const model = buildReport(run, { generatedAt: GENERATED_AT });
  const doc = JSON.parse(renderJson(model));
  t.deepEqual(validateJsonReport(doc), []);
  t.true(doc.partial);
  t.is(doc.verdict.summary, 'Not enough measurements to compare variants.');
  t.true(doc.warnings.some((w: string) => w.startsWith('PARTIAL RUN')));
  t.regex(renderMarkdown(model), /# conclab: default\/quickstart \(PARTIAL\)/);
  t.regex(renderHtml(model), /\(PARTIAL\)/);
  t.regex(renderTerminal(model, { color: false }), /\(PARTIAL\)/);
});

test('unequal limits between variants are a loud warning', (t) => {
  const run = buildRun({
    process: () => ({}),
    thread: () => ({ usage: { limits: { cpuCores: 2, memoryBytes: 512 * 1024 * 1024, source: 'cgroup v2' } } }),
  });
  const doc = toJsonReport(buildReport(run, { generatedAt: GENERATED_AT }));
  t.regex(doc.warnings[0] ?? '', /^UNEQUAL LIMITS: .*process: 1 cores.*thread: 2 cores/);
});
