// The capacity plan in the versioned JSON report (`capacityPlan`, optional: schemaVersion
// stays "1"): the USL series of a sweep and the sizing answer of spec.target, as analysis
// concluded them (analysis/capacity-plan.ts). JSON has no Infinity: an unbounded end of a
// range (a capacity interval reaching 0) and an asymptote that does not exist are absent.
import Type from 'typebox';
import type { CapacityPlan, CapacitySeries } from '../analysis/capacity-plan.ts';
import type { SizingAnswer, SizingRange } from '../analysis/sizing.ts';
import type { UslEstimate, UslResult } from '../analysis/usl.ts';

const closed = { additionalProperties: false } as const;
const Num = (description: string) => Type.Number({ description });
const Str = (description: string) => Type.String({ description });
const Bool = (description: string) => Type.Boolean({ description });
const Opt = Type.Optional;

const Coefficient = Type.Object(
  {
    value: Num('Estimate.'),
    standardError: Opt(Num('Standard error; 0 when pinned, absent without residual degrees of freedom.')),
    lower: Opt(Num('Lower end of the confidence interval.')),
    upper: Opt(Num('Upper end of the confidence interval.')),
    level: Num('Confidence level of the interval.'),
    atBound: Opt(
      Type.Unsafe<'lower' | 'upper'>({ type: 'string', enum: ['lower', 'upper'], description: 'On a bound.' }),
    ),
    fixed: Bool('γ taken from the N = 1 measurements rather than fitted.'),
    pinned: Bool('Held at 0: the data could not tell it from 0.'),
  },
  { description: 'One fitted USL coefficient.', ...closed },
);

const UslFitJson = Type.Object(
  {
    fittable: Bool('Whether the points carry a fit; when false, reason and message say why.'),
    reason: Opt(Str('too-few-points, not-identifiable, flat or too-uncertain.')),
    message: Opt(Str('What is wrong and what would help.')),
    method: Opt(Str('three-parameter, or gamma-from-n1 (γ from the N = 1 trials).')),
    alpha: Opt(Coefficient),
    beta: Opt(Coefficient),
    gamma: Opt(Coefficient),
    pinned: Opt(
      Type.Array(
        Type.Object(
          {
            parameter: Str('alpha or beta.'),
            estimate: Num('Its estimate in the full fit.'),
            standardError: Num('Its SE there.'),
          },
          { description: 'A coefficient held at 0.', ...closed },
        ),
      ),
    ),
    peak: Opt(
      Type.Object(
        {
          kind: Str('finite, or none.'),
          n: Opt(Num('N* = sqrt((1 − α)/β).')),
          nStandardError: Opt(Num('Standard error of N* (delta method).')),
          throughput: Opt(Num('Predicted X(N*), req/s.')),
          beyondMeasured: Opt(Bool('N* lies beyond the largest N measured.')),
          reason: Opt(Str('Why there is no finite peak.')),
          asymptote: Opt(Num('What X approaches as N grows (γ/α); absent when unbounded.')),
        },
        { description: 'Where throughput peaks.', ...closed },
      ),
    ),
    rSquared: Opt(Num('1 − RSS / TSS.')),
    residualStandardError: Opt(Num('sqrt(RSS / degrees of freedom), req/s.')),
    degreesOfFreedom: Opt(Type.Integer({ description: 'Residual degrees of freedom.' })),
    residuals: Opt(
      Type.Array(
        Type.Object(
          {
            n: Num('Workers.'),
            throughput: Num('Measured, req/s.'),
            predicted: Num('Fitted, req/s.'),
            residual: Num('Measured − fitted.'),
          },
          { description: 'One measured point against the fit.', ...closed },
        ),
      ),
    ),
    curve: Opt(
      Type.Array(
        Type.Object(
          {
            n: Num('Workers.'),
            throughput: Num('Predicted, req/s.'),
            lower: Num('Band, lower.'),
            upper: Num('Band, upper.'),
          },
          { description: 'The fitted curve with its confidence band.', ...closed },
        ),
      ),
    ),
  },
  { description: 'The Universal Scalability Law fit of one series.', ...closed },
);

