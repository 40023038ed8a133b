// The internal report model: everything analysis concludes about one ExperimentRun, before it
// is given a versioned shape (json.ts). Pure: records in, conclusions out; the time of
// generation is passed in so the same run always yields the same report.

import type { BlastRadiusOptions } from '../analysis/blast-radius.ts';
import { type CapacityPlan, capacityPlan } from '../analysis/capacity-plan.ts';
import type { Environment, ExperimentRun } from '../analysis/run.ts';
import { summarizeVariants, type VariantSummary } from '../analysis/variant-summary.ts';
import { type DimensionVerdict, decideVerdict, type VerdictResult } from '../analysis/verdict.ts';
import type { ConcurrencyExperimentSpec } from '../api/schema.ts';
import { budgetOf, runVariant, sweepPoints } from '../api/sweep.ts';
import type { InjectedFault, LoadResult, ReplicaFacts, SecondSample, WorkloadEvent } from '../contracts/records.ts';

/** The raw per-second view of one trial, for timelines and charts. */
export interface TrialSeries {
  variant: string;
  trial: number;
  startedAtMillis: number;
  endedAtMillis: number;
  perSecond: SecondSample[];
  faults: InjectedFault[];
  events: WorkloadEvent[];
  /** Encoded HDR histogram of client latency, kept so reports can be merged later. */
  latencyHistogram: string;
  replicas: ReplicaFacts[] | undefined;
  /** Load generators whose parts were merged, and what each did (absent for one). */
  generators: number | undefined;
  parts: LoadResult['parts'];
  usageMissing: string | undefined;
  spansMissing: string | undefined;
}

export interface ReportModel {
  experiment: { name: string; namespace: string | undefined; spec: ConcurrencyExperimentSpec };
  environment: Environment;
  toolVersion: string;
  generatedAt: string;
  startedAt: string;
  endedAt: string;
  partial: boolean;
  variants: VariantSummary[];
  series: TrialSeries[];
  verdict: VerdictResult;
  /** Capacity planning: the USL per variant over a sweep, the sizing answer for spec.target. */
  capacityPlan: CapacityPlan;
  /** Problems that make figures less trustworthy, loudest first. */
  warnings: string[];
  /** Standing limits of the method, worded for the reader. */
  caveats: string[];
}

export interface BuildReportOptions {
  /** When the report is generated; defaults to now (pass it for reproducible output). */
  generatedAt?: Date;
  /** Seed of the bootstrap intervals. */
  seed?: number;
  alpha?: number;
  blastRadius?: BlastRadiusOptions;
}

/**
 * Limits read back per variant must be equal, or the comparison is unfair: say so loudly. A
 * CPU sweep gives its points different budgets on purpose: limits are compared among the
 * points declared with the same budget.
 */
export function fairnessWarnings(run: ExperimentRun): string[] {
  const spec = run.experiment.spec;
  const groups = new Map<string, Map<string, string[]>>();
  for (const t of run.trials) {
    if (!t.usage) continue;
    const declared = budgetOf(spec, runVariant(spec, t.variant)).cpu;
    const seen = groups.get(declared) ?? new Map<string, string[]>();
    groups.set(declared, seen);
    const l = t.usage.limits;
    const key = `${l.cpuCores} cores, ${l.memoryBytes} bytes`;
    const list = seen.get(key) ?? [];
    if (!list.includes(t.variant)) list.push(t.variant);
    seen.set(key, list);
  }
  return [...groups.entries()].flatMap(([declared, seen]) => {
    if (seen.size <= 1) return [];
    const detail = [...seen.entries()].map(([limits, variants]) => `${variants.join(', ')}: ${limits}`).join('; ');
    const within = groups.size > 1 ? ` declared with ${declared} CPU` : '';
    return [
      `UNEQUAL LIMITS: the variants${within} did not run under the same budget (${detail}); the comparison is not fair`,
    ];
  });
}

