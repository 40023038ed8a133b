// The sizing answer: to serve a target rate within the SLO, how many workers per pod, how
// much CPU and memory per pod, how many replicas, and which concurrency model needs less.
// Pure: measured capacities in, a recommendation with its arithmetic out.
//
// Uncertainty is carried, not dropped: capacity per pod is a mean over trials with a
// confidence interval, so the replica count is a range. The pessimistic count divides by the
// interval's lower bound, the optimistic one by its upper bound, the expected one by the mean.
// A model "needs less" only when its pessimistic total CPU is below every other model's
// optimistic total; otherwise the answer says the ranges overlap.
//
// Workers per pod are chosen among the measured worker counts only (the evidence): the one
// with the fewest pessimistic replicas, then the fewest expected, then the least memory, then
// the fewest workers. A USL fit, when given, is used to say where an unmeasured worker count
// promises more, never to size on a prediction.

import type { SloPercentile } from '../contracts/records.ts';
import type { UslResult } from './usl.ts';
import { uslThroughput } from './usl.ts';

export interface SizingSlo {
  /** Latency bounds as the manifest gives them ("200ms"). */
  latency?: Partial<Record<SloPercentile, string>>;
  /** Highest acceptable share of failed requests, 0..1. */
  errorRate?: number;
}

export interface SizingTarget {
  /** Requests per second the service must serve in all. */
  requestsPerSecond: number;
  /** The SLO the capacities were measured under (spec.slo, as max-throughput applied it). */
  slo?: SizingSlo;
  /** Spare capacity to plan on top of the target, as a share (0.25 = 25% more); 0 by default. */
  headroom?: number;
  /** Fewest replicas to run whatever the rate (e.g. 2, so that one pod may fail); 1 by default. */
  minReplicas?: number;
}

export interface IntervalAt {
  lower: number;
  upper: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
}

export interface CapacityAtWorkers {
  /** Workers per pod this was measured at. */
  workers: number;
  /** Requests/s one pod sustained within the SLO: mean over trials, trials, and the interval. */
  capacity: { mean: number; n: number; ci?: IntervalAt | undefined };
  /** Peak memory of one pod at this worker count, bytes: mean over trials, interval, largest seen. */
  peakMemoryBytes?: { mean: number; ci?: IntervalAt | undefined; max?: number | undefined } | undefined;
  /** The pod served all it was offered: its capacity is at least `capacity` (not reached). */
  lowerBound?: boolean;
}

export interface ModelMeasurements {
  /** The model's name as the report shows it ("process", "thread"). */
  model: string;
  /** CPU limit of one pod, cores: the same at every worker count (the fairness contract). */
  cpuCoresPerPod: number;
  points: CapacityAtWorkers[];
  /** USL fit of capacity per pod against workers, when there is one. */
  fit?: UslResult | undefined;
}

/** A count under the three readings of capacity. */
export interface SizingRange {
  /** From the lower bound of capacity per pod: enough unless capacity is below its interval. */
  pessimistic: number;
  /** From the mean. */
  expected: number;
  /** From the upper bound. */
  optimistic: number;
}

export interface WorkerOption {
  workers: number;
  replicas: SizingRange;
  totalCpuCores: SizingRange;
}

export interface ModelSizing {
  model: string;
  sizable: true;
  workersPerPod: number;
  cpuCoresPerPod: number;
  capacityPerPod: {
    mean: number;
    lower: number;
    upper: number;
    /** Undefined with one trial: there is no interval, and the range is a point. */
    level: number | undefined;
    trials: number;
    lowerBound: boolean;
  };
  /** Memory request per pod: the upper bound of peak memory, else the largest seen, else the mean. */
  memoryBytesPerPod: number | undefined;
  memoryBasis: string | undefined;
  replicas: SizingRange;
  totalCpuCores: SizingRange;
  /** Memory for the expected, pessimistic and optimistic replica counts at memoryBytesPerPod. */
  totalMemoryBytes: SizingRange | undefined;
  /** The computation, one line each, for people. */
  arithmetic: string[];
  /** Every measured worker count, for the table. */
  options: WorkerOption[];
  notes: string[];
}

export interface ModelNotSizable {
  model: string;
  sizable: false;
  reason: string;
}

