// The decoded form of one OTLP span: what both the protobuf and the JSON decoder produce and
// what the aggregator consumes. Only the fields conclab uses are kept.

export type AttributeValue = string | number | boolean;

export interface DecodedSpan {
  /** Lower-case hex, 32 characters for a valid id (empty when the sender left it out). */
  traceId: string;
  /** Lower-case hex, 16 characters for a valid id. */
  spanId: string;
  name: string;
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /**
   * Epoch nanoseconds as a double: exact to about 256 ns today, plenty for per-second buckets.
   * Use durationNanos for the duration, which is computed exactly.
   */
  startTimeUnixNano: number;
  endTimeUnixNano: number;
  /** end - start, computed on the exact 64-bit values; negative when the sender's clock jumped. */
  durationNanos: number;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  /**
   * Span attributes with string, bool, int or double values (arrays, maps and bytes are left out).
   * int64 values become numbers, exact up to 2^53. When the decoder was given attributeKeys, only
   * those keys are present.
   */
  attributes: Record<string, AttributeValue>;
  /** Attributes of the span's resource, shared by every span of one ResourceSpans. */
  resource: Record<string, AttributeValue>;
}

/** Input the decoders reject; the receiver answers 400 with the message. */
export class OtlpDecodeError extends Error {
  override name = 'OtlpDecodeError';
}

/** Options shared by both decoders. */
export interface DecodeOptions {
  /**
   * Decode only these attribute keys (span and resource), skipping the rest without building
   * strings for them: the receiver only needs a handful of the dozens of attributes SDKs send.
   */
  attributeKeys?: readonly string[];
}
