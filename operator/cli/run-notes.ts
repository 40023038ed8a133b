// Pure: what `conclab run` says about parts of a manifest that change what a local run does:
// a schedule (the operator's; a local run runs once, now) and a sweep (how many points it
// measures), and the largest CPU budget any point gets (the load generator keeps off it).
import type { ConcurrencyExperimentSpec } from '../api/schema.ts';
import { budgetOf, sweepPoints } from '../api/sweep.ts';
import { parseCpuCores } from '../api/units.ts';

/** Lines for stderr before the run starts (each ends with a newline); none for a plain manifest. */
export function runNotes(spec: ConcurrencyExperimentSpec): string[] {
  const notes: string[] = [];
  if (spec.schedule) {
    notes.push(
      `note: spec.schedule "${spec.schedule}" is for the operator in a cluster (kubectl apply); conclab run runs the experiment once, now\n`,
    );
  }
  if (spec.sweep) {
    const cpu = spec.sweep.cpu?.length ? ` x CPU ${spec.sweep.cpu.join(', ')}` : '';
    const points = sweepPoints(spec);
    notes.push(
      `sweep: ${spec.variants.length} variant(s) x workers ${spec.sweep.workers.join(', ')}${cpu} = ${points.length} points (${points.map((p) => p.name).join(', ')}), ${spec.trials} trial(s) each\n`,
    );
  }
  return notes;
}

/** The largest CPU budget of any point, cores: the share of the machine the workloads may take. */
export function workloadCores(spec: ConcurrencyExperimentSpec): number {
  return Math.max(...sweepPoints(spec).map((p) => parseCpuCores(budgetOf(spec, p).cpu)));
}
