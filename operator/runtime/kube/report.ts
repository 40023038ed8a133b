// Pure summary of a finished cluster run: per-variant figures from the load pods' results and
// a cautious verdict. It names a winner only when every trial of the winner beat every trial
// of the runner-up (with 3+ trials each, the exact rank test on that arrangement has
// p = 2/C(6,3) = 0.1 or better); otherwise it says the difference is not significant.
import type { V1ConfigMap, V1OwnerReference } from '@kubernetes/client-node';
import { decodeHistogram, mergeHistograms, summarize } from '../../analysis/histogram.ts';
import type { ConcurrencyExperiment, VariantResult, Verdict } from '../../api/schema.ts';
import type { LoadResult } from '../../load/types.ts';
import type { SpanAggregate } from '../../telemetry/types.ts';
import { childLabels, reportConfigMapName } from './names.ts';

export const REPORT_KEY = 'report.json';
export const REPORT_SCHEMA_VERSION = 1;

export interface StepResult {
  variant: string;
  trial: number;
  load: LoadResult;
  /** Container restarts of the variant's pods seen when the result arrived. */
  restarts: number;
}

export interface ClusterReport {
  schemaVersion: number;
  kind: 'ConcurrencyExperimentReport';
  experiment: { name: string; namespace: string; uid: string; generation: number };
  spec: ConcurrencyExperiment['spec'];
  runtime: 'kubernetes';
  generatedAt: string;
  results: VariantResult[];
  verdict: Verdict;
  trials: {
    variant: string;
    trial: number;
    throughput: number;
    p50Millis: number;
    p99Millis: number;
    errors: number;
    restarts: number;
    generatorUnreliable: boolean;
  }[];
  /** Spans received from the workloads per variant and trial (in-memory in the operator: a
   * restart during the run loses the earlier ones, so these are counts, not the measurement). */
  spans: { variant: string; trial: string; workers: number; spans: number; errors: number; pids: number }[];
}

function measuredSeconds(load: LoadResult): number {
  return Math.max(0.001, (load.endedAtMillis - load.startedAtMillis) / 1000);
}

function errorCount(load: LoadResult): number {
  return Object.values(load.errors ?? {}).reduce((a, b) => a + (Number(b) || 0), 0);
}

export function summarizeVariants(cx: ConcurrencyExperiment, steps: StepResult[]): VariantResult[] {
  return cx.spec.variants.map((v) => {
    const mine = steps.filter((s) => s.variant === v.name);
    const throughputs = mine.map((s) => s.load.completed / measuredSeconds(s.load));
    const mean = throughputs.length ? throughputs.reduce((a, b) => a + b, 0) / throughputs.length : 0;
    const latency = summarize(mergeHistograms(mine.map((s) => decodeHistogram(s.load.latencyHistogram))));
    const sent = mine.reduce((a, s) => a + s.load.sent, 0);
    const errors = mine.reduce((a, s) => a + errorCount(s.load), 0);
    const result: VariantResult = {
      name: v.name,
      throughput: round(mean, 2),
      p50Millis: round(latency.p50Millis, 3),
      p99Millis: round(latency.p99Millis, 3),
      errorRate: sent > 0 ? round(errors / sent, 6) : 0,
      restarts: mine.reduce((a, s) => a + s.restarts, 0),
    };
    if (throughputs.length >= 2) result.throughputCI = round(ci95HalfWidth(throughputs), 2);
    return result;
  });
}

export function decideVerdict(results: VariantResult[], steps: StepResult[]): Verdict {
  const ranked = [...results].sort((a, b) => b.throughput - a.throughput);
  const [first, second] = ranked;
  if (!first || !second) return { summary: 'Fewer than two variants have results; no comparison.' };
  const perTrial = (name: string) =>
    steps.filter((s) => s.variant === name).map((s) => s.load.completed / measuredSeconds(s.load));
  const a = perTrial(first.name);
  const b = perTrial(second.name);
  const pct = (x: number, y: number) => (y === 0 ? 'n/a' : `${x >= y ? '+' : ''}${Math.round(((x - y) / y) * 100)}%`);
  const throughputDelta = pct(first.throughput, second.throughput);
  const p99Delta = pct(first.p99Millis, second.p99Millis);
  const separated = a.length >= 3 && b.length >= 3 && Math.min(...a) > Math.max(...b);
  if (!separated) {
    return {
      throughputDelta,
      p99Delta,
      summary: `No significant throughput difference between ${first.name} and ${second.name} (${throughputDelta}) over ${Math.min(a.length, b.length)} trial(s) each.`,
    };
  }
  return {
    winner: first.name,
    throughputDelta,
    p99Delta,
    summary: `${first.name} sustains ${throughputDelta} throughput over ${second.name} in every trial, p99 ${p99Delta}.`,
  };
}

export function buildReport(
  cx: ConcurrencyExperiment,
  steps: StepResult[],
  now: Date,
  spans: SpanAggregate[] = [],
): ClusterReport {
  const results = summarizeVariants(cx, steps);
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    kind: 'ConcurrencyExperimentReport',
    experiment: {
      name: cx.metadata.name,
      namespace: cx.metadata.namespace ?? 'default',
      uid: cx.metadata.uid ?? '',
      generation: cx.metadata.generation ?? 0,
    },
    spec: cx.spec,
    runtime: 'kubernetes',
    generatedAt: now.toISOString(),
    results,
    verdict: decideVerdict(results, steps),
    trials: steps.map((s) => {
      const l = summarize(decodeHistogram(s.load.latencyHistogram));
      return {
        variant: s.variant,
        trial: s.trial,
        throughput: round(s.load.completed / measuredSeconds(s.load), 2),
        p50Millis: round(l.p50Millis, 3),
        p99Millis: round(l.p99Millis, 3),
        errors: errorCount(s.load),
        restarts: s.restarts,
        generatorUnreliable: Boolean(s.load.saturation?.unreliable),
      };
    }),
    spans: spanSummary(spans),
  };
}

export function reportConfigMap(
  cx: ConcurrencyExperiment,
  report: ClusterReport,
  owner: V1OwnerReference,
): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: reportConfigMapName(cx.metadata.name),
      namespace: cx.metadata.namespace,
      labels: childLabels(cx.metadata.name, 'report', cx.metadata.generation ?? 0),
      ownerReferences: [owner],
    },
    data: { [REPORT_KEY]: JSON.stringify(report, null, 2) },
  };
}

function spanSummary(spans: SpanAggregate[]): ClusterReport['spans'] {
  const byStep = new Map<string, ClusterReport['spans'][number] & { pidSet: Set<number> }>();
  for (const a of spans) {
    const id = `${a.key.variant}\u0000${a.key.trial}`;
    const cur = byStep.get(id) ?? {
      variant: a.key.variant,
      trial: a.key.trial,
      workers: 0,
      spans: 0,
      errors: 0,
      pids: 0,
      pidSet: new Set<number>(),
    };
    cur.workers++;
    cur.spans += a.spans;
    cur.errors += a.errors;
    for (const pid of a.pids) cur.pidSet.add(pid);
    byStep.set(id, cur);
  }
  return [...byStep.values()].map(({ pidSet, ...rest }) => ({ ...rest, pids: pidSet.size }));
}

function ci95HalfWidth(xs: number[]): number {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  // Student t quantiles for 95% two-sided, df 1..10; beyond that 1.96 is close enough.
  const t = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228][n - 2] ?? 1.96;
  return (t * sd) / Math.sqrt(n);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
