// One cgroup per variant per trial: create it in every hierarchy conclab uses, write the
// limits, read them back, read usage, kill what is inside and remove it. Names carry the
// owning process (its pid and start time) and a per-runtime id, so that cleanup of one runtime
// never touches the groups of another runtime running at the same time (another test file,
// another user), and groups left by a killed run are recognised at once: no live process has
// that pid with that start time (a pid alone could have been reused by an unrelated process).
import { readdirSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupLayout } from './cgroup-detect.ts';
import { type LimitWrite, parseV1Limits, parseV2Limits, type ReadLimits } from './cgroup-limits.ts';
import { type GroupUsage, parseV1Usage, parseV2Usage } from './cgroup-usage.ts';
import { processStartTicks } from './process-tree.ts';

export type UsableLayout = Exclude<CgroupLayout, { version: 'none' }>;

export interface CgroupGroup {
  name: string;
  version: 'v1' | 'v2';
  /** Directory holding each role's files; on v2 all three are the same directory. */
  dirs: { cpu: string; cpuacct: string; memory: string };
}

const NAME_PREFIX = 'conclab-';
// conclab-<pid>[.<start ticks>]-<runtime id>-...; names without the start time are older
// conclab versions' (and the test node agent's), judged by the pid alone.
const NAME_PATTERN = /^conclab-(\d+)(?:\.(\d+))?-([0-9a-f]+)-(.*)$/;

function slug(s: string, max: number): string {
  const cleaned = s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return (cleaned || 'x').slice(0, max);
}

/**
 * The prefix every group of one runtime instance starts with. With the owner's start time
 * (processStartTicks) a later process reusing the pid is not mistaken for the owner.
 */
export function runtimePrefix(ownerPid: number, runtimeId: string, ownerStartTicks?: number): string {
  const owner = ownerStartTicks === undefined ? `${ownerPid}` : `${ownerPid}.${ownerStartTicks}`;
  return `${NAME_PREFIX}${owner}-${runtimeId}-`;
}

/** A group name: conclab-<ownerPid>[.<ownerStartTicks>]-<runtimeId>-<experiment>-<variant>-t<trial>-<suffix>. */
export function groupName(parts: {
  ownerPid: number;
  ownerStartTicks?: number;
  runtimeId: string;
  experiment: string;
  variant: string;
  trial: number;
  suffix: string;
}): string {
  return `${runtimePrefix(parts.ownerPid, parts.runtimeId, parts.ownerStartTicks)}${slug(parts.experiment, 60)}-${slug(parts.variant, 40)}-t${parts.trial}-${parts.suffix}`;
}

export interface GroupOwner {
  ownerPid: number;
  /** Start time of the owner in clock ticks since boot; undefined in names that lack it. */
  ownerStartTicks: number | undefined;
  runtimeId: string;
  /** The rest of the name: experiment-variant-t<trial>-<suffix>. */
  rest: string;
}

/** Owner of a conclab group name, or undefined when the name is not one of ours. */
export function parseGroupOwner(name: string): GroupOwner | undefined {
  const m = NAME_PATTERN.exec(name);
  if (!m) return undefined;
  return {
    ownerPid: Number(m[1]),
    ownerStartTicks: m[2] === undefined ? undefined : Number(m[2]),
    runtimeId: m[3] ?? '',
    rest: m[4] ?? '',
  };
}

/** Tells whether the process that owns a group still runs: same pid, and same start time where the name has one. */
export type OwnerAlive = (pid: number, startTicks: number | undefined) => boolean;

/**
 * Whether a group left in the hierarchy belongs to a run that is gone (a crashed or SIGKILLed
 * conclab): no live process is its owner. Names that are not conclab's are never stale.
 */
export function isStaleGroup(name: string, ownerAlive: OwnerAlive): boolean {
  const owner = parseGroupOwner(name);
  if (!owner) return false;
  return !ownerAlive(owner.ownerPid, owner.ownerStartTicks);
}