function caveatsFor(run: ExperimentRun, variants: readonly VariantSummary[], dimensions: readonly DimensionVerdict[]) {
  const caveats: string[] = [];
  const minTrials = Math.min(...variants.map((v) => v.trials));
  if (minTrials === 1) {
    caveats.push(
      'One trial per variant: differences are reported but their significance cannot be assessed; use trials: 3 or more.',
    );
  } else if (minTrials < 5) {
    caveats.push(
      `${minTrials} trials per variant: confidence intervals are wide, and the bootstrap interval of p99 can be no wider than the range of the trials.`,
    );
  }
  caveats.push(
    "Throughput, p99 and memory are compared with Welch's t-test over trials (a rank test must agree once there are 4+ trials); error rates with Fisher's exact test over requests, which assumes failures are independent (a crash fails many requests at once, so its p-value is optimistic).",
  );
  if (variants.length > 2) {
    caveats.push('With more than two variants each dimension compares the best with the runner-up only.');
  }
  if (dimensions.some((d) => d.dimension === 'blastRadius')) {
    caveats.push(
      'Blast radius is measured with one-second resolution from client throughput against the pre-fault baseline; under load well below capacity the surviving workers absorb part of the loss.',
    );
    caveats.push(
      run.experiment.spec.workload.runtime === 'python'
        ? 'A blast radius holds for the fault kind injected: an uncaught Python exception ends only its thread, but os.abort(), an out-of-memory kill, or a loop that never releases the GIL takes the whole OS process (or stalls it), and under the thread model every worker with it. Threads are as safe as processes only against the first kind.'
        : 'A blast radius holds for the fault kind injected: an uncaught JavaScript exception is contained in its worker thread, but a native abort (a crashing addon) or an out-of-memory kill ends the whole OS process, and under the thread model every worker with it. Threads are as safe as processes only against the first kind.',
    );
  }
  if (
    run.experiment.spec.tracing?.enabled !== false &&
    run.experiment.spec.workload.runtime === 'node' &&
    run.experiment.spec.variants.some((v) => v.model === 'offload')
  ) {
    caveats.push(
      'Tracing costs every Node.js model the same one span exporter per workload, except offload: its acceptor serves every request, so its exporter runs in a thread of its own, about 15-35 MB more memory than under process or thread.',
    );
  }
  const tracing = run.experiment.spec.tracing;
  if (tracing?.enabled !== false && (tracing?.sampleRatio ?? 0.1) < 1) {
    caveats.push(
      `Server-side latency and per-worker spread come from sampled spans (ratio ${tracing?.sampleRatio ?? 0.1}); client-side latency counts every request.`,
    );
  }
  return caveats;
}

export function buildReport(run: ExperimentRun, options: BuildReportOptions = {}): ReportModel {
  const summaryOptions = {
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.blastRadius === undefined ? {} : { blastRadius: options.blastRadius }),
  };
  const variants = summarizeVariants(run.experiment, run.trials, summaryOptions);
  const decided = decideVerdict(variants, options.alpha === undefined ? {} : { alpha: options.alpha });
  const plan = capacityPlan(run.experiment.spec, variants);
  const verdict = plan.sizingLine ? { ...decided, verdict: { ...decided.verdict, sizing: plan.sizingLine } } : decided;
  const unknown = [...new Set(run.trials.map((t) => t.variant))].filter(
    (name) => !sweepPoints(run.experiment.spec).some((v) => v.name === name),
  );
  const warnings = [
    ...fairnessWarnings(run),
    ...(run.partial ? ['PARTIAL RUN: the experiment stopped early; only the trials that finished are included.'] : []),
    ...run.environment.warnings,
    ...variants.flatMap((v) => v.warnings),
    ...unknown.map((name) => `records of variant "${name}" are not in the experiment's variants and were left out`),
  ];
  const series: TrialSeries[] = [...run.trials]
    .sort((a, b) => a.variant.localeCompare(b.variant) || a.trial - b.trial)
    .map((t) => ({
      variant: t.variant,
      trial: t.trial,
      startedAtMillis: t.load.startedAtMillis,
      endedAtMillis: t.load.endedAtMillis,
      perSecond: t.load.perSecond,
      faults: t.faults,
      events: t.events,
      latencyHistogram: t.load.latencyHistogram,
      replicas: t.replicas,
      generators: t.load.generators,
      parts: t.load.parts,
      usageMissing: t.usageMissing,
      spansMissing: t.spansMissing,
    }));
  return {
    experiment: {
      name: run.experiment.metadata.name,
      namespace: run.experiment.metadata.namespace,
      spec: run.experiment.spec,
    },
    environment: run.environment,
    toolVersion: run.environment.toolVersion,
    generatedAt: (options.generatedAt ?? new Date()).toISOString(),
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    partial: run.partial,
    variants,
    series,
    verdict,
    capacityPlan: plan,
    warnings,
    caveats: caveatsFor(run, variants, verdict.dimensions),
  };
}
