// One real test cluster shared by every test file of a run (and by a person's up.sh): the first
// user starts the daemon (shared-daemon.ts) that owns it; every user holds a lease while it
// uses it; the daemon stops it when the leases are gone. Test files stay independent: each
// works in namespaces of its own (createNamespace), which release() deletes.
//
//   const cluster = await useSharedCluster();        // test.before
//   const ns = await cluster.createNamespace('my-test');
//   test.after.always(() => cluster.stop());         // releases the lease, deletes its namespaces
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runDir } from './host-state.ts';
import { attachRealCluster, type RealCluster, type RealClusterInfo } from './real-cluster.ts';
import { daemonAlive, readSharedStatus, sharedPaths, takeLease } from './shared-lease.ts';

export { stopSharedCluster, stopSharedClusterIfIdle } from './shared-lease.ts';

export interface UseSharedClusterOptions {
  /** Bound on waiting for the cluster (a cold start imports every image). Default 6 min. */
  readonly timeoutMillis?: number;
  /** Who holds the lease (shown in shared-leases/ and the daemon's log). */
  readonly holder?: string;
  /** A person's lease: kept until test/cluster/down.sh (up.sh). */
  readonly manual?: boolean;
}

function spawnDaemon(run: string): void {
  const paths = sharedPaths(run);
  const fd = openSync(paths.log, 'a');
  try {
    // -n: when another daemon holds the lock this exits at once (99) and we keep waiting for it.
    const child = spawn(
      'flock',
      ['-n', '-E', '99', paths.lock, process.execPath, join(import.meta.dirname, 'shared-daemon.ts')],
      { detached: true, stdio: ['ignore', fd, fd] },
    );
    child.on('error', () => {
      // Reported by the wait loop's timeout, with the log's path.
    });
    child.unref();
  } finally {
    closeSync(fd);
  }
}

/** The shared cluster, started if none runs; its stop() releases this user's lease. */
export async function useSharedCluster(options: UseSharedClusterOptions = {}): Promise<RealCluster> {
  const run = runDir();
  mkdirSync(run, { recursive: true });
  const release = takeLease(options.holder ?? `pid ${process.pid} ${process.argv.slice(1, 3).join(' ')}`, {
    ...(options.manual ? { manual: true } : {}),
  });
  const timeoutMillis = options.timeoutMillis ?? 360_000;
  const deadline = Date.now() + timeoutMillis;
  let lastSpawn = 0;
  try {
    for (let attempt = 0; attempt < 100_000; attempt++) {
      const status = readSharedStatus(run);
      if (daemonAlive(status) && status.phase === 'ready' && status.info) {
        return attachShared(status.info as RealClusterInfo, release);
      }
      if (daemonAlive(status) && status.phase === 'failed') {
        throw new Error(`the shared test cluster failed to start: ${status.error} (log: ${sharedPaths(run).log})`);
      }
      // None running, or one stopping (a new daemon waits for its lock): start one, at most every 3 s.
      if ((!daemonAlive(status) || status.phase === 'stopping') && Date.now() - lastSpawn > 3_000) {
        spawnDaemon(run);
        lastSpawn = Date.now();
      }
      if (Date.now() > deadline) {
        throw new Error(
          `no shared test cluster within ${timeoutMillis} ms (phase: ${status?.phase ?? 'none'}); see ${sharedPaths(run).log}`,
        );
      }
      await sleep(250);
    }
    throw new Error('unreachable');
  } catch (error) {
    release();
    throw error;
  }
}

function attachShared(info: RealClusterInfo, release: () => void): RealCluster {
  const namespaces: string[] = [];
  let released = false;
  const cluster: RealCluster = attachRealCluster(info, async () => {
    if (released) return;
    released = true;
    if (namespaces.length > 0) {
      // Not waited for: the next user does not need them gone, and the daemon's stop deletes all pods.
      await cluster.kubectl(['delete', 'namespace', ...namespaces, '--wait=false'], { timeoutMillis: 30_000 });
    }
    release();
  });
  return {
    ...cluster,
    createNamespace: async (prefix) => {
      const name = await cluster.createNamespace(prefix);
      namespaces.push(name);
      return name;
    },
  };
}