/** The directories under which groups are created, one per distinct hierarchy. */
export function parentDirs(layout: UsableLayout, cgroupParent = ''): { cpu: string; cpuacct: string; memory: string } {
  if (layout.version === 'v2') {
    const d = path.join(layout.mountPoint, cgroupParent);
    return { cpu: d, cpuacct: d, memory: d };
  }
  return {
    cpu: path.join(layout.cpu.mountPoint, cgroupParent),
    cpuacct: path.join(layout.cpuacct.mountPoint, cgroupParent),
    memory: path.join(layout.memory.mountPoint, cgroupParent),
  };
}

export function distinctDirs(group: CgroupGroup): string[] {
  return [...new Set([group.dirs.cpu, group.dirs.cpuacct, group.dirs.memory])];
}

/** The files a process writes its pid into to join the group in every hierarchy. */
export function procsFiles(group: CgroupGroup): string[] {
  return distinctDirs(group).map((d) => path.join(d, 'cgroup.procs'));
}

/** Creates the group in every hierarchy; on failure removes what it created and throws. */
export async function createGroup(layout: UsableLayout, name: string, cgroupParent = ''): Promise<CgroupGroup> {
  const parents = parentDirs(layout, cgroupParent);
  const group: CgroupGroup = {
    name,
    version: layout.version,
    dirs: {
      cpu: path.join(parents.cpu, name),
      cpuacct: path.join(parents.cpuacct, name),
      memory: path.join(parents.memory, name),
    },
  };
  const made: string[] = [];
  try {
    for (const d of distinctDirs(group)) {
      await mkdir(d);
      made.push(d);
    }
  } catch (err) {
    for (const d of made.reverse()) await rmdir(d).catch(() => {});
    throw new Error(`cannot create cgroup ${name}: ${(err as Error).message}`);
  }
  return group;
}

export async function writeLimits(group: CgroupGroup, writes: LimitWrite[]): Promise<void> {
  for (const w of writes) {
    const file = path.join(group.dirs[w.controller], w.file);
    try {
      await writeFile(file, w.value);
    } catch (err) {
      throw new Error(`cannot write ${JSON.stringify(w.value)} to ${file}: ${(err as Error).message}`);
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await readFile(file, { encoding: 'utf8', flag: 'r' });
    return true;
  } catch {
    return false;
  }
}

/** Whether the group has a swap limit file (v1 needs swap accounting enabled in the kernel). */
export async function hasSwapLimit(group: CgroupGroup): Promise<boolean> {
  const file = group.version === 'v2' ? 'memory.swap.max' : 'memory.memsw.limit_in_bytes';
  return exists(path.join(group.dirs.memory, file));
}

const read = (dir: string, file: string) => readFile(path.join(dir, file), 'utf8');

export async function readGroupLimits(group: CgroupGroup): Promise<ReadLimits> {
  if (group.version === 'v2') {
    return parseV2Limits({
      cpuMax: await read(group.dirs.cpu, 'cpu.max'),
      memoryMax: await read(group.dirs.memory, 'memory.max'),
    });
  }
  return parseV1Limits({
    cfsQuotaUs: await read(group.dirs.cpu, 'cpu.cfs_quota_us'),
    cfsPeriodUs: await read(group.dirs.cpu, 'cpu.cfs_period_us'),
    memoryLimitInBytes: await read(group.dirs.memory, 'memory.limit_in_bytes'),
  });
}

export async function readGroupUsage(group: CgroupGroup): Promise<GroupUsage> {
  if (group.version === 'v2') {
    const d = group.dirs.memory;
    const memoryPeak = await read(d, 'memory.peak').catch(() => read(d, 'memory.current'));
    return parseV2Usage({
      cpuStat: await read(d, 'cpu.stat'),
      memoryPeak,
      memoryEvents: await read(d, 'memory.events'),
    });
  }
  return parseV1Usage({
    cpuacctUsage: await read(group.dirs.cpuacct, 'cpuacct.usage'),
    cpuStat: await read(group.dirs.cpu, 'cpu.stat'),
    memoryMaxUsageInBytes: await read(group.dirs.memory, 'memory.max_usage_in_bytes'),
    memoryOomControl: await read(group.dirs.memory, 'memory.oom_control').catch(() => ''),
  });
}

/** Every process in the group, across hierarchies (a gone group has none). */
export async function listGroupPids(group: CgroupGroup): Promise<number[]> {
  const pids = new Set<number>();
  for (const f of procsFiles(group)) {
    const text = await readFile(f, 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (line.trim() !== '') pids.add(Number(line));
  }
  return [...pids];
}

export function signalPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone (ESRCH): nothing to do.
    }
  }
}

