// The process that owns the shared test cluster (started by shared-cluster.ts under
// `flock -n shared.lock`, so at most one runs per cache). It starts a real cluster, publishes it
// in shared.json, and stops it when no lease is held for CONCLAB_SHARED_IDLE_MILLIS (default
// 15 s, so consecutive test files reuse it), at once on SIGUSR1 while no lease is held (the end
// of `npm test`), and unconditionally on SIGTERM/SIGINT/SIGHUP (test/cluster/down.sh).
import { processStartTime } from './host-state.ts';
import { type RealCluster, startRealCluster } from './real-cluster.ts';
import { liveLeases, writeSharedStatus } from './shared-lease.ts';

const idleMillis = Number(process.env.CONCLAB_SHARED_IDLE_MILLIS ?? 15_000);
const start = processStartTime(process.pid) ?? '';
const say = (line: string): void => console.log(`${new Date().toISOString()} shared-daemon[${process.pid}]: ${line}`);

let cluster: RealCluster | undefined;
let shuttingDown = false;

async function shutdown(reason: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  say(`stopping (${reason})`);
  writeSharedStatus({ pid: process.pid, start, phase: 'stopping' });
  let code = 0;
  try {
    await cluster?.stop();
  } catch (error) {
    say(`teardown problem: ${(error as Error).message}`);
    code = 1;
  }
  writeSharedStatus({ pid: process.pid, start, phase: 'stopping', error: 'stopped' });
  say('stopped');
  process.exit(code);
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    // During start there is no cluster object yet: exiting runs the synchronous sweep.
    if (!cluster) process.exit(1);
    void shutdown(signal);
  });
}
process.on('SIGUSR1', () => {
  if (cluster && liveLeases().length === 0) void shutdown('asked to stop while idle');
});

writeSharedStatus({ pid: process.pid, start, phase: 'starting' });
say('starting a real cluster');
try {
  cluster = await startRealCluster({ handleSignals: false, log: say });
} catch (error) {
  const message = (error as Error).message;
  say(`start failed: ${message}`);
  writeSharedStatus({ pid: process.pid, start, phase: 'failed', error: message });
  // Give waiting users a moment to read the error before this pid is gone.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  process.exit(1);
}
const { stop: _stop, ...rest } = cluster;
const info = Object.fromEntries(Object.entries(rest).filter(([, value]) => typeof value !== 'function'));
writeSharedStatus({ pid: process.pid, start, phase: 'ready', info });
say(`ready: ${cluster.nodeName} (${cluster.server}), KUBECONFIG=${cluster.kubeconfigPath}`);

let idleSince: number | undefined;
setInterval(() => {
  if (shuttingDown) return;
  if (liveLeases().length > 0) {
    idleSince = undefined;
    return;
  }
  idleSince ??= Date.now();
  if (Date.now() - idleSince >= idleMillis) void shutdown(`no lease for ${idleMillis} ms`);
}, 500);
