import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  createGroup,
  groupName,
  hasSwapLimit,
  isStaleGroup,
  parseGroupOwner,
  procsFiles,
  readGroupLimits,
  readGroupUsage,
  removeGroup,
  writeLimits,
} from '../../../operator/runtime/local/cgroup-group.ts';
import { limitWrites, parseV1Limits, parseV2Limits } from '../../../operator/runtime/local/cgroup-limits.ts';
import { parseKeyedFile, parseV1Usage, parseV2Usage } from '../../../operator/runtime/local/cgroup-usage.ts';

const MiB = 1024 * 1024;

test('v1 plan: period before quota, memory before memsw, quota over a 100 ms period', (t) => {
  t.deepEqual(limitWrites('v1', { cpuCores: 0.5, memoryBytes: 256 * MiB }, { swapLimit: true }), [
    { controller: 'cpu', file: 'cpu.cfs_period_us', value: '100000' },
    { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '50000' },
    { controller: 'memory', file: 'memory.limit_in_bytes', value: String(256 * MiB) },
    { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(256 * MiB) },
  ]);
  t.is(limitWrites('v1', { cpuCores: 2, memoryBytes: MiB }, { swapLimit: false }).length, 3, 'no memsw file, no write');
});

test('v2 plan: cpu.max "quota period", memory.max, no swap', (t) => {
  t.deepEqual(limitWrites('v2', { cpuCores: 1.5, memoryBytes: 512 * MiB }, { swapLimit: true }), [
    { controller: 'cpu', file: 'cpu.max', value: '150000 100000' },
    { controller: 'memory', file: 'memory.max', value: String(512 * MiB) },
    { controller: 'memory', file: 'memory.swap.max', value: '0' },
  ]);
});

test('tiny CPU budgets are raised to the kernel minimum quota of 1 ms', (t) => {
  const [, quota] = limitWrites('v1', { cpuCores: 0.001, memoryBytes: MiB }, { swapLimit: false });
  t.is(quota?.value, '1000');
});

test('bad budgets are refused with the field and an example', (t) => {
  t.throws(() => limitWrites('v1', { cpuCores: 0, memoryBytes: MiB }, { swapLimit: false }), {
    message: /resources.cpu must be a positive number of cores, got 0; write e.g. "500m"/,
  });
  t.throws(() => limitWrites('v2', { cpuCores: 1, memoryBytes: 1000 }, { swapLimit: false }), {
    message: /resources.memory must be a whole number of bytes of at least 1Mi/,
  });
});

test('v1 readback: quota/period in cores, unset limits as Infinity', (t) => {
  t.like(parseV1Limits({ cfsQuotaUs: '50000\n', cfsPeriodUs: '100000\n', memoryLimitInBytes: '268435456\n' }), {
    cpuCores: 0.5,
    memoryBytes: 268435456,
    source: 'cgroup v1: cpu.cfs_quota_us=50000 cpu.cfs_period_us=100000 memory.limit_in_bytes=268435456',
  });
  t.like(parseV1Limits({ cfsQuotaUs: '-1', cfsPeriodUs: '100000', memoryLimitInBytes: '9223372036854771712' }), {
    cpuCores: Number.POSITIVE_INFINITY,
    memoryBytes: Number.POSITIVE_INFINITY,
  });
  t.throws(() => parseV1Limits({ cfsQuotaUs: 'x', cfsPeriodUs: '1', memoryLimitInBytes: '1' }), {
    message: /cannot parse cpu.cfs_quota_us/,
  });
});

test('v2 readback: "max" is no limit', (t) => {
  t.like(parseV2Limits({ cpuMax: '50000 100000\n', memoryMax: '268435456\n' }), {
    cpuCores: 0.5,
    memoryBytes: 268435456,
  });
  t.like(parseV2Limits({ cpuMax: 'max 100000', memoryMax: 'max' }), {
    cpuCores: Number.POSITIVE_INFINITY,
    memoryBytes: Number.POSITIVE_INFINITY,
  });
});

test('v1 usage: nanoseconds to seconds, oom_kill from memory.oom_control', (t) => {
  const u = parseV1Usage({
    cpuacctUsage: '2500000000\n',
    cpuStat: 'nr_periods 30\nnr_throttled 28\nthrottled_time 1190000000\nnr_bursts 0\n',
    memoryMaxUsageInBytes: '1048576\n',
    memoryOomControl: 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
  });
  t.deepEqual(u, {
    cpuSeconds: 2.5,
    periods: 30,
    throttledPeriods: 28,
    throttledSeconds: 1.19,
    peakMemoryBytes: 1048576,
    oomKills: 2,
  });
});

test('v2 usage: microseconds to seconds, oom_kill from memory.events', (t) => {
  const u = parseV2Usage({
    cpuStat:
      'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 20\nnr_throttled 5\nthrottled_usec 250000\n',
    memoryPeak: '4096\n',
    memoryEvents: 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n',
  });
  t.deepEqual(u, {
    cpuSeconds: 1.5,
    periods: 20,
    throttledPeriods: 5,
    throttledSeconds: 0.25,
    peakMemoryBytes: 4096,
    oomKills: 1,
  });
  t.throws(() => parseV2Usage({ cpuStat: 'nr_periods 1', memoryPeak: '1', memoryEvents: '' }), {
    message: /no usage_usec/,
  });
});

test('keyed files skip blank and malformed lines', (t) => {
  t.deepEqual(
    [...parseKeyedFile('a 1\n\nb\nc x\nd 4\n')],
    [
      ['a', 1],
      ['d', 4],
    ],
  );
});

