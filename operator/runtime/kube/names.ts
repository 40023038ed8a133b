// Deterministic names and labels of everything the operator creates for an experiment.
// Names are a pure function of (experiment, variant, trial, replica), so a restarted
// operator re-derives them and server-side apply turns a repeated create into a no-op:
// children are never duplicated.

export const LABEL_EXPERIMENT = 'conclab.dev/experiment';
export const LABEL_VARIANT = 'conclab.dev/variant';
export const LABEL_TRIAL = 'conclab.dev/trial';
export const LABEL_ROLE = 'conclab.dev/role';
/** The .metadata.generation a child was made for; children of an older spec are removed. */
export const LABEL_GENERATION = 'conclab.dev/generation';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'conclab-operator';

export const FINALIZER = 'conclab.dev/cleanup';

export type ChildRole = 'workload' | 'load' | 'result' | 'report' | 'token' | 'script';

/** Longest experiment name that keeps every child name a valid label value and pod name. */
export const MAX_EXPERIMENT_NAME = 63;

export function stepName(experiment: string, variant: string, trial: number): string {
  return `cx-${experiment}-${variant}-t${trial}`;
}

/** Workload pod: replica 0 has the step name, further replicas get `-r<i>`. */
export function workloadPodName(experiment: string, variant: string, trial: number, replica: number): string {
  const base = stepName(experiment, variant, trial);
  return replica === 0 ? base : `${base}-r${replica}`;
}

export function loadPodName(experiment: string, variant: string, trial: number): string {
  return `${stepName(experiment, variant, trial)}-load`;
}

/** Holds the LoadResult of one (variant, trial), written by the operator's results endpoint. */
export function resultConfigMapName(experiment: string, variant: string, trial: number): string {
  return `${stepName(experiment, variant, trial)}-result`;
}

export function k6ScriptConfigMapName(experiment: string, variant: string, trial: number): string {
  return `${stepName(experiment, variant, trial)}-k6`;
}

export function reportConfigMapName(experiment: string): string {
  return `cx-${experiment}-report`;
}

/** Per-experiment bearer token that load pods present when they post results. */
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
): Record<string, string> {
  return {
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_EXPERIMENT]: experiment,
    [LABEL_ROLE]: role,
    [LABEL_GENERATION]: String(generation),
    ...(step ? { [LABEL_VARIANT]: step.variant, [LABEL_TRIAL]: String(step.trial) } : {}),
  };
}
