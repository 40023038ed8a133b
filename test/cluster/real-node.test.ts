// The real test node does what a kubelet node does: pods of the project's own workload image
// run under the limits their spec gives (read back from the host's cgroupfs), kubectl logs
// works, a ClusterIP Service reaches a pod, nothing leaves the machine, a pod over its memory
// limit is OOM-killed, and the kubelet's kernel tunables never reach the host.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { stringify } from 'yaml';
import { readSlotState, runDir, slotStatePath } from './host-state.ts';
import { kubeletKernelTunables, sysctlPath } from './node-config.ts';
import { nodePlan } from './node-plan.ts';
import type { RealCluster } from './real-cluster.ts';
import { useSharedCluster } from './shared-cluster.ts';

let cluster: RealCluster | undefined;
let namespace = '';
let workloadIp = '';

interface Pod {
  metadata: { uid: string };
  spec: Record<string, unknown>;
  status: {
    phase?: string;
    podIP?: string;
    qosClass?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      containerID?: string;
      state?: { terminated?: { exitCode: number; reason?: string } };
      lastState?: { terminated?: { exitCode: number; reason?: string } };
    }[];
  };
}

function shared(): RealCluster {
  if (!cluster) throw new Error('the shared cluster did not start (see the test.before failure)');
  return cluster;
}

async function apply(manifest: object): Promise<void> {
  const applied = await shared().kubectl(['apply', '-n', namespace, '-f', '-'], { input: stringify(manifest) });
  if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
}

async function getPod(name: string): Promise<Pod> {
  const got = await shared().kubectl(['get', 'pod', name, '-n', namespace, '-o', 'json']);
  if (got.code !== 0) throw new Error(`kubectl get pod ${name}: ${got.stderr}`);
  return JSON.parse(got.stdout) as Pod;
}

async function waitForPod(
  name: string,
  what: string,
  done: (pod: Pod) => boolean,
  timeoutMillis = 90_000,
): Promise<Pod> {
  const deadline = Date.now() + timeoutMillis;
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const pod = await getPod(name);
    if (done(pod)) return pod;
    if (Date.now() > deadline) {
      const events = await shared().kubectl([
        'get',
        'events',
        '-n',
        namespace,
        '--field-selector',
        `involvedObject.name=${name}`,
      ]);
      throw new Error(
        `pod ${name} not ${what} within ${timeoutMillis} ms: ${JSON.stringify(pod.status)}\n${events.stdout}`,
      );
    }
    await sleep(250);
  }
  throw new Error('unreachable');
}

const isReady = (pod: Pod): boolean =>
  pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const isFinished = (pod: Pod): boolean => pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed';

function workloadPod(name: string): object {
  const cluster = shared();
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'workload',
          image: cluster.images['workload-node'],
          imagePullPolicy: 'Never',
          env: [
            { name: 'CONCLAB_MODEL', value: 'thread' },
            { name: 'CONCLAB_WORKERS', value: '2' },
            { name: 'CONCLAB_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          ],
          ports: [
            { name: 'work', containerPort: 8080 },
            { name: 'admin', containerPort: 8081 },
          ],
          // As the operator's pods: Ready once the supervisor says so (CPU calibration done).
          readinessProbe: { httpGet: { path: '/readyz', port: 8081 }, periodSeconds: 1 },
          resources: {
            requests: { cpu: '500m', memory: '256Mi' },
            limits: { cpu: '500m', memory: '256Mi' },
          },
        },
      ],
    },
  };
}

/** A one-shot pod running `node -e SCRIPT ARGS...` from the workload image; returns its log. */
async function runScript(name: string, script: string, args: readonly string[]): Promise<{ pod: Pod; log: string }> {
  await apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'script',
          image: shared().images['workload-node'],
          imagePullPolicy: 'Never',
          command: ['node', '-e', script, ...args],
          resources: { limits: { cpu: '200m', memory: '128Mi' } },
        },
      ],
    },
  });
  const pod = await waitForPod(name, 'finished', isFinished);
  const log = await shared().kubectl(['logs', '-n', namespace, name]);
  return { pod, log: log.stdout };
}

// Connects to each HOST:PORT argument (3 s bound each) and prints one JSON line per target.
const connectScript = `
const net = require('node:net');
const targets = process.argv.slice(1);
let left = targets.length;
for (const target of targets) {
  const i = target.lastIndexOf(':');
  const socket = net.connect({ host: target.slice(0, i), port: Number(target.slice(i + 1)), timeout: 3000 });
  const done = (result) => {
    console.log(JSON.stringify({ target, result }));
    socket.destroy();
    if (--left === 0) process.exit(0);
  };
  socket.on('connect', () => done('connected'));
  socket.on('timeout', () => done('timeout'));
  socket.on('error', (error) => done(error.code));
}
`;

function connectResults(log: string): Map<string, string> {
  const results = new Map<string, string>();
  for (const line of log.split('\n').filter(Boolean)) {
    const { target, result } = JSON.parse(line) as { target: string; result: string };
    results.set(target, result);
  }
  return results;
}

test.before(async (t) => {
  // A cold start imports every image into the node (minutes on a loaded machine).
  t.timeout(8 * 60_000, 'starting the shared real cluster');
  cluster = await useSharedCluster({ holder: 'test/cluster/real-node.test.ts' });
  namespace = await cluster.createNamespace('real-node');
  await apply(workloadPod('workload'));
  const pod = await waitForPod('workload', 'Ready', isReady);
  workloadIp = pod.status.podIP ?? '';
});
test.after.always(async () => {
  await cluster?.stop();
});

