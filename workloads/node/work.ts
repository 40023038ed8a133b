// The work one request does, identical for every model: only who runs it differs.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Profile } from './config.ts';
import { burn } from './cpu-work.ts';
import type { SharedStateClient, WorkCosts } from './shared-state.ts';

export interface WorkPlan {
  profile: Profile;
  /** Kernel iterations per request, from cpuMillis and the calibration. */
  cpuIterations: number;
  ioMillis: number;
  sharedState: SharedStateClient | undefined;
}

export function planWork(options: {
  profile: Profile;
  cpuMillis: number;
  ioMillis: number;
  cpuIterationsPerMilli: number;
  sharedState: SharedStateClient | undefined;
}): WorkPlan {
  const usesCpu = options.profile !== 'io';
  const usesIo = options.profile === 'io' || options.profile === 'mixed';
  return {
    profile: options.profile,
    cpuIterations: usesCpu ? Math.round(options.cpuMillis * options.cpuIterationsPerMilli) : 0,
    ioMillis: usesIo ? options.ioMillis : 0,
    sharedState: options.profile === 'shared-state' ? options.sharedState : undefined,
  };
}

/** Folds every result in, so the computation is observable and cannot be optimised away. */
export let workChecksum = 0;

/**
 * Does one request's work. Returns synchronously when nothing needs awaiting (cpu profile), so the
 * trivial handler pays no promise overhead; otherwise a promise. The result is a checksum the
 * caller may report; workChecksum keeps the computation observable. `costs`, given for traced
 * requests only, receives the cost of the shared-state update.
 */
export function performWork(plan: WorkPlan, seed: number, costs?: WorkCosts): number | Promise<number> {
  const result = plan.cpuIterations > 0 ? burn(plan.cpuIterations, seed) : seed;
  workChecksum ^= result;
  const shared = plan.sharedState?.update(costs);
  if (plan.ioMillis > 0) {
    return (shared ?? Promise.resolve()).then(() => sleep(plan.ioMillis)).then(() => result);
  }
  if (shared !== undefined) return shared.then(() => result);
  return result;
}
