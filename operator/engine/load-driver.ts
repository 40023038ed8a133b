// The load driver of a manifest, built the same way in both placements: `conclab run` and the
// cluster's load pod both hand the trial runner this function. Built-in driver or k6 (an
// external program: on PATH locally, copied into the load pod by an init container).
//
// spec.load.generators means the same in both placements: that many generators share every
// plan's schedule (each max-throughput step included) and their parts merge exactly. Locally
// they are processes of this machine on the CPUs the placement keeps outside the workloads'
// budget; in a cluster they are the trial's load pods, this one (the coordinator) running
// share 0 and the generator pods (`conclab generate`) the others.

import { tracingOf } from '../api/defaults.ts';
import type { ConcurrencyExperiment } from '../api/schema.ts';
import type { LoadResult } from '../contracts/records.ts';
import { type PartRunner, type RunLoadOptions, runLoad, runLoadPart, runParts } from '../load/index.ts';
import { remoteGenerator } from '../load/remote-generator.ts';
import { sloFromApi } from '../load/slo.ts';
import type { LoadPlan } from '../load/types.ts';

export interface LoadDriverOptions {
  /** PATH-style list of directories to find k6 in; default this process's PATH. */
  k6PathEnv?: string;
  /**
   * Local placement: the CPUs `conclab run` pinned for the load generator, outside the
   * workloads' budget (the local runtime's pinLoadGenerator). With spec.load.generators > 1
   * the generators run there, one CPU each in turn; one generator is this process, already
   * pinned there.
   */
  cpus?: number[];
  /**
   * Cluster placement: the trial's generator pods (their base URLs, from the assignment) and
   * the experiment's token they require. This process is then generator 0 of them all.
   */
  remote?: { urls: string[]; token: string };
}

/** Time 0 of a plan lies this far ahead when load pods share it: the part requests reach all. */
export const REMOTE_START_LEAD_MILLIS = 1000;

export function loadDriverFor(
  experiment: ConcurrencyExperiment,
  parseMillis: (d: string) => number,
  options: LoadDriverOptions = {},
): (plan: LoadPlan) => Promise<LoadResult> {
  const spec = experiment.spec;
  const slo = sloFromApi(spec.slo, parseMillis);
  const tracing = tracingOf(spec);
  const sampleRatio = tracing.enabled ? tracing.sampleRatio : 0;
  const driver = spec.load.driver;
  const generators = spec.load.generators ?? 1;
  const run: RunLoadOptions = {
    slo,
    k6: { sampleRatio, ...(options.k6PathEnv !== undefined ? { pathEnv: options.k6PathEnv } : {}) },
    ...(options.cpus?.length && generators > 1 ? { cpus: options.cpus } : {}),
  };
  const remote = options.remote;
  if (remote) {
    if (remote.urls.length !== generators - 1) {
      throw new Error(
        `spec.load.generators is ${generators} but the assignment names ${remote.urls.length} generator pod(s) besides this load pod (${generators - 1} expected)`,
      );
    }
    if (generators > 1) {
      const runners: PartRunner[] = [
        (plan, part) => runLoadPart(plan, driver, part, run),
        ...remote.urls.map((url) => remoteGenerator(url, { driver, token: remote.token, slo, k6: { sampleRatio } })),
      ];
      return async (plan) => (await runParts(plan, runners, REMOTE_START_LEAD_MILLIS)).result;
    }
  }
  return (plan) => runLoad({ ...plan, generators }, driver, run);
}