test('group names carry owner pid and start time, runtime, experiment, variant and trial, and are safe directory names', (t) => {
  const name = groupName({
    ownerPid: 42,
    ownerStartTicks: 1234567,
    runtimeId: 'a1b2c3',
    experiment: 'My Experiment/../x',
    variant: 'threads',
    trial: 3,
    suffix: '0ff',
  });
  t.is(name, 'conclab-42.1234567-a1b2c3-my-experiment-x-threads-t3-0ff');
  t.deepEqual(parseGroupOwner(name), {
    ownerPid: 42,
    ownerStartTicks: 1234567,
    runtimeId: 'a1b2c3',
    rest: 'my-experiment-x-threads-t3-0ff',
  });
  // Names without the start time (earlier versions, the test node agent) still parse.
  t.like(parseGroupOwner('conclab-42-a1b2c3-e-v-t1-0'), {
    ownerPid: 42,
    ownerStartTicks: undefined,
    runtimeId: 'a1b2c3',
  });
  t.is(parseGroupOwner('conclab-quickstart'), undefined, 'not ours: never swept');
  t.true(
    groupName({ ownerPid: 1, runtimeId: 'f', experiment: 'e'.repeat(300), variant: 'v', trial: 1, suffix: 's' })
      .length < 200,
  );
});

test('a group is stale exactly when no live process is its owner: same pid and, where recorded, same start time', (t) => {
  const running = new Map([[42, 1000]]);
  const alive = (pid: number, ticks: number | undefined) =>
    running.has(pid) && (ticks === undefined || running.get(pid) === ticks);
  t.false(isStaleGroup('conclab-42.1000-abc-e-v-t1-0', alive), 'the owner runs');
  t.true(isStaleGroup('conclab-42.999-abc-e-v-t1-0', alive), 'pid 42 was reused by a later process');
  t.true(isStaleGroup('conclab-43.1000-abc-e-v-t1-0', alive), 'no such pid');
  t.false(isStaleGroup('conclab-42-abc-e-v-t1-0', alive), 'legacy name: the pid decides');
  t.true(isStaleGroup('conclab-43-abc-e-v-t1-0', alive));
  t.false(
    isStaleGroup('conclab-other', () => false),
    'not a conclab name: never stale',
  );
});

// v2 cannot run for real on this v1 host: a FAKE cgroupfs (a directory tree the test creates,
// with the files the kernel would provide) checks the v2 write plan, readback and usage paths.
test('FAKE cgroupfs v2: the group is created, limits written and read back, usage read', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'conclab-fake-cgroupfs-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const layout = { version: 'v2' as const, mountPoint: root, selfDir: root, controllers: ['cpu', 'memory'] };
  const group = await createGroup(layout, 'conclab-1-abc-fake-v-t1-0');
  t.is(group.dirs.cpu, path.join(root, 'conclab-1-abc-fake-v-t1-0'));
  t.is(group.dirs.memory, group.dirs.cpu);
  t.deepEqual(procsFiles(group), [path.join(group.dirs.cpu, 'cgroup.procs')]);
  // What the kernel creates in a new v2 group.
  writeFileSync(path.join(group.dirs.cpu, 'memory.swap.max'), 'max\n');
  t.true(await hasSwapLimit(group));
  await writeLimits(group, limitWrites('v2', { cpuCores: 0.5, memoryBytes: 256 * MiB }, { swapLimit: true }));
  t.is(readFileSync(path.join(group.dirs.cpu, 'cpu.max'), 'utf8'), '50000 100000');
  t.is(readFileSync(path.join(group.dirs.cpu, 'memory.swap.max'), 'utf8'), '0');
  t.like(await readGroupLimits(group), {
    cpuCores: 0.5,
    memoryBytes: 256 * MiB,
    source: 'cgroup v2: cpu.max="50000 100000" memory.max=268435456',
  });
  writeFileSync(
    path.join(group.dirs.cpu, 'cpu.stat'),
    'usage_usec 2000000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 300000\n',
  );
  writeFileSync(path.join(group.dirs.cpu, 'memory.current'), '1000\n');
  writeFileSync(path.join(group.dirs.cpu, 'memory.events'), 'oom_kill 0\n');
  t.like(
    await readGroupUsage(group),
    { cpuSeconds: 2, throttledPeriods: 4, peakMemoryBytes: 1000 },
    'memory.current stands in for a missing memory.peak',
  );
  writeFileSync(path.join(group.dirs.cpu, 'memory.peak'), '5000\n');
  t.is((await readGroupUsage(group)).peakMemoryBytes, 5000);
  // A plain directory with files is not removable by rmdir: removeGroup reports it clearly.
  await t.throwsAsync(removeGroup(group, 100), {
    message: /cannot remove cgroup conclab-1-abc-fake-v-t1-0 after \d+ attempts/,
  });
});

test('FAKE cgroupfs: a failed write names the file and the value', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'conclab-fake-cgroupfs-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const layout = { version: 'v2' as const, mountPoint: root, selfDir: root, controllers: ['cpu', 'memory'] };
  const group = await createGroup(layout, 'conclab-1-abc-fake-v-t1-1');
  rmSync(group.dirs.cpu, { recursive: true });
  await t.throwsAsync(writeLimits(group, [{ controller: 'cpu', file: 'cpu.max', value: '1 2' }]), {
    message: /cannot write "1 2" to .*cpu.max/,
  });
  await t.throwsAsync(createGroup(layout, 'no/such/parent'), { message: /cannot create cgroup no\/such\/parent/ });
});
