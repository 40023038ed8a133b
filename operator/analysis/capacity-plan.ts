// Capacity planning from one run: the points of a sweep, grouped back into one series per
// manifest variant (and CPU budget), each fitted with the Universal Scalability Law over the
// capacities its searches found; and, for spec.target, the sizing answer from the same
// measurements. Pure: the spec and the variant summaries in, the plan out. The USL fit and the
// sizing arithmetic are usl.ts's and sizing.ts's; this module only says what goes in.
//
// Every trial's searched capacity is its own point of the fit (repeated N measure the noise),
// weighted 1. γ is fitted with α and β when the series has 4 or more worker counts; with 3 and
// N = 1 among them, γ is taken from the N = 1 trials (usl.ts's "from-n1") so that a small sweep
// ([1, 2, 4]) can still be fitted. Fewer, or too flat, and the series says why instead.

import type { ConcurrencyExperimentSpec } from '../api/schema.ts';
import { baseName, budgetOf, type RunVariant, sweepPoints } from '../api/sweep.ts';
import { parseCpuCores } from '../api/units.ts';
import {
  type CapacityAtWorkers,
  type ModelMeasurements,
  recommendSizing,
  type SizingAnswer,
  type SizingRange,
} from './sizing.ts';
import type { MeanEstimate } from './stats.ts';
import { describeUsl, fitUsl, type UslResult } from './usl.ts';
import type { VariantSummary } from './variant-summary.ts';

/**
 * Search ends that leave capacity unreached: the variant served the highest rate tried. (A
 * search the load generator ended, driver-saturated, is no bound at all: its trials carry the
 * report's generator warnings.)
 */
const UNREACHED_ENDS = new Set(['max-rate']);

export interface CapacityPoint {
  /** The point's variant name (VARIANT-wN, or the manifest variant without a sweep). */
  name: string;
  workers: number;
  /** Capacity per pod over the point's trials (searched capacity), req/s. */
  capacity: MeanEstimate & { values: number[] };
  /** Peak memory of one pod, bytes, when measured. */
  peakMemoryBytes: (MeanEstimate & { max: number }) | undefined;
  /** Some search ended before capacity was reached (max-rate, driver-saturated): a lower bound. */
  lowerBound: boolean;
}

export interface CapacitySeries {
  /** The manifest variant. */
  variant: string;
  model: RunVariant['model'];
  /** The CPU budget of every point, as the manifest wrote it. */
  cpu: string;
  cpuCores: number;
  /** How the series is named in tables: the variant, with "@ CPU" when the sweep varies CPU. */
  label: string;
  points: CapacityPoint[];
  fit: UslResult;
  /** describeUsl's sentence: contention and coherency in this model's terms, or why no fit. */
  description: string;
}

export interface CapacityPlan {
  /** One per manifest variant and CPU budget; present with spec.sweep. */
  series: CapacitySeries[];
  /** The answer for spec.target; absent without a target or when nothing could be sized. */
  sizing: SizingAnswer | undefined;
  /** Why there is no sizing answer, for people. */
  sizingMissing: string | undefined;
  /** One line for status and the printer column: pods per variant, and which needs less CPU. */
  sizingLine: string | undefined;
}

function pointOf(summary: VariantSummary): CapacityPoint | undefined {
  const searched = summary.searchedCapacity;
  if (!searched || searched.n === 0) return undefined;
  const counted = summary.perTrial.filter((t) => summary.trialsCounted.includes(t.trial));
  const memory = summary.resources?.peakMemoryBytes;
  return {
    name: summary.name,
    workers: summary.workers,
    capacity: searched,
    peakMemoryBytes: memory
      ? { n: memory.n, mean: memory.mean, sd: memory.sd, ci: memory.ci, max: memory.max }
      : undefined,
    lowerBound: counted.some((t) => t.search !== undefined && UNREACHED_ENDS.has(t.search.end)),
  };
}

function fitSeries(points: readonly CapacityPoint[]): UslResult {
  const data = points.flatMap((p) => p.capacity.values.map((throughput) => ({ n: p.workers, throughput })));
  const distinct = new Set(points.map((p) => p.workers));
  const gamma = distinct.size < 4 && distinct.has(1) ? 'from-n1' : 'fit';
  return fitUsl(data, { gamma });
}