/**
 * Kills everything in the group and removes its directories. rmdir fails with EBUSY while a
 * dying process is still listed, so it retries until timeoutMillis; a group already gone is
 * fine. Throws when the group could not be removed, naming the processes still in it.
 */
export async function removeGroup(group: CgroupGroup, timeoutMillis = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  let remaining = distinctDirs(group);
  let lastError = '';
  for (let attempt = 0; remaining.length > 0; attempt++) {
    signalPids(await listGroupPids(group), 'SIGKILL');
    const next: string[] = [];
    for (const d of remaining) {
      try {
        await rmdir(d);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        lastError = (err as Error).message;
        next.push(d);
      }
    }
    remaining = next;
    if (remaining.length === 0) return;
    if (Date.now() >= deadline) {
      const pids = await listGroupPids(group);
      throw new Error(
        `cannot remove cgroup ${group.name} after ${attempt + 1} attempts (${lastError}); processes still inside: ${pids.join(' ') || 'none'}`,
      );
    }
    await sleep(Math.min(20 * (attempt + 1), 200));
  }
}

/** Names of conclab groups present under the parent directories (any owner). */
export function listConclabGroups(layout: UsableLayout, cgroupParent = ''): string[] {
  const names = new Set<string>();
  for (const d of new Set(Object.values(parentDirs(layout, cgroupParent)))) {
    let entries: string[] = [];
    try {
      entries = readdirSync(d);
    } catch {
      continue;
    }
    for (const e of entries) if (e.startsWith(NAME_PREFIX)) names.add(e);
  }
  return [...names];
}

/** The group object for a name found in the hierarchy. */
export function groupFromName(layout: UsableLayout, name: string, cgroupParent = ''): CgroupGroup {
  const parents = parentDirs(layout, cgroupParent);
  return {
    name,
    version: layout.version,
    dirs: {
      cpu: path.join(parents.cpu, name),
      cpuacct: path.join(parents.cpuacct, name),
      memory: path.join(parents.memory, name),
    },
  };
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The owner check of this machine: the pid's start time must match where the name records it. */
export const ownerAliveOnThisMachine: OwnerAlive = (pid, startTicks) =>
  startTicks === undefined ? pidExists(pid) : processStartTicks(pid) === startTicks;

/**
 * Removes conclab groups whose owner process is gone (a crashed or killed earlier run), killing
 * the workloads still inside them. Groups of live owners, including concurrent runs, are left
 * alone. Returns the names removed.
 */
export async function sweepStaleGroups(
  layout: UsableLayout,
  options: { cgroupParent?: string; ownerAlive?: OwnerAlive } = {},
): Promise<string[]> {
  const removed: string[] = [];
  const alive = options.ownerAlive ?? ownerAliveOnThisMachine;
  for (const name of listConclabGroups(layout, options.cgroupParent)) {
    if (!isStaleGroup(name, alive)) continue;
    await removeGroup(groupFromName(layout, name, options.cgroupParent)).then(
      () => removed.push(name),
      () => {},
    );
  }
  return removed;
}

/** Live owners (other than `self`) of conclab groups present now: runs sharing this machine. */
export function liveOtherOwners(
  layout: UsableLayout,
  options: { cgroupParent?: string; selfPid: number; ownerAlive?: OwnerAlive },
): { pid: number; groups: string[] }[] {
  const alive = options.ownerAlive ?? ownerAliveOnThisMachine;
  const byPid = new Map<number, string[]>();
  for (const name of listConclabGroups(layout, options.cgroupParent)) {
    const owner = parseGroupOwner(name);
    if (!owner || owner.ownerPid === options.selfPid || !alive(owner.ownerPid, owner.ownerStartTicks)) continue;
    byPid.set(owner.ownerPid, [...(byPid.get(owner.ownerPid) ?? []), name]);
  }
  return [...byPid].map(([pid, groups]) => ({ pid, groups }));
}
