// What a group used, from the kernel's own accounting: CPU time, CFS throttling, peak memory
// and OOM kills. Pure parsers over file contents; the counters are cumulative since the group
// was created, so a caller wanting "after warm-up only" reads twice and subtracts.

export interface GroupUsage {
  cpuSeconds: number;
  throttledPeriods: number;
  throttledSeconds: number;
  /** CFS periods in which the group had runnable work (v1 and v2 report it). */
  periods: number;
  peakMemoryBytes: number;
  /** Processes the kernel's OOM killer killed inside the group. */
  oomKills: number;
}

/** Parses "key value" lines (cpu.stat, memory.events, memory.oom_control). */
export function parseKeyedFile(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (!key || value === undefined) continue;
    const n = Number(value);
    if (Number.isFinite(n)) out.set(key, n);
  }
  return out;
}

function num(text: string, file: string): number {
  const n = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`cannot parse ${file}: ${JSON.stringify(text)}`);
  return n;
}

/**
 * v1: cpuacct.usage (ns), cpu.stat (nr_periods, nr_throttled, throttled_time in ns),
 * memory.max_usage_in_bytes, memory.oom_control (oom_kill, kernel >= 4.13; absent -> 0).
 */
export function parseV1Usage(files: {
  cpuacctUsage: string;
  cpuStat: string;
  memoryMaxUsageInBytes: string;
  memoryOomControl?: string;
}): GroupUsage {
  const stat = parseKeyedFile(files.cpuStat);
  const oom = parseKeyedFile(files.memoryOomControl ?? '');
  return {
    cpuSeconds: num(files.cpuacctUsage, 'cpuacct.usage') / 1e9,
    periods: stat.get('nr_periods') ?? 0,
    throttledPeriods: stat.get('nr_throttled') ?? 0,
    throttledSeconds: (stat.get('throttled_time') ?? 0) / 1e9,
    peakMemoryBytes: num(files.memoryMaxUsageInBytes, 'memory.max_usage_in_bytes'),
    oomKills: oom.get('oom_kill') ?? 0,
  };
}

/**
 * v2: cpu.stat (usage_usec, nr_periods, nr_throttled, throttled_usec), memory.peak (kernel
 * >= 5.19; older kernels lack it and memory.current, a lower bound, stands in), memory.events
 * (oom_kill).
 */
export function parseV2Usage(files: { cpuStat: string; memoryPeak: string; memoryEvents: string }): GroupUsage {
  const stat = parseKeyedFile(files.cpuStat);
  const usage = stat.get('usage_usec');
  if (usage === undefined) throw new Error(`cpu.stat has no usage_usec: ${JSON.stringify(files.cpuStat)}`);
  return {
    cpuSeconds: usage / 1e6,
    periods: stat.get('nr_periods') ?? 0,
    throttledPeriods: stat.get('nr_throttled') ?? 0,
    throttledSeconds: (stat.get('throttled_usec') ?? 0) / 1e6,
    peakMemoryBytes: num(files.memoryPeak, 'memory.peak'),
    oomKills: parseKeyedFile(files.memoryEvents).get('oom_kill') ?? 0,
  };
}
