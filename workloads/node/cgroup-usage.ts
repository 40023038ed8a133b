// Usage and limits of the cgroup the supervisor is in, read the same way in both placements: a
// local runtime's per-replica group and a container. The supervisor's group is found from
// /proc/self/cgroup (path per controller). If that path exists under the controller's mount it
// is used; otherwise the mount root is: inside a container without a cgroup namespace, the
// container's own group is bind-mounted at the root while /proc/self/cgroup still names the
// host path. The parsers and the locating are pure (table-tested); readOwnCgroupUsage is the shell.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CgroupUsage } from '../../operator/contracts/supervisor.ts';

export type CgroupVersion = 'v1' | 'v2' | 'none';

/** /proc/self/cgroup as controller -> path; the v2 line ("0::/path") is under the key ''. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const groupPath = line.slice(second + 1).trim();
    if (controllers === '') out.set('', groupPath);
    else for (const c of controllers.split(',')) out.set(c, groupPath);
  }
  return out;
}

/** v2 when the unified hierarchy is mounted at the root, v1 when the v1 controllers are there. */
export function detectCgroupVersion(root: string, exists: (p: string) => boolean): CgroupVersion {
  if (exists(path.join(root, 'cgroup.controllers'))) return 'v2';
  const mounted = (c: string) => v1MountDir(root, c, exists) !== undefined;
  return mounted('cpu') && mounted('cpuacct') && mounted('memory') ? 'v1' : 'none';
}

function v1MountDir(root: string, controller: string, exists: (p: string) => boolean): string | undefined {
  const candidates = controller === 'memory' ? ['memory'] : [controller, 'cpu,cpuacct', 'cpuacct,cpu'];
  for (const name of candidates) {
    const dir = path.join(root, name);
    if (exists(dir)) return dir;
  }
  return undefined;
}

/** The group's directory under a mount: the path from /proc/self/cgroup if it exists there, else the root. */
function groupDir(mountDir: string, groupPath: string | undefined, exists: (p: string) => boolean): string {
  if (groupPath === undefined || groupPath === '/' || groupPath === '') return mountDir;
  const dir = path.join(mountDir, groupPath);
  return exists(dir) ? dir : mountDir;
}

export interface CgroupLocation {
  version: 'v1' | 'v2';
  /** Directory of each role's files; on v2 all three are one directory. */
  dirs: { cpu: string; cpuacct: string; memory: string };
}

export function locateOwnCgroup(
  root: string,
  procCgroup: string,
  exists: (p: string) => boolean,
): CgroupLocation | string {
  const version = detectCgroupVersion(root, exists);
  const groups = parseProcCgroup(procCgroup);
  if (version === 'v2') {
    const dir = groupDir(root, groups.get(''), exists);
    return { version, dirs: { cpu: dir, cpuacct: dir, memory: dir } };
  }
  if (version === 'v1') {
    const dir = (c: string) => groupDir(v1MountDir(root, c, exists)!, groups.get(c), exists);
    return { version, dirs: { cpu: dir('cpu'), cpuacct: dir('cpuacct'), memory: dir('memory') } };
  }
  return `no cgroup v2 hierarchy at ${root} and no v1 cpu, cpuacct and memory hierarchies under it`;
}

/** "key value" lines (cpu.stat, memory.events, memory.oom_control). */
export function parseKeyedFile(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === undefined || key === '' || value === undefined) continue;
    const n = Number(value);
    if (Number.isFinite(n)) out.set(key, n);
  }
  return out;
}

function num(file: string, text: string): number {
  const n = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`cannot parse ${file}: ${JSON.stringify(text)}`);
  return n;
}

// v1 reports "no limit" as a page-aligned huge number (9223372036854771712).
const V1_UNLIMITED = 2 ** 62;

export interface V1Files {
  cpuacctUsage: string;
  cpuStat: string;
  memoryMaxUsageInBytes: string;
  /** memory.oom_control; its oom_kill line exists from kernel 4.13. */
  memoryOomControl: string | undefined;
  cfsQuotaUs: string;
  cfsPeriodUs: string;
  memoryLimitInBytes: string;
}

export function v1Usage(files: V1Files, where: string): CgroupUsage {
  const stat = parseKeyedFile(files.cpuStat);
  const oom = files.memoryOomControl === undefined ? undefined : parseKeyedFile(files.memoryOomControl).get('oom_kill');
  const quota = num('cpu.cfs_quota_us', files.cfsQuotaUs);
  const period = num('cpu.cfs_period_us', files.cfsPeriodUs);
  const memoryLimit = num('memory.limit_in_bytes', files.memoryLimitInBytes);
  return {
    source: `cgroup v1 cpuacct.usage, cpu.stat, memory.max_usage_in_bytes at ${where}`,
    cpuSeconds: num('cpuacct.usage', files.cpuacctUsage) / 1e9,
    throttledPeriods: stat.get('nr_throttled') ?? 0,
    throttledSeconds: (stat.get('throttled_time') ?? 0) / 1e9,
    peakMemoryBytes: num('memory.max_usage_in_bytes', files.memoryMaxUsageInBytes),
    ...(oom === undefined ? {} : { oomKills: oom }),
    limits: {
      cpuCores: quota <= 0 || period <= 0 ? 0 : quota / period,
      memoryBytes: memoryLimit >= V1_UNLIMITED ? 0 : memoryLimit,
      source: `cgroup v1: cpu.cfs_quota_us=${files.cfsQuotaUs.trim()} cpu.cfs_period_us=${files.cfsPeriodUs.trim()} memory.limit_in_bytes=${files.memoryLimitInBytes.trim()}`,
    },
  };
}

