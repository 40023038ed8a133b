// Pure: the history of a scheduled experiment's runs in status, and which run reports it
// keeps. Each run's report has a ConfigMap of its own; one that falls out of history is
// deleted, so a schedule never piles up ConfigMaps.
import type { ConcurrencyExperimentStatus } from '../api/schema.ts';

export type RunRecord = NonNullable<ConcurrencyExperimentStatus['history']>[number];

/**
 * Whether two records are of the same run (a retried status write records a run again).
 * startTime alone cannot tell: it has seconds precision, and a run can start in the very
 * second another started or was recorded, so two runs can share it; their reports (one per
 * run, named by its tick) and their outcome tell them apart.
 */
export function sameRun(a: RunRecord, b: RunRecord): boolean {
  return a.startTime === b.startTime && a.reportRef === b.reportRef && a.phase === b.phase;
}

/** `record` at the head (newest first), trimmed to `limit`; recording the same run twice replaces it. */
export function recordRun(history: RunRecord[] | undefined, record: RunRecord, limit: number): RunRecord[] {
  const rest = (history ?? []).filter((r) => !sameRun(r, record));
  return [record, ...rest].slice(0, Math.max(0, limit));
}

/**
 * Report ConfigMaps (by name) that no longer belong to anything: not in history, not the
 * latest (status.reportRef: kept even with historyLimit 0) and not the current run's.
 */
export function reportsToDelete(reportNames: string[], history: RunRecord[], keep: (string | undefined)[]): string[] {
  const kept = new Set([...history.map((r) => r.reportRef), ...keep].filter((n): n is string => Boolean(n)));
  return reportNames.filter((n) => !kept.has(n));
}
