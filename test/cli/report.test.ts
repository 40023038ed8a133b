// `conclab report`: where the report is and why there is none (pure), rendering a stored report
// in each format, and the command's exit codes on bad usage. The path against a real cluster is
// tested end to end in test/e2e/cluster-e2e.test.ts.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import {
  locateReport,
  locateRun,
  ReportError,
  renderFolderReport,
  renderStoredReport,
} from '../../operator/cli/report.ts';
import { toJsonReport } from '../../operator/report/json.ts';
import { quickstartReport } from '../report/report-fixture.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'operator', 'cli', 'conclab.js');

function cx(status: ConcurrencyExperiment['status']): ConcurrencyExperiment {
  return {
    apiVersion: 'conclab.dev/v1alpha1',
    kind: 'ConcurrencyExperiment',
    metadata: { name: 'quickstart', namespace: 'team-a' },
    spec: {} as ConcurrencyExperiment['spec'],
    ...(status ? { status } : {}),
  };
}

test('a succeeded experiment’s report is where status.reportRef says', (t) => {
  const ref = locateReport(
    cx({ phase: 'Succeeded', reportRef: { configMap: 'cx-quickstart-report', key: 'report.json' } }),
  );
  t.deepEqual(ref, { configMap: 'cx-quickstart-report', key: 'report.json' });
});

const refusals: [string, ConcurrencyExperiment['status'], RegExp][] = [
  [
    'not started',
    undefined,
    /team-a\/quickstart has not finished yet \(phase Pending\)\. Wait for it with: kubectl wait/,
  ],
  [
    'running',
    {
      phase: 'Running',
      conditions: [
        {
          type: 'Progressing',
          status: 'True',
          reason: 'RunningLoad',
          message: 'variant threads trial 1: load running',
          lastTransitionTime: '2026-11-25T23:00:00Z',
        },
      ],
    },
    /has not finished yet \(phase Running: variant threads trial 1: load running\)/,
  ],
  [
    'failed',
    {
      phase: 'Failed',
      conditions: [
        {
          type: 'Degraded',
          status: 'True',
          reason: 'WorkloadFailed',
          message: 'variant processes trial 1: pod x failed',
          lastTransitionTime: '2026-11-25T23:00:00Z',
        },
      ],
    },
    /team-a\/quickstart failed \(WorkloadFailed: variant processes trial 1: pod x failed\); it has no report/,
  ],
  ['succeeded without a reportRef', { phase: 'Succeeded' }, /succeeded but its status has no reportRef/],
];
for (const [what, status, message] of refusals) {
  test(`an experiment ${what} has no report to print, and the message says why`, (t) => {
    const err = t.throws(() => locateReport(cx(status)), { instanceOf: ReportError });
    t.regex(err?.message ?? '', message);
    t.is(err?.exitCode, 1);
  });
}

