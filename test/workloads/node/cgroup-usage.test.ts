// Which cgroup the supervisor reads, in both placements, and what its files mean. Table tests
// over the pure parts; the real v1 hierarchy of this machine and a FAKE v2 tree are exercised
// through a running workload in cgroup-own.test.ts.
import path from 'node:path';
import test from 'ava';
import {
  detectCgroupVersion,
  locateOwnCgroup,
  parseProcCgroup,
  v1Usage,
  v2Usage,
} from '../../../workloads/node/cgroup-usage.ts';
import { cpuListCount, schedstatWaitSeconds, statCpuSeconds } from '../../../workloads/node/proc-stats.ts';

const existing = (paths: string[]) => (p: string) => paths.includes(path.normalize(p));

const V1_HOST_PROC = '12:memory:/conclab-1-ab-x\n4:cpuacct:/conclab-1-ab-x\n3:cpu:/conclab-1-ab-x\n0::/\n';
const V1_MOUNTS = ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/memory'];

test('parses /proc/self/cgroup into controller paths, v2 under the empty key', (t) => {
  const groups = parseProcCgroup('2:cpu,cpuacct:/a/b\n4:memory:/m\n1:name=systemd:/s\n0::/u\n');
  t.is(groups.get('cpu'), '/a/b');
  t.is(groups.get('cpuacct'), '/a/b');
  t.is(groups.get('memory'), '/m');
  t.is(groups.get(''), '/u');
});

const cases: Array<[string, { proc: string; exists: string[] }, unknown]> = [
  [
    'v1 host: the group named in /proc/self/cgroup, under each controller mount',
    { proc: V1_HOST_PROC, exists: [...V1_MOUNTS, ...V1_MOUNTS.map((m) => `${m}/conclab-1-ab-x`)] },
    {
      version: 'v1',
      dirs: {
        cpu: '/sys/fs/cgroup/cpu/conclab-1-ab-x',
        cpuacct: '/sys/fs/cgroup/cpuacct/conclab-1-ab-x',
        memory: '/sys/fs/cgroup/memory/conclab-1-ab-x',
      },
    },
  ],
  [
    'v1 container without a cgroup namespace: the host path is absent, the group is mounted at the root',
    {
      proc: '9:memory:/kubepods/burstable/pod1/abc\n3:cpu,cpuacct:/kubepods/burstable/pod1/abc\n',
      exists: ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/memory'],
    },
    {
      version: 'v1',
      dirs: {
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
        memory: '/sys/fs/cgroup/memory',
      },
    },
  ],
  [
    'v2 container with a cgroup namespace: "0::/" is the root',
    { proc: '0::/\n', exists: ['/sys/fs/cgroup/cgroup.controllers'] },
    { version: 'v2', dirs: { cpu: '/sys/fs/cgroup', cpuacct: '/sys/fs/cgroup', memory: '/sys/fs/cgroup' } },
  ],
  [
    'v2 host: the group path under the unified mount',
    {
      proc: '0::/conclab.slice/r0\n',
      exists: ['/sys/fs/cgroup/cgroup.controllers', '/sys/fs/cgroup/conclab.slice/r0'],
    },
    {
      version: 'v2',
      dirs: {
        cpu: '/sys/fs/cgroup/conclab.slice/r0',
        cpuacct: '/sys/fs/cgroup/conclab.slice/r0',
        memory: '/sys/fs/cgroup/conclab.slice/r0',
      },
    },
  ],
  [
    'v2 container without a namespace: the host path is absent, so the root',
    { proc: '0::/system.slice/docker-abc.scope\n', exists: ['/sys/fs/cgroup/cgroup.controllers'] },
    { version: 'v2', dirs: { cpu: '/sys/fs/cgroup', cpuacct: '/sys/fs/cgroup', memory: '/sys/fs/cgroup' } },
  ],
];
for (const [name, input, expected] of cases) {
  test(`locates ${name}`, (t) => {
    t.deepEqual(locateOwnCgroup('/sys/fs/cgroup', input.proc, existing(input.exists)), expected);
  });
}

test('no hierarchy at the root: the reason, and version none', (t) => {
  t.regex(String(locateOwnCgroup('/nowhere', V1_HOST_PROC, () => false)), /no cgroup v2 hierarchy at \/nowhere/);
  t.is(
    detectCgroupVersion('/nowhere', () => false),
    'none',
  );
});

test('v1 files: ns counters to seconds, huge memory limit and -1 quota read as unlimited (0)', (t) => {
  const usage = v1Usage(
    {
      cpuacctUsage: '2500000000\n',
      cpuStat: 'nr_periods 20\nnr_throttled 7\nthrottled_time 350000000\n',
      memoryMaxUsageInBytes: '104857600\n',
      memoryOomControl: 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n',
      cfsQuotaUs: '-1\n',
      cfsPeriodUs: '100000\n',
      memoryLimitInBytes: '9223372036854771712\n',
    },
    '/g',
  );
  t.like(usage, {
    cpuSeconds: 2.5,
    throttledPeriods: 7,
    throttledSeconds: 0.35,
    peakMemoryBytes: 104857600,
    oomKills: 1,
  });
  t.like(usage.limits, { cpuCores: 0, memoryBytes: 0 });
  t.regex(
    usage.limits!.source,
    /cpu.cfs_quota_us=-1 cpu.cfs_period_us=100000 memory.limit_in_bytes=9223372036854771712/,
  );
});

test('v1 without oom_kill (kernel < 4.13) leaves oomKills out rather than reporting 0', (t) => {
  const usage = v1Usage(
    {
      cpuacctUsage: '1',
      cpuStat: '',
      memoryMaxUsageInBytes: '1',
      memoryOomControl: 'oom_kill_disable 0\nunder_oom 0\n',
      cfsQuotaUs: '50000',
      cfsPeriodUs: '100000',
      memoryLimitInBytes: '268435456',
    },
    '/g',
  );
  t.is(usage.oomKills, undefined);
  t.like(usage.limits, { cpuCores: 0.5, memoryBytes: 268435456 });
});

test('v2 files: usec counters, "max" reads as unlimited, memory.current stands in for a missing memory.peak', (t) => {
  const usage = v2Usage(
    {
      cpuStat: 'usage_usec 1500000\nnr_periods 9\nnr_throttled 3\nthrottled_usec 200000\n',
      memoryPeak: undefined,
      memoryCurrent: '5000\n',
      memoryEvents: 'oom 0\noom_kill 0\n',
      cpuMax: 'max 100000\n',
      memoryMax: 'max\n',
    },
    '/g',
  );
  t.like(usage, { cpuSeconds: 1.5, throttledPeriods: 3, throttledSeconds: 0.2, peakMemoryBytes: 5000, oomKills: 0 });
  t.regex(usage.source, /memory\.current/);
  t.like(usage.limits, { cpuCores: 0, memoryBytes: 0 });
});

test('/proc parsers: CPU lists, stat ticks with reaped children, schedstat wait', (t) => {
  t.is(cpuListCount('0-3,8,10-11'), 7);
  t.is(cpuListCount('0'), 1);
  // pid (comm with ) and spaces) S ppid ... utime=150 stime=50 cutime=100 cstime=0
  const stat = '42 (node main) x) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 100 0 20 0 11 0 1 1 1';
  t.is(statCpuSeconds(stat, false), 2);
  t.is(statCpuSeconds(stat, true), 3);
  t.is(schedstatWaitSeconds('123 2000000000 5\n'), 2);
});
