// Best-effort accounting from /proc for the affinity fallback, where no cgroup counts for us:
// the processes descending from the workload's root, their CPU time and their peak resident
// memory. Processes that exited and were reaped are counted through their parent's cutime /
// cstime; a root that itself died takes its counters with it (the fallback says it is approximate).
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux conclab targets. */
const CLOCK_TICKS = 100;

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  cpuTicks: number;
}

/** Parses /proc/<pid>/stat; the command name may contain spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const rest = text
    .slice(close + 2)
    .trim()
    .split(' ');
  // rest[0] is field 3 (state); ppid is field 4; utime..cstime are fields 14..17.
  const ppid = Number(rest[1]);
  const ticks = [11, 12, 13, 14].map((i) => Number(rest[i] ?? 0));
  if (!Number.isInteger(pid) || !Number.isInteger(ppid) || ticks.some((n) => !Number.isFinite(n))) return undefined;
  return { pid, ppid, cpuTicks: ticks.reduce((a, b) => a + b, 0) };
}

/**
 * When the process started, in clock ticks since boot (/proc/<pid>/stat field 22), or undefined
 * when there is no such process or it is a zombie. A pid together with its start time names one
 * process for good: a later process that reuses the pid has a later start time.
 */
export function processStartTicks(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // rest[0] is field 3 (state), so field 22 (starttime) is rest[19].
  const rest = text.slice(close + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  const ticks = Number(rest[19]);
  return Number.isInteger(ticks) ? ticks : undefined;
}

function readStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const s = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (s) stats.push(s);
    } catch {
      // Exited while we looked.
    }
  }
  return stats;
}

/** The pid and every live descendant of it. */
export function descendants(rootPid: number, stats: ProcStat[] = readStats()): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid) ?? [];
    list.push(s);
    children.set(s.ppid, list);
  }
  const out: ProcStat[] = [];
  const root = stats.find((s) => s.pid === rootPid);
  const queue = root ? [root] : [];
  while (queue.length > 0 && out.length < 100_000) {
    const s = queue.shift()!;
    out.push(s);
    queue.push(...(children.get(s.pid) ?? []));
  }
  return out;
}

/** CPU seconds and summed peak RSS (VmHWM; shared pages counted per process) of a process tree. */
export function processTreeUsage(rootPid: number): { cpuSeconds: number; peakMemoryBytes: number; pids: number[] } {
  const tree = descendants(rootPid);
  let peak = 0;
  for (const s of tree) {
    try {
      const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${s.pid}/status`, 'utf8'));
      if (m?.[1]) peak += Number(m[1]) * 1024;
    } catch {
      // Exited while we looked.
    }
  }
  return {
    cpuSeconds: tree.reduce((a, s) => a + s.cpuTicks, 0) / CLOCK_TICKS,
    peakMemoryBytes: peak,
    pids: tree.map((s) => s.pid),
  };
}
