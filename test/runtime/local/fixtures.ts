// Shared by the local runtime tests: an experiment object and a FAKE workload. The FAKE
// workload stands in for workloads/node/main.ts (written in parallel); it follows the same
// contract — configured by CONCLAB_* variables, serves HTTP on CONCLAB_PORT and
// CONCLAB_ADMIN_PORT, prints one JSON ready line — and misbehaves on request (FAKE_MODE).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConcurrencyExperiment, Variant } from '../../../operator/api/schema.ts';
import type { WorkloadLaunch } from '../../../operator/engine/runtime.ts';

export function experiment(name: string, resources = { cpu: '500m', memory: '256Mi' }): ConcurrencyExperiment {
  return {
    apiVersion: 'conclab.dev/v1alpha1',
    kind: 'ConcurrencyExperiment',
    metadata: { name },
    spec: {
      workload: {
        runtime: 'node',
        profile: 'cpu',
        cpuTime: '5ms',
        ioWait: '0ms',
        responseBytes: 256,
        replaceWorkers: true,
        racyUpdates: false,
      },
      resources,
      variants: [
        { name: 'processes', model: 'process', workers: 2, replicas: 1 },
        { name: 'threads', model: 'thread', workers: 2, replicas: 1 },
      ],
      load: {
        driver: 'builtin',
        pattern: 'constant-arrival-rate',
        rate: 50,
        duration: '2s',
        warmUp: '1s',
        maxInFlight: 64,
        timeout: '2s',
      },
      trials: 1,
      historyLimit: 5,
    },
  };
}

export function launchOf(
  exp: ConcurrencyExperiment,
  variantIndex: number,
  trial = 1,
  extraEnv: Record<string, string> = {},
): WorkloadLaunch {
  const variant = exp.spec.variants[variantIndex] as Variant;
  return { experiment: exp, variant, trial, otlpEndpoint: undefined, extraEnv };
}

/** FAKE workload (plain JavaScript, so it starts fast and needs no type stripping). */
export const FAKE_WORKLOAD = `
import http from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const mode = process.env.FAKE_MODE ?? 'serve';
if (mode === 'exit-before-ready') {
  console.error('FAKE workload: CONCLAB_MODEL=bogus is invalid');
  process.exit(3);
}
const hangNow = mode === 'never-ready' || (mode === 'die-then-hang' && existsSync(process.env.FAKE_MARKER));
if (hangNow) setInterval(() => {}, 1000);
else {
  const serve = (port) =>
    new Promise((resolve) => {
      const s = http.createServer((req, res) => res.end('ok ' + process.pid));
      s.listen(port, process.env.CONCLAB_HOST ?? '127.0.0.1', () => resolve(s));
    });
  const work = await serve(Number(process.env.CONCLAB_PORT ?? 0));
  const admin = await serve(Number(process.env.CONCLAB_ADMIN_PORT ?? 0));
  // A grandchild, to prove that children inherit the group.
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CONCLAB_') || k.startsWith('OTEL_')));
  console.log('not json: ignored');
  console.log(JSON.stringify({ event: 'ready', port: work.address().port, adminPort: admin.address().port, pid: process.pid, childPid: child.pid, env }));
  console.log(JSON.stringify({ event: 'worker-exit', worker: 1, code: 0 }));
  if (mode === 'burn') {
    const burn = 'let x = 0; for (;;) { x = (x * 31 + 7) % 1000003; }';
    new Worker(burn, { eval: true });
    new Worker(burn, { eval: true });
  }
  if (mode === 'alloc') {
    const keep = [];
    setInterval(() => { keep.push(Buffer.alloc(8 * 1024 * 1024, 1)); }, 5);
  }
  if ((mode === 'die-once' || mode === 'die-then-hang') && !existsSync(process.env.FAKE_MARKER)) {
    writeFileSync(process.env.FAKE_MARKER, 'died');
    setTimeout(() => process.exit(7), 300);
  }
  process.on('SIGTERM', () => { child.kill('SIGKILL'); process.exit(0); });
  if (mode === 'ignore-term') process.removeAllListeners('SIGTERM'), process.on('SIGTERM', () => {});
}
`;

/** Writes the FAKE workload to a fresh temp dir; returns its command and a remover. */
export function fakeWorkload(): { command: string[]; dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conclab-fake-workload-'));
  const file = path.join(dir, 'fake-workload.mjs');
  writeFileSync(file, FAKE_WORKLOAD);
  return { command: [process.execPath, file], dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Whether a process exists (zombies of our own children count as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Polls until check() is true or timeoutMillis passed; returns the last value of check(). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMillis: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMillis;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}
