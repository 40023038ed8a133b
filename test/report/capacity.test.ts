// The capacity-planning sections of the reports: the JSON report carries the plan (schema 1,
// optional field) and every renderer shows the USL fit per variant, the measured points beside
// the fitted ones, and the sizing table for spec.target, or says why not.
import test from 'ava';
import { renderHtml } from '../../operator/report/html.ts';
import { toJsonReport, validateJsonReport } from '../../operator/report/json.ts';
import { renderMarkdown } from '../../operator/report/markdown.ts';
import { buildReport } from '../../operator/report/model.ts';
import { renderTerminal } from '../../operator/report/terminal.ts';
import { buildExperiment, buildRun } from '../analysis/records-builder.ts';
import { sweepExperiment, sweepRun, usl } from '../analysis/sweep-builder.ts';
import { GENERATED_AT } from './report-fixture.ts';

const law = (variant: string, n: number) => (variant === 'process' ? usl(n, 200, 0.05, 0.01) : usl(n, 210, 0.3, 0.02));

function report(experiment = sweepExperiment(), lawOf = law) {
  return toJsonReport(buildReport(sweepRun(experiment, lawOf), { generatedAt: GENERATED_AT, seed: 1 }));
}

test('a sweep report carries the plan and still matches schema version 1', (t) => {
  const doc = report();
  t.deepEqual(validateJsonReport(JSON.parse(JSON.stringify(doc))), []);
  t.is(doc.schemaVersion, '1');
  t.is(doc.capacityPlan?.series.length, 2);
  t.true(doc.capacityPlan?.series.every((s) => s.fit.fittable && (s.fit.curve?.length ?? 0) > 0));
  t.is(doc.variants.length, 8, 'every sweep point is a variant of the report');
  t.regex(doc.verdict.sizing ?? '', /process needs less CPU/);
});

test('Markdown shows the coefficients with errors, N*, the points beside the fit and the sizing table', (t) => {
  const md = renderMarkdown(report());
  t.regex(md, /## Scalability \(USL fit per variant\)/);
  t.regex(
    md,
    /\| variant \| model \| CPU \| workers measured \| γ \(req\/s per worker\) \| α contention \| β coherency \| peak \| R² \|/,
  );
  t.regex(md, /\| process \| process \| 1 \| 1, 2, 4, 8 \| [\d.]+ ± [\d.]+ \(s\.e\. [\d.]+\)/);
  t.regex(md, /N\* ≈ [\d.]+/);
  t.regex(md, /### thread: measured against fitted/);
  t.regex(md, /\| workers \| measured capacity, req\/s \| trials \| USL predicts \| mean residual \|/);
  t.regex(md, /## Sizing for 2000 req\/s/);
  t.regex(md, /\| variant \| workers\/pod \| CPU\/pod \| memory\/pod \|/);
  t.regex(md, /expected: ceil\(2000 \/ [\d.]+\) = \d+ pods × 1 CPU/);
  t.regex(md, /IPC and memory duplicated between processes/);
});

test('the terminal shows the same sections as text tables', (t) => {
  const text = renderTerminal(report(), { color: false, widthColumns: undefined });
  t.regex(text, /scalability \(usl fit per variant\)/);
  t.regex(text, /sizing for 2000 req\/s/);
  t.regex(text, /α contention/);
});

test('HTML draws the fitted curves with their bands beside every measured trial, then the tables', (t) => {
  const html = renderHtml(report());
  const chart = /<svg[^>]*data-chart="usl-fit"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
  t.truthy(chart, 'the USL chart is there');
  t.is((chart.match(/data-series="process fit"/g) ?? []).length, 1);
  t.is((chart.match(/data-series="thread fit"/g) ?? []).length, 1);
  t.is((chart.match(/<circle [^>]*r="4.5"/g) ?? []).length, 24, '2 variants x 4 worker counts x 3 trials');
  t.regex(html, /<section id="capacity">[\s\S]*Sizing for 2000 req\/s/);
});

test('a flat variant is reported as not fittable, with no coefficients', (t) => {
  const md = renderMarkdown(report(sweepExperiment(), (v, n) => (v === 'thread' ? 180 : law(v, n))));
  t.regex(md, /\| thread \| thread \| 1 \| 1, 2, 4, 8 \| no fit: flat \| – \|/);
  t.regex(md, /thread \(thread\): no USL fit \(flat\)/);
});

test('a sweep without a target says so where the sizing table would be', (t) => {
  const experiment = sweepExperiment();
  delete experiment.spec.target;
  const md = renderMarkdown(report(experiment));
  t.regex(md, /## Sizing\n\nno spec\.target: give the rate to serve/);
});

test('a report without sweep or target has no capacity sections', (t) => {
  const run = buildRun({ process: () => ({}), thread: () => ({}) }, { experiment: buildExperiment() });
  const doc = toJsonReport(buildReport(run, { generatedAt: GENERATED_AT }));
  t.is(doc.capacityPlan, undefined);
  t.notRegex(renderMarkdown(doc), /Scalability|Sizing/);
});
