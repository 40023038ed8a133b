// TEST INFRASTRUCTURE ONLY — never shipped, never used outside tests. A node agent that plays
// the kubelet (and, for want of one, the scheduler's binding step) for THIS machine against the
// test control plane: it registers a Node with this machine's CPU and memory, keeps its Lease
// and Ready condition fresh, binds every pending pod without a nodeName to itself, and runs each
// bound pod with a PodWorker (pod-worker.ts): conclab's own images as local processes (see
// image-map.ts), one loopback address per pod, cgroup CPU/memory limits, probes, restarts,
// status, and deletion. See test/cluster/README.md, section "Node agent".
//
// It polls the API server (every syncIntervalMillis) instead of watching: simple, bounded, and
// fast enough on a loopback API server. Cleanup is layered like the control plane's: stop()
// (t.teardown / test.after.always), a process exit handler, and a watchdog shell that kills
// everything in the agent's cgroups and process groups if the test process dies by SIGKILL.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, hostname, release, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type V1Pod,
} from '@kubernetes/client-node';
import { readCgroupLayout } from '../../../operator/runtime/local/cgroup-detect.ts';
import {
  type CgroupGroup,
  groupFromName,
  listConclabGroups,
  removeGroup,
  runtimePrefix,
  type UsableLayout,
} from '../../../operator/runtime/local/cgroup-group.ts';
import { PodAddresses } from './pod-addresses.ts';
import { PodWorker, podLogDir } from './pod-worker.ts';

export interface NodeAgentOptions {
  /** Admin kubeconfig of the test control plane (the agent acts as kubelet and scheduler). */
  kubeConfig: KubeConfig;
  /** Default conclab-test-node. */
  nodeName?: string;
  /** Back-off before the second and later restarts of a container (kubelet: 10 s). */
  initialBackoffMillis?: number;
  /** Cap of the back-off (kubelet: 300 s). */
  maxBackoffMillis?: number;
  /** Cap on a pod's termination grace period, so tests never wait 30 s (default 30 s, as the kubelet). */
  maxGraceMillis?: number;
  /** How often pods are listed (default 200 ms). */
  syncIntervalMillis?: number;
  /** Lease renewal and node status period (default 5 s). */
  heartbeatMillis?: number;
  /** Fail when cgroup limits cannot be applied (default true: tests compare budgets). */
  requireCgroups?: boolean;
  log?: (line: string) => void;
}

