// Hand-written decoder for OTLP ExportTraceServiceRequest protobuf, and the two small messages a
// receiver sends back. The OTel JS packages can encode OTLP but not decode it, and a generic
// protobuf library would build an object for every field of every span; this reads only what
// conclab aggregates and skips the rest by length.
//
// Field numbers from opentelemetry-proto:
//   collector/trace/v1  ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1 }
//                       ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1 }
//                       ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2 }
//   trace/v1            ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2 }
//                       ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2 }
//                       Span { bytes trace_id = 1; bytes span_id = 2; string name = 5; SpanKind kind = 6;
//                              fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
//                              repeated KeyValue attributes = 9; Status status = 15 }
//                       Status { string message = 2; StatusCode code = 3 }
//   resource/v1         Resource { repeated KeyValue attributes = 1 }
//   common/v1           KeyValue { string key = 1; AnyValue value = 2 }
//                       AnyValue { oneof: string_value = 1; bool_value = 2; int64 int_value = 3;
//                                  double double_value = 4; array 5; kvlist 6; bytes 7 }
//   google.rpc.Status   { int32 code = 1; string message = 2 } (the body of OTLP/HTTP error responses)
import { ProtoReader, WIRE_FIXED64, WIRE_LENGTH_DELIMITED, WIRE_VARINT } from './proto-reader.ts';
import { type AttributeValue, type DecodedSpan, type DecodeOptions, OtlpDecodeError } from './span.ts';

const TWO_POW_32 = 4294967296;

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

function expectWire(tag: number, wire: number, where: string): void {
  if ((tag & 7) !== wire) {
    throw new OtlpDecodeError(
      `malformed protobuf: ${where} has wire type ${WIRE_NAMES[tag & 7] ?? tag & 7}, expected ${WIRE_NAMES[wire]}`,
    );
  }
}

/**
 * Matches attribute keys against the wanted set byte by byte, so the many attributes conclab
 * ignores never become strings.
 */
class KeyMatcher {
  readonly #byLength: ({ bytes: Buffer; name: string }[] | undefined)[] = [];

  constructor(keys: readonly string[]) {
    for (const name of keys) {
      const bytes = Buffer.from(name, 'utf8');
      const list = this.#byLength[bytes.length] ?? [];
      list.push({ bytes, name });
      this.#byLength[bytes.length] = list;
    }
  }

  match(buf: Buffer, start: number, end: number): string | undefined {
    const candidates = this.#byLength[end - start];
    if (candidates === undefined) return undefined;
    outer: for (const c of candidates) {
      const bytes = c.bytes;
      for (let i = 0; i < bytes.length; i++) if (bytes[i] !== buf[start + i]) continue outer;
      return c.name;
    }
    return undefined;
  }
}

const matcherCache = new WeakMap<readonly string[], KeyMatcher>();

function matcherFor(keys: readonly string[] | undefined): KeyMatcher | undefined {
  if (keys === undefined) return undefined;
  let m = matcherCache.get(keys);
  if (m === undefined) {
    m = new KeyMatcher(keys);
    matcherCache.set(keys, m);
  }
  return m;
}

/**
 * Decodes a whole ExportTraceServiceRequest. Returns every span or throws OtlpDecodeError: a
 * request is never half-applied.
 */
export function decodeTraceRequestProtobuf(body: Buffer, options: DecodeOptions = {}): DecodedSpan[] {
  const decoder = new RequestDecoder(body, matcherFor(options.attributeKeys));
  return decoder.decode();
}

class RequestDecoder {
  readonly r: ProtoReader;
  readonly keys: KeyMatcher | undefined;
  readonly spans: DecodedSpan[] = [];

  constructor(body: Buffer, keys: KeyMatcher | undefined) {
    this.r = new ProtoReader(body);
    this.keys = keys;
  }

  decode(): DecodedSpan[] {
    const r = this.r;
    const end = r.buf.length;
    while (r.pos < end) {
      const tag = r.tag(end);
      if (tag >>> 3 === 1) {
        expectWire(tag, WIRE_LENGTH_DELIMITED, 'ExportTraceServiceRequest.resource_spans');
        const fieldEnd = r.lengthEnd(end);
        this.resourceSpans(fieldEnd);
        r.pos = fieldEnd;
      } else r.skip(tag, end);
    }
    return this.spans;
  }

