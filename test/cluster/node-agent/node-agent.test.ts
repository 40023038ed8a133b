// The test node agent (test infrastructure) against the real API server, with pods written by
// hand: registration, binding, running conclab's own images as processes with their own
// address and cgroup limits, readiness, restarts, ConfigMap volumes, unknown images, deletion
// and a clean stop.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { readCgroupLayout } from '../../../operator/runtime/local/cgroup-detect.ts';
import { distinctDirs, groupFromName, readGroupLimits } from '../../../operator/runtime/local/cgroup-group.ts';
import { type ControlPlane, startControlPlane } from '../control-plane.ts';
import { type NodeAgent, startNodeAgent } from './node-agent.ts';

let cp: ControlPlane | undefined;
let agent: NodeAgent | undefined;
let core: CoreV1Api;
const logs: string[] = [];

test.before(async () => {
  cp = await startControlPlane();
  core = cp.kubeConfig().makeApiClient(CoreV1Api);
  agent = await startNodeAgent({
    kubeConfig: cp.kubeConfig(),
    initialBackoffMillis: 1500,
    maxGraceMillis: 5000,
    heartbeatMillis: 1000,
    log: (l) => logs.push(l),
  });
  const ns = await cp.kubectl(['create', 'namespace', 'pods']);
  if (ns.code !== 0) throw new Error(ns.stderr);
});
test.after.always(async () => {
  await agent?.stop();
  await cp?.stop();
});

function node(): NodeAgent {
  if (!agent) throw new Error('node agent did not start (see test.before)');
  return agent;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMillis = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMillis;
  let last: unknown;
  for (let i = 0; i < 100_000; i++) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  throw new Error(
    `timed out after ${timeoutMillis} ms waiting for ${what}${last ? ` (${last})` : ''}\nagent log:\n${logs.join('\n')}`,
  );
}

async function readPod(name: string): Promise<V1Pod | undefined> {
  try {
    return await core.readNamespacedPod({ namespace: 'pods', name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

function workloadPod(name: string, env: Record<string, string> = {}, restartPolicy = 'Always'): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'pods' },
    spec: {
      restartPolicy,
      terminationGracePeriodSeconds: 3,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
      containers: [
        {
          name: 'workload',
          image: 'conclab/workload-node:0.1.0',
          ports: [
            { name: 'work', containerPort: 8080 },
            { name: 'admin', containerPort: 8081 },
          ],
          env: [
            { name: 'CONCLAB_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'CONCLAB_PORT', value: '8080' },
            { name: 'CONCLAB_ADMIN_PORT', value: '8081' },
            { name: 'CONCLAB_MODEL', value: 'process' },
            { name: 'CONCLAB_WORKERS', value: '2' },
            { name: 'CONCLAB_CPU_MILLIS', value: '1' },
            { name: 'CONCLAB_CPU_ITERATIONS_PER_MILLI', value: '1000' },
            { name: 'CONCLAB_TRACING', value: 'false' },
            { name: 'CONCLAB_VARIANT', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            ...Object.entries(env).map(([n, value]) => ({ name: n, value })),
          ],
          resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
          readinessProbe: { httpGet: { path: '/readyz', port: 'admin' }, periodSeconds: 1 },
        },
      ],
    },
  } as unknown as V1Pod;
}

test.serial('registers a Ready node with this machine’s capacity and keeps its lease fresh', async (t) => {
  const n = await core.readNode({ name: node().nodeName });
  t.is(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  t.truthy(n.status?.capacity?.['cpu']);
  t.regex(String(n.status?.allocatable?.['memory']), /^\d+Ki$/);
  t.is(n.spec?.podCIDR, node().podCIDR);
  const coordination = cp!.kubeConfig().makeApiClient(CoordinationV1Api);
  const first = await coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: node().nodeName });
  const renewed = await waitFor(
    'lease renewal',
    async () => {
      const l = await coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: node().nodeName });
      return String(l.spec?.renewTime) !== String(first.spec?.renewTime) ? l : undefined;
    },
    10_000,
  );
  t.is(renewed.spec?.holderIdentity, node().nodeName);
});

