// Condition types and reasons, in one place: they are API (users and alerts match on them),
// so they are constants here and never spelled inline elsewhere.

/** Condition types on a ConcurrencyExperiment. */
export const ConditionType = {
  /** True once the run finished with a report. */
  Ready: 'Ready',
  /** True while the operator is moving the run forward. */
  Progressing: 'Progressing',
  /** True when the run failed or the spec is invalid. */
  Degraded: 'Degraded',
  /**
   * Scheduled experiments: True when the last run regressed against the runs before it (the
   * winner flipped, or a variant's capacity, throughput or p99 moved beyond its interval).
   */
  Regressed: 'Regressed',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Machine-readable reasons, CamelCase as Kubernetes conventions ask. */
export const Reason = {
  Accepted: 'Accepted',
  InvalidSpec: 'InvalidSpec',
  DeployingWorkload: 'DeployingWorkload',
  RunningLoad: 'RunningLoad',
  WaitingForCleanup: 'WaitingForCleanup',
  Analyzing: 'Analyzing',
  Completed: 'Completed',
  WorkloadNotReady: 'WorkloadNotReady',
  WorkloadFailed: 'WorkloadFailed',
  LoadFailed: 'LoadFailed',
  LoadTimedOut: 'LoadTimedOut',
  CleanupTimedOut: 'CleanupTimedOut',
  /** A step's pod stayed unschedulable (its requests do not fit any node) past the grace. */
  Unschedulable: 'Unschedulable',
  ResultInvalid: 'ResultInvalid',
  AnalysisFailed: 'AnalysisFailed',
  Deleting: 'Deleting',
  NotStarted: 'NotStarted',
  /** A scheduled experiment waits for its first cron tick. */
  WaitingForSchedule: 'WaitingForSchedule',
  /** Regressed True: the last run is worse than the runs before it beyond their noise. */
  RegressionDetected: 'RegressionDetected',
  /** Regressed False after it was True: the last run is back in the range of the runs before. */
  RegressionCleared: 'RegressionCleared',
  /** Regressed False: the last run is within the range of the runs before it. */
  WithinRange: 'WithinRange',
  /** Regressed False: no earlier finished run to compare with (or none could be read). */
  NoBaseline: 'NoBaseline',
  /**
   * Regressed Unknown: the last run gave no figure that could be judged against the runs before
   * it (its client-side figures withheld for a saturated load generator, one trial, or no
   * variant in common with them).
   */
  NotJudged: 'NotJudged',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];
