// Record assembly, one code path for both placements: `conclab run` hands it the records its
// trial runner returned, the operator the records its load pods posted. Out comes the one
// ExperimentRun that analysis and every report read.
import type { Environment, ExperimentRun } from '../analysis/run.ts';
import type { ConcurrencyExperiment } from '../api/schema.ts';
import type { HostFacts, TrialRecord } from '../contracts/records.ts';
import { planTrials } from './plan.ts';

export interface AssembleInput {
  experiment: ConcurrencyExperiment;
  environment: Environment;
  trials: readonly TrialRecord[];
  startedAt: Date;
  endedAt: Date;
  partial: boolean;
}

export function assembleRun(input: AssembleInput): ExperimentRun {
  const order = new Map(planTrials(input.experiment.spec).map((p) => [`${p.variant}#${p.trial}`, p.index]));
  const trials = [...input.trials].sort(
    (a, b) => (order.get(`${a.variant}#${a.trial}`) ?? 1e9) - (order.get(`${b.variant}#${b.trial}`) ?? 1e9),
  );
  return {
    experiment: input.experiment,
    environment: withHostFacts(input.environment, trials),
    startedAt: input.startedAt.toISOString(),
    endedAt: input.endedAt.toISOString(),
    trials,
    partial: input.partial,
  };
}

/**
 * The environment completed from what the workloads' supervisors reported about the machine
 * they ran on: a cluster's operator cannot see its nodes, its load pods' records can. Where
 * the replicas ran on different kinds of machine the report says so.
 */
export function withHostFacts(environment: Environment, trials: readonly TrialRecord[]): Environment {
  const hosts = trials.flatMap((t) => (t.replicas ?? []).flatMap((r) => (r.host ? [r.host] : [])));
  const warnings = [...environment.warnings];
  const kinds = new Map<string, HostFacts>();
  for (const h of hosts) kinds.set(`${h.cores}|${h.cpuModel}|${h.kernel}|${h.cgroupVersion}`, h);
  if (kinds.size > 1) {
    warnings.push(
      `workloads ran on ${kinds.size} kinds of machine (${[...kinds.values()].map((h) => `${h.cores} CPUs ${h.cpuModel}, ${h.kernel}`).join('; ')}): compare with care`,
    );
  }
  for (const t of trials) for (const w of t.warnings ?? []) if (!warnings.includes(w)) warnings.push(w);
  const first = hosts[0];
  if (!first || environment.cgroupVersion !== 'kubernetes') return { ...environment, warnings };
  const runtimes = [...new Set(hosts.map((h) => h.runtime))];
  return {
    ...environment,
    hostname: [...new Set(hosts.map((h) => h.hostname))].join(', '),
    cores: first.cores,
    cpuModel: first.cpuModel,
    kernel: first.kernel,
    runtimeVersions: { ...environment.runtimeVersions, workload: runtimes.join(', '), nodeCgroup: first.cgroupVersion },
    images: [
      ...new Set([
        ...(environment.images ?? []),
        ...trials.flatMap((t) => (t.replicas ?? []).flatMap((r) => (r.image ? [r.image] : []))),
      ]),
    ],
    warnings,
  };
}
