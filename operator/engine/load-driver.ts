// The load driver of a manifest, built the same way in both placements: `conclab run` and the
// cluster's load pod both hand the trial runner this function. Built-in driver or k6 (an
// external program: on PATH locally, copied into the load pod by an init container).

import { tracingOf } from '../api/defaults.ts';
import type { ConcurrencyExperiment } from '../api/schema.ts';
import type { LoadResult } from '../contracts/records.ts';
import { runLoad } from '../load/index.ts';
import { sloFromApi } from '../load/slo.ts';
import type { LoadPlan } from '../load/types.ts';

export interface LoadDriverOptions {
  /** PATH-style list of directories to find k6 in; default this process's PATH. */
  k6PathEnv?: string;
}

export function loadDriverFor(
  experiment: ConcurrencyExperiment,
  parseMillis: (d: string) => number,
  options: LoadDriverOptions = {},
): (plan: LoadPlan) => Promise<LoadResult> {
  const spec = experiment.spec;
  const slo = sloFromApi(spec.slo, parseMillis);
  const tracing = tracingOf(spec);
  const sampleRatio = tracing.enabled ? tracing.sampleRatio : 0;
  return (plan) =>
    runLoad(plan, spec.load.driver, {
      slo,
      k6: { sampleRatio, ...(options.k6PathEnv !== undefined ? { pathEnv: options.k6PathEnv } : {}) },
    });
}
