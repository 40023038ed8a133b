// Bookkeeping of the shared test cluster, in files under the cache's run/ dir (no heavy imports:
// test/run.ts uses this). One daemon (shared-daemon.ts) owns the cluster, under flock(1) on
// shared.lock, and publishes shared.json; users hold lease files in shared-leases/. The daemon
// stops the cluster once no lease's process is alive for a grace period, at once when asked
// (SIGUSR1) while no lease is held, and unconditionally on SIGTERM (test/cluster/down.sh).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processStartTime, runDir } from './host-state.ts';

export interface SharedStatus {
  readonly pid: number;
  readonly start: string;
  readonly phase: 'starting' | 'ready' | 'failed' | 'stopping';
  readonly error?: string;
  /** A RealClusterInfo once ready. */
  readonly info?: unknown;
  readonly updatedAt: string;
}

export interface Lease {
  readonly pid: number;
  readonly start: string;
  /** A person's lease (up.sh): held until down.sh, whatever happens to the process that wrote it. */
  readonly manual?: boolean;
  readonly holder: string;
}

export const sharedPaths = (run = runDir()) => ({
  lock: join(run, 'shared.lock'),
  status: join(run, 'shared.json'),
  leases: join(run, 'shared-leases'),
  log: join(run, 'shared-daemon.log'),
});

export function readSharedStatus(run = runDir()): SharedStatus | undefined {
  try {
    return JSON.parse(readFileSync(sharedPaths(run).status, 'utf8')) as SharedStatus;
  } catch {
    return undefined;
  }
}

export function writeSharedStatus(status: Omit<SharedStatus, 'updatedAt'>, run = runDir()): void {
  const path = sharedPaths(run).status;
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify({ ...status, updatedAt: new Date().toISOString() }));
  renameSync(temp, path); // atomic: readers never see half a file
}

/** Whether the status's daemon process is the one still running (not a recycled pid). */
export function daemonAlive(status: SharedStatus | undefined): status is SharedStatus {
  return status !== undefined && processStartTime(status.pid) === status.start;
}

/** Writes a lease for this process; returns a function that removes it (idempotent). */
export function takeLease(holder: string, options: { manual?: boolean } = {}, run = runDir()): () => void {
  const dir = sharedPaths(run).leases;
  mkdirSync(dir, { recursive: true });
  const lease: Lease = {
    pid: process.pid,
    start: processStartTime(process.pid) ?? '',
    holder,
    ...(options.manual ? { manual: true } : {}),
  };
  const path = join(dir, `${options.manual ? 'manual' : process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  writeFileSync(path, JSON.stringify(lease));
  const remove = (): void => {
    rmSync(path, { force: true });
    process.removeListener('exit', remove);
  };
  // A test's lease ends with its process at the latest; a person's outlives up.sh.
  if (!options.manual) process.on('exit', remove);
  return remove;
}

/** Leases whose process still runs (or that are manual); removes the others' files. */
export function liveLeases(run = runDir()): Lease[] {
  const dir = sharedPaths(run).leases;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const leases: Lease[] = [];
  for (const entry of entries) {
    const path = join(dir, entry);
    let lease: Lease;
    try {
      lease = JSON.parse(readFileSync(path, 'utf8')) as Lease;
    } catch {
      continue; // being written
    }
    if (lease.manual || processStartTime(lease.pid) === lease.start) leases.push(lease);
    else rmSync(path, { force: true });
  }
  return leases;
}

/** Removes every manual lease (down.sh). */
export function dropManualLeases(run = runDir()): void {
  const dir = sharedPaths(run).leases;
  try {
    for (const entry of readdirSync(dir)) if (entry.startsWith('manual-')) rmSync(join(dir, entry), { force: true });
  } catch {
    // No leases.
  }
}

async function waitForExit(status: SharedStatus, timeoutMillis: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMillis;
  while (daemonAlive(status)) {
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
  return true;
}

/**
 * Asks the daemon to stop now if nobody holds a lease, and waits while it stops (bounded). Returns
 * at once when the daemon does not take up the request (someone joined, or it is still starting:
 * then it stops by itself once idle).
 */
export async function stopSharedClusterIfIdle(timeoutMillis = 120_000, run = runDir()): Promise<void> {
  const status = readSharedStatus(run);
  if (!daemonAlive(status) || liveLeases(run).length > 0) return;
  try {
    process.kill(status.pid, 'SIGUSR1');
  } catch {
    return;
  }
  const asked = Date.now();
  while (daemonAlive(status) && Date.now() - asked < timeoutMillis) {
    const phase = readSharedStatus(run)?.phase;
    if (phase !== 'stopping' && Date.now() - asked > 3_000) return;
    await sleep(200);
  }
}

/** Stops the shared cluster whatever its leases (SIGTERM to the daemon); returns its pid, if one ran. */
export async function stopSharedCluster(timeoutMillis = 120_000, run = runDir()): Promise<number | undefined> {
  dropManualLeases(run);
  const status = readSharedStatus(run);
  if (!daemonAlive(status)) return undefined;
  try {
    process.kill(status.pid, 'SIGTERM');
  } catch {
    return undefined;
  }
  if (!(await waitForExit(status, timeoutMillis))) {
    throw new Error(`shared cluster daemon ${status.pid} did not stop within ${timeoutMillis} ms`);
  }
  return status.pid;
}
