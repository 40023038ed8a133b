// Pure: the status to write for a phase decision. Status is overwritten with what was
// observed each time (server-side apply); only lastTransitionTime and startTime carry over,
// because they record when something changed, not what is.

import { ConditionType, Reason } from '../api/reasons.ts';
import type {
  ConcurrencyExperiment,
  ConcurrencyExperimentStatus,
  Condition,
  Phase,
  SizingStatus,
} from '../api/schema.ts';
import type { JsonReport } from '../report/json.ts';

export interface StatusInput {
  phase: Phase;
  reason: Reason;
  message: string;
  currentVariant?: string;
  currentTrial?: number;
  results?: ConcurrencyExperimentStatus['results'];
  verdict?: ConcurrencyExperimentStatus['verdict'];
  reportRef?: ConcurrencyExperimentStatus['reportRef'];
  /** Scheduled experiments: the tick the current (or latest) run was started for. */
  lastScheduleTime?: string;
  /** Scheduled experiments: finished runs, newest first, already trimmed to historyLimit. */
  history?: ConcurrencyExperimentStatus['history'];
  /** A scheduled run starts now: startTime and completionTime of the previous run do not carry over. */
  newRun?: boolean;
  /** spec.target: the sizing answer of the last finished run. */
  sizing?: SizingStatus;
  /**
   * Scheduled experiments, when a run has just finished: the Regressed condition to set.
   * Absent: the condition stays as it was (it describes the last finished run).
   */
  regression?: { status: 'True' | 'False' | 'Unknown'; reason: Reason; message: string };
}

type CondStatus = Condition['status'];

export function conditionsFor(
  phase: Phase,
  reason: Reason,
  message: string,
): [ConditionType, CondStatus, Reason, string][] {
  switch (phase) {
    case 'Succeeded':
      return [
        [ConditionType.Ready, 'True', reason, message],
        [ConditionType.Progressing, 'False', reason, 'run complete'],
        [ConditionType.Degraded, 'False', reason, 'no problems'],
      ];
    case 'Failed':
      return [
        [ConditionType.Ready, 'False', reason, message],
        [ConditionType.Progressing, 'False', reason, 'run stopped'],
        [ConditionType.Degraded, 'True', reason, message],
      ];
    default:
      return [
        [ConditionType.Ready, 'False', Reason.NotStarted, 'the run has not finished'],
        [ConditionType.Progressing, 'True', reason, message],
        [ConditionType.Degraded, 'False', reason, 'no problems'],
      ];
  }
}

export function buildStatus(cx: ConcurrencyExperiment, input: StatusInput, now: Date): ConcurrencyExperimentStatus {
  const previous = cx.status ?? {};
  const generation = cx.metadata.generation ?? 0;
  const nowIso = rfc3339(now);
  const conditions: Condition[] = conditionsFor(input.phase, input.reason, input.message).map(
    ([type, status, reason, message]) => {
      const old = previous.conditions?.find((c) => c.type === type);
      return {
        type,
        status,
        reason,
        message: message.slice(0, 32_000),
        lastTransitionTime: old && old.status === status ? old.lastTransitionTime : nowIso,
        observedGeneration: generation,
      };
    },
  );
  // Regressed describes the last finished run: set when a run finishes, carried until the next.
  const regressed = input.regression
    ? { type: ConditionType.Regressed, ...input.regression }
    : previous.conditions?.find((c) => c.type === ConditionType.Regressed);
  if (regressed) {
    const old = previous.conditions?.find((c) => c.type === ConditionType.Regressed);
    conditions.push({
      type: ConditionType.Regressed,
      status: regressed.status,
      reason: regressed.reason,
      message: regressed.message.slice(0, 32_000),
      lastTransitionTime: old && old.status === regressed.status ? old.lastTransitionTime : nowIso,
      observedGeneration: input.regression ? generation : (old?.observedGeneration ?? generation),
    });
  }
  const sameRun = previous.observedGeneration === generation && !input.newRun;
  const terminal = input.phase === 'Succeeded' || input.phase === 'Failed';
  const status: ConcurrencyExperimentStatus = {
    phase: input.phase,
    observedGeneration: generation,
    conditions,
    startTime: sameRun && previous.startTime ? previous.startTime : nowIso,
  };
  if (terminal) status.completionTime = sameRun && previous.completionTime ? previous.completionTime : nowIso;
  if (input.currentVariant !== undefined) status.currentVariant = input.currentVariant;
  if (input.currentTrial !== undefined) status.currentTrial = input.currentTrial;
  if (input.results) status.results = input.results;
  if (input.verdict) status.verdict = input.verdict;
  if (input.sizing) status.sizing = input.sizing;
  if (input.reportRef) status.reportRef = input.reportRef;
  if (input.lastScheduleTime) status.lastScheduleTime = input.lastScheduleTime;
  if (input.history) status.history = input.history;
  return status;
}

