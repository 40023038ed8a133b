// CONCLAB_OWN_CGROUP=true: the Python supervisor's /stats reports the counters and limits of the
// cgroup it runs in. v1 for real (this machine's hierarchy is v1; we are root): the test creates a
// group, starts the workload inside it, loads it, and reads back what it wrote. v2, and a v1
// container's view (its own group mounted at the hierarchy root), on FAKE cgroupfs trees named by
// CONCLAB_CGROUP_ROOT.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { burst, contractStats, MAIN, PYTHON, sleep, startPython, startWorkloadProcess } from './harness.ts';

const V1_ROOT = '/sys/fs/cgroup';
const CONTROLLERS = ['cpu', 'cpuacct', 'memory'] as const;
const QUOTA_US = 50_000;
const PERIOD_US = 100_000;
const MEMORY_BYTES = 1024 * 1024 * 1024;

/** Removes the group once no task is left in it (bounded); returns whether it is gone. */
async function removeGroup(dirs: string[]): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  for (const dir of dirs) {
    while (existsSync(dir)) {
      try {
        if (readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim() === '') rmdirSync(dir);
      } catch {
        // tasks still leaving
      }
      if (Date.now() > deadline) return false;
      if (existsSync(dir)) await sleep(50);
    }
  }
  return true;
}

const v1Available =
  !existsSync(path.join(V1_ROOT, 'cgroup.controllers')) &&
  CONTROLLERS.every((c) => existsSync(path.join(V1_ROOT, c, 'cgroup.procs')));

(v1Available ? test : test.skip)(
  'v1: a process-model workload started inside a fresh group reports the CPU time and throttling of the group as the kernel counts them, and the limits written',
  async (t) => {
    const name = `conclab-test-pyown-${process.pid}-${randomBytes(3).toString('hex')}`;
    const dirs = CONTROLLERS.map((c) => path.join(V1_ROOT, c, name));
    for (const dir of dirs) mkdirSync(dir);
    t.teardown(() => removeGroup(dirs));
    writeFileSync(path.join(V1_ROOT, 'cpu', name, 'cpu.cfs_period_us'), String(PERIOD_US));
    writeFileSync(path.join(V1_ROOT, 'cpu', name, 'cpu.cfs_quota_us'), String(QUOTA_US));
    writeFileSync(path.join(V1_ROOT, 'memory', name, 'memory.limit_in_bytes'), String(MEMORY_BYTES));
    // The shell joins the group, then execs the workload: same pid, so every forked worker is inside too.
    const join = dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
    const workload = await startWorkloadProcess(
      t,
      ['/bin/sh', '-c', `${join} && exec "$0" "$@"`, PYTHON, MAIN],
      { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2', CONCLAB_OWN_CGROUP: 'true', CONCLAB_CPU_MILLIS: '20' },
      { readyTimeoutMillis: 60_000 },
    );
    t.teardown(async () => {
      workload.killGroup();
      await workload.exited;
    });
    const before = await contractStats(workload);
    const inGroup = readFileSync(path.join(dirs[0]!, 'cgroup.procs'), 'utf8').split('\n').map(Number);
    t.true(
      [workload.pid, ...before.workers.map((w) => w.pid)].every((pid) => inGroup.includes(pid)),
      'supervisor and forked workers are in the group',
    );
    const usage = before.usage!;
    t.is(
      usage.source,
      `cgroup v1 cpuacct.usage, cpu.stat, memory.max_usage_in_bytes at ${path.join(V1_ROOT, 'cpuacct', name)}, ${path.join(V1_ROOT, 'cpu', name)}, ${path.join(V1_ROOT, 'memory', name)}`,
    );
    t.regex(usage.cgroupId!, new RegExp(`^/sys/fs/cgroup/cpu/${name}#\\d+ /sys/fs/cgroup/cpuacct/${name}#\\d+`));
    t.deepEqual(usage.limits, {
      cpuCores: QUOTA_US / PERIOD_US,
      memoryBytes: MEMORY_BYTES,
      source: `cgroup v1: cpu.cfs_quota_us=${QUOTA_US} cpu.cfs_period_us=${PERIOD_US} memory.limit_in_bytes=${MEMORY_BYTES}`,
    });
    t.true(usage.cpuSeconds > 0.05, `start-up and calibration used ${usage.cpuSeconds} s`);
    t.true(usage.peakMemoryBytes > 5e6, `peak ${usage.peakMemoryBytes}`);
    t.is(usage.oomKills, 0);
    t.is(before.host.cgroupVersion, 'v1');

    // 20 ms of CPU per request from 6 lanes keeps both worker processes busy: up to two cores of
    // demand against the 0.5-core quota. Whether the kernel throttles depends on how much CPU a
    // loaded shared machine gives the group, so the figures are checked against the kernel's own
    // files, read just before and just after the answer.
    const results = await burst(workload.ready.port, 60, 6, 30_000);
    t.is(results.filter((r) => !(r instanceof Error) && r.status === 200).length, 60);
    const kernel = () => ({
      cpuSeconds: Number(readFileSync(path.join(V1_ROOT, 'cpuacct', name, 'cpuacct.usage'), 'utf8')) / 1e9,
      throttled: Number(
        /^nr_throttled (\d+)$/m.exec(readFileSync(path.join(V1_ROOT, 'cpu', name, 'cpu.stat'), 'utf8'))![1],
      ),
    });
    const low = kernel();
    const after = (await contractStats(workload)).usage!;
    const high = kernel();
    t.true(
      after.cpuSeconds >= usage.cpuSeconds + 0.8,
      `${usage.cpuSeconds} -> ${after.cpuSeconds} s for 1.2 s of work`,
    );
    t.true(after.cpuSeconds >= low.cpuSeconds && after.cpuSeconds <= high.cpuSeconds, 'cpuacct.usage of the group');
    t.true(
      after.throttledPeriods >= low.throttled && after.throttledPeriods <= high.throttled,
      'nr_throttled of the group',
    );
    t.true(after.throttledPeriods >= usage.throttledPeriods && after.throttledSeconds >= usage.throttledSeconds);
    t.is(after.cgroupId, usage.cgroupId, 'the same group');
  },
);

function fakeTree(prefix: string, files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }
  return root;
}

