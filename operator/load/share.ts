// How N generators share one plan, whatever runs them (processes of the built-in driver, k6
// runs, load pods): the cap each one keeps, the plan each one is handed, and the live figures
// they show together. Which requests each sends is schedule.ts's ScheduleShare.
import type { LoadPlan, LoadProgress } from './types.ts';

/** One generator's share of the in-flight cap. */
export function generatorCap(maxInFlight: number, generators: number): number {
  return Math.max(1, Math.floor(maxInFlight / generators));
}

/**
 * The plan one generator of `count` runs: the same schedule and targets, its share of the cap,
 * and no `generators` (a share is run by one generator; validation would read the count
 * against the share's smaller cap).
 */
export function sharePlan(plan: LoadPlan, count: number): LoadPlan {
  const { generators: _generators, ...rest } = plan;
  return { ...rest, maxInFlight: generatorCap(plan.maxInFlight, count) };
}

/** Live figures of all generators: the first one's clock and rate, the others' counts added. */
export function combinedProgress(latest: readonly (LoadProgress | undefined)[]): LoadProgress | undefined {
  const [lead] = latest;
  if (!lead) return undefined;
  const sum = (f: (p: LoadProgress) => number) => latest.reduce((a, p) => a + (p ? f(p) : 0), 0);
  return {
    elapsedMillis: lead.elapsedMillis,
    measuring: lead.measuring,
    currentRate: lead.currentRate,
    sent: sum((p) => p.sent),
    completed: sum((p) => p.completed),
    errors: sum((p) => p.errors),
  };
}
