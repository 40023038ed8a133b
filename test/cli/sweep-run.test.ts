// A real, short capacity sweep through `conclab run`: real workload processes under cgroup
// limits, the real built-in driver, the max-throughput search at each point. The machine is
// shared and slow, so nothing here depends on the figures: the run must finish, measure every
// point, and its reports must carry the capacity-planning sections, with either fitted
// coefficients or the typed reason there are none, and the sizing answer or why not.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parseJsonReport } from '../../operator/report/json.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'operator', 'cli', 'conclab.js');

const MANIFEST = `apiVersion: conclab.dev/v1alpha1
kind: ConcurrencyExperiment
metadata:
  name: tiny-sweep
spec:
  workload: { runtime: node, profile: cpu, cpuTime: 5ms }
  resources: { cpu: "1", memory: 384Mi }
  variants:
    - { name: procs, model: process, workers: 1 }
    - { name: threads, model: thread, workers: 1 }
  sweep: { workers: [1, 2] }
  load: { pattern: max-throughput, rate: 40, duration: 1s, warmUp: 0s }
  target: { rate: 500 }
  tracing: { enabled: false }
  trials: 1
`;

const FIT_REASONS = ['too-few-points', 'not-identifiable', 'flat', 'too-uncertain'];

test('a sweep through conclab run measures every point and reports the USL and sizing sections', async (t) => {
  // Four trials of a short search each; generous for a machine shared by every test.
  t.timeout(10 * 60_000, 'four search trials on a shared 2-core machine');
  const dir = mkdtempSync(join(tmpdir(), 'conclab-sweep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'tiny-sweep.yaml');
  writeFileSync(file, MANIFEST);
  const out = join(dir, 'out');
  const result = await run(process.execPath, [BIN, 'run', '--out', out, '--wait', '9m', file], {
    maxBuffer: 16 * 1024 * 1024,
  }).then(
    (ok) => ({ code: 0, ...ok }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
  // 1: the run finished but a variant failed the SLO everywhere (a loaded machine); reports are written either way.
  t.true([0, 1].includes(result.code), result.stderr);
  t.regex(
    result.stderr,
    /sweep: 2 variant\(s\) x workers 1, 2 = 4 points \(procs-w1, procs-w2, threads-w1, threads-w2\)/,
  );

  const report = parseJsonReport(readFileSync(join(out, 'report.json'), 'utf8'));
  t.deepEqual(
    report.variants.map((v) => `${v.name}:${v.workers}:${v.trials}`),
    ['procs-w1:1:1', 'procs-w2:2:1', 'threads-w1:1:1', 'threads-w2:2:1'],
  );
  const plan = report.capacityPlan;
  t.deepEqual(
    plan?.series.map((s) => `${s.variant}:${s.model}`),
    ['procs:process', 'threads:thread'],
  );
  for (const s of plan?.series ?? []) {
    // Two worker counts cannot carry three parameters: the typed reason, never numbers.
    t.false(s.fit.fittable);
    t.true(FIT_REASONS.includes(s.fit.reason ?? ''), s.fit.reason);
    t.regex(s.description, /no USL fit \((too-few-points|flat)\)/);
  }
  t.true(plan?.sizing !== undefined || /nothing can be sized/.test(plan?.sizingMissing ?? ''), plan?.sizingMissing);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  t.regex(md, /## Scalability \(USL fit per variant\)/);
  t.regex(md, /## Sizing/);
  t.regex(readFileSync(join(out, 'report.html'), 'utf8'), /<section id="capacity">/);
});