test('v2 (FAKE cgroupfs tree): counters, OOM kills and limits come from the unified files, read at each call', async (t) => {
  // A FAKE cgroup v2 tree: the files a unified hierarchy has, with values the test chose. This
  // process's own v2 path is "/", so the root itself is the group.
  const root = fakeTree('conclab-FAKE-cgroup2-', {
    'cgroup.controllers': 'cpuset cpu io memory pids\n',
    'cpu.stat':
      'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 12\nthrottled_usec 750000\n',
    'memory.peak': '123456789\n',
    'memory.current': '100000000\n',
    'memory.events': 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n',
    'cpu.max': '150000 100000\n',
    'memory.max': '268435456\n',
  });
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const workload = await startPython(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    CONCLAB_OWN_CGROUP: 'true',
    CONCLAB_CGROUP_ROOT: root,
  });
  const first = await contractStats(workload);
  t.is(first.host.cgroupVersion, 'v2');
  t.like(first.usage, {
    source: `cgroup v2 cpu.stat, memory.peak, memory.events at ${root}`,
    cpuSeconds: 1.5,
    throttledPeriods: 12,
    throttledSeconds: 0.75,
    peakMemoryBytes: 123456789,
    oomKills: 2,
  });
  t.deepEqual(first.usage!.limits, {
    cpuCores: 1.5,
    memoryBytes: 268435456,
    source: 'cgroup v2: cpu.max="150000 100000" memory.max=268435456',
  });
  t.regex(first.usage!.cgroupId!, new RegExp(`^${root}#\\d+$`));

  writeFileSync(
    path.join(root, 'cpu.stat'),
    'usage_usec 4000000\nnr_periods 50\nnr_throttled 20\nthrottled_usec 900000\n',
  );
  writeFileSync(path.join(root, 'cpu.max'), 'max 100000\n');
  writeFileSync(path.join(root, 'memory.max'), 'max\n');
  unlinkSync(path.join(root, 'memory.peak'));
  const second = (await contractStats(workload)).usage!;
  t.like(second, { cpuSeconds: 4, throttledPeriods: 20, peakMemoryBytes: 100000000 });
  t.regex(second.source, /memory\.current \(no memory\.peak: a lower bound\)/, 'an older kernel without memory.peak');
  t.like(second.limits, { cpuCores: 0, memoryBytes: 0 });
});

test("v1 inside a container (FAKE tree): the group named in /proc/self/cgroup is not there, so each hierarchy's root is read", async (t) => {
  // What a container on a v1 host sees: its own group bind-mounted at /sys/fs/cgroup/<controller>,
  // while /proc/self/cgroup still names the host path (here: this test process's real paths).
  const root = fakeTree('conclab-FAKE-cgroup1-', {
    'cpuacct/cpuacct.usage': '2500000000\n',
    'cpu/cpu.stat': 'nr_periods 100\nnr_throttled 7\nthrottled_time 350000000\n',
    'cpu/cpu.cfs_quota_us': '-1\n',
    'cpu/cpu.cfs_period_us': '100000\n',
    'memory/memory.max_usage_in_bytes': '987654321\n',
    'memory/memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n',
    'memory/memory.limit_in_bytes': '9223372036854771712\n',
  });
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const workload = await startPython(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '1',
    CONCLAB_OWN_CGROUP: 'true',
    CONCLAB_CGROUP_ROOT: root,
  });
  const s = await contractStats(workload);
  t.is(s.host.cgroupVersion, 'v1');
  t.like(s.usage, {
    source: `cgroup v1 cpuacct.usage, cpu.stat, memory.max_usage_in_bytes at ${root}/cpuacct, ${root}/cpu, ${root}/memory`,
    cpuSeconds: 2.5,
    throttledPeriods: 7,
    throttledSeconds: 0.35,
    peakMemoryBytes: 987654321,
    oomKills: 1,
  });
  t.like(s.usage!.limits, { cpuCores: 0, memoryBytes: 0 }, 'no quota, and the huge v1 number means no limit');
});

test('CONCLAB_OWN_CGROUP=true with no readable cgroup falls back to the process tree and says why', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'conclab-FAKE-empty-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const workload = await startPython(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    CONCLAB_OWN_CGROUP: 'true',
    CONCLAB_CGROUP_ROOT: root,
  });
  const s = await contractStats(workload);
  t.regex(
    s.usage!.source,
    new RegExp(
      `^process tree \\(/proc; approximate\\): CONCLAB_OWN_CGROUP=true but the cgroup cannot be read: no cgroup hierarchy is mounted at ${root}`,
    ),
  );
  t.is(s.usage!.cgroupId, undefined);
  t.is(s.host.cgroupVersion, 'none');
});
