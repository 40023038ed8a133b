// What the engine hands to analysis: one record per (variant, trial), as measured. Analysis
// and reports are pure functions of these records plus the experiment and environment.
import type { ConcurrencyExperiment, FaultKind } from '../api/schema.ts';
import type { LoadResult } from '../load/types.ts';
import type { SpanAggregate } from '../telemetry/types.ts';
import type { ResourceUsage } from './runtime.ts';

/** A fault as it was actually injected during a trial. */
export interface InjectedFault {
  kind: FaultKind;
  /** Worker index hit (after taking it modulo the worker count). */
  worker: number;
  /** Epoch millis when the fault was triggered. */
  atMillis: number;
  /** Epoch millis when the workload reported the process/container back up, if it restarted. */
  restartedAtMillis?: number;
}

/** A workload event observed during the trial (from the supervisor's stats or the runtime). */
export interface WorkloadEvent {
  atMillis: number;
  kind: 'worker-exit' | 'worker-replaced' | 'process-restart' | 'not-ready' | 'ready';
  /**
   * The worker concerned. A 'not-ready' WITHOUT a worker means the whole process (container)
   * went down; -1 means the process is up but which worker stopped serving is unknown.
   */
  worker?: number;
  detail?: string;
}

export interface TrialRecord {
  variant: string;
  /** 1-based. */
  trial: number;
  load: LoadResult;
  usage: ResourceUsage | undefined;
  spans: SpanAggregate[];
  faults: InjectedFault[];
  events: WorkloadEvent[];
  /** Set when the trial ended abnormally (workload crashed and was not replaced, interrupted). */
  failure?: string;
}

/** The machine and tools, recorded with every report. */
export interface Environment {
  toolVersion: string;
  hostname: string;
  cores: number;
  cpuModel: string;
  kernel: string;
  cgroupVersion: 'v1' | 'v2' | 'none' | 'kubernetes';
  runtimeVersions: Record<string, string>;
  runtime: string;
  warnings: string[];
}

export interface ExperimentRun {
  experiment: ConcurrencyExperiment;
  environment: Environment;
  startedAt: string;
  endedAt: string;
  trials: TrialRecord[];
  /** True when the run stopped early (Ctrl-C, crash); the report says so. */
  partial: boolean;
}
