// Pure decisions about the shape of a run: which trial comes when, what load each gets,
// which faults hit which variant. No I/O here, so all of it is table-tested.
import type { ConcurrencyExperimentSpec, Fault, Load } from '../api/schema.ts';
import { baseName, type RunVariant, sweepPoints } from '../api/sweep.ts';
import type { LoadPlan, RateStage } from '../load/types.ts';

// The points a run measures (the variants, or with spec.sweep one variant per worker count and
// CPU budget) are decided once, in api/sweep.ts, where the runtimes and the analysis reach
// them too; both placements plan their trials from them here.
export { budgetOf, runVariant, sweepPoints } from '../api/sweep.ts';

export interface PlannedTrial {
  variant: string;
  /** 1-based trial number of this variant. */
  trial: number;
  /** 0-based position in the whole run. */
  index: number;
}

/**
 * Interleaves trials across variants (A B A B ...) so that drift of a noisy machine over
 * the run (thermal, other tenants) hits every variant alike. The starting variant rotates
 * each round (A B, B A, A B ...) so no variant always runs right after a cold start. With a
 * sweep every point is a variant here: all points of all variants are interleaved.
 */
export function planTrials(
  spec: Pick<ConcurrencyExperimentSpec, 'variants' | 'trials'> & { sweep?: ConcurrencyExperimentSpec['sweep'] },
): PlannedTrial[] {
  const names = sweepPoints(spec).map((v) => v.name);
  const planned: PlannedTrial[] = [];
  for (let round = 0; round < spec.trials; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const variant of order) planned.push({ variant, trial: round + 1, index: planned.length });
  }
  return planned;
}

/**
 * Faults that apply to a variant: all faults that name it, or name no variant at all. A sweep
 * point is hit by the faults that name its variant (the manifest's name, before the sweep).
 */
export function faultsFor(
  faults: readonly Fault[] | undefined,
  variant: string | Pick<RunVariant, 'name' | 'sweep'>,
): Fault[] {
  const names = typeof variant === 'string' ? [variant] : [variant.name, baseName(variant)];
  return (faults ?? []).filter(
    (f) => !f.variants || f.variants.length === 0 || f.variants.some((n) => names.includes(n)),
  );
}

/** The worker a fault targets, taken modulo the worker count so one manifest fits every variant. */
export function faultWorker(fault: Fault, workers: number): number {
  return (fault.target?.worker ?? 0) % Math.max(1, workers);
}

export interface LoadPlanInput {
  load: Load;
  /** Work URLs of every replica of the variant: the driver spreads the load over all of them. */
  targets: string[];
  headers?: Record<string, string>;
  /** Duration parser (from operator/api/units.ts): "30s" -> 30000. */
  parseMillis: (duration: string) => number;
}

/** Maps the API's load section to the driver's plan for one constant or ramping trial. */
export function toLoadPlan({ load, targets, headers, parseMillis }: LoadPlanInput): LoadPlan {
  const common = {
    targets,
    warmUpMillis: parseMillis(load.warmUp),
    maxInFlight: load.maxInFlight,
    timeoutMillis: parseMillis(load.timeout),
    ...(headers ? { headers } : {}),
  };
  if (load.pattern === 'ramping-arrival-rate') {
    const stages: RateStage[] = (load.stages ?? []).map((s) => ({
      durationMillis: parseMillis(s.duration),
      targetRate: s.target,
    }));
    const durationMillis = stages.reduce((sum, s) => sum + s.durationMillis, 0);
    return { ...common, stages, durationMillis };
  }
  // constant-arrival-rate, and each step of max-throughput starts from the given rate.
  return { ...common, rate: load.rate ?? 1, durationMillis: parseMillis(load.duration) };
}
