// Shared by the local runtime tests: an experiment object, a reader of the real workload's
// GET /stats, and a FAKE workload for the misbehaviour the real one cannot show.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConcurrencyExperiment, Variant } from '../../../operator/api/schema.ts';
import type { SupervisorStats } from '../../../operator/contracts/supervisor.ts';
import type { WorkloadLaunch } from '../../../operator/runtime/types.ts';

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

export function launchOf(exp: ConcurrencyExperiment, variantIndex: number, trial = 1): WorkloadLaunch {
  const variant = exp.spec.variants[variantIndex] as Variant;
  return { experiment: exp, variant, trial, tracing: undefined };
}

/**
 * FAKE workload, only for misbehaviour the real workloads/node/main.ts cannot be made to show:
 * a restart that never prints its ready line (die-then-hang), a process that never does
 * (never-ready), and one that ignores SIGTERM (ignore-term). It follows the workload contract
 * otherwise: serves HTTP on CONCLAB_PORT and CONCLAB_ADMIN_PORT and prints one JSON ready line
 * (with a grandchild's pid, to prove children are in the group too).
 */
export const FAKE_WORKLOAD = `
import http from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';

const mode = process.env.FAKE_MODE ?? 'serve';
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
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  console.log('not json: ignored');
  console.log(JSON.stringify({ event: 'ready', port: work.address().port, adminPort: admin.address().port, pid: process.pid, childPid: child.pid }));
  if (mode === 'die-then-hang' && !existsSync(process.env.FAKE_MARKER)) {
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

/** GET /stats of a workload's supervisor (the contract the trial runner reads). */
export async function stats(adminUrl: string): Promise<SupervisorStats> {
  const res = await fetch(`${adminUrl}/stats`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${adminUrl}/stats answered HTTP ${res.status}`);
  return (await res.json()) as SupervisorStats;
}

/** The environment a process was started with (root can read any process's). */
export function environOf(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}