const SeriesPoint = Type.Object(
  {
    name: Str('The point (VARIANT-wN).'),
    workers: Type.Integer({ minimum: 1, description: 'Workers per pod.' }),
    trials: Type.Integer({ minimum: 0, description: 'Trials behind the capacity.' }),
    capacity: Num('Mean searched capacity, req/s.'),
    lower: Opt(Num('Lower end of its 95% interval.')),
    upper: Opt(Num('Upper end of its 95% interval.')),
    values: Type.Array(Type.Number(), { description: 'Capacity of each trial, req/s.' }),
    peakMemoryBytes: Opt(Num('Mean peak memory of one pod, bytes.')),
    lowerBound: Bool('A search stopped before capacity was reached: the capacity is at least this.'),
  },
  { description: 'One measured point of a series.', ...closed },
);

const Series = Type.Object(
  {
    variant: Str('The manifest variant.'),
    model: Str('Its concurrency model.'),
    cpu: Str('CPU budget of every point.'),
    label: Str('Name in tables.'),
    points: Type.Array(SeriesPoint),
    fit: UslFitJson,
    description: Str(
      'Contention and coherency in this model’s terms, from the fitted numbers; or why there is no fit.',
    ),
  },
  { description: 'One variant (at one CPU budget) across the worker counts of the sweep.', ...closed },
);

const Range = Type.Object(
  {
    expected: Opt(Num('From the mean capacity.')),
    pessimistic: Opt(Num('From the lower end of the capacity interval; absent when unbounded.')),
    optimistic: Opt(Num('From the upper end.')),
  },
  { description: 'A count under the three readings of capacity.', ...closed },
);

const ModelSizing = Type.Object(
  {
    model: Str('The series (variant, with @ CPU under a CPU sweep).'),
    sizable: Bool('Whether it could be sized; when false, reason says why.'),
    reason: Opt(Str('Why not.')),
    workersPerPod: Opt(Type.Integer({ minimum: 1, description: 'Recommended workers per pod.' })),
    cpuCoresPerPod: Opt(Num('CPU per pod, cores.')),
    capacityPerPod: Opt(
      Type.Object(
        {
          mean: Num('req/s.'),
          lower: Num('req/s.'),
          upper: Num('req/s.'),
          level: Opt(Num('Confidence level; absent with one trial.')),
          trials: Type.Integer({ minimum: 0 }),
          lowerBound: Bool('Capacity was not reached.'),
        },
        { description: 'Capacity of one pod at the recommended workers.', ...closed },
      ),
    ),
    memoryBytesPerPod: Opt(Num('Memory request per pod, bytes.')),
    memoryBasis: Opt(Str('Which memory figure it is.')),
    replicas: Opt(Range),
    totalCpuCores: Opt(Range),
    totalMemoryBytes: Opt(Range),
    arithmetic: Type.Array(Type.String(), { description: 'The computation, one line each.' }),
    options: Opt(
      Type.Array(
        Type.Object(
          { workers: Type.Integer({ minimum: 1 }), replicas: Range, totalCpuCores: Range },
          { description: 'Every measured worker count.', ...closed },
        ),
      ),
    ),
    notes: Type.Array(Type.String()),
  },
  { description: 'The sizing answer for one series.', ...closed },
);

const Comparison = Type.Object(
  {
    model: Opt(Str('The one that needs less, beyond the uncertainty.')),
    clear: Bool('Beyond the uncertainty.'),
    statement: Str('In words.'),
  },
  { description: 'Which needs less.', ...closed },
);

export const CapacityPlanJson = Type.Object(
  {
    series: Type.Array(Series, { description: 'spec.sweep: one USL series per variant (and CPU budget).' }),
    sizing: Opt(
      Type.Object(
        {
          target: Type.Object(
            {
              requestsPerSecond: Num('target.rate.'),
              plannedRequestsPerSecond: Num('target.rate × (1 + headroom).'),
              headroom: Num('Share.'),
              minReplicas: Type.Integer({ minimum: 1 }),
              slo: Opt(Str('The SLO in words.')),
            },
            { description: 'What was sized for.', ...closed },
          ),
          models: Type.Array(ModelSizing),
          lessCpu: Comparison,
          lessMemory: Comparison,
          summary: Str('The answer in words.'),
        },
        { description: 'spec.target: pods, CPU and memory per series.', ...closed },
      ),
    ),
    sizingMissing: Opt(Str('Why there is no sizing answer.')),
    sizingLine: Opt(Str('The answer in one line (status.verdict.sizing).')),
  },
  {
    description: 'Capacity planning: the USL per variant over a sweep, and the sizing answer for spec.target.',
    ...closed,
  },
);
export type CapacityPlanJson = Type.Static<typeof CapacityPlanJson>;