  resourceSpans(end: number): void {
    const r = this.r;
    const start = r.pos;
    // The resource is field 1 and encoders write it first, but protobuf allows any order: read it
    // in a first pass so every span sees its resource.
    const resource: Record<string, AttributeValue> = {};
    while (r.pos < end) {
      const tag = r.tag(end);
      if (tag >>> 3 === 1) {
        expectWire(tag, WIRE_LENGTH_DELIMITED, 'ResourceSpans.resource');
        const fieldEnd = r.lengthEnd(end);
        this.resource(fieldEnd, resource);
        r.pos = fieldEnd;
      } else r.skip(tag, end);
    }
    r.pos = start;
    while (r.pos < end) {
      const tag = r.tag(end);
      if (tag >>> 3 === 2) {
        expectWire(tag, WIRE_LENGTH_DELIMITED, 'ResourceSpans.scope_spans');
        const fieldEnd = r.lengthEnd(end);
        this.scopeSpans(fieldEnd, resource);
        r.pos = fieldEnd;
      } else r.skip(tag, end);
    }
  }

  resource(end: number, target: Record<string, AttributeValue>): void {
    const r = this.r;
    while (r.pos < end) {
      const tag = r.tag(end);
      if (tag >>> 3 === 1) {
        expectWire(tag, WIRE_LENGTH_DELIMITED, 'Resource.attributes');
        const fieldEnd = r.lengthEnd(end);
        this.keyValue(fieldEnd, target);
        r.pos = fieldEnd;
      } else r.skip(tag, end);
    }
  }

  scopeSpans(end: number, resource: Record<string, AttributeValue>): void {
    const r = this.r;
    while (r.pos < end) {
      const tag = r.tag(end);
      if (tag >>> 3 === 2) {
        expectWire(tag, WIRE_LENGTH_DELIMITED, 'ScopeSpans.spans');
        const fieldEnd = r.lengthEnd(end);
        this.span(fieldEnd, resource);
        r.pos = fieldEnd;
      } else r.skip(tag, end);
    }
  }

  span(end: number, resource: Record<string, AttributeValue>): void {
    const r = this.r;
    const buf = r.buf;
    let traceId = '';
    let spanId = '';
    let name = '';
    let kind = 0;
    let statusCode = 0;
    let startLo = 0;
    let startHi = 0;
    let endLo = 0;
    let endHi = 0;
    const attributes: Record<string, AttributeValue> = {};
    while (r.pos < end) {
      const tag = r.tag(end);
      switch (tag >>> 3) {
        case 1: {
          expectWire(tag, WIRE_LENGTH_DELIMITED, 'Span.trace_id');
          const fieldEnd = r.lengthEnd(end);
          // Capped so a hostile id cannot become a huge string; valid ids are exactly 16 bytes.
          traceId = buf.toString('hex', r.pos, Math.min(fieldEnd, r.pos + 16));
          r.pos = fieldEnd;
          break;
        }
        case 2: {
          expectWire(tag, WIRE_LENGTH_DELIMITED, 'Span.span_id');
          const fieldEnd = r.lengthEnd(end);
          spanId = buf.toString('hex', r.pos, Math.min(fieldEnd, r.pos + 8));
          r.pos = fieldEnd;
          break;
        }
        case 5: {
          expectWire(tag, WIRE_LENGTH_DELIMITED, 'Span.name');
          const fieldEnd = r.lengthEnd(end);
          name = buf.toString('utf8', r.pos, fieldEnd);
          r.pos = fieldEnd;
          break;
        }
        case 6:
          expectWire(tag, WIRE_VARINT, 'Span.kind');
          kind = r.uint32(end);
          break;
        case 7:
          expectWire(tag, WIRE_FIXED64, 'Span.start_time_unix_nano');
          startLo = r.fixed32(end);
          startHi = r.fixed32(end);
          break;
        case 8:
          expectWire(tag, WIRE_FIXED64, 'Span.end_time_unix_nano');
          endLo = r.fixed32(end);
          endHi = r.fixed32(end);
          break;
        case 9: {
          expectWire(tag, WIRE_LENGTH_DELIMITED, 'Span.attributes');
          const fieldEnd = r.lengthEnd(end);
          this.keyValue(fieldEnd, attributes);
          r.pos = fieldEnd;
          break;
        }
        case 15: {
          expectWire(tag, WIRE_LENGTH_DELIMITED, 'Span.status');
          const fieldEnd = r.lengthEnd(end);
          statusCode = this.statusCode(fieldEnd);
          r.pos = fieldEnd;
          break;
        }
        default:
          r.skip(tag, end);
      }
    }
    this.spans.push({
      traceId,
      spanId,
      name,
      kind,
      startTimeUnixNano: startHi * TWO_POW_32 + startLo,
      endTimeUnixNano: endHi * TWO_POW_32 + endLo,
      // Exact: the difference of the halves is small even though the times are beyond 2^53.
      durationNanos: (endHi - startHi) * TWO_POW_32 + (endLo - startLo),
      statusCode,
      attributes,
      resource,
    });
  }