export interface V2Files {
  cpuStat: string;
  /** memory.peak (kernel >= 5.19); undefined on older kernels, then memory.current stands in. */
  memoryPeak: string | undefined;
  memoryCurrent: string | undefined;
  memoryEvents: string | undefined;
  cpuMax: string;
  memoryMax: string;
}

export function v2Usage(files: V2Files, where: string): CgroupUsage {
  const stat = parseKeyedFile(files.cpuStat);
  const usage = stat.get('usage_usec');
  if (usage === undefined) throw new Error(`cpu.stat has no usage_usec: ${JSON.stringify(files.cpuStat)}`);
  const peakFile = files.memoryPeak === undefined ? 'memory.current' : 'memory.peak';
  const peakText = files.memoryPeak ?? files.memoryCurrent;
  if (peakText === undefined) throw new Error('neither memory.peak nor memory.current can be read');
  const [quotaText = 'max', periodText = '100000'] = files.cpuMax.trim().split(/\s+/);
  const quota = quotaText === 'max' ? 0 : num('cpu.max', quotaText);
  const period = num('cpu.max', periodText);
  const memoryMax = files.memoryMax.trim() === 'max' ? 0 : num('memory.max', files.memoryMax);
  const oom = files.memoryEvents === undefined ? undefined : parseKeyedFile(files.memoryEvents).get('oom_kill');
  return {
    source: `cgroup v2 cpu.stat, ${peakFile}, memory.events at ${where}`,
    cpuSeconds: usage / 1e6,
    throttledPeriods: stat.get('nr_throttled') ?? 0,
    throttledSeconds: (stat.get('throttled_usec') ?? 0) / 1e6,
    peakMemoryBytes: num(peakFile, peakText),
    ...(oom === undefined ? {} : { oomKills: oom }),
    limits: {
      cpuCores: quota <= 0 || period <= 0 ? 0 : quota / period,
      memoryBytes: memoryMax,
      source: `cgroup v2: cpu.max="${files.cpuMax.trim()}" memory.max=${files.memoryMax.trim()}`,
    },
  };
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Distinct directories with their inode: a new container (or group) has a new inode at the same path. */
function cgroupId(location: CgroupLocation): string {
  return [...new Set(Object.values(location.dirs))]
    .map((dir) => {
      try {
        return `${dir}#${statSync(dir).ino}`;
      } catch {
        return dir;
      }
    })
    .join(' ');
}

/** Locates the supervisor's group once (it does not move); undefined + reason when there is none. */
export function locateFromSystem(root: string): CgroupLocation | string {
  const procCgroup = readOptional('/proc/self/cgroup');
  if (procCgroup === undefined) return 'cannot read /proc/self/cgroup';
  return locateOwnCgroup(root, procCgroup, existsSync);
}

/** Reads the group's counters; a string says why they cannot be read. */
export function readCgroupUsage(location: CgroupLocation): CgroupUsage | string {
  const { cpu, cpuacct, memory } = location.dirs;
  const at = (dir: string, file: string) => readFileSync(path.join(dir, file), 'utf8');
  try {
    const usage =
      location.version === 'v1'
        ? v1Usage(
            {
              cpuacctUsage: at(cpuacct, 'cpuacct.usage'),
              cpuStat: at(cpu, 'cpu.stat'),
              memoryMaxUsageInBytes: at(memory, 'memory.max_usage_in_bytes'),
              memoryOomControl: readOptional(path.join(memory, 'memory.oom_control')),
              cfsQuotaUs: at(cpu, 'cpu.cfs_quota_us'),
              cfsPeriodUs: at(cpu, 'cpu.cfs_period_us'),
              memoryLimitInBytes: at(memory, 'memory.limit_in_bytes'),
            },
            [...new Set([cpuacct, cpu, memory])].join(', '),
          )
        : v2Usage(
            {
              cpuStat: at(cpu, 'cpu.stat'),
              memoryPeak: readOptional(path.join(memory, 'memory.peak')),
              memoryCurrent: readOptional(path.join(memory, 'memory.current')),
              memoryEvents: readOptional(path.join(memory, 'memory.events')),
              cpuMax: at(cpu, 'cpu.max'),
              memoryMax: at(memory, 'memory.max'),
            },
            cpu,
          );
    return { ...usage, cgroupId: cgroupId(location) };
  } catch (error) {
    return `cannot read the cgroup ${location.version} files: ${(error as Error).message}`;
  }
}