const finite = (x: number | undefined): number | undefined => (x !== undefined && Number.isFinite(x) ? x : undefined);

/** Copies only the keys whose values are defined, so optional fields are absent, not null. */
function defined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function coefficient(e: UslEstimate) {
  return defined({
    value: e.value,
    standardError: finite(e.standardError),
    lower: finite(e.ci.lower),
    upper: finite(e.ci.upper),
    level: e.ci.level,
    atBound: e.atBound,
    fixed: e.fixed,
    pinned: e.pinned,
  });
}

function fitJson(fit: UslResult): CapacityPlanJson['series'][number]['fit'] {
  if (!fit.fittable) return { fittable: false, reason: fit.reason, message: fit.message };
  const p = fit.peak;
  return defined({
    fittable: true,
    method: fit.method,
    alpha: coefficient(fit.alpha),
    beta: coefficient(fit.beta),
    gamma: coefficient(fit.gamma),
    pinned: fit.pinned.map((x) => ({ ...x })),
    peak:
      p.kind === 'finite'
        ? defined({
            kind: p.kind,
            n: p.n,
            nStandardError: finite(p.nStandardError),
            throughput: p.throughput,
            beyondMeasured: p.beyondMeasured,
          })
        : defined({ kind: p.kind, reason: p.reason, asymptote: finite(p.asymptote) }),
    rSquared: finite(fit.rSquared),
    residualStandardError: finite(fit.residualStandardError),
    degreesOfFreedom: fit.degreesOfFreedom,
    residuals: fit.residuals.map((r) => ({ ...r })),
    curve: fit.curve.filter((c) => [c.throughput, c.lower, c.upper].every(Number.isFinite)).map((c) => ({ ...c })),
  });
}

function seriesJson(s: CapacitySeries): CapacityPlanJson['series'][number] {
  return {
    variant: s.variant,
    model: s.model,
    cpu: s.cpu,
    label: s.label,
    points: s.points.map((p) =>
      defined({
        name: p.name,
        workers: p.workers,
        trials: p.capacity.n,
        capacity: p.capacity.mean,
        lower: p.capacity.ci?.lower,
        upper: p.capacity.ci?.upper,
        values: [...p.capacity.values],
        peakMemoryBytes: p.peakMemoryBytes?.mean,
        lowerBound: p.lowerBound,
      }),
    ),
    fit: fitJson(s.fit),
    description: s.description,
  };
}

function range(r: SizingRange | undefined) {
  if (r === undefined) return undefined;
  return defined({
    expected: finite(r.expected),
    pessimistic: finite(r.pessimistic),
    optimistic: finite(r.optimistic),
  });
}

function sizingJson(a: SizingAnswer): NonNullable<CapacityPlanJson['sizing']> {
  return {
    target: defined({ ...a.target }),
    models: a.models.map((m) =>
      m.sizable
        ? defined({
            model: m.model,
            sizable: true,
            workersPerPod: m.workersPerPod,
            cpuCoresPerPod: m.cpuCoresPerPod,
            capacityPerPod: defined({ ...m.capacityPerPod }),
            memoryBytesPerPod: m.memoryBytesPerPod,
            memoryBasis: m.memoryBasis,
            replicas: range(m.replicas),
            totalCpuCores: range(m.totalCpuCores),
            totalMemoryBytes: range(m.totalMemoryBytes),
            arithmetic: [...m.arithmetic],
            options: m.options.map((o) => ({
              workers: o.workers,
              replicas: range(o.replicas) ?? {},
              totalCpuCores: range(o.totalCpuCores) ?? {},
            })),
            notes: [...m.notes],
          })
        : { model: m.model, sizable: false, reason: m.reason, arithmetic: [], notes: [] },
    ),
    lessCpu: defined({ ...a.lessCpu }),
    lessMemory: defined({ ...a.lessMemory }),
    summary: a.summary,
  };
}

/** The plan as the JSON report carries it; undefined when there is nothing to plan (no sweep, no target). */
export function capacityPlanJson(
  plan: CapacityPlan,
  spec: { sweep?: unknown; target?: unknown },
): CapacityPlanJson | undefined {
  if (spec.sweep === undefined && spec.target === undefined) return undefined;
  return defined({
    series: plan.series.map(seriesJson),
    sizing: plan.sizing ? sizingJson(plan.sizing) : undefined,
    sizingMissing: plan.sizingMissing,
    sizingLine: plan.sizingLine,
  });
}
