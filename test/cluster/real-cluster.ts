// A real single-node Kubernetes for tests (test infrastructure only): etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables), containerd 1.6 with
// runc, and CNI bridge networking, all from real binaries, running pods from images built out of
// the project's own Dockerfiles (images.ts).
//
// The node runs in its own network and mount namespaces (node-namespaces.ts), so its iptables
// rules, bridge, routes, mounts and kernel tunables never touch the host's. A machine has a few
// "slots" (node-plan.ts); a slot is held by a guard process holding flock(1) on its lock file
// for as long as the owner lives. Cleanup is layered so nothing outlives a run:
//  - stop(): deletes the pods (the kubelet tears down their containers, networks and volumes),
//    stops the components, removes containers from containerd, then runs the sweep;
//  - process exit and SIGINT/SIGTERM/SIGHUP handlers run the sweep synchronously;
//  - when the owner dies anyway (SIGKILL), its guard runs the sweep (test/cluster/down.ts);
//  - the next start, and test/cluster/down.sh, sweep a slot whose state file a dead run left.
// The sweep (host-state.ts) works from a state file written before each thing it lists is made.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { type ClusterBinaries, clusterBinaries, nodeBinaryNames, requireClusterBinaries } from './binaries.ts';
import { type KubectlOptions, type KubectlResult, runKubectl } from './control-plane.ts';
import {
  cacheDir,
  cniCacheDir,
  hostSysctls,
  type ProcessRecord,
  processStartTime,
  readSlotState,
  removeEmptyCniCache,
  runDir,
  type SlotState,
  slotLockPath,
  slotStatePath,
  sweepSlot,
  writeSlotState,
} from './host-state.ts';
import { importImages, nodeImages, type TestImageName, testImages } from './images.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import {
  cniConflist,
  containerdSettings,
  kubeletConfiguration,
  kubeProxyArgs,
  type NodeDirs,
  setTomlValues,
} from './node-config.ts';
import { createNodeNamespaces, inNode, type NodeNamespaces } from './node-namespaces.ts';
import { conflictingRoutes, maxSlots, type NodePlan, nodePlan } from './node-plan.ts';
import { createControlPlanePki, issueCertificate } from './pki.ts';

export type { KubectlOptions, KubectlResult } from './control-plane.ts';

export interface StartRealClusterOptions {
  /** Images imported into the node (they must be built: test/cluster/build-images.ts). Default: nodeImages. */
  readonly images?: readonly TestImageName[];
  /** Bound on the whole start. Default 5 min (a cold import of every image is inside it). */
  readonly startTimeoutMillis?: number;
  /** Progress lines, e.g. console.log. Default: none. */
  readonly log?: (line: string) => void;
  /**
   * Take the highest free slot instead of the lowest. For tests that start a node of their own:
   * the shared cluster then keeps the low slots, whose containerd roots hold every image already.
   */
  readonly preferHighSlots?: boolean;
  /** Sweep on SIGINT/SIGTERM/SIGHUP before the process dies. Default true; a daemon handling them itself says false. */
  readonly handleSignals?: boolean;
  readonly binaries?: ClusterBinaries;
}

/** The serializable part of a running cluster: what another process needs to use it. */
export interface RealClusterInfo {
  readonly slot: number;
  readonly nodeName: string;
  /** Admin kubeconfig (client certificate in system:masters). */
  readonly kubeconfigPath: string;
  /** https://BRIDGE_ADDRESS:6443, reachable from the host and from pods. */
  readonly server: string;
  readonly kubernetesVersion: string;
  /** The run's temp dir (logs/, pki/, kubelet/, containerd/, ...); removed by stop(). */
  readonly dir: string;
  readonly podCidr: string;
  readonly serviceCidr: string;
  /** The node's address on the pod bridge (API server, kubelet, pods' gateway to Services). */
  readonly bridgeAddress: string;
  /** cgroup the kubelet puts kubepods under, in every hierarchy (e.g. /conclab-node-0). */
  readonly cgroupRoot: string;
  readonly containerdSocket: string;
  readonly netns: string;
  readonly mntns: string;
  /** The node's private copies of the kernel tunables the kubelet sets. */
  readonly sysctlDir: string;
  readonly images: Readonly<Record<TestImageName, string>>;
  /** The flock holder that sweeps the slot if this cluster's owner dies without stopping it. */
  readonly guardPid: number;
  readonly startMillis: number;
  /** Milliseconds per start phase, for the README's figures. */
  readonly timings: Readonly<Record<string, number>>;
}