/** ceil to whole MiB, as a quantity: "200Mi". */
function mebibytes(bytes: number): string {
  return `${Math.ceil(bytes / 1048576)}Mi`;
}

/** Cores as a quantity: "1", "1.5", "250m". */
function cores(c: number): string {
  return Number.isInteger(c) ? String(c) : `${Math.round(c * 1000)}m`;
}

/**
 * Pure: status.sizing from a report's capacity plan, or undefined without a sizing answer.
 * Ranges whose end is unbounded (absent in the report) are left out rather than invented.
 */
export function sizingStatusOf(report: Pick<JsonReport, 'capacityPlan' | 'config'>): SizingStatus | undefined {
  const plan = report.capacityPlan;
  const sizing = plan?.sizing;
  if (!plan || !sizing) return undefined;
  const range = (r: { expected?: number; pessimistic?: number; optimistic?: number } | undefined) =>
    r?.expected !== undefined && r.pessimistic !== undefined && r.optimistic !== undefined
      ? { expected: r.expected, pessimistic: r.pessimistic, optimistic: r.optimistic }
      : undefined;
  const variants = sizing.models.slice(0, 32).map((m) => {
    const series = plan.series.find((s) => s.label === m.model);
    const name = series?.variant ?? m.model;
    const model = series?.model ?? report.config.variants.find((v) => v.name === name)?.model ?? 'unknown';
    if (!m.sizable) return { variant: name.slice(0, 40), model, reason: (m.reason ?? 'not sizable').slice(0, 1024) };
    const replicas = range(m.replicas);
    const totalCpu = range(m.totalCpuCores);
    return {
      variant: name.slice(0, 40),
      model,
      ...(m.workersPerPod !== undefined ? { workers: m.workersPerPod } : {}),
      ...(m.cpuCoresPerPod !== undefined ? { cpu: cores(m.cpuCoresPerPod) } : {}),
      ...(m.memoryBytesPerPod !== undefined ? { memory: mebibytes(m.memoryBytesPerPod) } : {}),
      ...(replicas ? { replicas } : {}),
      ...(totalCpu ? { totalCpu } : {}),
    };
  });
  const lessSeries = sizing.lessCpu.clear ? plan.series.find((s) => s.label === sizing.lessCpu.model) : undefined;
  const less = lessSeries?.variant ?? sizing.lessCpu.model;
  return {
    rate: sizing.target.plannedRequestsPerSecond,
    variants,
    ...(sizing.lessCpu.clear && less ? { lessCpu: less.slice(0, 40) } : {}),
    summary: sizing.summary.slice(0, 4096),
  };
}

/** Seconds precision, as metav1.Time serializes. */
export function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** Whether writing `next` would change anything a reader can see. */
export function statusDiffers(
  previous: ConcurrencyExperimentStatus | undefined,
  next: ConcurrencyExperimentStatus,
): boolean {
  return JSON.stringify(canonical(previous ?? {})) !== JSON.stringify(canonical(next));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}
