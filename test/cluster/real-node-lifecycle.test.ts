// The real test node leaves the host as it found it: after stop(), after its owner is SIGKILLed
// (the slot's guard sweeps), and after owner and guard both die (the next start sweeps). Each
// test starts a node of its own in a free slot (the shared cluster may be running in another)
// with only the pause image, and runs a pod on it so that there are shims, mounts, cgroups,
// veths and libcni cache entries to clean up.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import {
  cgroupDirs,
  cgroupMount,
  cniCacheDir,
  hostSysctls,
  mountsUnder,
  processesInNamespaces,
  processStartTime,
  runDir,
  shimsOf,
  slotLockPath,
  slotStatePath,
} from './host-state.ts';
import { type RealClusterInfo, startRealCluster } from './real-cluster.ts';

interface HostSnapshot {
  readonly links: string[];
  readonly iptables: string;
  readonly sysctls: Record<string, string>;
  readonly rootKubepods: string[];
}

/** The host state a node could change, minus what another slot (the shared cluster) owns. */
function snapshotHost(): HostSnapshot {
  const links = (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[])
    .map((link) => link.ifname)
    .filter((name) => !name.startsWith('conclab-n'))
    .sort();
  return {
    links,
    iptables: execFileSync('iptables-save', [], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => !line.startsWith('#'))
      .join('\n'),
    sysctls: hostSysctls(),
    rootKubepods: readdirSync(cgroupMount).filter((h) => existsSync(join(cgroupMount, h, 'kubepods'))),
  };
}

const pausePod = (image: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'sleeper', namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'pause',
          image,
          imagePullPolicy: 'Never',
          resources: { requests: { cpu: '50m', memory: '16Mi' }, limits: { cpu: '50m', memory: '16Mi' } },
        },
      ],
    },
  });

interface Running {
  readonly info: RealClusterInfo;
  readonly processes: { name: string; pid: number }[];
  readonly pids: number[];
  readonly namespaceIds: string[];
}

/** What a running node holds on the host, asserted present (so "absent later" means something). */
function observeRunning(t: ExecutionContext, info: RealClusterInfo): Running {
  const state = JSON.parse(readFileSync(slotStatePath(runDir(), info.slot), 'utf8')) as {
    processes: { name: string; pid: number; start: string }[];
    namespaceIds: string[];
  };
  const pids = state.processes.map((p) => p.pid);
  t.true(
    state.processes.every((p) => processStartTime(p.pid) === p.start),
    'every component runs',
  );
  t.true(shimsOf(info.containerdSocket).length > 0, 'a containerd shim runs');
  t.true(processesInNamespaces(state.namespaceIds).length >= pids.length, 'processes in the node namespaces');
  t.true(mountsUnder(info.dir).length > 0, 'namespace files mounted under the temp dir');
  t.true(
    cgroupDirs(info.cgroupRoot).some((dir) => dir.endsWith('/kubepods')),
    'kubepods cgroup under the node root',
  );
  t.true(existsSync(`/sys/class/net/conclab-n${info.slot}`), 'host end of the veth');
  const results = existsSync(join(cniCacheDir, 'results')) ? readdirSync(join(cniCacheDir, 'results')) : [];
  t.true(
    results.some((entry) => entry.startsWith(`${info.nodeName}-`)),
    'libcni result of the pod',
  );
  return { info, processes: state.processes, pids, namespaceIds: state.namespaceIds };
}

function assertClean(t: ExecutionContext, running: Running, before: HostSnapshot): void {
  const { info } = running;
  t.deepEqual(
    running.pids.filter((pid) => processStartTime(pid) !== undefined),
    [],
    'component processes left',
  );
  t.deepEqual(shimsOf(info.containerdSocket), [], 'containerd shims left');
  t.deepEqual(processesInNamespaces(running.namespaceIds), [], 'processes left in the node namespaces');
  t.deepEqual(mountsUnder(info.dir), [], 'mounts left under the temp dir');
  t.false(existsSync(info.dir), 'temp dir left');
  t.deepEqual(cgroupDirs(info.cgroupRoot), [], 'cgroups left');
  t.false(existsSync(`/sys/class/net/conclab-n${info.slot}`), 'veth left');
  const results = existsSync(join(cniCacheDir, 'results')) ? readdirSync(join(cniCacheDir, 'results')) : [];
  t.deepEqual(
    results.filter((entry) => entry.startsWith(`${info.nodeName}-`)),
    [],
    'libcni cache entries left',
  );
  t.false(existsSync(slotStatePath(runDir(), info.slot)), 'state file left');
  t.true(lockFree(info.slot), 'slot lock still held');
  t.deepEqual(snapshotHost(), before, 'host links, iptables, sysctls or root kubepods cgroups changed');
}