export interface RunOptions {
  readonly input?: string;
  /** Default 120 s; on expiry the command is killed and code is -1. */
  readonly timeoutMillis?: number;
}

export interface RealCluster extends RealClusterInfo {
  readonly binaries: ClusterBinaries;
  /** kubectl as admin against this cluster. */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** helm against this cluster (its cache and config under the cluster's dir). */
  helm(args: readonly string[], options?: RunOptions): Promise<KubectlResult>;
  /** A @kubernetes/client-node KubeConfig for the admin. */
  kubeConfig(): KubeConfig;
  /** Creates namespace PREFIX-xxxxx and waits for its default ServiceAccount (pods need it). */
  createNamespace(prefix: string): Promise<string>;
  /** Runs a command inside the node's network and mount namespaces (e.g. ip, iptables-save). */
  nodeExec(command: readonly string[], options?: RunOptions): Promise<KubectlResult>;
  /** Tears everything down (or, for a shared cluster, releases this user's lease). Idempotent. */
  stop(): Promise<void>;
}

/** Host tools the node needs; prepare.sh installs them (Debian packages). */
const hostTools = ['containerd', 'containerd-shim-runc-v2', 'runc', 'ctr', 'iptables', 'iptables-restore', 'conntrack'];
const systemTools = ['nsenter', 'unshare', 'flock', 'ip', 'mount', 'umount'];
const sbinPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const childEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${process.env.PATH ?? ''}:${sbinPath}` });

function onPath(tool: string): boolean {
  const dirs = `${process.env.PATH ?? ''}:${sbinPath}`.split(':');
  return dirs.some((dir) => dir !== '' && existsSync(join(dir, tool)));
}

function requireHostTools(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('a real test node needs root (namespaces, cgroups, mounts); run the tests as root');
  }
  const missing = [...hostTools, ...systemTools].filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    throw new Error(
      `missing on PATH: ${missing.join(', ')}; run test/prepare.sh (it installs the test node's packages)`,
    );
  }
  if (!existsSync('/usr/lib/cni/bridge') || !existsSync('/usr/lib/cni/host-local')) {
    throw new Error('CNI plugins missing in /usr/lib/cni; run test/prepare.sh (package containernetworking-plugins)');
  }
}

/** Generic runner: collects output, never rejects on a non-zero exit, kills on timeout. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions & { env?: NodeJS.ProcessEnv } = {},
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? childEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timeoutMillis = options.timeoutMillis ?? 120_000;
    const timer = setTimeout(() => {
      stderr += `\n${command} killed after ${timeoutMillis} ms`;
      child.kill('SIGKILL');
    }, timeoutMillis);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${command}: ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1 });
    });
    child.stdin.on('error', () => {
      // The command may exit before reading stdin; its exit code tells the story.
    });
    child.stdin.end(options.input ?? '');
  });
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const randomSuffix = (): string => Math.random().toString(36).slice(2, 7).padEnd(5, '0');

/** Builds the client side of a cluster from its description (used in-process and by shared users). */
export function attachRealCluster(
  info: RealClusterInfo,
  stop: () => Promise<void>,
  binaries = clusterBinaries(),
): RealCluster {
  const helmHome = join(info.dir, 'helm');
  const helmEnv = (): NodeJS.ProcessEnv => ({
    ...childEnv(),
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
  });
  const kubectl = (args: readonly string[], options?: KubectlOptions): Promise<KubectlResult> =>
    runKubectl(binaries.kubectl, info.kubeconfigPath, args, options);
  return {
    ...info,
    binaries,
    kubectl,
    helm: (args, options) =>
      runCommand(binaries.helm, ['--kubeconfig', info.kubeconfigPath, ...args], { ...options, env: helmEnv() }),
    kubeConfig: () => {
      const config = new KubeConfig();
      config.loadFromFile(info.kubeconfigPath);
      return config;
    },
    createNamespace: async (prefix) => {
      const name = `${prefix}-${randomSuffix()}`;
      const created = await kubectl(['create', 'namespace', name]);
      if (created.code !== 0) throw new Error(`kubectl create namespace ${name}: ${created.stderr}`);
      // The controller-manager creates the default ServiceAccount; pod creation fails before it.
      const deadline = Date.now() + 60_000;
      for (let attempt = 0; attempt < 600; attempt++) {
        const sa = await kubectl(['get', 'serviceaccount', 'default', '-n', name, '-o', 'name']);
        if (sa.code === 0) return name;
        if (Date.now() > deadline) break;
        await sleep(100);
      }
      throw new Error(`namespace ${name} got no default ServiceAccount within 60 s (is kube-controller-manager up?)`);
    },
    nodeExec: (command, options) => {
      const [bin, ...args] = inNode(info, command);
      return runCommand(bin as string, args, options);
    },
    stop,
  };
}

