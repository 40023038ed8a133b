// The report of a finished cluster run is the SAME versioned JSON report `conclab run` writes
// (operator/report: schemaVersion "1", statistics, verdict per dimension, blast radius),
// built from the load pods' results as TrialRecords, fitted under the ConfigMap size limit.
// So `conclab report` renders a cluster run exactly like a local one, and status.results /
// status.verdict are the report's own rows.
import type { V1ConfigMap, V1OwnerReference } from '@kubernetes/client-node';
import type { ConcurrencyExperiment } from '../../api/schema.ts';
import type { Environment, ExperimentRun, InjectedFault, TrialRecord, WorkloadEvent } from '../../engine/records.ts';
import type { LoadResult } from '../../load/types.ts';
import { fitJsonReport } from '../../report/fit.ts';
import { type JsonReport, toJsonReport } from '../../report/json.ts';
import { buildReport } from '../../report/model.ts';
import type { SpanAggregate } from '../../telemetry/types.ts';
import { childLabels, reportConfigMapName, runOf } from './names.ts';

export const REPORT_KEY = 'report.json';

export interface StepResult {
  variant: string;
  trial: number;
  load: LoadResult;
  /** Container restarts of the variant's pods seen when the result arrived. */
  restarts: number;
  /** Faults the load pod injected (kept in the result it posted). */
  faults: InjectedFault[];
  /** Worker exits, replacements and restarts the load pod saw in the supervisors' /stats. */
  events?: WorkloadEvent[];
}

/** What the report says about where it ran: the operator does not see the nodes' hardware. */
export function clusterEnvironment(toolVersion: string, operatorHost: string, nodeVersion: string): Environment {
  return {
    toolVersion,
    hostname: `kubernetes (operator ${operatorHost})`,
    cores: 0,
    cpuModel: 'unknown: pods ran on cluster nodes',
    kernel: 'unknown: pods ran on cluster nodes',
    cgroupVersion: 'kubernetes',
    runtimeVersions: { operatorNode: nodeVersion },
    runtime: 'kubernetes',
    warnings: [],
  };
}

function restartEvents(s: StepResult): WorkloadEvent[] {
  const seen = s.events ?? [];
  // Restarts the load pod saw in /stats carry their times; use the bare count only without them.
  if (seen.some((e) => e.kind === 'process-restart') || s.restarts === 0) return [...seen];
  // The operator sees restart counts, not their times; the first fault time is the best anchor.
  const at = s.faults[0]?.atMillis ?? s.load.endedAtMillis;
  const counted = Array.from({ length: s.restarts }, () => ({
    atMillis: at,
    kind: 'process-restart' as const,
    detail: 'container restart counted by the operator (time approximate)',
  }));
  return [...seen, ...counted].sort((a, b) => a.atMillis - b.atMillis);
}

export function buildClusterReport(
  cx: ConcurrencyExperiment,
  steps: StepResult[],
  now: Date,
  spans: SpanAggregate[],
  environment: Environment,
): JsonReport {
  const trials: TrialRecord[] = steps.map((s) => ({
    variant: s.variant,
    trial: s.trial,
    load: s.load,
    usage: undefined,
    spans: spans.filter((a) => a.key.variant === s.variant && a.key.trial === String(s.trial)),
    faults: s.faults,
    events: restartEvents(s),
  }));
  const starts = steps.map((s) => s.load.startedAtMillis);
  const ends = steps.map((s) => s.load.endedAtMillis);
  const run: ExperimentRun = {
    experiment: cx,
    environment,
    startedAt: new Date(starts.length ? Math.min(...starts) : now.getTime()).toISOString(),
    endedAt: new Date(ends.length ? Math.max(...ends) : now.getTime()).toISOString(),
    trials,
    partial: false,
  };
  return fitJsonReport(toJsonReport(buildReport(run, { generatedAt: now, seed: 0x5eed })));
}

export function reportConfigMap(cx: ConcurrencyExperiment, report: JsonReport, owner: V1OwnerReference): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: reportConfigMapName(cx.metadata.name, runOf(cx)),
      namespace: cx.metadata.namespace,
      labels: childLabels(cx.metadata.name, 'report', cx.metadata.generation ?? 0, undefined, runOf(cx)),
      ownerReferences: [owner],
    },
    data: { [REPORT_KEY]: JSON.stringify(report) },
  };
}