  statusCode(end: number): number {
    const r = this.r;
    let code = 0;
    while (r.pos < end) {
      const tag = r.tag(end);
      if (tag >>> 3 === 3) {
        expectWire(tag, WIRE_VARINT, 'Status.code');
        code = r.uint32(end);
      } else r.skip(tag, end);
    }
    return code;
  }

  /** Decodes one KeyValue into target when its key is wanted; key and value may come in any order. */
  keyValue(end: number, target: Record<string, AttributeValue>): void {
    const r = this.r;
    let keyStart = -1;
    let keyEnd = -1;
    let valueStart = -1;
    let valueEnd = -1;
    while (r.pos < end) {
      const tag = r.tag(end);
      const field = tag >>> 3;
      if (field === 1) {
        expectWire(tag, WIRE_LENGTH_DELIMITED, 'KeyValue.key');
        keyEnd = r.lengthEnd(end);
        keyStart = r.pos;
        r.pos = keyEnd;
      } else if (field === 2) {
        expectWire(tag, WIRE_LENGTH_DELIMITED, 'KeyValue.value');
        valueEnd = r.lengthEnd(end);
        valueStart = r.pos;
        r.pos = valueEnd;
      } else r.skip(tag, end);
    }
    if (keyStart < 0 || valueStart < 0) return;
    const key = this.keys ? this.keys.match(r.buf, keyStart, keyEnd) : r.buf.toString('utf8', keyStart, keyEnd);
    // __proto__ would replace the target's prototype instead of adding an attribute.
    if (key === undefined || key === '__proto__') return;
    r.pos = valueStart;
    const value = this.anyValue(valueEnd);
    r.pos = end;
    if (value !== undefined) target[key] = value;
  }

  /** The scalar value of an AnyValue; undefined for arrays, maps, bytes and empty values. */
  anyValue(end: number): AttributeValue | undefined {
    const r = this.r;
    let value: AttributeValue | undefined;
    while (r.pos < end) {
      const tag = r.tag(end);
      switch (tag >>> 3) {
        case 1: {
          expectWire(tag, WIRE_LENGTH_DELIMITED, 'AnyValue.string_value');
          const fieldEnd = r.lengthEnd(end);
          value = r.buf.toString('utf8', r.pos, fieldEnd);
          r.pos = fieldEnd;
          break;
        }
        case 2:
          expectWire(tag, WIRE_VARINT, 'AnyValue.bool_value');
          value = r.int64(end) !== 0;
          break;
        case 3:
          expectWire(tag, WIRE_VARINT, 'AnyValue.int_value');
          value = r.int64(end);
          break;
        case 4:
          expectWire(tag, WIRE_FIXED64, 'AnyValue.double_value');
          value = r.double(end);
          break;
        default:
          // array_value, kvlist_value, bytes_value: not used by conclab; the oneof is cleared.
          value = undefined;
          r.skip(tag, end);
      }
    }
    return value;
  }
}

// --- encoding the responses -------------------------------------------------------------------

function varint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function lengthDelimited(out: number[], fieldTag: number, bytes: Uint8Array): void {
  out.push(fieldTag);
  varint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

/**
 * ExportTraceServiceResponse. Full success leaves partial_success unset, which encodes to zero
 * bytes, as the OTLP spec asks; rejected spans fill it in.
 */
export function encodeTraceResponseProtobuf(rejectedSpans = 0, errorMessage = ''): Buffer {
  if (rejectedSpans === 0 && errorMessage === '') return Buffer.alloc(0);
  const partial: number[] = [];
  if (rejectedSpans > 0) {
    partial.push(0x08);
    varint(partial, rejectedSpans);
  }
  if (errorMessage !== '') lengthDelimited(partial, 0x12, Buffer.from(errorMessage, 'utf8'));
  const out: number[] = [];
  lengthDelimited(out, 0x0a, Uint8Array.from(partial));
  return Buffer.from(out);
}

/** google.rpc.Status, the body OTLP/HTTP asks for on 4xx and 5xx responses to protobuf requests. */
export function encodeStatusProtobuf(grpcCode: number, message: string): Buffer {
  const out: number[] = [];
  if (grpcCode > 0) {
    out.push(0x08);
    varint(out, grpcCode);
  }
  lengthDelimited(out, 0x12, Buffer.from(message, 'utf8'));
  return Buffer.from(out);
}
