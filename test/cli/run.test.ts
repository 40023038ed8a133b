// `conclab run` as a user runs it: the real bin, real workloads under real cgroups, real load
// on loopback, real spans. Kept short (a few seconds of load per trial) so the suite stays fast.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT } from '../../operator/api/generate.ts';
import { createLocalRuntime } from '../../operator/runtime/local/index.ts';

const BIN = join(ROOT, 'operator', 'cli', 'conclab.js');

function manifest(name: string, duration: string, trials = 1): string {
  return `apiVersion: conclab.dev/v1alpha1
kind: ConcurrencyExperiment
metadata:
  name: ${name}
spec:
  workload:
    profile: io
    ioWait: 5ms
  resources:
    cpu: 500m
    memory: 256Mi
  variants:
    - name: procs
      model: process
      workers: 2
    - name: threads
      model: thread
      workers: 2
  load:
    rate: 40
    duration: ${duration}
    warmUp: 1s
  trials: ${trials}
  tracing:
    sampleRatio: 1
`;
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Outcome>; stderrSoFar: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c) => {
    stdout += c;
  });
  child.stderr?.on('data', (c) => {
    stderr += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
  const done = new Promise<Outcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, stderrSoFar: () => stderr };
}

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'conclab-run-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Processes whose command line mentions the experiment (workloads carry it in their env, not argv). */
function processesOf(experiment: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (env.split('\0').includes(`CONCLAB_EXPERIMENT=${experiment}`)) found.push(Number(entry));
    } catch {
      // Gone already, or not ours to read.
    }
  }
  return found;
}

function cgroupsOf(experiment: string): string[] {
  const found: string[] = [];
  for (const hierarchy of ['cpu', 'memory', 'cpuacct', 'unified']) {
    const dir = join('/sys/fs/cgroup', hierarchy);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir)) if (entry.includes(`-${experiment}-`)) found.push(join(dir, entry));
  }
  return found;
}

test('a short experiment runs end to end and reports both variants under equal limits', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'short.yaml');
  writeFileSync(file, manifest('e2e-short', '3s'));
  const out = join(dir, 'results');
  const { done } = start(['run', '--quiet', '--json', '--out', out, file]);
  const r = await done;
  t.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.is(report.schemaVersion, '1');
  t.false(report.partial);
  t.deepEqual(
    report.variants.map((v: { name: string }) => v.name),
    ['procs', 'threads'],
  );
  for (const v of report.variants) {
    t.true(v.throughput.mean > 20, `${v.name} throughput ${v.throughput.mean}`);
    for (const p of ['p50Millis', 'p90Millis', 'p99Millis', 'p999Millis', 'maxMillis']) {
      t.true(v.latency.client[p] > 0, `${v.name} ${p}`);
    }
    // Spans came back from every variant over OTLP.
    t.true((v.latency.server?.count ?? 0) > 0, `${v.name} has server-side spans`);
  }
  // The fairness contract: limits read back from the cgroup files are the same for both.
  const limits = report.trials.map((tr: { usage?: { limits?: { cpuCores: number; memoryBytes: number } } }) => {
    const l = tr.usage?.limits;
    return l ? `${l.cpuCores} cores / ${l.memoryBytes} bytes` : 'missing';
  });
  t.is(limits.length, 2);
  t.deepEqual(limits, ['0.5 cores / 268435456 bytes', '0.5 cores / 268435456 bytes']);
  t.true(existsSync(join(out, 'report.md')) && existsSync(join(out, 'report.html')));
  t.deepEqual(processesOf('e2e-short'), []);
  t.deepEqual(cgroupsOf('e2e-short'), []);
});

test('interrupting a run mid-trial leaves no process or cgroup and saves partial results', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'long.yaml');
  writeFileSync(file, manifest('e2e-interrupt', '60s', 2));
  const out = join(dir, 'results');
  const run = start(['run', '--out', out, file]);
  // Wait (bounded) until the first trial is measuring, then press Ctrl-C.
  const deadline = Date.now() + 60_000;
  while (!/measuring/.test(run.stderrSoFar()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  t.regex(run.stderrSoFar(), /measuring/, 'the run never reached a measured trial');
  t.true(processesOf('e2e-interrupt').length > 0, 'the workload should be running mid-trial');
  run.child.kill('SIGINT');
  const r = await run.done;
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /SIGINT: stopping/);
  t.deepEqual(processesOf('e2e-interrupt'), []);
  t.deepEqual(cgroupsOf('e2e-interrupt'), []);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  t.true(report.partial, 'the saved report is marked partial');
});

test('a conclab killed by SIGKILL leaves no workload running, and the next run sweeps its cgroups', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'killed.yaml');
  writeFileSync(file, manifest('e2e-killed', '60s', 2));
  const run = start(['run', '--out', join(dir, 'results'), file]);
  const deadline = Date.now() + 60_000;
  while (!/measuring/.test(run.stderrSoFar()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  t.true(processesOf('e2e-killed').length > 0, 'the workload should be running mid-trial');
  run.child.kill('SIGKILL');
  await run.done;
  // No cleanup code ran in conclab; the workload notices its stdin closing and shuts down.
  const gone = Date.now() + 20_000;
  while (processesOf('e2e-killed').length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 200));
  t.deepEqual(processesOf('e2e-killed'), []);
  // What a later run does first: remove groups whose owner is dead.
  await createLocalRuntime({ staleGroupMinAgeMillis: 0 }).cleanup();
  t.deepEqual(cgroupsOf('e2e-killed'), []);
});

test('a manifest for k6 without k6 on PATH stops before starting anything, naming the fix', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'k6.yaml');
  writeFileSync(file, manifest('e2e-k6', '3s').replace('    rate: 40', '    driver: k6\n    rate: 40'));
  const child = spawn(process.execPath, [BIN, 'run', file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: '/nonexistent' },
  });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  t.is(code, 2);
  t.regex(stderr, /k6/);
  t.regex(stderr, /builtin/);
  t.deepEqual(processesOf('e2e-k6'), []);
});

test('an invalid manifest is refused with the problems and exit 2', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, manifest('e2e-bad', '3s').replace('workers: 2', 'workers: 0'));
  const r = await start(['run', file]).done;
  t.is(r.code, 2);
  t.regex(r.stderr, /spec\.variants\[0\]\.workers/);
});