test.serial(
  'binds a pending pod and runs the workload on its own address, ready by its probe, under its limits',
  async (t) => {
    await core.createNamespacedPod({ namespace: 'pods', body: workloadPod('web') });
    const pod = await waitFor('web Ready', async () => {
      const p = await readPod('web');
      return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    });
    t.is(pod.spec?.nodeName, node().nodeName);
    t.is(pod.status?.phase, 'Running');
    const ip = pod.status?.podIP ?? '';
    t.true(ip.startsWith(node().podCIDR.replace(/0\/24$/, '')), `${ip} in ${node().podCIDR}`);
    t.not(ip, '127.0.0.1');
    const cs = pod.status?.containerStatuses?.[0];
    t.is(cs?.ready, true);
    t.is(cs?.restartCount, 0);
    t.truthy(cs?.state?.running);

    // It serves on the pod IP (the env's fieldRef resolved), and only there.
    const res = await fetch(`http://${ip}:8080/work`);
    t.is(res.status, 200);
    await res.text();

    // Limits as the kubelet would set them: CFS quota 50 ms per 100 ms, memory 256 MiB, read from cgroup files.
    const groups = node().podGroups('pods', 'web');
    const group = groups.get('workload');
    t.truthy(group, 'a cgroup for the container');
    const limits = await readGroupLimits(group!);
    t.is(limits.cpuCores, 0.5, limits.source);
    t.is(limits.memoryBytes, 256 * 1024 * 1024, limits.source);
    // Every process of the container (supervisor and its 2 forked workers) is inside the group, as uid 65532.
    const procs = readFileSync(`${group!.dirs.memory}/cgroup.procs`, 'utf8').trim().split('\n').map(Number);
    t.true(procs.length >= 3, `processes in the group: ${procs.join(' ')}`);
    for (const pid of procs) t.regex(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+65532\s/m);
  },
);

test.serial('a pod deleted with a grace period is stopped, cleaned up and removed', async (t) => {
  const before = await readPod('web');
  t.truthy(before);
  const groups = [...node().podGroups('pods', 'web').values()];
  const pids = node().pids();
  const del = await cp!.kubectl(['delete', 'pod', 'web', '-n', 'pods', '--wait=true', '--timeout=30s']);
  t.is(del.code, 0, del.stderr);
  t.is(await readPod('web'), undefined);
  await waitFor('processes gone', async () => node().pids().length === 0, 10_000);
  for (const pid of pids) t.throws(() => process.kill(pid, 0), undefined, `pid ${pid} is gone`);
  for (const g of groups) t.false(node().liveGroups().includes(g.name), `cgroup ${g.name} removed`);
});

test.serial('restartPolicy Always restarts a crashing container, then backs off with CrashLoopBackOff', async (t) => {
  // CONCLAB_WORKERS=0 is rejected by the workload: it exits 2 at once, naming the variable.
  await core.createNamespacedPod({ namespace: 'pods', body: workloadPod('crashy', { CONCLAB_WORKERS: '0' }) });
  const pod = await waitFor('crashy back-off', async () => {
    const p = await readPod('crashy');
    const cs = p?.status?.containerStatuses?.[0];
    return cs && (cs.restartCount ?? 0) >= 1 && cs.state?.waiting?.reason === 'CrashLoopBackOff' ? p : undefined;
  });
  const cs = pod.status?.containerStatuses?.[0];
  t.is(pod.status?.phase, 'Running');
  t.is(cs?.lastState?.terminated?.exitCode, 2);
  t.is(cs?.lastState?.terminated?.reason, 'Error');
  t.regex(cs?.lastState?.terminated?.message ?? '', /CONCLAB_WORKERS/);
  t.is(cs?.ready, false);
  await cp!.kubectl(['delete', 'pod', 'crashy', '-n', 'pods', '--wait=true', '--timeout=30s']);
});

test.serial('restartPolicy Never leaves a failed container down and the pod Failed with its exit code', async (t) => {
  await core.createNamespacedPod({ namespace: 'pods', body: workloadPod('once', { CONCLAB_WORKERS: '0' }, 'Never') });
  const pod = await waitFor('once Failed', async () => {
    const p = await readPod('once');
    return p?.status?.phase === 'Failed' ? p : undefined;
  });
  const cs = pod.status?.containerStatuses?.[0];
  t.is(cs?.restartCount, 0);
  t.is(cs?.state?.terminated?.exitCode, 2);
  t.regex(cs?.state?.terminated?.message ?? '', /CONCLAB_WORKERS="0" is invalid/);
  await cp!.kubectl(['delete', 'pod', 'once', '-n', 'pods', '--wait=true', '--timeout=30s']);
});

test.serial('a container over its memory limit is OOM-killed by the kernel and reported as OOMKilled', async (t) => {
  const pod = workloadPod('tiny', {}, 'Never');
  const container = pod.spec?.containers[0];
  if (container) container.resources = { limits: { cpu: '500m', memory: '20Mi' } };
  await core.createNamespacedPod({ namespace: 'pods', body: pod });
  const failed = await waitFor('tiny Failed', async () => {
    const p = await readPod('tiny');
    return p?.status?.phase === 'Failed' ? p : undefined;
  });
  const terminated = failed.status?.containerStatuses?.[0]?.state?.terminated;
  t.is(terminated?.reason, 'OOMKilled');
  t.is(terminated?.exitCode, 137);
  await cp!.kubectl(['delete', 'pod', 'tiny', '-n', 'pods', '--wait=true', '--timeout=30s']);
});

