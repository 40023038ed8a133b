// Pure: the status to write for a phase decision. Status is overwritten with what was
// observed each time (server-side apply); only lastTransitionTime and startTime carry over,
// because they record when something changed, not what is.

import { ConditionType, Reason } from '../api/reasons.ts';
import type { ConcurrencyExperiment, ConcurrencyExperimentStatus, Condition, Phase } from '../api/schema.ts';

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
  if (input.reportRef) status.reportRef = input.reportRef;
  if (input.lastScheduleTime) status.lastScheduleTime = input.lastScheduleTime;
  if (input.history) status.history = input.history;
  return status;
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
