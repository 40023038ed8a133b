// The Node workload's test harness: the shared one (../harness.ts) with `node workloads/node/main.ts`.
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { startWorkloadProcess, Workload as WorkloadProcess } from '../harness.ts';

export * from '../harness.ts';

export const MAIN = fileURLToPath(new URL('../../../workloads/node/main.ts', import.meta.url));

/** The Node workload as a process (this Node, which is 24). */
export class Workload extends WorkloadProcess {
  constructor(env: Record<string, string>) {
    super([process.execPath, MAIN], env);
  }
}

/** Starts the Node workload, waits for its ready line, and registers teardown. */
export function startWorkload(t: ExecutionContext, env: Record<string, string>): Promise<WorkloadProcess> {
  return startWorkloadProcess(t, [process.execPath, MAIN], env);
}
