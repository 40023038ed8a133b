// The load side's entry point: one function the engine calls, whichever driver the manifest
// names (the plan carries every replica of the variant in `targets`), and an up-front check
// so a run that needs k6 fails before any workload starts.
import { type BuiltinLoadOptions, runBuiltinLoad } from './builtin.ts';
import { findOnPath, K6NotFoundError, type K6RunOptions, runK6Load } from './k6-runner.ts';
import { constantRatePlan } from './max-throughput.ts';
import type { LoadSlo } from './slo.ts';
import type { LoadPlan, LoadResult } from './types.ts';

export type LoadDriverName = 'builtin' | 'k6';

export interface RunLoadOptions {
  /** Used by k6 for its thresholds; the built-in driver reports figures and leaves judging to analysis. */
  slo?: LoadSlo;
  builtin?: BuiltinLoadOptions;
  k6?: Omit<K6RunOptions, 'slo'>;
}

export function runLoad(plan: LoadPlan, driver: LoadDriverName, options: RunLoadOptions = {}): Promise<LoadResult> {
  switch (driver) {
    case 'builtin':
      return runBuiltinLoad(plan, options.builtin);
    case 'k6':
      return runK6Load(plan, { ...options.k6, ...(options.slo ? { slo: options.slo } : {}) });
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
