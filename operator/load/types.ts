// The contract between the engine and a load driver (built-in or k6). A driver takes a
// LoadPlan against one target and returns a LoadResult; the engine never sees how.

/** One step of a ramping arrival rate, as in the API but with parsed durations. */
export interface RateStage {
  durationMillis: number;
  /** Rate in requests per second reached at the end of the stage (linear ramp). */
  targetRate: number;
}

export interface LoadPlan {
  /** Full URL of the work endpoint, e.g. http://127.0.0.1:40123/work. */
  url: string;
  /** Constant arrival rate (requests/s) or the ramp; exactly one of the two is set. */
  rate?: number;
  stages?: RateStage[];
  /** Ramps only: requests/s at the start of the first stage (default 0, as k6's startRate). */
  startRate?: number;
  /** Measured duration for constant rate; for stages the sum of the stage durations. */
  durationMillis: number;
  /** Load sent at the start rate before measurement starts; excluded from the result. */
  warmUpMillis: number;
  maxInFlight: number;
  timeoutMillis: number;
  /** Added to every request (ids for the workload's spans). */
  headers?: Record<string, string>;
  /** Called once a second with live figures, for progress displays. Must not throw. */
  onProgress?: (p: LoadProgress) => void;
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

export type ErrorKind = 'refused' | 'reset' | 'timeout' | 'http4xx' | 'http5xx' | 'other';

/**
 * One second of the measured window. `second` counts from the start of measurement. The
 * series may run past the window by up to timeoutMillis: answers (and timeouts) of requests
 * sent near the end count in the second they arrive, so every series sums to its total.
 */
export interface SecondSample {
  second: number;
  /** Requests whose intended send time fell in this second. */
  sent: number;
  /** Requests that completed successfully in this second (by completion time). */
  completed: number;
  errors: number;
  dropped: number;
  /** p99 of latency (intended send time to response) of requests completed this second. */
  p99Millis: number;
}

export interface LoadResult {
  driver: 'builtin' | 'k6';
  /** Epoch millis when the measured window started and ended. */
  startedAtMillis: number;
  endedAtMillis: number;
  /** Requests scheduled in the measured window (sent + dropped). */
  scheduled: number;
  sent: number;
  completed: number;
  /** Not sent because maxInFlight was reached. */
  dropped: number;
  errors: Record<ErrorKind, number>;
  /** Requests still outstanding when the run ended (lost in flight). */
  inFlightAtEnd: number;
  /** HDR histogram (operator/analysis/histogram.ts encoding) of successful request latency. */
  latencyHistogram: string;
  perSecond: SecondSample[];
  /** The driver's own health: when unreliable, results say so instead of blaming the server. */
  saturation: {
    unreliable: boolean;
    /** p99 of how late requests were sent against their intended time. */
    sendSlipP99Millis: number;
    eventLoopLagMaxMillis: number;
    reason?: string;
  };
  partial: boolean;
  /**
   * True when latencyHistogram was rebuilt from a few summary percentiles (k6 summaries give
   * no raw samples): its percentiles at those points are right, merged figures are approximate.
   */
  latencyHistogramSynthesized?: boolean;
}
