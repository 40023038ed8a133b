// The contract of the trace receiver: OTLP/HTTP spans in, streaming aggregates out.

/** Identifies a group of spans: taken from span and resource attributes. */
export interface SpanKey {
  experiment: string;
  trial: string;
  variant: string;
  /** Worker id attribute (conclab.worker), or "unknown". */
  worker: string;
}

/** Aggregate for one SpanKey. Histograms use operator/analysis/histogram.ts. */
export interface SpanAggregate {
  key: SpanKey;
  spans: number;
  errors: number;
  /** Encoded HDR histograms (microseconds) of span duration and of queue time. */
  durationHistogram: string;
  queueHistogram: string;
  /** pids and thread ids seen for this worker (a replaced worker shows a new pid). */
  pids: number[];
  threadIds: number[];
  /** Span counts per epoch second of span end time: [epochSecond, count, errors][]. */
  perSecond: [number, number, number][];
  /**
   * Set when per-second buckets were not kept for some spans because a bucket limit was reached
   * (they still count in spans, errors and the histograms).
   */
  perSecondTruncated?: boolean;
}

export interface TraceReceiver {
  /** Base URL the workloads export to; they POST to `${url}/v1/traces`. */
  readonly url: string;
  /** Current aggregates, optionally only one experiment's. Cheap; never all raw spans. */
  aggregates(filter?: Partial<SpanKey>): SpanAggregate[];
  /**
   * Counters for metrics and tests. spansDropped counts spans refused because the aggregator
   * already held its maximum number of keys (they are reported to the sender as rejected in
   * the OTLP partial_success).
   */
  stats(): { spansAccepted: number; requestsRejected: number; bytesReceived: number; spansDropped: number };
  /**
   * Forgets the aggregates matching the filter (all without one), so a long-running operator
   * can release finished experiments and never reach the key limit.
   */
  clear(filter?: Partial<SpanKey>): void;
  close(): Promise<void>;
}