export interface SizingComparison {
  /** The model that needs less, when it does beyond the uncertainty. */
  model: string | undefined;
  clear: boolean;
  statement: string;
}

export interface SizingAnswer {
  target: {
    requestsPerSecond: number;
    /** The rate planned for: target × (1 + headroom). */
    plannedRequestsPerSecond: number;
    headroom: number;
    minReplicas: number;
    /** The SLO in words, "p99 ≤ 200ms, errors ≤ 1%"; undefined when none was given. */
    slo: string | undefined;
  };
  models: (ModelSizing | ModelNotSizable)[];
  /** Which model needs less CPU in all; named only when the ranges do not overlap. */
  lessCpu: SizingComparison;
  /** The same for memory in all (at each model's memory request per pod). */
  lessMemory: SizingComparison;
  summary: string;
}

// ---------------------------------------------------------------------------------------

function cores(c: number): string {
  return `${Number(c.toFixed(3))} CPU`;
}

function rate(r: number): string {
  return r >= 100 ? String(Math.round(r)) : String(Number(r.toPrecision(3)));
}

const MIB = 1024 * 1024;
function mebibytes(bytes: number): string {
  return `${Math.ceil(bytes / MIB)} MiB`;
}

export function formatSlo(slo: SizingSlo | undefined): string | undefined {
  if (slo === undefined) return undefined;
  const parts: string[] = [];
  for (const p of ['p50', 'p90', 'p99', 'p999'] as const) {
    const bound = slo.latency?.[p];
    if (bound !== undefined) parts.push(`${p} ≤ ${bound}`);
  }
  if (slo.errorRate !== undefined) parts.push(`errors ≤ ${Number((slo.errorRate * 100).toPrecision(3))}%`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** ceil that does not turn 7.000000000001 (floating point) into 8. */
function ceilCount(x: number): number {
  return Math.ceil(x - 1e-9);
}

function validate(target: SizingTarget, models: readonly ModelMeasurements[]): void {
  const fail = (field: string, problem: string) => {
    throw new RangeError(`recommendSizing: ${field} ${problem}`);
  };
  if (!(Number.isFinite(target.requestsPerSecond) && target.requestsPerSecond > 0)) {
    fail('target.requestsPerSecond', `must be a rate above 0, got ${target.requestsPerSecond}`);
  }
  const headroom = target.headroom ?? 0;
  if (!(Number.isFinite(headroom) && headroom >= 0)) fail('target.headroom', `must be a share >= 0, got ${headroom}`);
  const minReplicas = target.minReplicas ?? 1;
  if (!(Number.isInteger(minReplicas) && minReplicas >= 1)) {
    fail('target.minReplicas', `must be a whole number >= 1, got ${minReplicas}`);
  }
  models.forEach((m, i) => {
    if (!(Number.isFinite(m.cpuCoresPerPod) && m.cpuCoresPerPod > 0)) {
      fail(`models[${i}].cpuCoresPerPod`, `must be cores above 0 (the pod's CPU limit), got ${m.cpuCoresPerPod}`);
    }
    m.points.forEach((p, j) => {
      const at = `models[${i}].points[${j}]`;
      if (!(Number.isInteger(p.workers) && p.workers >= 1))
        fail(`${at}.workers`, `must be a whole number >= 1, got ${p.workers}`);
      if (!(Number.isFinite(p.capacity.mean) && p.capacity.mean >= 0)) {
        fail(`${at}.capacity.mean`, `must be a rate >= 0, got ${p.capacity.mean}`);
      }
      const ci = p.capacity.ci;
      if (ci && !(ci.lower <= p.capacity.mean && p.capacity.mean <= ci.upper)) {
        fail(`${at}.capacity.ci`, `must contain the mean (${ci.lower} .. ${ci.upper} around ${p.capacity.mean})`);
      }
      const mem = p.peakMemoryBytes;
      if (mem && !(Number.isFinite(mem.mean) && mem.mean >= 0)) {
        fail(`${at}.peakMemoryBytes.mean`, `must be bytes >= 0, got ${mem.mean}`);
      }
    });
  });
}

interface Candidate {
  point: CapacityAtWorkers;
  lower: number;
  upper: number;
  replicas: SizingRange;
}

function candidateOf(point: CapacityAtWorkers, planned: number, minReplicas: number): Candidate {
  const mean = point.capacity.mean;
  // One trial has no interval: the range collapses to the point. A capacity not reached has
  // no upper bound we know of; the optimistic reading stays at the measurement.
  const lower = Math.max(0, point.capacity.ci?.lower ?? mean);
  const upper = point.lowerBound ? mean : (point.capacity.ci?.upper ?? mean);
  const count = (c: number) => (c > 0 ? Math.max(minReplicas, ceilCount(planned / c)) : Number.POSITIVE_INFINITY);
  return {
    point,
    lower,
    upper,
    replicas: { pessimistic: count(lower), expected: count(mean), optimistic: count(upper) },
  };
}

function memoryOf(point: CapacityAtWorkers): { bytes: number; basis: string } | undefined {
  const m = point.peakMemoryBytes;
  if (!m) return undefined;
  if (m.ci) {
    return {
      bytes: Math.max(m.ci.upper, m.mean),
      basis: `upper ${Math.round(m.ci.level * 100)}% bound of peak memory`,
    };
  }
  if (m.max !== undefined) return { bytes: m.max, basis: 'largest peak memory seen' };
  return { bytes: m.mean, basis: 'peak memory of one trial' };
}

function times(range: SizingRange, factor: number): SizingRange {
  return {
    pessimistic: range.pessimistic * factor,
    expected: range.expected * factor,
    optimistic: range.optimistic * factor,
  };
}

function sizeModel(
  m: ModelMeasurements,
  planned: number,
  target: number,
  headroom: number,
  minReplicas: number,
  sloText: string | undefined,
): ModelSizing | ModelNotSizable {
  const usable = m.points.filter((p) => p.capacity.mean > 0);
  if (usable.length === 0) {
    return {
      model: m.model,
      sizable: false,
      reason:
        m.points.length === 0
          ? 'no capacity was measured'
          : 'no worker count sustained any rate within the SLO (capacity 0)',
    };
  }
  const candidates = usable.map((p) => candidateOf(p, planned, minReplicas));
  const memoryMean = (c: Candidate) => c.point.peakMemoryBytes?.mean ?? 0;
  candidates.sort(
    (a, b) =>
      a.replicas.pessimistic - b.replicas.pessimistic ||
      a.replicas.expected - b.replicas.expected ||
      memoryMean(a) - memoryMean(b) ||
      a.point.workers - b.point.workers,
  );
  const best = candidates[0] as Candidate;
  const { point } = best;
  const cpu = m.cpuCoresPerPod;
  const level = point.capacity.ci?.level;
  const trials = point.capacity.n;
  const arithmetic: string[] = [];
  const notes: string[] = [];

  const interval =
    level === undefined
      ? `${trials} trial, no interval`
      : `${Math.round(level * 100)}% CI ${rate(point.capacity.ci?.lower ?? best.lower)}–${rate(point.capacity.ci?.upper ?? best.upper)}, ${trials} trials`;
  arithmetic.push(
    `capacity per pod at ${point.workers} worker(s) and ${cores(cpu)}: ${point.lowerBound ? 'at least ' : ''}${rate(point.capacity.mean)} req/s (${interval})${sloText ? ` within the SLO (${sloText})` : ''}`,
  );
  const plannedText = headroom > 0 ? `${rate(target)} × ${Number((1 + headroom).toFixed(4))}` : rate(target);
  if (headroom > 0) arithmetic.push(`planned rate: ${plannedText} = ${rate(planned)} req/s`);
  const line = (label: string, capacity: number, replicas: number) => {
    if (!(capacity > 0)) return `${label}: the capacity interval reaches 0 req/s, so no count is enough`;
    const raw = ceilCount(planned / capacity);
    const division = `ceil(${rate(planned)} / ${rate(capacity)}) = ${raw}`;
    const counted = raw < minReplicas ? `max(${division}, minReplicas ${minReplicas}) = ${replicas}` : division;
    return `${label}: ${counted} pods × ${cores(cpu)} = ${cores(replicas * cpu)}`;
  };
  arithmetic.push(line('expected', point.capacity.mean, best.replicas.expected));
  if (level !== undefined || point.lowerBound) {
    arithmetic.push(line('pessimistic', best.lower, best.replicas.pessimistic));
    arithmetic.push(line('optimistic', best.upper, best.replicas.optimistic));
  }
  if (!Number.isFinite(best.replicas.pessimistic)) {
    notes.push(
      `the capacity interval at ${point.workers} worker(s) reaches 0: the pessimistic count is unbounded (run more trials)`,
    );
  }
  if (level === undefined) notes.push('one trial: capacity has no interval, so the replica range is a single count');
  if (point.lowerBound) {
    notes.push(
      `capacity was not reached at ${point.workers} worker(s) (every offered request was served): the counts are upper bounds`,
    );
  }

  const memory = memoryOf(point);
  const memoryBytesPerPod = memory ? Math.ceil(memory.bytes / MIB) * MIB : undefined;
  if (memory && memoryBytesPerPod !== undefined) {
    arithmetic.push(
      `memory per pod: ${mebibytes(memoryBytesPerPod)} (${memory.basis}) × ${best.replicas.expected} pods = ${mebibytes(memoryBytesPerPod * best.replicas.expected)}`,
    );
  } else {
    notes.push('peak memory was not measured: no memory request can be derived');
  }

  const fit = m.fit;
  if (fit?.fittable) {
    const c = { alpha: fit.alpha.value, beta: fit.beta.value, gamma: fit.gamma.value };
    const predicted = uslThroughput(point.workers, c);
    const measuredMax = Math.max(...usable.map((p) => p.workers));
    const peak = fit.peak;
    if (peak.kind === 'finite' && !peak.beyondMeasured) {
      const n = Math.round(peak.n);
      const atPeak = uslThroughput(n, c);
      if (!usable.some((p) => p.workers === n) && atPeak > best.upper) {
        notes.push(
          `the USL fit peaks at N* ≈ ${Number(peak.n.toPrecision(3))}: it predicts ${rate(atPeak)} req/s at ${n} workers, above the interval measured at ${point.workers}; measure ${n} workers before sizing on it`,
        );
      }
    } else if (point.workers === measuredMax && uslThroughput(2 * measuredMax, c) > best.upper) {
      notes.push(
        `the USL fit predicts more beyond the largest measured worker count (${rate(uslThroughput(2 * measuredMax, c))} req/s at ${2 * measuredMax}; limit γ/α = ${rate(fit.limit)}): an extrapolation, measure before sizing on it`,
      );
    }
    if (Math.abs(predicted - point.capacity.mean) > Math.max(best.upper - best.lower, 0.05 * point.capacity.mean)) {
      notes.push(
        `the USL fit gives ${rate(predicted)} req/s at ${point.workers} workers, off the measured ${rate(point.capacity.mean)}: the fit describes this point poorly`,
      );
    }
  }

  const replicas = best.replicas;
  return {
    model: m.model,
    sizable: true,
    workersPerPod: point.workers,
    cpuCoresPerPod: cpu,
    capacityPerPod: {
      mean: point.capacity.mean,
      lower: best.lower,
      upper: best.upper,
      level,
      trials,
      lowerBound: point.lowerBound === true,
    },
    memoryBytesPerPod,
    memoryBasis: memory?.basis,
    replicas,
    totalCpuCores: times(replicas, cpu),
    totalMemoryBytes: memoryBytesPerPod === undefined ? undefined : times(replicas, memoryBytesPerPod),
    arithmetic,
    options: [...candidates]
      .sort((a, b) => a.point.workers - b.point.workers)
      .map((c) => ({ workers: c.point.workers, replicas: c.replicas, totalCpuCores: times(c.replicas, cpu) })),
    notes,
  };
}

/** "7 CPU (6–8)", "7 pods", "∞" for an unbounded end. */
function rangeText(
  r: SizingRange,
  unit: string,
  format: (v: number) => string = (v) => String(Number(v.toFixed(3))),
): string {
  const show = (v: number) => (Number.isFinite(v) ? format(v) : '∞');
  const lo = Math.min(r.optimistic, r.pessimistic);
  const hi = Math.max(r.optimistic, r.pessimistic);
  return lo === hi ? `${show(r.expected)} ${unit}` : `${show(r.expected)} ${unit} (${show(lo)}–${show(hi)})`;
}

interface Resource {
  /** "CPU", "memory" */
  what: string;
  pick: (s: ModelSizing) => SizingRange | undefined;
  text: (r: SizingRange) => string;
}

const CPU: Resource = { what: 'CPU', pick: (s) => s.totalCpuCores, text: (r) => rangeText(r, 'CPU') };
const MEMORY: Resource = {
  what: 'memory',
  pick: (s) => s.totalMemoryBytes,
  text: (r) => rangeText(r, 'MiB', (v) => String(Math.ceil(v / MIB))),
};

/** Which model needs less of a resource: named only when its pessimistic total beats every optimistic one. */
function compare(sized: readonly ModelSizing[], resource: Resource): SizingComparison {
  const measured = sized.filter((s) => resource.pick(s) !== undefined);
  if (measured.length < 2) {
    return {
      model: undefined,
      clear: false,
      statement:
        measured.length === 1
          ? `only ${measured[0]?.model} has a ${resource.what} figure to compare`
          : `no ${resource.what} figures to compare`,
    };
  }
  const range = (s: ModelSizing) => resource.pick(s) as SizingRange;
  const ranked = [...measured].sort(
    (a, b) => range(a).expected - range(b).expected || range(a).pessimistic - range(b).pessimistic,
  );
  const first = ranked[0] as ModelSizing;
  const others = ranked.slice(1);
  const text = (s: ModelSizing) => `${s.model} ${resource.text(range(s))}`;
  if (others.every((o) => range(first).pessimistic < range(o).optimistic)) {
    return {
      model: first.model,
      clear: true,
      statement: `${first.model} needs less ${resource.what}: ${resource.text(range(first))} against ${others.map(text).join(', ')}, even at its pessimistic count`,
    };
  }
  const tie = others.every((o) => range(o).expected === range(first).expected);
  return {
    model: undefined,
    clear: false,
    statement: tie
      ? `neither needs less ${resource.what}: ${[first, ...others].map(text).join(' and ')}`
      : `neither clearly needs less ${resource.what}: ${[first, ...others].map(text).join(' and ')} overlap within the capacity intervals`,
  };
}

function sentence(s: string): string {
  return `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;
}

/** The sizing answer for a target rate from per-model measurements; see the module comment. */
export function recommendSizing(target: SizingTarget, models: readonly ModelMeasurements[]): SizingAnswer {
  validate(target, models);
  const headroom = target.headroom ?? 0;
  const minReplicas = target.minReplicas ?? 1;
  const planned = target.requestsPerSecond * (1 + headroom);
  const sloText = formatSlo(target.slo);
  const results = models.map((m) => sizeModel(m, planned, target.requestsPerSecond, headroom, minReplicas, sloText));
  const sized = results.filter((r): r is ModelSizing => r.sizable);
  const lessCpu = compare(sized, CPU);
  const lessMemory = compare(sized, MEMORY);
  const parts = sized.map(
    (s) =>
      `${s.model}: ${s.workersPerPod} worker(s) per pod, ${rangeText(s.replicas, 'pods')} × ${cores(s.cpuCoresPerPod)}${s.memoryBytesPerPod === undefined ? '' : ` and ${mebibytes(s.memoryBytesPerPod)}`}`,
  );
  const unsized = results.filter((r): r is ModelNotSizable => !r.sizable).map((r) => `${r.model}: ${r.reason}`);
  const summary = `To serve ${rate(target.requestsPerSecond)} req/s${headroom > 0 ? ` (+${Math.round(headroom * 100)}% headroom)` : ''}${sloText ? ` within ${sloText}` : ''}: ${[...parts, ...unsized].join('; ')}. ${sentence(lessCpu.statement)} ${sentence(lessMemory.statement)}`;
  return {
    target: {
      requestsPerSecond: target.requestsPerSecond,
      plannedRequestsPerSecond: planned,
      headroom,
      minReplicas,
      slo: sloText,
    },
    models: results,
    lessCpu,
    lessMemory,
    summary,
  };
}