test.serial('a ConfigMap volume is materialized and its mount path mapped in the args; the pod Succeeds', async (t) => {
  const manifest = readFileSync(new URL('../../../examples/quickstart.yaml', import.meta.url), 'utf8');
  await core.createNamespacedConfigMap({
    namespace: 'pods',
    body: { metadata: { name: 'manifests', namespace: 'pods' }, data: { 'quickstart.yaml': manifest } },
  });
  await core.createNamespacedPod({
    namespace: 'pods',
    body: {
      metadata: { name: 'validate', namespace: 'pods' },
      spec: {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'conclab',
            image: 'conclab/conclab:0.1.0',
            args: ['validate', '/manifests/quickstart.yaml'],
            volumeMounts: [{ name: 'manifests', mountPath: '/manifests', readOnly: true }],
          },
        ],
        volumes: [{ name: 'manifests', configMap: { name: 'manifests' } }],
      },
    },
  });
  const pod = await waitFor('validate Succeeded', async () => {
    const p = await readPod('validate');
    return p?.status?.phase === 'Succeeded' || p?.status?.phase === 'Failed' ? p : undefined;
  });
  const cs = pod.status?.containerStatuses?.[0];
  t.is(pod.status?.phase, 'Succeeded', cs?.state?.terminated?.message);
  t.is(cs?.state?.terminated?.reason, 'Completed');
  const log = readFileSync(node().logPath('pods', 'validate', 'conclab') ?? '', 'utf8');
  t.regex(log, /quickstart\.yaml: valid \(quickstart\)/);
});

test.serial('a pod with an image it cannot run goes to Failed, naming the image', async (t) => {
  await core.createNamespacedPod({
    namespace: 'pods',
    body: {
      metadata: { name: 'k6', namespace: 'pods' },
      spec: { restartPolicy: 'Never', containers: [{ name: 'k6', image: 'example.invalid/someone/else:1' }] },
    },
  });
  const pod = await waitFor('k6 Failed', async () => {
    const p = await readPod('k6');
    return p?.status?.phase === 'Failed' ? p : undefined;
  });
  t.is(pod.status?.reason, 'ImageNotRunnable');
  t.regex(pod.status?.message ?? '', /someone\/else:1 is not one this test node agent can run/);
  t.is(pod.status?.containerStatuses?.[0]?.state?.waiting?.reason, 'ErrImageNeverPull');
});

test.serial(
  'when the test process dies by SIGKILL, the watchdog kills its containers and removes their cgroups',
  async (t) => {
    // A pod already bound to another node, run by an agent in a child process.
    const body = workloadPod('orphan');
    if (body.spec) body.spec.nodeName = 'orphan-node';
    await core.createNamespacedPod({ namespace: 'pods', body });
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'fixtures', 'agent-child.ts'), cp!.kubeconfigPath, 'orphan-node'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    t.teardown(() => child.kill('SIGKILL'));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
      });
      child.once('exit', (code) => reject(new Error(`agent child exited early (${code})`)));
      setTimeout(() => reject(new Error('agent child did not report a running pod in 60 s')), 60_000).unref();
    });
    const { pids, groups, dir } = JSON.parse(line) as { pids: number[]; groups: string[]; dir: string };
    t.true(pids.length > 0 && groups.length > 0);
    child.kill('SIGKILL');
    const layout = readCgroupLayout();
    if (layout.version === 'none') throw new Error(layout.reason);
    const groupDirs = groups.flatMap((g) => distinctDirs(groupFromName(layout, g)));
    t.true(
      groupDirs.every((d) => existsSync(d)),
      'the cgroups exist before the kill',
    );
    await waitFor(
      'orphans cleaned up',
      async () => {
        const alive = pids.filter((pid) => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        });
        return alive.length === 0 && groupDirs.every((d) => !existsSync(d)) && !existsSync(dir);
      },
      15_000,
    );
    t.pass();
    await core.deleteNamespacedPod({ namespace: 'pods', name: 'orphan', gracePeriodSeconds: 0 });
  },
);

test.serial('stop() leaves no container process and no cgroup behind', async (t) => {
  await core.createNamespacedPod({ namespace: 'pods', body: workloadPod('last') });
  await waitFor('last running', async () => (await readPod('last'))?.status?.phase === 'Running');
  await waitFor('pids', async () => node().pids().length > 0);
  const pids = node().pids();
  const groups = node().liveGroups();
  t.true(groups.length > 0);
  await node().stop();
  for (const pid of pids) t.throws(() => process.kill(pid, 0), undefined, `pid ${pid} is gone`);
  t.deepEqual(node().liveGroups(), []);
});
