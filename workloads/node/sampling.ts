// The sampling decision, made before any span object exists: from the incoming traceparent's
// sampled flag and the configured sampler. An unsampled request then costs a header lookup and,
// for a new trace, one random number; the SDK is not entered at all (it would build a context,
// ids and a non-recording span per request). A sampled request gets a TraceStart, and the span
// is created with exactly that trace id and parent, by an SDK whose own sampler is always_on.
//
// traceidratio keeps the SDK's definition (TraceIdRatioBasedSampler in @opentelemetry/sdk-trace):
// sampled when the XOR of the trace id's four 32-bit words is below ratio * (2^32 - 1), so a
// trace is sampled the same way by every service that samples on its id. For a new trace the
// XOR is drawn first; only a sampled one gets an id, built from it later and off the serving
// thread (newTraceId: three random words, the fourth completing the XOR), uniform exactly as if
// drawn whole and then tested.
import type { SamplerConfig } from './otel-config.ts';

/** What a sampled request's span starts from; a plain object, so it crosses postMessage. */
export interface TraceStart {
  /** 32 lowercase hex characters of the incoming trace; undefined for a new trace. */
  traceId: string | undefined;
  /** New trace: the word XOR its id must have (newTraceId builds the id); 0 otherwise. */
  xor: number;
  /** 16 hex characters of the remote parent span; undefined for a new trace. */
  parentSpanId: string | undefined;
  /** Incoming tracestate header, kept on the span context. */
  traceState: string | undefined;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

/** Parses a W3C traceparent header; undefined when it is absent or invalid (then: a new trace). */
export function parseTraceparent(header: string | undefined): ParsedTraceparent | undefined {
  // version "00" is exactly 55 characters; a later version may append fields after a dash.
  if (header === undefined || header.length < 55 || (header.length > 55 && header.charCodeAt(55) !== 45)) return;
  if (header.charCodeAt(2) !== 45 || header.charCodeAt(35) !== 45 || header.charCodeAt(52) !== 45) return;
  const version = header.slice(0, 2);
  if (version === 'ff' || (version === '00' && header.length !== 55)) return;
  const traceId = header.slice(3, 35);
  const spanId = header.slice(36, 52);
  const flags = header.slice(53, 55);
  if (!HEX.test(version) || !HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

/** The SDK's traceidratio measure of a trace id: XOR of its four 32-bit words. */
export function traceIdWordXor(traceId: string): number {
  let acc = 0;
  for (let i = 0; i < 32; i += 8) acc = (acc ^ Number.parseInt(traceId.slice(i, i + 8), 16)) >>> 0;
  return acc;
}

const random32 = () => (Math.random() * 4294967296) >>> 0;
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

export class TraceSampler {
  readonly #config: SamplerConfig;
  /** Sampled iff the trace id's word XOR is below this (the SDK's bound). */
  readonly #bound: number;

  constructor(config: SamplerConfig) {
    this.#config = config;
    this.#bound = config.ratio >= 1 ? 4294967296 : config.ratio <= 0 ? 0 : Math.floor(config.ratio * 4294967295);
  }

  get ratio(): number {
    return this.#config.ratio;
  }

  /**
   * Decides for one request from its traceparent (and tracestate) headers: a TraceStart when
   * the request is to be traced, undefined when not.
   */
  decide(traceparent: string | undefined, tracestate?: string): TraceStart | undefined {
    const parent = traceparent === undefined ? undefined : parseTraceparent(traceparent);
    if (parent !== undefined) {
      const config = this.#config;
      const sampled = config.parentBased
        ? parent.sampled
        : config.name === 'traceidratio'
          ? traceIdWordXor(parent.traceId) < this.#bound
          : config.ratio >= 1;
      return sampled
        ? { traceId: parent.traceId, xor: 0, parentSpanId: parent.spanId, traceState: tracestate }
        : undefined;
    }
    if (this.#bound === 0) return undefined;
    const xor = random32();
    if (xor >= this.#bound) return undefined;
    return { traceId: undefined, xor, parentSpanId: undefined, traceState: undefined };
  }
}

/** A uniformly random valid trace id whose word XOR is `xor`. */
export function newTraceId(xor: number): string {
  for (;;) {
    const a = random32();
    const b = random32();
    const c = random32();
    const d = (xor ^ a ^ b ^ c) >>> 0;
    if ((a | b | c | d) !== 0) return hex8(a) + hex8(b) + hex8(c) + hex8(d);
  }
}
