// The contract of the trace receiver: OTLP/HTTP spans in, streaming aggregates out, and an
// account of everything it refused. SpanKey and SpanAggregate are shared records, defined once
// in operator/contracts/records.ts.
import type { SpanAggregate, SpanKey } from '../contracts/records.ts';

export type { SpanAggregate, SpanKey };

/**
 * Why the receiver refused something. Request reasons are answered with an HTTP error and the
 * request's spans are never decoded; span reasons refuse single spans of an accepted request
 * (reported to the sender in the OTLP partial_success).
 *   unauthenticated  401: no or wrong `authorization: Bearer <token>` (request)
 *   unexpected       spans of another experiment or run than the one the receiver serves (span)
 *   keyLimit         spans of a new key beyond maxKeysPerVariant or maxKeys (span)
 *   tooLarge         413: body over maxBodyBytes, or over maxDecompressedBytes after gunzip (request)
 *   malformed        400: not OTLP, broken gzip, or not HTTP at all; spans with oversized key parts (both)
 *   timeout          408: headers or body not received in time, or sent too slowly (request)
 *   busy             503: request bodies in memory already at maxBufferedBytes (request)
 *   unsupported      404, 405, 415: wrong path, method, content type or encoding (request)
 *   aborted          the client closed the connection before sending the whole body (request)
 *   connectionLimit  connection refused at once: maxConnections already open (connection)
 */
export const REFUSAL_REASONS = [
  'unauthenticated',
  'unexpected',
  'keyLimit',
  'tooLarge',
  'malformed',
  'timeout',
  'busy',
  'unsupported',
  'aborted',
  'connectionLimit',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** What was refused for one reason. */
export interface RefusalCount {
  /** Requests (or connections, for connectionLimit) refused, or that had spans refused. */
  requests: number;
  /** Spans refused; only known for span reasons (a refused request is never decoded). */
  spans: number;
  /** The newest refusal's message, e.g. `experiment "junk" run "unknown" is not ...`. */
  lastMessage?: string;
}

/** The experiment (and run, and variants) a receiver serves; spans of anything else are refused. */
export interface SpanExpectation {
  experiment: string;
  /** When set, spans must carry this conclab.run (spans without one are refused too). */
  run?: string;
  /** When set, spans must carry one of these conclab.variant values. */
  variants?: readonly string[];
}

export interface TraceReceiverStats {
  spansAccepted: number;
  /** Requests answered with an HTTP error status (every request reason). */
  requestsRejected: number;
  /** Requests answered 200 (some of their spans may still have been refused). */
  requestsAccepted: number;
  bytesReceived: number;
  /** Spans of accepted requests refused by the aggregation (unexpected, keyLimit, malformed). */
  spansDropped: number;
  /** Requests whose body is being read right now. */
  requestsInProgress: number;
  /** Bytes of request bodies held in memory right now (bounded by maxBufferedBytes). */
  bufferedBytes: number;
  /** TCP connections open right now. */
  connections: number;
  /** Keys held by the aggregation. */
  keys: number;
  /** Every refusal since start, per reason (zero counts included). */
  refused: Record<RefusalReason, RefusalCount>;
}

export interface TraceReceiverHealth {
  /** True when nothing at all was refused. */
  clean: boolean;
  /** The reasons with refusals only. */
  refused: Partial<Record<RefusalReason, RefusalCount>>;
  /**
   * One line per reason, worded for a terminal warning or a report, e.g.
   * `3,000 spans refused (not of this run): experiment "junk" ...`. Empty when clean.
   */
  problems: string[];
}

export interface TraceReceiver {
  /** Base URL the workloads export to; they POST to `${url}/v1/traces`. */
  readonly url: string;
  /**
   * The bearer token every request must present (`authorization: Bearer <token>`): the one
   * given to startTraceReceiver, or the one it generated.
   */
  readonly token: string;
  /** Current aggregates, optionally only one experiment's. Cheap; never all raw spans. */
  aggregates(filter?: Partial<SpanKey>): SpanAggregate[];
  /** Counters for metrics, tests and warnings; see TraceReceiverStats. */
  stats(): TraceReceiverStats;
  /** What was refused and why, worded for people. */
  health(): TraceReceiverHealth;
  /**
   * Serves only this experiment (and run, and variants) from now on: spans of anything else
   * are refused and counted as `unexpected`, never aggregated. undefined accepts any.
   */
  expect(expectation: SpanExpectation | undefined): void;
  /**
   * Forgets the aggregates matching the filter (all without one), so a receiver that serves
   * trial after trial releases each finished trial's keys and never reaches the key limits.
   */
  clear(filter?: Partial<SpanKey>): void;
  close(): Promise<void>;
}
