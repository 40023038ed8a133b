// CONCLAB_OWN_CGROUP=true: /stats reports the counters and limits of the cgroup the supervisor
// runs in. v1 for real (this machine's hierarchy is v1; we are root): the test creates a group,
// starts the workload inside it, loads it, and reads back what it wrote. v2 on a FAKE cgroupfs
// tree (CONCLAB_CGROUP_ROOT), since no v2 controllers are enabled here.
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
import type { SupervisorStats } from '../../../operator/contracts/supervisor.ts';
import { burst, MAIN, sleep, startWorkloadProcess, type Workload } from './harness.ts';

const V1_ROOT = '/sys/fs/cgroup';
const CONTROLLERS = ['cpu', 'cpuacct', 'memory'] as const;
const QUOTA_US = 50_000;
const PERIOD_US = 100_000;
const MEMORY_BYTES = 1024 * 1024 * 1024;

async function stats(workload: Workload): Promise<SupervisorStats> {
  return (await workload.statsJson()) as unknown as SupervisorStats;
}

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

const v1Available = CONTROLLERS.every((c) => existsSync(path.join(V1_ROOT, c, 'cgroup.procs')));

(v1Available ? test : test.skip)(
  'v1: a workload started inside a fresh group reports its CPU rising under load and the limits the test wrote',
  async (t) => {
    const name = `conclab-test-own-${process.pid}-${randomBytes(3).toString('hex')}`;
    const dirs = CONTROLLERS.map((c) => path.join(V1_ROOT, c, name));
    for (const dir of dirs) mkdirSync(dir);
    t.teardown(() => removeGroup(dirs));
    writeFileSync(path.join(V1_ROOT, 'cpu', name, 'cpu.cfs_period_us'), String(PERIOD_US));
    writeFileSync(path.join(V1_ROOT, 'cpu', name, 'cpu.cfs_quota_us'), String(QUOTA_US));
    writeFileSync(path.join(V1_ROOT, 'memory', name, 'memory.limit_in_bytes'), String(MEMORY_BYTES));
    // The shell joins the group, then execs the workload: same pid, so every child is inside too.
    const join = dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
    const workload = await startWorkloadProcess(
      t,
      ['/bin/sh', '-c', `${join} && exec "$0" "$@"`, process.execPath, MAIN],
      { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '2', CONCLAB_OWN_CGROUP: 'true', CONCLAB_CPU_MILLIS: '2' },
      { readyTimeoutMillis: 60_000 },
    );
    t.teardown(async () => {
      workload.killGroup();
      await workload.exited;
    });
    t.true(readFileSync(path.join(dirs[0]!, 'cgroup.procs'), 'utf8').includes(String(workload.pid)));
    const before = await stats(workload);
    const usage = before.usage!;
    t.regex(
      usage.source,
      new RegExp(`^cgroup v1 cpuacct\\.usage, cpu\\.stat, memory\\.max_usage_in_bytes at .*${name}`),
    );
    t.regex(usage.cgroupId!, new RegExp(`/sys/fs/cgroup/cpuacct/${name}#\\d+`));
    t.deepEqual(
      { cpuCores: usage.limits!.cpuCores, memoryBytes: usage.limits!.memoryBytes },
      { cpuCores: QUOTA_US / PERIOD_US, memoryBytes: MEMORY_BYTES },
    );
    t.regex(
      usage.limits!.source,
      /cpu\.cfs_quota_us=50000 cpu\.cfs_period_us=100000 memory\.limit_in_bytes=1073741824/,
    );
    t.true(usage.cpuSeconds > 0.05, `start-up and calibration used ${usage.cpuSeconds} s`);
    t.true(usage.peakMemoryBytes > 20e6);
    t.is(usage.oomKills, 0);
    t.is(before.host.cgroupVersion, 'v1');

    // 2 ms of CPU per request from 6 lanes: more than the 0.5-core quota gives on a quiet machine.
    const results = await burst(workload.ready.port, 300, 6, 20_000);
    t.is(results.filter((r) => !(r instanceof Error) && r.status === 200).length, 300);
    const after = (await stats(workload)).usage!;
    t.true(
      after.cpuSeconds >= before.usage!.cpuSeconds + 0.3,
      `${usage.cpuSeconds} -> ${after.cpuSeconds} s for 0.6 s of work`,
    );
    // Cumulative counters never go back. Whether periods were throttled depends on how much CPU
    // the machine's other work left the group (a starved group never reaches its quota).
    t.true(after.throttledPeriods >= usage.throttledPeriods && after.throttledSeconds >= usage.throttledSeconds);
    t.log(`throttled periods ${usage.throttledPeriods} -> ${after.throttledPeriods}`);
    t.is(after.cgroupId, usage.cgroupId, 'the same group');
  },
);

