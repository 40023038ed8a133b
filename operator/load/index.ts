// The load side's entry point: one function the engine calls, whichever driver the manifest
// names (the plan carries every replica of the variant in `targets`), and an up-front check
// so a run that needs k6 fails before any workload starts. plan.generators > 1 means the same
// on both drivers: that many generators share the schedule and their parts merge exactly
// (built-in: generator processes, generators.ts; k6: that many k6 runs, parts.ts).
import { runBuiltinLoad } from './builtin.ts';
import { findOnPath, K6NotFoundError, runK6Load } from './k6-runner.ts';
import { constantRatePlan } from './max-throughput.ts';
import { type LoadDriverName, type RunLoadOptions, runLoadPart, runParts } from './parts.ts';
import type { LoadPlan, LoadResult } from './types.ts';

export type { LoadDriverName, PartRunner, PartSpec, RunLoadOptions } from './parts.ts';
export { LOAD_DRIVERS, runLoadPart, runParts } from './parts.ts';

/** Time 0 of local k6 generators lies this far ahead, so every one is started by then. */
const LOCAL_K6_LEAD_MILLIS = 200;

export function runLoad(plan: LoadPlan, driver: LoadDriverName, options: RunLoadOptions = {}): Promise<LoadResult> {
  const cpus = options.builtin?.cpus ?? options.cpus;
  switch (driver) {
    case 'builtin':
      return runBuiltinLoad(plan, { ...options.builtin, ...(cpus ? { cpus } : {}) });
    case 'k6': {
      const count = plan.generators ?? 1;
      if (count === 1) return runK6Load(plan, { ...options.k6, ...(options.slo ? { slo: options.slo } : {}) });
      const runners = Array.from({ length: count }, (_, g) => {
        const cpu = cpus?.length ? cpus[g % cpus.length] : undefined;
        return (p: LoadPlan, part: Parameters<typeof runLoadPart>[2]) =>
          runLoadPart(p, 'k6', part, { ...options, ...(cpu !== undefined ? { cpu } : {}) });
      });
      return runParts(plan, runners, LOCAL_K6_LEAD_MILLIS).then((r) => r.result);
    }
    default:
      return Promise.reject(
        new Error(`unknown load driver ${JSON.stringify(driver)}; use load.driver: builtin or load.driver: k6`),
      );
  }
}

/**
 * Throws K6NotFoundError when the driver is k6 and no k6 is on PATH. Call it before starting
 * workloads, so a missing program stops the run with nothing to clean up.
 */
export async function assertLoadDriverAvailable(
  driver: LoadDriverName,
  pathEnv: string = process.env.PATH ?? '',
): Promise<void> {
  if (driver === 'k6' && !(await findOnPath('k6', pathEnv))) throw new K6NotFoundError(pathEnv);
}

/** A max-throughput trial runner on either driver: the base plan at a constant rate. */
export function trialRunner(
  base: LoadPlan,
  driver: LoadDriverName,
  options: RunLoadOptions = {},
): (rate: number) => Promise<LoadResult> {
  return (rate) => runLoad(constantRatePlan(base, rate), driver, options);
}

export { findMaxThroughput, type MaxThroughputResult } from './max-throughput.ts';
export { type LoadPart, mergeLoadParts, mergeLoadResults } from './merge.ts';
export { DEFAULT_SLO, type LoadSlo, sloFromApi } from './slo.ts';
export type {
  CapacitySearch,
  ErrorKind,
  LoadPlan,
  LoadProgress,
  LoadResult,
  RateStage,
  SecondSample,
  TargetLoad,
  ThroughputStep,
} from './types.ts';