function measurementsOf(series: CapacitySeries): ModelMeasurements {
  return {
    model: series.label,
    cpuCoresPerPod: series.cpuCores,
    fit: series.fit,
    points: series.points.map(
      (p): CapacityAtWorkers => ({
        workers: p.workers,
        capacity: {
          mean: p.capacity.mean,
          n: p.capacity.n,
          ci: p.capacity.ci
            ? { lower: p.capacity.ci.lower, upper: p.capacity.ci.upper, level: p.capacity.ci.level }
            : undefined,
        },
        peakMemoryBytes: p.peakMemoryBytes
          ? {
              mean: p.peakMemoryBytes.mean,
              ci: p.peakMemoryBytes.ci
                ? {
                    lower: p.peakMemoryBytes.ci.lower,
                    upper: p.peakMemoryBytes.ci.upper,
                    level: p.peakMemoryBytes.ci.level,
                  }
                : undefined,
              max: p.peakMemoryBytes.max,
            }
          : undefined,
        lowerBound: p.lowerBound,
      }),
    ),
  };
}

function count(r: SizingRange): string {
  const show = (v: number) => (Number.isFinite(v) ? String(v) : '∞');
  const lo = Math.min(r.optimistic, r.pessimistic);
  const hi = Math.max(r.optimistic, r.pessimistic);
  return lo === hi ? show(r.expected) : `${show(r.expected)} (${show(lo)}-${show(hi)})`;
}

/** "processes 4 (3-5) x 2w x 1 CPU / threads 6 (5-7) x 4w x 1 CPU; processes needs less CPU" */
function sizingLineOf(answer: SizingAnswer): string {
  const parts = answer.models.map((m) =>
    m.sizable
      ? `${m.model} ${count(m.replicas)} x ${m.workersPerPod}w x ${Number(m.cpuCoresPerPod.toFixed(3))} CPU`
      : `${m.model}: not sizable`,
  );
  const less = answer.lessCpu.clear ? `${answer.lessCpu.model} needs less CPU` : 'neither clearly needs less CPU';
  return `${parts.join(' / ')}; ${less}`.slice(0, 1024);
}

/** The capacity plan of a run: USL series with a sweep, the sizing answer with a target. */
export function capacityPlan(spec: ConcurrencyExperimentSpec, summaries: readonly VariantSummary[]): CapacityPlan {
  const byName = new Map(summaries.map((s) => [s.name, s]));
  const cpuSwept = (spec.sweep?.cpu?.length ?? 0) > 1;
  const groups = new Map<
    string,
    { variant: string; model: RunVariant['model']; cpu: string; points: CapacityPoint[] }
  >();
  for (const point of sweepPoints(spec)) {
    const cpu = budgetOf(spec, point).cpu;
    const variant = baseName(point);
    const key = `${variant}\u0000${cpu}`;
    const group = groups.get(key) ?? { variant, model: point.model, cpu, points: [] };
    groups.set(key, group);
    const summary = byName.get(point.name);
    const measured = summary ? pointOf(summary) : undefined;
    if (measured) group.points.push(measured);
  }
  const all: CapacitySeries[] = [...groups.values()].map((g) => {
    const fit = fitSeries(g.points);
    const label = cpuSwept ? `${g.variant} @ ${g.cpu} CPU` : g.variant;
    return {
      ...g,
      cpuCores: parseCpuCores(g.cpu),
      label,
      fit,
      description: describeUsl(`${label} (${g.model})`, fit, { model: g.model }),
    };
  });
  const series = spec.sweep ? all : [];

  let sizing: SizingAnswer | undefined;
  let sizingMissing: string | undefined;
  if (!spec.target) {
    sizingMissing = 'no spec.target: give the rate to serve (target.rate) for a sizing answer';
  } else if (all.every((s) => s.points.length === 0)) {
    sizingMissing = 'no capacity was measured (no max-throughput search finished), so nothing can be sized';
  } else {
    sizing = recommendSizing(
      {
        requestsPerSecond: spec.target.rate,
        headroom: spec.target.headroom ?? 0,
        minReplicas: spec.target.minReplicas ?? 1,
        ...(spec.slo
          ? {
              slo: {
                ...(spec.slo.latency ? { latency: spec.slo.latency } : {}),
                errorRate: spec.slo.errorRate,
              },
            }
          : {}),
      },
      all.map(measurementsOf),
    );
  }
  return { series, sizing, sizingMissing, sizingLine: sizing ? sizingLineOf(sizing) : undefined };
}