export interface NodeAgent {
  readonly nodeName: string;
  /** The /24 of loopback addresses pods get, e.g. 127.83.4.0/24. */
  readonly podCIDR: string;
  readonly cgroupVersion: 'v1' | 'v2' | 'none';
  /** Owner prefix of every cgroup this agent makes. */
  readonly cgroupPrefix: string;
  readonly dir: string;
  /** Pids of containers running now (process-group leaders). */
  pids(): number[];
  /** Cgroups of a pod's running containers, by container name. */
  podGroups(namespace: string, name: string): Map<string, CgroupGroup>;
  /** Log file of a container's current or last run (stdout and stderr); kept after the pod is gone, until stop(). */
  logPath(namespace: string, name: string, container: string): string | undefined;
  /** Names of this agent's cgroups present in the hierarchy now. */
  liveGroups(): string[];
  /** Kills every container, removes cgroups and files, stops polling. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<{ stopSync(): void }>();
let exitHandler = false;

const watchdogScript = `
parent="$1"; dir="$2"; prefix="$3"; shift 3; i=0
while [ "$i" -lt 21600 ] && [ -d "$dir" ] && kill -0 "$parent" 2>/dev/null; do sleep 1; i=$((i+1)); done
[ -d "$dir" ] || exit 0
for f in "$dir"/pgid/*; do [ -f "$f" ] && kill -KILL "-$(cat "$f")" 2>/dev/null; done
for h in "$@"; do for g in "$h"/"$prefix"*; do [ -d "$g" ] && for p in $(cat "$g/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; done; done
sleep 0.5
for h in "$@"; do for g in "$h"/"$prefix"*; do [ -d "$g" ] && rmdir "$g" 2>/dev/null; done; done
rm -rf "$dir"
`;

function hierarchies(layout: UsableLayout | undefined): string[] {
  if (!layout) return [];
  if (layout.version === 'v2') return [layout.mountPoint];
  return [...new Set([layout.cpu.mountPoint, layout.cpuacct.mountPoint, layout.memory.mountPoint])];
}

export async function startNodeAgent(options: NodeAgentOptions): Promise<NodeAgent> {
  const log = options.log ?? (() => {});
  const nodeName = options.nodeName ?? 'conclab-test-node';
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const coordination = options.kubeConfig.makeApiClient(CoordinationV1Api);
  const detected = readCgroupLayout();
  if (detected.version === 'none' && (options.requireCgroups ?? true)) {
    throw new Error(
      `test node agent: cannot apply pod CPU and memory limits: ${detected.reason}. Run the tests as root on a host with writable cgroups.`,
    );
  }
  const layout = detected.version === 'none' ? undefined : detected;
  const agentId = randomBytes(4).toString('hex');
  const prefix = runtimePrefix(process.pid, agentId);
  const dir = mkdtempSync(path.join(tmpdir(), 'conclab-node-agent-'));
  mkdirSync(path.join(dir, 'pgid'));
  mkdirSync(path.join(dir, 'pods'));
  const addresses = new PodAddresses();
  const hostIP = '127.0.0.1';
  const workers = new Map<string, PodWorker>();
  let stopping = false;

  const watchdog = spawn(
    '/bin/sh',
    ['-c', watchdogScript, 'conclab-node-agent-watchdog', String(process.pid), dir, prefix, ...hierarchies(layout)],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  watchdog.unref();

  const liveGroups = () => (layout ? listConclabGroups(layout).filter((n) => n.startsWith(prefix)) : []);
  const entry = {
    stopSync: () => {
      for (const f of safeReaddir(path.join(dir, 'pgid'))) {
        try {
          process.kill(-Number(readFileSync(path.join(dir, 'pgid', f), 'utf8')), 'SIGKILL');
        } catch {
          // Gone.
        }
      }
      // cgroups are removed by the watchdog a moment later (rmdir needs the processes reaped).
    },
  };
  live.add(entry);
  if (!exitHandler) {
    exitHandler = true;
    process.on('exit', () => {
      for (const e of live) e.stopSync();
    });
  }

  // --- the Node, its Lease, its status ---
  const capacity = {
    cpu: String(availableParallelism()),
    memory: `${Math.floor(totalmem() / 1024)}Ki`,
    pods: '110',
  };
  try {
    await core.createNode({
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: nodeName,
          labels: {
            'kubernetes.io/hostname': nodeName,
            'kubernetes.io/os': 'linux',
            'conclab.dev/test-node-agent': 'true',
          },
        },
        spec: { podCIDR: addresses.cidr, podCIDRs: [addresses.cidr] },
      },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  const nodeStatus = () => {
    const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return {
      status: {
        capacity,
        allocatable: capacity,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'conclab test node agent is posting ready status (test infrastructure)',
            lastHeartbeatTime: t,
            lastTransitionTime: t,
          },
        ],
        addresses: [
          { type: 'InternalIP', address: hostIP },
          { type: 'Hostname', address: nodeName },
        ],
        nodeInfo: {
          machineID: '',
          systemUUID: '',
          bootID: '',
          kernelVersion: release(),
          osImage: `conclab test node agent on ${hostname()}`,
          containerRuntimeVersion: 'local-process://conclab-test',
          kubeletVersion: 'conclab-test-node-agent',
          kubeProxyVersion: '',
          operatingSystem: 'linux',
          architecture: process.arch === 'x64' ? 'amd64' : process.arch,
        },
      },
    };
  };
  let transition: string | undefined;
  const heartbeat = async () => {
    const body = nodeStatus();
    const cond = body.status.conditions[0]!;
    transition ??= cond.lastTransitionTime;
    cond.lastTransitionTime = transition;
    await core.patchNodeStatus({ name: nodeName, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const spec = {
      holderIdentity: nodeName,
      leaseDurationSeconds: 40,
      renewTime: new V1MicroTime(Date.now()),
    };
    try {
      const lease = await coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: nodeName });
      await coordination.replaceNamespacedLease({
        namespace: 'kube-node-lease',
        name: nodeName,
        body: { ...lease, spec: { ...lease.spec, ...spec } },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await coordination.createNamespacedLease({
        namespace: 'kube-node-lease',
        body: { metadata: { name: nodeName, namespace: 'kube-node-lease' }, spec },
      });
    }
  };
  await heartbeat();

  const ctx = {
    core,
    nodeName,
    hostIP,
    addresses,
    layout,
    dir,
    ownerPid: process.pid,
    agentId,
    initialBackoffMillis: options.initialBackoffMillis ?? 10_000,
    maxBackoffMillis: options.maxBackoffMillis ?? 300_000,
    maxGraceMillis: options.maxGraceMillis ?? 30_000,
    log,
  };

  const bind = async (pod: V1Pod) => {
    const namespace = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    try {
      await core.createNamespacedPodBinding({
        namespace,
        name,
        body: { metadata: { name, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } },
      });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== 404 && code !== 409) log(`binding pod ${namespace}/${name}: ${(err as Error).message}`);
    }
  };

  const syncOnce = async () => {
    const pods = (await core.listPodForAllNamespaces({})).items;
    const seen = new Set<string>();
    for (const pod of pods) {
      const uid = pod.metadata?.uid ?? '';
      const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
      if (!pod.spec?.nodeName) {
        if (!pod.metadata?.deletionTimestamp && !terminal) await bind(pod);
        continue;
      }
      if (pod.spec.nodeName !== nodeName) continue;
      seen.add(uid);
      let worker = workers.get(uid);
      if (!worker) {
        // A pod that is already over (from before this agent, or ours and finished) is not run again.
        if (terminal && !pod.metadata?.deletionTimestamp) continue;
        worker = new PodWorker(pod, ctx);
        workers.set(uid, worker);
      }
      worker.observe(pod);
    }
    for (const [uid, worker] of workers) {
      if (seen.has(uid)) continue;
      workers.delete(uid);
      void worker.vanished();
    }
  };

  const intervalMillis = options.syncIntervalMillis ?? 200;
  const heartbeatMillis = options.heartbeatMillis ?? 5_000;
  const loop = (async () => {
    let lastHeartbeat = Date.now();
    let failures = 0;
    // Ends at stop(), and after at most 6 hours in any case; each turn is one list and a few writes.
    const endMillis = Date.now() + 6 * 3600_000;
    while (!stopping && Date.now() < endMillis) {
      try {
        await syncOnce();
        if (Date.now() - lastHeartbeat >= heartbeatMillis) {
          lastHeartbeat = Date.now();
          await heartbeat();
        }
        failures = 0;
      } catch (err) {
        failures++;
        if (failures === 1 || failures % 50 === 0) log(`node agent sync: ${(err as Error).message}`);
      }
      await sleep(intervalMillis, undefined, { ref: false });
    }
  })();

  let stopPromise: Promise<void> | undefined;
  const stop = () => {
    stopPromise ??= (async () => {
      stopping = true;
      await loop;
      await Promise.all([...workers.values()].map((w) => w.shutdown()));
      workers.clear();
      // Anything of ours still in the hierarchy (a container that outlived its worker) goes too.
      if (layout) for (const name of liveGroups()) await removeGroup(groupFromName(layout, name)).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      live.delete(entry);
      try {
        if (watchdog.pid !== undefined) process.kill(watchdog.pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    })();
    return stopPromise;
  };

  const byName = (namespace: string, name: string) =>
    [...workers.values()].find((w) => w.pod.metadata?.namespace === namespace && w.pod.metadata?.name === name);

  return {
    nodeName,
    podCIDR: addresses.cidr,
    cgroupVersion: layout?.version ?? 'none',
    cgroupPrefix: prefix,
    dir,
    pids: () => [...workers.values()].flatMap((w) => w.pids()),
    podGroups: (namespace, name) => byName(namespace, name)?.groups() ?? new Map(),
    logPath: (namespace, name, container) => {
      const current = byName(namespace, name)?.logPath(container);
      if (current) return current;
      const d = podLogDir(dir, namespace, name);
      const runs = safeReaddir(d)
        .map((f) => /^(.+)-(\d+)\.log$/.exec(f))
        .filter((m): m is RegExpExecArray => m !== null && m[1] === container)
        .sort((a, b) => Number(b[2]) - Number(a[2]));
      return runs[0] ? path.join(d, runs[0][0]) : undefined;
    },
    liveGroups,
    stop,
  };
}

function safeReaddir(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}
