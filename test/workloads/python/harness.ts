// The Python workload's test harness: the shared one (../harness.ts) with
// `python3 workloads/python/main.py`. Same contract as the Node workload, so the same shapes.
// Tests that need spans run it with the interpreter of the tracing environment conclab prepares
// (operator/runtime/local/python-env.ts): built once per machine, for real, never skipped.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import type { SupervisorStats } from '../../../operator/contracts/supervisor.ts';
import { ensurePythonTracingEnv, type PythonTracingEnv } from '../../../operator/runtime/local/python-env.ts';
import { request, startWorkloadProcess, Workload } from '../harness.ts';

export * from '../harness.ts';

export const MAIN = fileURLToPath(new URL('../../../workloads/python/main.py', import.meta.url));

/** The plain interpreter: python3 on PATH, as `conclab run` uses when the tracing environment is missing. */
export const PYTHON = 'python3';

let tracingEnv: Promise<PythonTracingEnv> | undefined;

/** The interpreter with the pinned OpenTelemetry packages (the first call may build it: tens of seconds). */
export async function tracingPython(): Promise<string> {
  tracingEnv ??= ensurePythonTracingEnv({ onProgress: (line) => process.stderr.write(`python env: ${line}\n`) });
  return (await tracingEnv).python;
}

/** GET /stats typed as the contract (the contract test checks the shape). */
export async function contractStats(workload: Workload, query = ''): Promise<SupervisorStats> {
  return (await workload.statsJson(query)) as unknown as SupervisorStats;
}

/** The Python workload as a process. */
export class PythonWorkload extends Workload {
  constructor(env: Record<string, string>, stdin: 'ignore' | 'pipe' = 'ignore') {
    super([PYTHON, MAIN], env, stdin);
  }
}

/** Starts the Python workload, waits for its ready line, and registers teardown. */
export function startPython(
  t: ExecutionContext,
  env: Record<string, string>,
  stdin: 'ignore' | 'pipe' = 'ignore',
  python: readonly string[] = [PYTHON],
): Promise<Workload> {
  return startWorkloadProcess(t, [...python, MAIN], env, { stdin, readyTimeoutMillis: 60_000 });
}

/** Starts it with the tracing environment's interpreter. */
export async function startTracedPython(t: ExecutionContext, env: Record<string, string>): Promise<Workload> {
  return startPython(t, env, 'ignore', [await tracingPython()]);
}

/** Identities (worker/pid/thread headers) seen over up to maxRequests concurrent requests. */
export async function identitiesSeen(port: number, wanted: number, maxRequests: number, concurrency: number) {
  const seen = new Map<string, { worker: string; pid: string; thread: string }>();
  let sent = 0;
  async function lane(): Promise<void> {
    while (sent < maxRequests && seen.size < wanted) {
      sent++;
      const r = await request(port, '/work', 10_000).catch(() => undefined);
      if (r?.status !== 200) continue;
      const id = {
        worker: String(r.headers['x-conclab-worker']),
        pid: String(r.headers['x-conclab-pid']),
        thread: String(r.headers['x-conclab-thread']),
      };
      seen.set(id.worker, id);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return [...seen.values()];
}

/** User plus system CPU time of a process so far, in milliseconds (from /proc). */
export function processCpuMillis(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the command name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
