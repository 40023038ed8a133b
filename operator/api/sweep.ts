// The points a run measures. Without spec.sweep they are the manifest's variants; with it,
// every variant once per worker count (and per CPU budget), each point a variant of its own
// named VARIANT-wN (VARIANT-wN-cCPU). This is the ONE place that decides them: the trial plan
// of both placements, the load pod resolving its assignment, the results endpoint, the
// analysis and the report all read the points from here, so a point means the same
// everywhere. It lives in api/ (not engine/) because the runtimes and the analysis, which sit
// below the engine, read the points and their budget too (.ci/dependency-rules.cjs).
//
// Names stay within Kubernetes limits by construction: a variant name is at most 40
// characters, "-w256" adds 5 and "-c" plus the CPU in millicores ("64000m") at most 8, so a
// point name is at most 53 characters, a valid label value (63); the longest child name,
// cx-NAME(63)-RUN(15)-POINT(53)-t50-result, is 147 characters, within a name's 253.

import type { ConcurrencyExperimentSpec, Variant } from './schema.ts';

/** A variant as a run measures it: a manifest variant, or one point of its sweep. */
export interface RunVariant extends Variant {
  /** Set on sweep points: the manifest variant it expands and the point's own settings. */
  sweep?: {
    /** Name of the manifest variant. */
    base: string;
    /** The CPU budget of this point (sweep.cpu), as the manifest wrote it; absent: resources.cpu. */
    cpu?: string;
  };
}

type PointSpec = Pick<ConcurrencyExperimentSpec, 'variants'> & { sweep?: ConcurrencyExperimentSpec['sweep'] };

/** "500m" -> "500m", "1.5" -> "1500m", "2" -> "2": the DNS-safe spelling of a sweep CPU value. */
export function cpuNamePart(cpu: string): string {
  if (cpu.endsWith('m')) return cpu;
  const [whole = '0', fraction = ''] = cpu.split('.');
  const millis = Number(whole) * 1000 + Number(fraction.padEnd(3, '0').slice(0, 3) || '0');
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Name of the point of `variant` at `workers` (and `cpu`). */
export function pointName(variant: string, workers: number, cpu?: string): string {
  return `${variant}-w${workers}${cpu === undefined ? '' : `-c${cpuNamePart(cpu)}`}`;
}

/**
 * Every variant a run measures, in a stable order: per manifest variant, per CPU budget
 * (ascending), per worker count (ascending). Without a sweep, the manifest's variants as they are.
 */
export function sweepPoints(spec: PointSpec): RunVariant[] {
  const sweep = spec.sweep;
  if (!sweep) return spec.variants;
  const budgets: (string | undefined)[] = sweep.cpu?.length ? sweep.cpu : [undefined];
  return spec.variants.flatMap((v) =>
    budgets.flatMap((cpu) =>
      sweep.workers.map(
        (workers): RunVariant => ({
          ...v,
          name: pointName(v.name, workers, cpu),
          workers,
          sweep: { base: v.name, ...(cpu === undefined ? {} : { cpu }) },
        }),
      ),
    ),
  );
}

/** The measured variant of that name (a manifest variant or a sweep point), or undefined. */
export function runVariant(spec: PointSpec, name: string): RunVariant | undefined {
  return sweepPoints(spec).find((v) => v.name === name);
}

/** The manifest variant a measured variant belongs to: its sweep base, or itself. */
export function baseName(variant: Pick<RunVariant, 'name' | 'sweep'>): string {
  return variant.sweep?.base ?? variant.name;
}

/**
 * The budget of one measured variant: the point's CPU when the sweep sets one, else
 * spec.resources. Every reader of a variant's limits goes through this (the local runtime's
 * cgroup, the pod's requests = limits, the analysis's expected capacity).
 */
export function budgetOf(
  spec: Pick<ConcurrencyExperimentSpec, 'resources'>,
  variant: Variant | undefined,
): { cpu: string; memory: string } {
  const cpu = (variant as RunVariant | undefined)?.sweep?.cpu;
  return { cpu: cpu ?? spec.resources.cpu, memory: spec.resources.memory };
}
