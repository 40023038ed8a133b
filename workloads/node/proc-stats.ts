// What /proc says about the workload's own processes: context switches and run-queue wait of
// every thread, per-process memory (smaps_rollup), and the approximate usage of the process
// tree when no cgroup is the workload's own. Parsers are pure (table-tested); the readers are
// thin and tolerate a process or thread that ends while being read.
import { readdirSync, readFileSync } from 'node:fs';
import type { CgroupUsage, SupervisorStats } from '../../operator/contracts/supervisor.ts';

export type ContextSwitches = NonNullable<SupervisorStats['contextSwitches']>;
export type ProcessMemoryEntry = NonNullable<SupervisorStats['processes']>[number];

/** Linux's USER_HZ: the unit of utime/stime in /proc/PID/stat on every mainstream architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Numeric "Key:   value [kB]" lines of /proc/PID/status or smaps_rollup, in the file's unit. */
export function parseStatusLines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const n = Number.parseInt(line.slice(colon + 1).trim(), 10);
    if (Number.isFinite(n)) out.set(line.slice(0, colon), n);
  }
  return out;
}

/** Fields of /proc/PID/stat after the command name: [0] is state (field 3 of proc(5)). */
export function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime (+ cutime + cstime: children already reaped) in seconds, from /proc/PID/stat. */
export function statCpuSeconds(text: string, includeChildren: boolean): number {
  const f = statFields(text);
  // utime, stime, cutime, cstime are fields 14-17 of proc(5): 11-14 after the command name.
  const ticks = Number(f[11]) + Number(f[12]) + (includeChildren ? Number(f[13]) + Number(f[14]) : 0);
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/** Run-queue wait (field 2 of /proc/PID/task/TID/schedstat), in seconds. */
export function schedstatWaitSeconds(text: string): number {
  return Number(text.trim().split(/\s+/)[1] ?? 0) / 1e9;
}

/** Number of CPUs in a list such as "0-3,8,10-11" (Cpus_allowed_list). */
export function cpuListCount(list: string): number {
  let count = 0;
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-').map(Number);
    count += b === undefined ? 1 : b - a! + 1;
  }
  return count;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function tasks(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

/** Sums the context switches and run-queue wait of every thread of the given processes. */
export function readContextSwitches(pids: readonly number[]): ContextSwitches {
  let voluntary = 0;
  let involuntary = 0;
  let waitSeconds = 0;
  let count = 0;
  for (const pid of pids) {
    for (const tid of tasks(pid)) {
      const status = read(`/proc/${pid}/task/${tid}/status`);
      if (status === undefined) continue;
      const fields = parseStatusLines(status);
      voluntary += fields.get('voluntary_ctxt_switches') ?? 0;
      involuntary += fields.get('nonvoluntary_ctxt_switches') ?? 0;
      const schedstat = read(`/proc/${pid}/task/${tid}/schedstat`);
      if (schedstat !== undefined) waitSeconds += schedstatWaitSeconds(schedstat);
      count++;
    }
  }
  return { voluntary, involuntary, runQueueWaitSeconds: waitSeconds, tasks: count };
}

/** Rss, Pss and Private_Clean + Private_Dirty of one process, in bytes; undefined when it is gone. */
export function readProcessMemory(pid: number): { rssBytes: number; pssBytes: number; ussBytes: number } | undefined {
  const text = read(`/proc/${pid}/smaps_rollup`);
  if (text === undefined) return undefined;
  const kb = parseStatusLines(text);
  return {
    rssBytes: (kb.get('Rss') ?? 0) * 1024,
    pssBytes: (kb.get('Pss') ?? 0) * 1024,
    ussBytes: ((kb.get('Private_Clean') ?? 0) + (kb.get('Private_Dirty') ?? 0)) * 1024,
  };
}

/**
 * Usage of the process tree when no cgroup is the workload's own: CPU of the supervisor (with
 * its reaped children, i.e. dead workers) and of every live worker process; peak memory as the
 * sum of their VmHWM (shared pages count once per process, hence approximate). Limits from CPU
 * affinity: there is no memory limit to read.
 */
export function readProcessTreeUsage(supervisorPid: number, workerPids: readonly number[], why: string): CgroupUsage {
  let cpuSeconds = 0;
  let peak = 0;
  for (const pid of [supervisorPid, ...workerPids]) {
    const stat = read(`/proc/${pid}/stat`);
    if (stat !== undefined) cpuSeconds += statCpuSeconds(stat, pid === supervisorPid);
    const status = read(`/proc/${pid}/status`);
    if (status !== undefined) peak += (parseStatusLines(status).get('VmHWM') ?? 0) * 1024;
  }
  const status = read(`/proc/${supervisorPid}/status`) ?? '';
  const allowed = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? '';
  const cores = allowed === '' ? 0 : cpuListCount(allowed);
  return {
    source: `process tree (/proc; approximate): ${why}`,
    cpuSeconds,
    throttledPeriods: 0,
    throttledSeconds: 0,
    peakMemoryBytes: peak,
    limits: {
      cpuCores: cores,
      memoryBytes: 0,
      source: `affinity: ${cores} CPUs allowed (Cpus_allowed_list=${allowed}); no cgroup of its own, so no CPU quota or memory limit is read`,
    },
  };
}
