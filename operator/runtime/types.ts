// The one seam between the runtime-agnostic engine and placement. The engine plans trials,
// drives load, injects faults and analyses; a Runtime only starts, observes and removes
// workloads. runtime/local implements it with processes and cgroups, runtime/kube with pods.
import type { ConcurrencyExperiment, Variant } from '../api/schema.ts';
import type { WorkloadEvent } from './records.ts';

/** Everything the workload needs to know, identical in shape for every runtime. */
export interface WorkloadLaunch {
  experiment: ConcurrencyExperiment;
  variant: Variant;
  /** 1-based trial number. */
  trial: number;
  /** OTLP/HTTP base URL the workload exports spans to, or undefined when tracing is off. */
  otlpEndpoint: string | undefined;
  /** Extra environment (fault schedule and the like), already in the workload's vocabulary. */
  extraEnv: Record<string, string>;
}

/** A started variant, ready to serve. */
export interface DeployedWorkload {
  variant: string;
  trial: number;
  /** Base URLs of the work server and of the supervisor's admin server, one per replica. */
  workUrls: string[];
  adminUrls: string[];
}

/** Resource use read back after a trial, from the runtime's own accounting. */
export interface ResourceUsage {
  cpuSeconds: number;
  /** CFS throttling: periods throttled and total time throttled. */
  throttledPeriods: number;
  throttledSeconds: number;
  peakMemoryBytes: number;
  /** Limits as the runtime reads them back (cgroup files, pod spec), for the fairness check. */
  limits: { cpuCores: number; memoryBytes: number; source: string };
  /** Restarts of the whole container / process group observed during the trial. */
  restarts: number;
  /** Processes the kernel's OOM killer killed during the trial, where the runtime can tell (cgroups). */
  oomKills?: number;
}

export interface Runtime {
  /** Human-readable description for reports: "local cgroup v1", "kubernetes". */
  readonly name: string;
  /** Warnings that must appear in the report (e.g. limits not enforceable). */
  readonly warnings: string[];
  start(launch: WorkloadLaunch): Promise<DeployedWorkload>;
  /** Cumulative usage since start (the engine reads it before and after the load and subtracts). */
  usage(deployed: DeployedWorkload): Promise<ResourceUsage>;
  /** Workload events observed so far (worker exits and replacements, restarts), oldest first. */
  events(deployed: DeployedWorkload): WorkloadEvent[];
  stop(deployed: DeployedWorkload): Promise<void>;
  /** Removes everything this runtime created. Idempotent; safe after a failed start. */
  cleanup(): Promise<void>;
}