interface Component {
  readonly name: string;
  readonly child: ChildProcess;
  readonly log: string;
}

const live = new Set<() => void>();
let exitHandlersInstalled = false;
function installExitHandlers(handleSignals: boolean): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const sweep of [...live]) sweep();
  });
  if (!handleSignals) return;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const sweep of [...live]) sweep();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

// The slot guard: holds the slot's flock while the owner lives; when the owner is gone without a
// clean stop (its state file is still there), it runs the sweep, still holding the lock.
const guardScript = `
trap 'exit 0' TERM INT
echo locked
while kill -0 "$1" 2>/dev/null; do sleep 1 & wait $!; done
[ -f "$2" ] || exit 0
exec "$3" "$4" --sweep-slot "$5" >>"$6" 2>&1
`;

async function spawnGuard(run: string, slot: number): Promise<ChildProcess | undefined> {
  const downScript = join(import.meta.dirname, 'down.ts');
  const guard = spawn(
    'flock',
    [
      '-n',
      '-E',
      '99',
      slotLockPath(run, slot),
      'sh',
      '-c',
      guardScript,
      'conclab-node-guard',
      String(process.pid),
      slotStatePath(run, slot),
      process.execPath,
      downScript,
      String(slot),
      join(run, `slot-${slot}-sweep.log`),
    ],
    { detached: true, stdio: ['ignore', 'pipe', 'ignore'], env: childEnv() },
  );
  const outcome = await new Promise<'locked' | 'busy' | Error>((resolve) => {
    let out = '';
    guard.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('locked')) resolve('locked');
    });
    guard.on('error', (error) => resolve(new Error(`could not run flock: ${error.message}`)));
    guard.on('exit', (code) => resolve(code === 99 ? 'busy' : new Error(`slot guard exited with ${code}`)));
  });
  if (outcome instanceof Error) throw outcome;
  guard.stdout?.destroy();
  guard.unref();
  return outcome === 'locked' ? guard : undefined;
}

async function stopGuard(guard: ChildProcess): Promise<void> {
  if (guard.exitCode !== null || guard.signalCode !== null || guard.pid === undefined) return;
  guard.ref();
  const exited = new Promise<void>((resolve) => guard.once('exit', () => resolve()));
  try {
    process.kill(-guard.pid, 'SIGTERM');
  } catch {
    return;
  }
  await Promise.race([exited, sleep(5_000)]);
}

interface Claimed {
  readonly plan: NodePlan;
  readonly guard: ChildProcess;
  readonly statePath: string;
}