function lockFree(slot: number): boolean {
  return spawnSync('flock', ['-n', '-E', '99', slotLockPath(runDir(), slot), 'true']).status === 0;
}

async function waitFor(what: string, timeoutMillis: number, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMillis} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** A child process that starts a node, runs the pause pod, prints the node's info and idles. */
function startOwnerProcess(): { child: ChildProcess; info: Promise<RealClusterInfo> } {
  const module = pathToFileURL(join(import.meta.dirname, 'real-cluster.ts')).href;
  const script = `
import { startRealCluster } from ${JSON.stringify(module)};
const cluster = await startRealCluster({ images: ['pause'], preferHighSlots: true });
const applied = await cluster.kubectl(['apply', '-f', '-'], { input: process.env.POD });
if (applied.code !== 0) throw new Error(applied.stderr);
const ready = await cluster.kubectl(['wait', '--for=condition=Ready', 'pod/sleeper', '--timeout=90s']);
if (ready.code !== 0) throw new Error(ready.stderr);
const { stop, kubectl, helm, kubeConfig, createNamespace, nodeExec, binaries, ...info } = cluster;
console.log(JSON.stringify(info));
setInterval(() => {}, 1000);
`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, POD: pausePod('docker.io/conclab/test-pause:1') },
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const info = new Promise<RealClusterInfo>((resolve, reject) => {
    const timer = setInterval(() => {
      if (out.includes('\n')) {
        clearInterval(timer);
        resolve(JSON.parse(out) as RealClusterInfo);
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`owner process exited ${child.exitCode}: ${err}`));
      }
    }, 100);
  });
  return { child, info };
}

test.serial(
  'stop() leaves no process, shim, mount, cgroup, link, libcni entry, temp dir or sysctl change',
  async (t) => {
    t.timeout(5 * 60_000, 'starting and stopping a real node');
    const before = snapshotHost();
    const cluster = await startRealCluster({ images: ['pause'], preferHighSlots: true });
    t.teardown(() => cluster.stop());
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: pausePod(cluster.images.pause) });
    t.is(applied.code, 0, applied.stderr);
    const ready = await cluster.kubectl(['wait', '--for=condition=Ready', 'pod/sleeper', '--timeout=90s']);
    t.is(ready.code, 0, ready.stderr);
    const running = observeRunning(t, cluster);
    // The node's mount namespace holds the container mounts (the host's holds none of them).
    const containerd = running.processes.find((p) => p.name === 'containerd')?.pid ?? 0;
    const nodeMounts = readFileSync(`/proc/${containerd}/mountinfo`, 'utf8')
      .split('\n')
      .filter((line) => line.includes(cluster.dir));
    t.true(nodeMounts.length > 3, 'container mounts inside the node mount namespace');
    await cluster.stop();
    assertClean(t, running, before);
    await cluster.stop(); // idempotent
  },
);

test.serial('when the owner is SIGKILLed, the slot guard sweeps everything within seconds', async (t) => {
  t.timeout(5 * 60_000, 'starting and stopping a real node');
  const before = snapshotHost();
  const { child, info } = startOwnerProcess();
  t.teardown(() => child.kill('SIGKILL'));
  const running = observeRunning(t, await info);
  child.kill('SIGKILL');
  // The guard removes the state file at the end of its sweep and releases the lock as it exits.
  await waitFor(
    'the guard to sweep the slot and exit',
    60_000,
    () => !existsSync(slotStatePath(runDir(), running.info.slot)) && lockFree(running.info.slot),
  );
  assertClean(t, running, before);
});

test.serial('when owner and guard both die, the next start sweeps what they left', async (t) => {
  t.timeout(5 * 60_000, 'starting and stopping a real node');
  const before = snapshotHost();
  const { child, info } = startOwnerProcess();
  t.teardown(() => child.kill('SIGKILL'));
  const running = observeRunning(t, await info);
  process.kill(-running.info.guardPid, 'SIGKILL');
  child.kill('SIGKILL');
  await waitFor('owner and guard to die', 10_000, () => child.exitCode !== null || child.signalCode !== null);
  await sleep(2_000);
  t.true(existsSync(slotStatePath(runDir(), running.info.slot)), 'the dead run left its state file');
  t.true(
    running.pids.some((pid) => processStartTime(pid) !== undefined),
    'the dead run left its components running',
  );
  const next = await startRealCluster({ images: ['pause'], preferHighSlots: true });
  t.teardown(() => next.stop());
  await next.stop();
  assertClean(t, running, before);
});
