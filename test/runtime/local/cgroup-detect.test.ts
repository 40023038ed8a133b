import test from 'ava';
import {
  detectCgroupLayout,
  parseCgroupMounts,
  parseProcCgroup,
  readCgroupLayout,
} from '../../../operator/runtime/local/cgroup-detect.ts';

// The shape of this machine: a v1 hybrid, cpu and cpuacct mounted separately, the caller
// inside a memory sub-group, a controller-less unified mount.
const HYBRID_MOUNTINFO = `22 1 8:1 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_CGROUP = `9:name=systemd:/
4:memory:/session/abc
2:cpuacct:/
1:cpu:/
0::/
`;

// A pure v2 host (systemd), the caller in a user slice.
const V2_MOUNTINFO = `25 1 8:1 / / rw - ext4 /dev/sda1 rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V2_CGROUP = '0::/user.slice/user-1000.slice/session-2.scope\n';

// Older distributions co-mount cpu and cpuacct.
const COMOUNT_MOUNTINFO = `32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
`;

test('parses cgroup mounts with their controllers and ignores other filesystems', (t) => {
  const mounts = parseCgroupMounts(HYBRID_MOUNTINFO);
  t.deepEqual(
    mounts.map((m) => [m.fsType, m.mountPoint, m.controllers.join(',')]),
    [
      ['cgroup', '/sys/fs/cgroup/cpu', 'cpu'],
      ['cgroup', '/sys/fs/cgroup/cpuacct', 'cpuacct'],
      ['cgroup', '/sys/fs/cgroup/memory', 'memory'],
      ['cgroup', '/sys/fs/cgroup/systemd', ''],
      ['cgroup2', '/sys/fs/cgroup/unified', ''],
    ],
  );
});

test('decodes octal escapes in mount points', (t) => {
  const [m] = parseCgroupMounts('1 0 0:1 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n');
  t.is(m?.mountPoint, '/mnt/my cgroups');
});

test('parses /proc/self/cgroup, the v2 entry under the empty key', (t) => {
  const p = parseProcCgroup('3:cpu,cpuacct:/a\n4:memory:/b\n0::/c\n');
  t.is(p.get('cpu'), '/a');
  t.is(p.get('cpuacct'), '/a');
  t.is(p.get('memory'), '/b');
  t.is(p.get(''), '/c');
});

test('a hybrid host whose unified mount has no controllers uses v1', (t) => {
  const layout = detectCgroupLayout({ mountinfo: HYBRID_MOUNTINFO, procCgroup: HYBRID_CGROUP, v2Controllers: '' });
  t.deepEqual(layout, {
    version: 'v1',
    cpu: { mountPoint: '/sys/fs/cgroup/cpu', selfDir: '/sys/fs/cgroup/cpu' },
    cpuacct: { mountPoint: '/sys/fs/cgroup/cpuacct', selfDir: '/sys/fs/cgroup/cpuacct' },
    memory: { mountPoint: '/sys/fs/cgroup/memory', selfDir: '/sys/fs/cgroup/memory/session/abc' },
  });
});

test('a pure v2 host with cpu and memory uses v2', (t) => {
  const layout = detectCgroupLayout({
    mountinfo: V2_MOUNTINFO,
    procCgroup: V2_CGROUP,
    v2Controllers: 'cpuset cpu io memory hugetlb pids rdma misc\n',
  });
  t.like(layout, {
    version: 'v2',
    mountPoint: '/sys/fs/cgroup',
    selfDir: '/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope',
  });
});

test('co-mounted cpu,cpuacct serves both roles', (t) => {
  const layout = detectCgroupLayout({ mountinfo: COMOUNT_MOUNTINFO, procCgroup: '3:cpu,cpuacct:/\n4:memory:/\n' });
  t.is(layout.version, 'v1');
  if (layout.version !== 'v1') return;
  t.is(layout.cpu.mountPoint, '/sys/fs/cgroup/cpu,cpuacct');
  t.is(layout.cpuacct.mountPoint, '/sys/fs/cgroup/cpu,cpuacct');
});

test('a v2 host without the memory controller and no v1 gives none, saying what is missing', (t) => {
  const layout = detectCgroupLayout({ mountinfo: V2_MOUNTINFO, procCgroup: V2_CGROUP, v2Controllers: 'cpu pids' });
  t.is(layout.version, 'none');
  if (layout.version !== 'none') return;
  t.regex(layout.reason, /offers controllers \[cpu pids\] but needs cpu and memory/);
  t.regex(layout.reason, /cgroup v1 controllers not mounted: cpu, cpuacct, memory/);
});

test('read-only hierarchies are not usable', (t) => {
  const ro = HYBRID_MOUNTINFO.replace('/sys/fs/cgroup/memory rw,relatime', '/sys/fs/cgroup/memory ro,relatime');
  const layout = detectCgroupLayout({ mountinfo: ro, procCgroup: HYBRID_CGROUP, v2Controllers: '' });
  t.is(layout.version, 'none');
  if (layout.version === 'none') t.regex(layout.reason, /read-only: memory/);
  const v2ro = V2_MOUNTINFO.replace('/sys/fs/cgroup rw,nosuid', '/sys/fs/cgroup ro,nosuid');
  const l2 = detectCgroupLayout({ mountinfo: v2ro, procCgroup: V2_CGROUP, v2Controllers: 'cpu memory' });
  t.is(l2.version, 'none');
});

test('no cgroup mounts at all gives none', (t) => {
  const layout = detectCgroupLayout({ mountinfo: '22 1 8:1 / / rw - ext4 /dev/vda rw\n', procCgroup: '' });
  t.is(layout.version, 'none');
});

test('this machine is detected as the v1 hybrid the notes describe', (t) => {
  const layout = readCgroupLayout();
  t.log(JSON.stringify(layout));
  t.true(layout.version === 'v1' || layout.version === 'v2');
});

test('unreadable proc files give none instead of throwing', (t) => {
  const layout = readCgroupLayout({ mountinfoPath: '/nonexistent/mountinfo' });
  t.is(layout.version, 'none');
  if (layout.version === 'none') t.regex(layout.reason, /cannot read the cgroup mount table/);
});
