// CPU placement of the workload and of the load generator. The load generator (the conclab
// process itself, running the built-in driver) must not eat the workload's budget: under
// cgroups it already stays outside the workload's group, and on a machine with CPUs to spare it
// also gets a CPU of its own (the first one) while workloads run on the others. Without
// cgroups, affinity is the only lever left: the workload is pinned to floor(cpu) CPUs (at least
// one), which approximates the CPU budget but cannot express fractions or memory.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CpuPlacement {
  /** CPUs the workload is pinned to; undefined leaves it unpinned (the CFS quota limits it). */
  workloadCpus: number[] | undefined;
  /** CPUs the load generator is pinned to; undefined when it has to share with the workload. */
  driverCpus: number[] | undefined;
  warnings: string[];
}

/** Parses a kernel CPU list such as "0-3,6,8-9". */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || !Number.isInteger(a)) throw new Error(`bad CPU list ${JSON.stringify(text)}`);
    const end = b === undefined ? a : b;
    for (let c = a; c <= end && cpus.length < 4096; c++) cpus.push(c);
  }
  return cpus;
}

export function formatCpuList(cpus: number[]): string {
  return cpus.join(',');
}

/**
 * Decides who runs where. `mode` 'cgroup': the quota enforces the budget, so the workload may
 * use every CPU but the driver's; the driver gets CPUs of its own (the first ones: one per load
 * generator, spec.load.generators, as many as the others spare) only when the others still
 * cover ceil(cpuCores). `mode` 'affinity': the workload gets exactly max(1, floor(cpuCores))
 * CPUs (the last ones) and the driver the rest, if any.
 */
export function planCpuPlacement(input: {
  cpus: number[];
  cpuCores: number;
  mode: 'cgroup' | 'affinity';
  /** Load generators that want a CPU each (default 1). */
  generators?: number;
}): CpuPlacement {
  const { cpus, cpuCores, mode } = input;
  const n = cpus.length;
  if (mode === 'cgroup') {
    const need = Math.ceil(cpuCores);
    const spare = Math.min(Math.max(1, input.generators ?? 1), n - need);
    if (spare >= 1) return { workloadCpus: cpus.slice(spare), driverCpus: cpus.slice(0, spare), warnings: [] };
    return {
      workloadCpus: undefined,
      driverCpus: undefined,
      warnings: [
        `The load generator shares CPUs with the workload: this machine offers ${n} CPU(s) and the CPU budget of ${cpuCores} needs ${need}, leaving none for the generator. Results may understate the server; use a machine with at least ${need + 1} CPUs or a smaller budget.`,
      ],
    };
  }
  const k = Math.min(n, Math.max(1, Math.floor(cpuCores)));
  const workloadCpus = cpus.slice(n - k);
  if (n - k >= 1) return { workloadCpus, driverCpus: cpus.slice(0, n - k), warnings: [] };
  return {
    workloadCpus,
    driverCpus: undefined,
    warnings: [
      `The load generator shares CPUs with the workload: the workload is pinned to all ${n} CPU(s) of this machine. Results may understate the server.`,
    ],
  };
}

/** CPUs a process may run on, from /proc/<pid>/status (Cpus_allowed_list). */
export function readAffinity(pid: number | 'self' = 'self'): number[] {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(status);
  if (!m?.[1]) throw new Error(`no Cpus_allowed_list in /proc/${pid}/status`);
  return parseCpuList(m[1]);
}

/** Pins every thread of a running process (taskset -a -p) to the CPUs. */
export async function pinProcess(pid: number, cpus: number[]): Promise<void> {
  try {
    await run('taskset', ['-a', '-p', '-c', formatCpuList(cpus), String(pid)]);
  } catch (err) {
    throw new Error(
      `cannot pin process ${pid} to CPUs ${formatCpuList(cpus)} with taskset (util-linux): ${(err as Error).message}`,
    );
  }
}
