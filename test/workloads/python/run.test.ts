// `conclab run` of the python-gil example, shortened (1 trial, 1 s warm-up, 3 s of load), through the
// real bin: real Python workloads under the local runtime, real load on loopback.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT } from '../../../operator/api/generate.ts';

const BIN = join(ROOT, 'operator', 'cli', 'conclab.js');

function shortened(name: string): string {
  const text = readFileSync(join(ROOT, 'examples', 'python-gil.yaml'), 'utf8');
  const out = text
    .replace(/name: python-gil\n/, `name: ${name}\n`)
    .replace(/duration: 10s/, 'duration: 3s')
    .replace(/warmUp: 3s/, 'warmUp: 1s')
    .replace(/trials: 3/, 'trials: 1');
  if (!out.includes('trials: 1') || !out.includes('duration: 3s') || !out.includes(`name: ${name}`)) {
    throw new Error('examples/python-gil.yaml changed shape: update this test');
  }
  return out;
}

/** Processes that carry the experiment in their environment (workloads), by pid. */
function processesOf(experiment: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`CONCLAB_EXPERIMENT=${experiment}`))
        found.push(Number(entry));
    } catch {
      // Gone already, or not ours to read.
    }
  }
  return found;
}

test('conclab run of a shortened python-gil reports both variants and leaves no workload behind', async (t) => {
  t.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), 'conclab-python-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const name = `python-gil-e2e-${process.pid}`;
  const file = join(dir, 'python-gil.yaml');
  writeFileSync(file, shortened(name));
  const child = spawn(process.execPath, [BIN, 'run', '--quiet', '--json', '--out', join(dir, 'results'), file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => {
    stdout += c;
  });
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 220_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  t.is(code, 0, stderr);
  const report = JSON.parse(stdout);
  t.false(report.partial);
  t.deepEqual(
    report.variants.map((v: { name: string }) => v.name),
    ['processes', 'threads'],
  );
  for (const v of report.variants) t.true(v.throughput.mean > 0, `${v.name} throughput ${v.throughput.mean}`);
  t.deepEqual(processesOf(name), []);
});
