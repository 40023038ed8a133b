// No k6 exists on this machine (and its AGPL code is off-limits), so the "present" path runs
// a FAKE k6: a shell script that writes a canned summary where the generated script says.
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { K6NotFoundError, K6RunError, runK6Load } from '../../operator/load/k6-runner.ts';
import type { LoadPlan } from '../../operator/load/types.ts';
import { handleSummaryData, k6SampleLines } from './k6-fixtures.ts';

const plan: LoadPlan = {
  targets: ['http://127.0.0.1:9/work'],
  rate: 10,
  durationMillis: 1000,
  warmUpMillis: 0,
  maxInFlight: 8,
  timeoutMillis: 1000,
};

async function tempDir(t: ExecutionContext, prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * FAKE k6: writes `summary` to the SUMMARY_PATH named in the script and, when given, the
 * sample lines gzipped to the --out json= file (as k6 does for a name ending in .gz), then
 * exits `code`.
 */
async function fakeK6(t: ExecutionContext, summary: unknown, code: number, samples?: string[]): Promise<string> {
  const bin = await tempDir(t, 'conclab-fake-k6-bin-');
  await writeFile(join(bin, 'summary.json'), JSON.stringify(summary));
  if (samples) await writeFile(join(bin, 'samples.jsonl'), `${samples.join('\n')}\n`);
  const script = [
    '#!/bin/sh',
    '# FAKE k6 for tests: args are run --quiet --no-color --out json=FILE SCRIPT',
    `samples=''`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
    'for a; do case "$a" in json=*) samples="${a#json=}";; esac; done',
    'for last; do :; done',
    `out=$(sed -n 's/^const SUMMARY_PATH = "\\(.*\\)";$/\\1/p' "$last")`,
    `[ -n "$out" ] && cp '${join(bin, 'summary.json')}' "$out"`,
    `[ -n "$samples" ] && [ -f '${join(bin, 'samples.jsonl')}' ] && gzip -c '${join(bin, 'samples.jsonl')}' > "$samples"`,
    `echo "fake k6 wrote $out" >&2`,
    `exit ${code}`,
  ].join('\n');
  await writeFile(join(bin, 'k6'), script);
  await chmod(join(bin, 'k6'), 0o755);
  return bin;
}

test('without k6 on PATH the run stops before creating anything, with the fix in the message', async (t) => {
  const emptyPath = await tempDir(t, 'conclab-no-k6-');
  const workDir = await tempDir(t, 'conclab-k6-work-');
  const err = await t.throwsAsync(runK6Load(plan, { pathEnv: emptyPath, workDir }), { instanceOf: K6NotFoundError });
  t.regex(err?.message ?? '', /Install k6 from your OS packages or use load\.driver: builtin/);
  t.deepEqual(await readdir(workDir), [], 'no script or temp dir was written');
});

test('with k6 (FAKE) on PATH the summary it writes becomes the result and the temp dir is removed', async (t) => {
  const bin = await fakeK6(t, handleSummaryData, 0);
  const workDir = await tempDir(t, 'conclab-k6-work-');
  const r = await runK6Load(plan, { pathEnv: bin, workDir });
  t.is(r.driver, 'k6');
  t.is(r.sent, 9000);
  t.is(r.errors.http5xx, 80);
  t.false(r.partial);
  t.true(r.latencyHistogramSynthesized, 'without samples the summary gives an approximate histogram');
  t.deepEqual(await readdir(workDir), [], 'temp dir cleaned up');
});

test('with k6 (FAKE) writing per-request samples the result is exact and per target', async (t) => {
  const start = Date.now();
  const requests = Array.from({ length: 40 }, (_, i) => ({
    scenario: 'measure' as const,
    sentAtMillis: start + i * 25,
    durationMillis: 2 + (i % 5),
    status: i === 3 ? 503 : 200,
    errorCode: 0,
    target: i % 2,
  }));
  const bin = await fakeK6(t, handleSummaryData, 0, k6SampleLines(requests));
  const workDir = await tempDir(t, 'conclab-k6-work-');
  const r = await runK6Load(
    { ...plan, targets: ['http://127.0.0.1:9/work', 'http://127.0.0.1:10/work'] },
    {
      pathEnv: bin,
      workDir,
    },
  );
  t.false('latencyHistogramSynthesized' in r, 'built from the samples, not the summary');
  t.is(r.sent, 40);
  t.is(r.completed, 39);
  t.is(r.errors.http5xx, 1);
  t.deepEqual(
    r.perTarget?.map((x) => x.sent),
    [20, 20],
  );
  t.is(r.perSecond[0]?.sent, 40);
  t.deepEqual(await readdir(workDir), [], 'temp dir cleaned up');
});

test('k6 exit code 99 (thresholds failed) still yields the result', async (t) => {
  const bin = await fakeK6(t, handleSummaryData, 99);
  const r = await runK6Load(plan, { pathEnv: bin, workDir: await tempDir(t, 'conclab-k6-work-') });
  t.is(r.completed, 8910);
});

test('a k6 failure is reported with its exit code and stderr, and the temp dir is removed', async (t) => {
  const bin = await fakeK6(t, handleSummaryData, 107);
  const workDir = await tempDir(t, 'conclab-k6-work-');
  const err = await t.throwsAsync(runK6Load(plan, { pathEnv: bin, workDir }), { instanceOf: K6RunError });
  t.is(err?.exitCode, 107);
  t.regex(err?.message ?? '', /exit code 107.*fake k6 wrote/s);
  t.deepEqual(await readdir(workDir), []);
});
