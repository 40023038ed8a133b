// The seam between the engine and an in-process placement. The engine plans trials and hands
// each one to the trial runner; a Runtime only starts, stops and removes the variant's
// workloads, and tells what only it can see (how a process ended). Everything measured during
// a trial (load, events, usage, spans) is read by the trial runner from the workloads
// themselves, the same way in a cluster, where the operator places pods instead.
// runtime/local implements it with processes and cgroups.
import type { ConcurrencyExperiment, Variant } from '../api/schema.ts';
import type { WorkloadEvent } from '../contracts/records.ts';

/** Where and how the workload exports spans; absent when tracing is off. */
export interface TracingTarget {
  /** OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces. */
  tracesEndpoint: string;
  /** Bearer token the receiver requires (sent as OTEL_EXPORTER_OTLP_HEADERS). */
  token: string;
}

/** Everything the workload needs to know, identical in shape for every placement. */
export interface WorkloadLaunch {
  experiment: ConcurrencyExperiment;
  variant: Variant;
  /** 1-based trial number. */
  trial: number;
  /** Identifies the run (span attribute conclab.run); absent for a one-shot cluster run. */
  run?: string;
  tracing: TracingTarget | undefined;
}

/** A started variant, ready to serve: one entry per replica, in replica order. */
export interface DeployedWorkload {
  variant: string;
  trial: number;
  /** Base URLs of the work server and of the supervisor's admin server, one per replica. */
  workUrls: string[];
  adminUrls: string[];
}

export interface Runtime {
  /** Human-readable description for reports: "local cgroup v1". */
  readonly name: string;
  /** Warnings that must appear in the report (e.g. limits not enforceable). */
  readonly warnings: string[];
  start(launch: WorkloadLaunch): Promise<DeployedWorkload>;
  /**
   * What only the placement sees, oldest first: how a workload process ended (process-exit with
   * its exit status, oomKilled, and restarting: false when it gave up restarting it).
   */
  events(deployed: DeployedWorkload): WorkloadEvent[];
  stop(deployed: DeployedWorkload): Promise<void>;
  /** Removes everything this runtime created. Idempotent; safe after a failed start. */
  cleanup(): Promise<void>;
}
