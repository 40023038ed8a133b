// Deterministic names and labels of everything the operator creates for an experiment.
// Names are a pure function of (experiment, variant, trial, replica), so a restarted
// operator re-derives them and server-side apply turns a repeated create into a no-op:
// children are never duplicated.
import { createHash } from 'node:crypto';

export const LABEL_EXPERIMENT = 'conclab.dev/experiment';
export const LABEL_VARIANT = 'conclab.dev/variant';
export const LABEL_TRIAL = 'conclab.dev/trial';
export const LABEL_ROLE = 'conclab.dev/role';
/** The .metadata.generation a child was made for; children of an older spec are removed. */
export const LABEL_GENERATION = 'conclab.dev/generation';
/** Which scheduled run a child belongs to (scheduled experiments only; see runOf). */
export const LABEL_RUN = 'conclab.dev/run';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'conclab-operator';

export const FINALIZER = 'conclab.dev/cleanup';

export type ChildRole = 'workload' | 'load' | 'generator' | 'result' | 'report' | 'token' | 'otlp';

/**
 * The run id of a scheduled experiment's current run: its cron tick (status.lastScheduleTime)
 * as `YYYYMMDDtHHMMSS`, so every run's children get names of their own (a late event or a
 * lagging cache of the previous run can never be mistaken for this one) and a restarted
 * operator re-derives them. Undefined for one-shot experiments: their names stay as they were.
 */
export function runOf(cx: { spec: { schedule?: string | undefined }; status?: { lastScheduleTime?: string } }) {
  const tick = cx.spec.schedule ? cx.status?.lastScheduleTime : undefined;
  if (!tick) return undefined;
  const ms = Date.parse(tick);
  if (!Number.isFinite(ms)) return undefined;
  return runIdOf(ms);
}

export function runIdOf(tickMillis: number): string {
  return new Date(tickMillis).toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', 't');
}

export function stepName(experiment: string, variant: string, trial: number, run?: string): string {
  return run ? `cx-${experiment}-${run}-${variant}-t${trial}` : `cx-${experiment}-${variant}-t${trial}`;
}

/** Workload pod: replica 0 has the step name, further replicas get `-r<i>`. */
export function workloadPodName(
  experiment: string,
  variant: string,
  trial: number,
  replica: number,
  run?: string,
): string {
  const base = stepName(experiment, variant, trial, run);
  return replica === 0 ? base : `${base}-r${replica}`;
}

export function loadPodName(experiment: string, variant: string, trial: number, run?: string): string {
  return `${stepName(experiment, variant, trial, run)}-load`;
}

/**
 * Generator pod g (1-based; the load pod is generator 0) of a trial with spec.load.generators
 * > 1: `conclab generate`, running its share of the load when the load pod asks.
 */
export function generatorPodName(experiment: string, variant: string, trial: number, generator: number, run?: string) {
  return `${loadPodName(experiment, variant, trial, run)}-g${generator}`;
}

/** Holds the TrialRecord of one (variant, trial), written by the operator's results endpoint. */
export function resultConfigMapName(experiment: string, variant: string, trial: number, run?: string): string {
  return `${stepName(experiment, variant, trial, run)}-result`;
}

/** One-shot: `cx-NAME-report`; a scheduled run keeps its own, `cx-NAME-report-RUN`. */
export function reportConfigMapName(experiment: string, run?: string): string {
  return run ? `cx-${experiment}-report-${run}` : `cx-${experiment}-report`;
}

/** Service names are DNS-1035 labels: at most 63 characters. */
const MAX_SERVICE_NAME = 63;

/**
 * The Service in front of the current step's load pod: workloads export their spans to it.
 * A name that would be too long for a Service keeps its start and gets a hash of the whole,
 * so it stays unique and deterministic.
 */
export function otlpServiceName(experiment: string, run?: string): string {
  const full = run ? `cx-${experiment}-${run}-otlp` : `cx-${experiment}-otlp`;
  if (full.length <= MAX_SERVICE_NAME) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 10);
  const room = MAX_SERVICE_NAME - 'cx--'.length - hash.length - '-otlp'.length;
  return `cx-${experiment.slice(0, room).replace(/-+$/, '')}-${hash}-otlp`;
}

/**
 * Per-experiment bearer token: load pods present it when they post records, and workloads
 * when they export spans to the load pod.
 */
export function tokenSecretName(experiment: string): string {
  return `cx-${experiment}-results-token`;
}

/** Selector for every child of an experiment. */
export function childSelector(experiment: string): string {
  return `${LABEL_EXPERIMENT}=${experiment}`;
}

export function childLabels(
  experiment: string,
  role: ChildRole,
  generation: number,
  step?: { variant: string; trial: number },
  run?: string,
): Record<string, string> {
  return {
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_EXPERIMENT]: experiment,
    [LABEL_ROLE]: role,
    [LABEL_GENERATION]: String(generation),
    ...(step ? { [LABEL_VARIANT]: step.variant, [LABEL_TRIAL]: String(step.trial) } : {}),
    ...(run ? { [LABEL_RUN]: run } : {}),
  };
}
