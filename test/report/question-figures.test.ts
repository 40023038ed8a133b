// The figures of the process-vs-thread question in the versioned JSON, its schema and
// SCHEMA.md, and in the text formats: switches per request, memory by process, shared-state
// cost and lost updates, the trials a non-significant difference would need, and what each
// fault takes down under each runtime.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { renderHtml } from '../../operator/report/html.ts';
import { reportJsonSchema, toJsonReport, validateJsonReport } from '../../operator/report/json.ts';
import { renderMarkdown } from '../../operator/report/markdown.ts';
import { buildReport } from '../../operator/report/model.ts';
import { renderTerminal } from '../../operator/report/terminal.ts';
import { buildRun } from '../analysis/records-builder.ts';
import { exampleFiles, exampleReport } from './example-reports.ts';
import { GENERATED_AT } from './report-fixture.ts';

test('SCHEMA.md documents every field of dimensions, variants and trials', (t) => {
  const doc = readFileSync(new URL('../../operator/report/SCHEMA.md', import.meta.url), 'utf8');
  const schema = reportJsonSchema() as { properties: Record<string, { items: { properties: object } }> };
  for (const part of ['dimensions', 'variants', 'trials']) {
    const fields = Object.keys(schema.properties[part]?.items.properties ?? {});
    t.true(fields.length > 5, part);
    t.deepEqual(
      fields.filter((f) => !doc.includes(`\`${f}`)),
      [],
      `${part} fields missing from SCHEMA.md`,
    );
  }
});

for (const file of exampleFiles()) {
  test(`the report of examples/${file} validates with its per-request, per-process figures`, (t) => {
    const doc = JSON.parse(JSON.stringify(toJsonReport(exampleReport(file))));
    t.deepEqual(validateJsonReport(doc), []);
    for (const v of doc.variants) {
      t.true(v.contextSwitches.voluntaryPerRequest.mean > 0, v.name);
      t.true(v.contextSwitches.involuntaryPerRequest.mean > 0, v.name);
      t.is(v.contextSwitches.requestsFrom, 'server');
      t.is(v.processMemory.processes, v.model === 'process' ? v.workers + 1 : 1, v.name);
      t.true(v.processMemory.ussBytes.mean <= v.processMemory.pssBytes.mean);
      t.true(v.processMemory.pssBytes.mean <= v.processMemory.rssBytes.mean);
    }
    for (const tr of doc.trials) t.truthy(tr.contextSwitchesPerRequest, `${tr.variant} ${tr.trial}`);
  });
}

test('the process model pays its runtime per worker: its summed USS exceeds the one thread process', (t) => {
  const doc = toJsonReport(exampleReport('oversubscribed.yaml'));
  const [processes, threads] = doc.variants;
  t.true((processes?.processMemory?.ussBytes.mean ?? 0) > 2 * (threads?.processMemory?.ussBytes.mean ?? Infinity));
  t.true(
    (processes?.contextSwitches?.involuntaryPerRequest.mean ?? 0) >
      (threads?.contextSwitches?.involuntaryPerRequest.mean ?? Infinity),
  );
});

test('racy shared state: lost updates per variant in the JSON, and none when synchronised', (t) => {
  const racy = toJsonReport(
    exampleReport('shared-state.yaml', (e) => {
      e.spec.workload.racyUpdates = true;
    }),
  );
  t.deepEqual(validateJsonReport(JSON.parse(JSON.stringify(racy))), []);
  const processes = racy.variants.find((v) => v.name === 'processes')?.sharedState;
  t.true(processes?.racy);
  t.true((processes?.lostUpdates ?? 0) > 0);
  t.is(processes?.lostPerTrial.length, 3);
  t.true((processes?.costMicros?.p50Micros ?? 0) > (racy.variants[1]?.sharedState?.costMicros?.p50Micros ?? Infinity));
  const synced = toJsonReport(exampleReport('shared-state.yaml'));
  t.deepEqual(
    synced.variants.map((v) => v.sharedState?.lostUpdates),
    [0, 0],
  );
  t.regex(renderMarkdown(racy), /\| processes \| process \| racy: get \+ set over IPC \| \d+ \| 85 us \|/);
  t.regex(renderTerminal(racy, { color: false }), /racy: no lock/);
});

test('a difference that is not significant carries the trials needed in the JSON and in every format', (t) => {
  const model = buildReport(
    buildRun({
      process: (trial) => ({ rate: 300, completed: () => [180, 190, 185][trial - 1] ?? 0 }),
      thread: (trial) => ({ rate: 300, completed: () => [186, 198, 192][trial - 1] ?? 0 }),
    }),
    { generatedAt: GENERATED_AT },
  );
  const doc = toJsonReport(model);
  t.deepEqual(validateJsonReport(JSON.parse(JSON.stringify(doc))), []);
  const tp = doc.dimensions.find((d) => d.dimension === 'throughput');
  const n = tp?.trialsNeeded?.trials;
  t.true(n !== undefined && n > 3, JSON.stringify(tp?.trialsNeeded));
  t.like(tp?.trialsNeeded, { power: 0.8, alpha: 0.05 });
  const sentence = `about ${n} trials per variant would detect a difference this size`;
  t.true(doc.verdict.summary.includes(sentence), doc.verdict.summary);
  t.true(renderMarkdown(doc).includes(sentence));
  t.true(renderTerminal(doc, { color: false }).includes(sentence));
  t.true(renderHtml(doc).includes(sentence));
});

test('each fault is explained for its runtime: a hang under CPython threads stalls the whole server', (t) => {
  const node = renderMarkdown(exampleReport('isolation.yaml'));
  t.regex(node, /- hang: a busy loop stalls one worker's event loop under both models/);
  t.regex(node, /- leak: under processes .* one worker is lost and replaced\. Under threads .* ends the whole server/);
  t.notRegex(node, /GIL/);
  const python = exampleReport('isolation.yaml', (e) => {
    e.spec.workload.runtime = 'python';
  });
  const md = renderMarkdown(python);
  t.regex(
    md,
    /- hang: a C-level loop that never releases the GIL .* Under the thread model every thread waits for the GIL: the whole server stalls/,
  );
  t.regex(md, /- leak: under processes .* one worker, replaced\. Under threads the one process holds every worker/);
  t.regex(renderTerminal(python, { color: false }), /expected: hang: .*GIL/);
  t.regex(renderHtml(python), /<li>hang: a C-level loop that never releases the GIL/);
  t.true(toJsonReport(python).caveats.some((c) => c.includes('never releases the GIL')));
});