async function claimSlot(run: string, log: (line: string) => void, preferHigh: boolean): Promise<Claimed> {
  const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show'], { encoding: 'utf8' })) as {
    dst: string;
    dev?: string;
  }[];
  // First sweep every slot a dead run left (state file present, lock free), wherever it is.
  for (let slot = 0; slot < maxSlots; slot++) {
    const statePath = slotStatePath(run, slot);
    if (!existsSync(statePath)) continue;
    const guard = await spawnGuard(run, slot);
    if (!guard) continue; // a live owner
    const stale = readSlotState(statePath);
    if (stale) {
      const report = sweepSlot(stale, statePath);
      log(
        `slot ${slot}: swept what a dead run (pid ${stale.ownerPid}) left: ${report.actions.join('; ') || 'nothing'}`,
      );
      if (report.problems.length > 0) log(`slot ${slot}: could not undo: ${report.problems.join('; ')}`);
    }
    await stopGuard(guard);
  }
  const skipped: string[] = [];
  const order = Array.from({ length: maxSlots }, (_, i) => (preferHigh ? maxSlots - 1 - i : i));
  for (const slot of order) {
    const plan = nodePlan(slot);
    const conflicts = conflictingRoutes(plan, routes);
    if (conflicts.length > 0) {
      skipped.push(`slot ${slot}: ${conflicts.join(', ')} already routed`);
      continue;
    }
    const guard = await spawnGuard(run, slot);
    if (!guard) {
      skipped.push(`slot ${slot}: in use`);
      continue;
    }
    const statePath = slotStatePath(run, slot);
    if (existsSync(statePath)) {
      // The pre-pass could not clean it: leave this slot alone.
      await stopGuard(guard);
      skipped.push(`slot ${slot}: a dead run's state could not be swept (${statePath})`);
      continue;
    }
    return { plan, guard, statePath };
  }
  throw new Error(`no free test node slot (${skipped.join('; ')}); see test/cluster/down.sh`);
}