test('a Guaranteed pod (500m / 256Mi) of the workload image becomes Ready with its limits on the container cgroup', async (t) => {
  const pod = await getPod('workload');
  t.true(isReady(pod));
  t.is(pod.status.qosClass, 'Guaranteed');
  const containerId = pod.status.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '') ?? '';
  t.regex(containerId, /^[0-9a-f]{64}$/);
  // Guaranteed pods sit directly under kubepods (no QoS level), under the node's cgroup root.
  const group = (hierarchy: string, file: string): string =>
    readFileSync(
      join('/sys/fs/cgroup', hierarchy, shared().cgroupRoot, 'kubepods', `pod${pod.metadata.uid}`, containerId, file),
      'utf8',
    ).trim();
  t.is(group('cpu', 'cpu.cfs_quota_us'), '50000');
  t.is(group('cpu', 'cpu.cfs_period_us'), '100000');
  t.is(group('memory', 'memory.limit_in_bytes'), String(256 * 1024 * 1024));
  // The workload's own pid 1 is in that group (the limits apply to it, not just to a directory).
  t.regex(group('memory', 'cgroup.procs'), /^\d+$/m);
});

test('the workload got its pod IP through the downward API and answers GET /stats on 8081 from the host', async (t) => {
  t.regex(workloadIp, /^10\.213\.\d+\.\d+$/);
  const response = await fetch(`http://${workloadIp}:8081/stats`, { signal: AbortSignal.timeout(10_000) });
  t.is(response.status, 200);
  const stats = (await response.json()) as { model: string; ready: boolean; workers: unknown[] };
  t.is(stats.model, 'thread');
  t.true(stats.ready);
  t.is(stats.workers.length, 2);
});

test('kubectl logs returns what the container wrote (the workload ready line)', async (t) => {
  // The kubelet's log file may trail the container's stdout by a moment: poll (bounded).
  let ready: { event?: string; port?: number; workers?: number } | undefined;
  let logs = { stdout: '', stderr: '', code: -1 };
  for (let attempt = 0; attempt < 40 && !ready; attempt++) {
    if (attempt > 0) await sleep(250);
    logs = await shared().kubectl(['logs', '-n', namespace, 'workload']);
    ready = logs.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { event?: string; port?: number; workers?: number })
      .find((event) => event.event === 'ready');
  }
  t.is(logs.code, 0, logs.stderr);
  t.like(ready, { event: 'ready', port: 8080, workers: 2 }, logs.stdout);
});

test('a ClusterIP Service reaches the pod, from another pod and from the host', async (t) => {
  await apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'workload' },
    spec: { selector: { app: 'workload' }, ports: [{ name: 'admin', port: 81, targetPort: 8081 }] },
  });
  const service = await shared().kubectl([
    'get',
    'service',
    'workload',
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.clusterIP}',
  ]);
  const clusterIp = service.stdout.trim();
  t.regex(clusterIp, /^10\.214\.\d+\.\d+$/);
  // kube-proxy programs the rules asynchronously: poll from the host (bounded) until they exist.
  let status = 0;
  for (let attempt = 0; attempt < 60 && status !== 200; attempt++) {
    status = await fetch(`http://${clusterIp}:81/stats`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status !== 200) await sleep(500);
  }
  t.is(status, 200, 'host -> ClusterIP');
  const { log } = await runScript('via-service', connectScript, [`${clusterIp}:81`]);
  t.is(connectResults(log).get(`${clusterIp}:81`), 'connected', log);
});

test('a pod cannot reach any address off the node: not the host, its gateway, nor the internet', async (t) => {
  const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show', 'default'], { encoding: 'utf8' })) as {
    gateway?: string;
  }[];
  const host = routes[0];
  // Public addresses, the host's end of the node's link, and the host's default gateway.
  const outside = ['1.1.1.1:443', '8.8.8.8:53', `${nodePlan(shared().slot).hostLinkAddress}:22`];
  if (host?.gateway) outside.push(`${host.gateway}:80`);
  const inside = `${workloadIp}:8081`;
  const { log } = await runScript('outside', connectScript, [...outside, inside]);
  const results = connectResults(log);
  t.is(results.get(inside), 'connected', `the probe itself works: ${log}`);
  for (const target of outside) {
    // No default route in the pod: the kernel refuses at once (ENETUNREACH) instead of sending.
    t.is(results.get(target), 'ENETUNREACH', `${target}: ${log}`);
  }
});

test('a pod with a 64Mi limit that allocates more is OOMKilled (exit code 137)', async (t) => {
  await apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'hog' },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'hog',
          image: shared().images['workload-node'],
          imagePullPolicy: 'Never',
          command: ['node', '-e', 'const keep = []; for (;;) keep.push(Buffer.alloc(8 << 20, 1));'],
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
        },
      ],
    },
  });
  const pod = await waitForPod('hog', 'finished', isFinished);
  const terminated = pod.status.containerStatuses?.[0]?.state?.terminated;
  t.is(pod.status.phase, 'Failed');
  t.is(terminated?.reason, 'OOMKilled');
  t.is(terminated?.exitCode, 137);
});

test("the kubelet's kernel tunables land in the node's private copies; the host's values stay as they were", (t) => {
  const state = readSlotState(slotStatePath(runDir(), shared().slot));
  t.truthy(state, 'slot state file');
  for (const [name, wanted] of Object.entries(kubeletKernelTunables)) {
    let host: string;
    try {
      host = readFileSync(sysctlPath(name), 'utf8').trim();
    } catch {
      continue; // not on this kernel
    }
    t.is(readFileSync(join(shared().sysctlDir, name), 'utf8').trim(), wanted, `node's ${name}`);
    t.is<string | undefined, string | undefined>(host, state?.hostSysctls[name], `host's ${name}`);
  }
  const forward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  t.is<string | undefined, string | undefined>(
    forward,
    state?.hostSysctls['net.ipv4.ip_forward'],
    "host's net.ipv4.ip_forward",
  );
});
