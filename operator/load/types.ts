// The contract between the engine and a load driver (built-in or k6). A driver takes a
// LoadPlan against the replicas of one variant and returns a LoadResult; the engine never
// sees how. The result records are defined once in operator/contracts/records.ts and only
// re-exported here, so the load layer and every reader share one definition.

export type {
  CapacitySearch,
  ErrorKind,
  LoadResult,
  Saturation,
  SearchEnd,
  SecondSample,
  TargetLoad,
  ThroughputStep,
} from '../contracts/records.ts';

/** One step of a ramping arrival rate, as in the API but with parsed durations. */
export interface RateStage {
  durationMillis: number;
  /** Rate in requests per second reached at the end of the stage (linear ramp). */
  targetRate: number;
}

export interface LoadPlan {
  /**
   * Full work URLs of every replica of the variant, e.g. ["http://127.0.0.1:40123/work"].
   * The load is spread over them round-robin in schedule order, so each replica gets an even
   * share at even spacing; a result's perTarget[i] is targets[i] (replica index = position).
   */
  targets: string[];
  /** Constant arrival rate (requests/s) or the ramp; exactly one of the two is set. */
  rate?: number;
  stages?: RateStage[];
  /** Ramps only: requests/s at the start of the first stage (default 0, as k6's startRate). */
  startRate?: number;
  /** Measured duration for constant rate; for stages the sum of the stage durations. */
  durationMillis: number;
  /** Load sent at the start rate before measurement starts; excluded from the result. */
  warmUpMillis: number;
  /** Most requests outstanding at once, over all targets and generators. */
  maxInFlight: number;
  timeoutMillis: number;
  /**
   * Load generators that share the schedule, interleaved so their union is the single
   * schedule, with their parts merged exactly: processes of the built-in driver (each on its
   * own CPU when given), or k6 runs (each its execution segment). Default 1: the driver runs
   * in the calling process. In a cluster the load pods are the generators (parts.ts).
   */
  generators?: number;
  /** Added to every request (ids for the workload's spans). */
  headers?: Record<string, string>;
  /** Called once a second with live figures, for progress displays. Must not throw. */
  onProgress?: (p: LoadProgress) => void;
  /**
   * Called once the run's time 0 (the start of the warm-up) is fixed, with its epoch ms, so a
   * caller can time things against the load (faults at warm-up + at). Several generators fix
   * it a little ahead of the call, so that every one starts at it. Must not throw.
   */
  onTimeZero?: (epochMillis: number) => void;
  /** Aborts the run early; the partial result is returned marked `partial`. */
  signal?: AbortSignal;
}

export interface LoadProgress {
  elapsedMillis: number;
  measuring: boolean;
  currentRate: number;
  sent: number;
  completed: number;
  errors: number;
}

/** Options of the built-in driver (health thresholds, generator placement). */
export interface BuiltinLoadOptions {
  /** Send-time slip p99 above which the result is marked unreliable. Default 25 ms. */
  maxSendSlipP99Millis?: number;
  /** Event-loop delay (max) above which the result is marked unreliable. Default 200 ms. */
  maxEventLoopLagMillis?: number;
  /**
   * How long a request may wait for a free connection of its target before that target's
   * pool opens more (a few per tick). Default 100 ms: brief hiccups are absorbed by waiting,
   * a server that needs more concurrency gets it.
   */
  growAfterMillis?: number;
  /**
   * CPUs to pin the generator processes to (generator g on cpus[g % cpus.length]), chosen
   * outside the workloads' budget. Given, the load runs in generator processes even when
   * plan.generators is 1, since only a process can be pinned (with taskset).
   */
  cpus?: number[];
}