function httpsStatus(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 2_000, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Starts a real single-node cluster in a free slot, first sweeping what a dead run left there.
 * Needs root, the binaries (test/cluster/build.sh all), the images (test/cluster/build-images.ts)
 * and the Debian packages test/prepare.sh installs; throws naming what is missing. On a failed
 * start everything made so far is torn down before the error is thrown.
 */
export async function startRealCluster(options: StartRealClusterOptions = {}): Promise<RealCluster> {
  const started = Date.now();
  const deadline = started + (options.startTimeoutMillis ?? 300_000);
  const log = options.log ?? (() => {});
  const binaries = requireClusterBinaries(
    ['etcd', 'kubeApiserver', 'kubectl', 'helm', ...nodeBinaryNames],
    options.binaries ?? clusterBinaries(),
  );
  requireHostTools();
  const images = options.images ?? nodeImages;
  if (!images.includes('pause')) throw new Error('options.images must include "pause" (the pod sandbox image)');

  const timings: Record<string, number> = {};
  let mark = Date.now();
  const phase = (name: string): void => {
    const now = Date.now();
    timings[name] = now - mark;
    mark = now;
  };

  const run = runDir();
  mkdirSync(run, { recursive: true });
  const { plan, guard, statePath } = await claimSlot(run, log, options.preferHighSlots ?? false);
  phase('claimSlot');
  const dir = await mkdtemp(join(tmpdir(), `${plan.name}-`));
  const dirs: NodeDirs = {
    dir,
    containerdRoot: join(cacheDir(), 'containerd', `slot-${plan.slot}`),
    containerdState: join(dir, 'containerd', 'state'),
    containerdSocket: join(dir, 'containerd', 'containerd.sock'),
    cniConfDir: join(dir, 'cni', 'net.d'),
    cniIpamDir: join(dir, 'cni', 'ipam'),
    kubeletRoot: join(dir, 'kubelet'),
    podLogs: join(dir, 'pod-logs'),
    pki: join(dir, 'pki'),
    logs: join(dir, 'logs'),
  };
  let state: SlotState = {
    version: 1,
    slot: plan.slot,
    dir,
    ownerPid: process.pid,
    createdAt: new Date().toISOString(),
    containerdSocket: dirs.containerdSocket,
    cgroupRoot: plan.cgroupRoot,
    cniNetwork: plan.cniNetwork,
    hostLink: plan.hostLink,
    hostSysctls: hostSysctls(),
    processes: [],
  };
  writeSlotState(statePath, state);
  if (!existsSync(cniCacheDir)) writeFileSync(join(run, 'created-var-lib-cni'), '');

  const components: Component[] = [];
  let stopping: Promise<void> | undefined;
  const sweepNow = (): void => {
    // Synchronous last resort (exit handler): SIGKILL everything, then the full sweep.
    live.delete(sweepNow);
    const current = readSlotState(statePath);
    if (current) sweepSlot(current, statePath);
    if (guard.pid !== undefined) {
      try {
        process.kill(-guard.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
  };
  live.add(sweepNow);
  installExitHandlers(options.handleSignals ?? true);

  let ns: NodeNamespaces | undefined;
  const spawnInNode = (name: string, binary: string, args: readonly string[]): Component => {
    if (!ns) throw new Error('namespaces not made yet');
    mkdirSync(dirs.logs, { recursive: true });
    const logPath = join(dirs.logs, `${name}.log`);
    const fd = openSync(logPath, 'a');
    try {
      const [bin, ...rest] = inNode(ns, [binary, ...args]);
      const child = spawn(bin as string, rest, { detached: true, stdio: ['ignore', fd, fd], env: childEnv() });
      if (child.pid === undefined) throw new Error(`could not start ${binary}`);
      const record: ProcessRecord = { name, pid: child.pid, start: processStartTime(child.pid) ?? '' };
      state = { ...state, processes: [...state.processes, record] };
      writeSlotState(statePath, state);
      child.unref();
      const component = { name, child, log: logPath };
      components.push(component);
      return component;
    } finally {
      closeSync(fd);
    }
  };
  const waitFor = async (what: string, probe: () => Promise<boolean>, watch: readonly Component[]) => {
    for (let attempt = 0; attempt < 100_000; attempt++) {
      for (const c of watch) {
        if (c.child.exitCode !== null || c.child.signalCode !== null) {
          throw new Error(
            `${c.name} exited (code ${c.child.exitCode}, signal ${c.child.signalCode}) before ${what}; log tail (${c.log}):\n${tail(c.log)}`,
          );
        }
      }
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline) {
        const logs = watch.map((c) => `--- ${c.name} (${c.log}):\n${tail(c.log, 15)}`).join('\n');
        throw new Error(`timed out waiting for ${what}\n${logs}`);
      }
      await sleep(200);
    }
  };

  const stopComponents = async (names: readonly string[], graceMillis: number): Promise<void> => {
    const targets = components.filter((c) => names.includes(c.name));
    for (const c of targets) {
      c.child.ref();
      try {
        process.kill(-(c.child.pid as number), 'SIGTERM');
      } catch {
        // Gone.
      }
    }
    const exited = (c: Component): Promise<void> =>
      c.child.exitCode !== null || c.child.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => c.child.once('exit', () => resolve()));
    await Promise.race([Promise.all(targets.map(exited)), sleep(graceMillis)]);
    for (const c of targets) {
      try {
        process.kill(-(c.child.pid as number), 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    await Promise.race([Promise.all(targets.map(exited)), sleep(2_000)]);
  };

  let kubeconfigPath = '';
  const kubectl = (args: readonly string[], timeoutMillis = 30_000) =>
    runKubectl(binaries.kubectl, kubeconfigPath, args, { timeoutMillis });

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const t0 = Date.now();
      const has = (name: string) => components.some((c) => c.name === name && c.child.exitCode === null);
      // Nothing may recreate pods while they are deleted.
      await stopComponents(['kube-controller-manager', 'kube-scheduler'], 3_000);
      if (has('kube-apiserver') && has('kubelet')) {
        // The kubelet kills the containers, tears down their networks and unmounts volumes.
        await kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=1', '--timeout=45s'], 60_000);
      }
      await stopComponents(['kubelet', 'kube-proxy'], 3_000);
      if (has('containerd')) {
        // containerd's root persists (images): leave no container records in it.
        const ctr = ['--address', dirs.containerdSocket, '--namespace', 'k8s.io'];
        const tasks = await runCommand('ctr', [...ctr, 'tasks', 'ls', '-q'], { timeoutMillis: 15_000 });
        for (const id of tasks.stdout.split('\n').filter(Boolean)) {
          await runCommand('ctr', [...ctr, 'tasks', 'kill', '-s', 'SIGKILL', id], { timeoutMillis: 10_000 });
          await runCommand('ctr', [...ctr, 'tasks', 'delete', '-f', id], { timeoutMillis: 10_000 });
        }
        const containers = await runCommand('ctr', [...ctr, 'containers', 'ls', '-q'], { timeoutMillis: 15_000 });
        const ids = containers.stdout.split('\n').filter(Boolean);
        if (ids.length > 0) await runCommand('ctr', [...ctr, 'containers', 'rm', ...ids], { timeoutMillis: 30_000 });
      }
      await stopComponents(['containerd', 'kube-apiserver', 'etcd'], 3_000);
      live.delete(sweepNow);
      const current = readSlotState(statePath);
      const report = current ? sweepSlot(current, statePath) : { actions: [], problems: [] };
      await stopGuard(guard);
      removeEmptyCniCache(run);
      lastStop = { millis: Date.now() - t0, sweep: report };
      if (report.problems.length > 0) {
        throw new Error(`teardown of ${plan.name} left: ${report.problems.join('; ')} (state: ${statePath})`);
      }
    })();
    return stopping;
  };

  try {
    // Namespaces, network, kubelet's kernel tunables.
    mkdirSync(dirs.logs, { recursive: true });
    for (const hierarchy of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd']) {
      // The kubelet wants its cgroup root to exist in every hierarchy.
      const path = join('/sys/fs/cgroup', hierarchy, plan.cgroupRoot);
      if (!existsSync(join('/sys/fs/cgroup', hierarchy))) continue;
      mkdirSync(path, { recursive: true });
      if (hierarchy === 'cpuset') {
        for (const file of ['cpuset.cpus', 'cpuset.mems']) {
          writeFileSync(join(path, file), readFileSync(join('/sys/fs/cgroup/cpuset', file), 'utf8'));
        }
      }
    }
    ns = createNodeNamespaces(plan, dir);
    state = { ...state, namespaceIds: [ns.netnsId, ns.mntnsId] };
    writeSlotState(statePath, state);
    phase('namespaces');

    // PKI: the API server's certificate is valid for every name pods and the host use.
    mkdirSync(dirs.pki, { recursive: true });
    const pki = await createControlPlanePki(dirs.pki, {
      servingSans: [
        'DNS:localhost',
        'DNS:kubernetes',
        'DNS:kubernetes.default',
        'DNS:kubernetes.default.svc',
        'DNS:kubernetes.default.svc.cluster.local',
        'IP:127.0.0.1',
        `IP:${plan.bridgeAddress}`,
        `IP:${plan.kubernetesServiceAddress}`,
      ],
    });
    const [node, controllerManager, scheduler, proxy, apiToKubelet, kubeletServing] = await Promise.all([
      issueCertificate(pki, dirs.pki, {
        name: 'node',
        kind: 'client',
        subject: `/O=system:nodes/CN=system:node:${plan.name}`,
      }),
      issueCertificate(pki, dirs.pki, {
        name: 'controller-manager',
        kind: 'client',
        subject: '/CN=system:kube-controller-manager',
      }),
      issueCertificate(pki, dirs.pki, { name: 'scheduler', kind: 'client', subject: '/CN=system:kube-scheduler' }),
      issueCertificate(pki, dirs.pki, { name: 'kube-proxy', kind: 'client', subject: '/CN=system:kube-proxy' }),
      issueCertificate(pki, dirs.pki, {
        name: 'apiserver-kubelet-client',
        kind: 'client',
        subject: '/O=system:masters/CN=kube-apiserver-kubelet-client',
      }),
      issueCertificate(pki, dirs.pki, {
        name: 'kubelet-serving',
        kind: 'server',
        subject: `/CN=${plan.name}`,
        sans: [`DNS:${plan.name}`, `IP:${plan.bridgeAddress}`],
      }),
    ]);
    const server = `https://${plan.bridgeAddress}:${plan.apiServerPort}`;
    const caPem = await readFile(pki.servingCaCert, 'utf8');
    const writeKubeconfig = async (name: string, files: { cert: string; key: string }): Promise<string> => {
      const path = join(dir, name);
      const [clientCertPem, clientKeyPem] = await Promise.all([
        readFile(files.cert, 'utf8'),
        readFile(files.key, 'utf8'),
      ]);
      writeFileSync(path, renderKubeconfig({ server, caPem, clientCertPem, clientKeyPem }), { mode: 0o600 });
      return path;
    };
    kubeconfigPath = await writeKubeconfig('kubeconfig', { cert: pki.adminCert, key: pki.adminKey });
    const nodeKubeconfig = await writeKubeconfig('node.kubeconfig', node);
    const cmKubeconfig = await writeKubeconfig('controller-manager.kubeconfig', controllerManager);
    const schedulerKubeconfig = await writeKubeconfig('scheduler.kubeconfig', scheduler);
    const proxyKubeconfig = await writeKubeconfig('kube-proxy.kubeconfig', proxy);
    phase('pki');

    // etcd and the API server, inside the node's namespaces.
    const etcd = spawnInNode('etcd', binaries.etcd, [
      '--name=conclab-test',
      `--data-dir=${join(dir, 'etcd')}`,
      '--listen-client-urls=http://127.0.0.1:2379',
      '--advertise-client-urls=http://127.0.0.1:2379',
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=conclab-test=http://127.0.0.1:2380',
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    const apiServer = spawnInNode('kube-apiserver', binaries.kubeApiserver, [
      '--etcd-servers=http://127.0.0.1:2379',
      `--cert-dir=${dirs.pki}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.clientCaCert}`,
      `--bind-address=${plan.bridgeAddress}`,
      `--advertise-address=${plan.bridgeAddress}`,
      `--secure-port=${plan.apiServerPort}`,
      `--service-cluster-ip-range=${plan.serviceCidr}`,
      '--allow-privileged=true',
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccountPrivateKey}`,
      `--kubelet-client-certificate=${apiToKubelet.cert}`,
      `--kubelet-client-key=${apiToKubelet.key}`,
      `--kubelet-certificate-authority=${pki.servingCaCert}`,
      '--kubelet-preferred-address-types=InternalIP',
    ]);

    // containerd meanwhile: its config is `containerd config default` with our settings.
    mkdirSync(dirs.cniConfDir, { recursive: true });
    mkdirSync(dirs.containerdRoot, { recursive: true });
    writeFileSync(join(dirs.cniConfDir, '10-conclab.conflist'), cniConflist(plan, dirs));
    const defaults = execFileSync('containerd', ['config', 'default'], { encoding: 'utf8', env: childEnv() });
    const containerdConfig = join(dir, 'containerd', 'config.toml');
    mkdirSync(join(dir, 'containerd'), { recursive: true });
    writeFileSync(
      containerdConfig,
      setTomlValues(defaults, containerdSettings(dirs, testImages.pause, '/usr/lib/cni')),
    );
    const containerd = spawnInNode('containerd', 'containerd', ['--config', containerdConfig]);

    const [ca, cert, key] = await Promise.all([
      readFile(pki.servingCaCert),
      readFile(pki.adminCert),
      readFile(pki.adminKey),
    ]);
    await waitFor(
      'kube-apiserver /readyz',
      async () => (await httpsStatus(`${server}/readyz`, { ca, cert, key })) === 200,
      [etcd, apiServer],
    );
    phase('controlPlane');
    const ctr = ['--address', dirs.containerdSocket, '--namespace', 'k8s.io'];
    await waitFor(
      'containerd to answer',
      async () =>
        (await runCommand('ctr', ['--address', dirs.containerdSocket, 'version'], { timeoutMillis: 5_000 })).code === 0,
      [containerd],
    );
    // A dead run may have left container records in the persistent root.
    const leftovers = (await runCommand('ctr', [...ctr, 'containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
    if (leftovers.length > 0) await runCommand('ctr', [...ctr, 'containers', 'rm', ...leftovers]);
    phase('containerd');
    const imported = await importImages(dirs.containerdSocket, images, log);
    phase('importImages');
    if (imported.imported.length > 0) log(`imported ${imported.imported.join(', ')} in ${imported.millis} ms`);

    // The node: kubelet, kube-proxy, and the controllers.
    const kubeletConfig = join(dir, 'kubelet-config.yaml');
    writeFileSync(
      kubeletConfig,
      kubeletConfiguration(plan, dirs, {
        clientCaFile: pki.clientCaCert,
        tlsCertFile: kubeletServing.cert,
        tlsPrivateKeyFile: kubeletServing.key,
      }),
    );
    const kubelet = spawnInNode('kubelet', binaries.kubelet, [
      `--config=${kubeletConfig}`,
      `--kubeconfig=${nodeKubeconfig}`,
      `--root-dir=${dirs.kubeletRoot}`,
      `--hostname-override=${plan.name}`,
      `--node-ip=${plan.bridgeAddress}`,
      '--v=1',
    ]);
    const kubeProxy = spawnInNode('kube-proxy', binaries.kubeProxy, kubeProxyArgs(plan, proxyKubeconfig));
    const cm = spawnInNode('kube-controller-manager', binaries.kubeControllerManager, [
      `--kubeconfig=${cmKubeconfig}`,
      `--authentication-kubeconfig=${cmKubeconfig}`,
      `--authorization-kubeconfig=${cmKubeconfig}`,
      `--service-account-private-key-file=${pki.serviceAccountPrivateKey}`,
      `--root-ca-file=${pki.servingCaCert}`,
      '--use-service-account-credentials=true',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=10257',
    ]);
    const sched = spawnInNode('kube-scheduler', binaries.kubeScheduler, [
      `--kubeconfig=${schedulerKubeconfig}`,
      `--authentication-kubeconfig=${schedulerKubeconfig}`,
      `--authorization-kubeconfig=${schedulerKubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=10259',
    ]);
    const all = [etcd, apiServer, containerd, kubelet, kubeProxy, cm, sched];
    await waitFor(
      `node ${plan.name} Ready`,
      async () => {
        const ready = await kubectl([
          'get',
          'node',
          plan.name,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return ready.stdout.trim() === 'True';
      },
      all,
    );
    await waitFor(
      'the default ServiceAccount',
      async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name'])).code === 0,
      all,
    );
    phase('nodeReady');

    const info: RealClusterInfo = {
      slot: plan.slot,
      nodeName: plan.name,
      kubeconfigPath,
      server,
      kubernetesVersion: binaries.kubernetesVersion,
      dir,
      podCidr: plan.podCidr,
      serviceCidr: plan.serviceCidr,
      bridgeAddress: plan.bridgeAddress,
      cgroupRoot: plan.cgroupRoot,
      containerdSocket: dirs.containerdSocket,
      netns: ns.netns,
      mntns: ns.mntns,
      sysctlDir: ns.sysctlDir,
      images: testImages,
      guardPid: guard.pid as number,
      startMillis: Date.now() - started,
      timings,
    };
    rmSync(join(run, `slot-${plan.slot}-failed-start`), { recursive: true, force: true });
    log(`${plan.name} ready in ${info.startMillis} ms (${JSON.stringify(timings)})`);
    return attachRealCluster(info, stop, binaries);
  } catch (error) {
    // Keep the logs (the temp dir goes with the teardown) and say where they are.
    const kept = join(run, `slot-${plan.slot}-failed-start`);
    rmSync(kept, { recursive: true, force: true });
    if (existsSync(dirs.logs)) cpSync(dirs.logs, kept, { recursive: true });
    const teardown = await stop().then(
      () => '',
      (stopError: Error) => `\nteardown after the failed start: ${stopError.message}`,
    );
    throw new Error(`${(error as Error).message}\n(component logs kept in ${kept})${teardown}`);
  }
}

export interface StopReport {
  readonly millis: number;
  readonly sweep: { readonly actions: readonly string[]; readonly problems: readonly string[] };
}
let lastStop: StopReport | undefined;

/** What the last stop() in this process did and how long it took (for the README's figures). */
export function lastStopReport(): StopReport | undefined {
  return lastStop;
}