function fakeV2Tree(): string {
  // A FAKE cgroup v2 tree: the files a unified hierarchy has, with values the test chose.
  const root = mkdtempSync(path.join(os.tmpdir(), 'conclab-FAKE-cgroup2-'));
  const files: Record<string, string> = {
    'cgroup.controllers': 'cpuset cpu io memory pids\n',
    'cpu.stat':
      'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 12\nthrottled_usec 750000\n',
    'memory.peak': '123456789\n',
    'memory.current': '100000000\n',
    'memory.events': 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n',
    'cpu.max': '150000 100000\n',
    'memory.max': '268435456\n',
  };
  for (const [file, content] of Object.entries(files)) writeFileSync(path.join(root, file), content);
  return root;
}

test('v2 (FAKE cgroupfs tree): counters, OOM kills and limits come from the unified files, read at each call', async (t) => {
  const root = fakeV2Tree();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const workload = await startWorkloadProcess(t, [process.execPath, MAIN], {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    CONCLAB_OWN_CGROUP: 'true',
    CONCLAB_CGROUP_ROOT: root,
  });
  const first = await stats(workload);
  t.is(first.host.cgroupVersion, 'v2');
  t.like(first.usage, {
    source: `cgroup v2 cpu.stat, memory.peak, memory.events at ${root}`,
    cpuSeconds: 1.5,
    throttledPeriods: 12,
    throttledSeconds: 0.75,
    peakMemoryBytes: 123456789,
    oomKills: 2,
  });
  t.like(first.usage!.limits, { cpuCores: 1.5, memoryBytes: 268435456 });
  t.regex(first.usage!.cgroupId!, new RegExp(`^${root}#\\d+$`));

  writeFileSync(
    path.join(root, 'cpu.stat'),
    'usage_usec 4000000\nnr_periods 50\nnr_throttled 20\nthrottled_usec 900000\n',
  );
  writeFileSync(path.join(root, 'cpu.max'), 'max 100000\n');
  writeFileSync(path.join(root, 'memory.max'), 'max\n');
  unlinkSync(path.join(root, 'memory.peak'));
  const second = (await stats(workload)).usage!;
  t.like(second, { cpuSeconds: 4, throttledPeriods: 20, peakMemoryBytes: 100000000 });
  t.regex(second.source, /memory\.current/, 'an older kernel without memory.peak');
  t.like(second.limits, { cpuCores: 0, memoryBytes: 0 });
});

test('CONCLAB_OWN_CGROUP=true with no readable cgroup falls back to the process tree and says why', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'conclab-FAKE-empty-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const workload = await startWorkloadProcess(t, [process.execPath, MAIN], {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    CONCLAB_OWN_CGROUP: 'true',
    CONCLAB_CGROUP_ROOT: root,
  });
  const s = await stats(workload);
  t.regex(
    s.usage!.source,
    /^process tree \(\/proc; approximate\): CONCLAB_OWN_CGROUP=true but no cgroup v2 hierarchy at /,
  );
  t.is(s.host.cgroupVersion, 'none');
});