test('a stored conclab JSON report renders in every format like a local one', (t) => {
  const text = JSON.stringify(toJsonReport(quickstartReport()));
  const md = renderStoredReport(text, 'md', 'ConfigMap x');
  t.regex(md, /^# conclab: default\/quickstart/);
  t.regex(md, /\*\*Verdict:\*\*/);
  t.regex(renderStoredReport(text, 'html', 'ConfigMap x'), /^<!doctype html>/i);
  t.is(JSON.parse(renderStoredReport(text, 'json', 'ConfigMap x')).schemaVersion, '1');
});

test('the old cluster summary (numeric schemaVersion) is not a report any more: refused, naming the version', (t) => {
  const summary = { schemaVersion: 1, kind: 'ConcurrencyExperimentReport', runtime: 'kubernetes' };
  const err = t.throws(() => renderStoredReport(JSON.stringify(summary), 'md', 'ConfigMap x'));
  t.regex(err?.message ?? '', /ConfigMap x: report has schemaVersion 1/);
});

test('a stored document that is not a report is refused, naming where it came from', (t) => {
  const notJson = t.throws(() => renderStoredReport('{oops', 'md', 'ConfigMap team-a/cx-q-report key report.json'));
  t.regex(notJson?.message ?? '', /ConfigMap team-a\/cx-q-report key report\.json does not hold JSON/);
  const wrong = t.throws(() => renderStoredReport('{"schemaVersion":"9"}', 'md', 'ConfigMap y'));
  t.regex(wrong?.message ?? '', /ConfigMap y: report has schemaVersion "9"/);
});

for (const [args, message] of [
  [[], /name the experiment/],
  [['a', 'b'], /one experiment at a time/],
  [['a', '--format', 'pdf'], /--format "pdf" is not one of md, json, html/],
  [['a', '--bogus'], /Unknown option '--bogus'/],
  [['a', '--kubeconfig', '/nonexistent/kubeconfig'], /cannot load the kubeconfig/],
] as const) {
  test(`usage errors exit 2: conclab report ${args.join(' ')}`, async (t) => {
    const err = await t.throwsAsync(run(process.execPath, [BIN, 'report', ...args]));
    const e = err as unknown as { code: number; stderr: string };
    t.is(e.code, 2);
    t.regex(e.stderr, message);
  });
}

test('conclab report --help describes the command and its exit codes', async (t) => {
  const { stdout } = await run(process.execPath, [BIN, 'report', '--help']);
  t.regex(stdout, /^Usage: conclab report NAME \[-n NAMESPACE\] \[--format md\|json\|html\]/);
  t.regex(stdout, /1 {2}no report to print/);
});

// ---- a results folder of conclab run, and a past run of a scheduled experiment (issue 13)

test('conclab report DIR renders the report.json of a results folder in each format', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conclab-report-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const doc = toJsonReport(quickstartReport());
  writeFileSync(join(dir, 'report.json'), JSON.stringify(doc));
  const md = await run(process.execPath, [BIN, 'report', dir]);
  t.regex(md.stdout, /^# conclab: default\/quickstart/);
  const html = await run(process.execPath, [BIN, 'report', dir, '--format', 'html']);
  t.regex(html.stdout, /^<!doctype html>/i);
  const json = await run(process.execPath, [BIN, 'report', dir, '-f', 'json']);
  t.deepEqual(JSON.parse(json.stdout), JSON.parse(JSON.stringify(doc)));
});

test('a folder without report.json is refused, saying what a results folder holds', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conclab-report-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const err = await t.throwsAsync(run(process.execPath, [BIN, 'report', dir]));
  t.is((err as unknown as { code: number }).code, 1);
  t.regex(
    (err as unknown as { stderr: string }).stderr,
    /has no report\.json: it is not a results folder of conclab run/,
  );
  t.throws(() => renderFolderReport(join(dir, 'nope'), 'md'), {
    instanceOf: ReportError,
    message: /has no report\.json/,
  });
});

test('a path that does not exist is not taken for an experiment name', async (t) => {
  const err = await t.throwsAsync(run(process.execPath, [BIN, 'report', './no/such/folder']));
  t.regex((err as unknown as { stderr: string }).stderr, /\.\/no\/such\/folder is not a folder/);
});

function scheduled(history: NonNullable<ConcurrencyExperiment['status']>['history']): ConcurrencyExperiment {
  return { ...cx({ phase: 'Succeeded', history }), spec: { schedule: '0 3 * * *' } as ConcurrencyExperiment['spec'] };
}
const HISTORY = [
  { startTime: '2026-03-02T03:00:01Z', phase: 'Succeeded' as const, reportRef: 'cx-quickstart-report-20260302t030000' },
  { startTime: '2026-03-01T03:00:02Z', phase: 'Failed' as const },
  { startTime: '2026-03-01T03:00:00Z', phase: 'Succeeded' as const, reportRef: 'cx-quickstart-report-20260301t030000' },
];

test('--run picks a run of status.history by its run id, its start time, or latest', (t) => {
  const c = scheduled(HISTORY);
  t.deepEqual(locateRun(c, '20260301t030000'), {
    configMap: 'cx-quickstart-report-20260301t030000',
    key: 'report.json',
  });
  t.deepEqual(locateRun(c, '2026-03-02T03:00:01Z'), {
    configMap: 'cx-quickstart-report-20260302t030000',
    key: 'report.json',
  });
  t.is(locateRun(c, 'latest').configMap, 'cx-quickstart-report-20260302t030000');
});

test('--run with a run that is not kept lists the runs that are', (t) => {
  t.throws(() => locateRun(scheduled(HISTORY), '20250101t000000'), {
    instanceOf: ReportError,
    message:
      /has no run "20250101t000000" with a report; runs kept in status\.history, newest first: 20260302t030000 \(started 2026-03-02T03:00:01Z, Succeeded\), 20260301t030000/,
  });
  t.throws(() => locateRun(cx({ phase: 'Succeeded' }), 'latest'), {
    instanceOf: ReportError,
    message: /no past run with a report in status\.history \(it has no spec\.schedule: omit --run for its report\)/,
  });
});
