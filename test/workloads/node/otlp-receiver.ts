// A minimal test-local OTLP/HTTP trace receiver: decodes the protobuf ExportTraceServiceRequest
// with a small hand-written wire reader (only the fields these tests read). Independent of the
// product receiver in operator/telemetry/ on purpose: this checks what the workload puts on the wire.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

class WireReader {
  readonly #bytes: Uint8Array;
  #pos: number;
  readonly #end: number;
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#pos = start;
    this.#end = end;
  }
  get done(): boolean {
    return this.#pos >= this.#end;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const byte = this.#bytes[this.#pos++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new Error('varint too long');
  }
  /** Reads one field: its number, wire type and raw value (sub-reader for length-delimited). */
  field(): { num: number; wire: number; int: bigint; bytes: Uint8Array } {
    const key = Number(this.varint());
    const num = key >>> 3;
    const wire = key & 7;
    const empty = new Uint8Array(0);
    switch (wire) {
      case 0:
        return { num, wire, int: this.varint(), bytes: empty };
      case 1: {
        const bytes = this.#bytes.subarray(this.#pos, this.#pos + 8);
        this.#pos += 8;
        return { num, wire, int: new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true), bytes };
      }
      case 2: {
        const length = Number(this.varint());
        const bytes = this.#bytes.subarray(this.#pos, this.#pos + length);
        this.#pos += length;
        return { num, wire, int: 0n, bytes };
      }
      case 5: {
        const bytes = this.#bytes.subarray(this.#pos, this.#pos + 4);
        this.#pos += 4;
        return { num, wire, int: BigInt(new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true)), bytes };
      }
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

function* fields(bytes: Uint8Array) {
  const reader = new WireReader(bytes);
  while (!reader.done) yield reader.field();
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

type AttributeValue = string | number | boolean | undefined;

function anyValue(bytes: Uint8Array): AttributeValue {
  for (const f of fields(bytes)) {
    if (f.num === 1) return text(f.bytes);
    if (f.num === 2) return f.int !== 0n;
    if (f.num === 3) return Number(BigInt.asIntN(64, f.int));
    if (f.num === 4) return new DataView(f.bytes.buffer, f.bytes.byteOffset, 8).getFloat64(0, true);
  }
  return undefined;
}

function keyValues(list: Uint8Array[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list) {
    let key = '';
    let value: AttributeValue;
    for (const f of fields(kv)) {
      if (f.num === 1) key = text(f.bytes);
      else if (f.num === 2) value = anyValue(f.bytes);
    }
    out[key] = value;
  }
  return out;
}

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 2 = SERVER. */
  kind: number;
  startNanos: bigint;
  endNanos: bigint;
  attributes: Record<string, AttributeValue>;
  resource: Record<string, AttributeValue>;
  /** Status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
}

function decodeSpan(bytes: Uint8Array, resource: Record<string, AttributeValue>): ReceivedSpan {
  const span: ReceivedSpan = {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    name: '',
    kind: 0,
    startNanos: 0n,
    endNanos: 0n,
    attributes: {},
    resource,
    statusCode: 0,
  };
  const attributes: Uint8Array[] = [];
  for (const f of fields(bytes)) {
    if (f.num === 1) span.traceId = hex(f.bytes);
    else if (f.num === 2) span.spanId = hex(f.bytes);
    else if (f.num === 4) span.parentSpanId = hex(f.bytes);
    else if (f.num === 5) span.name = text(f.bytes);
    else if (f.num === 6) span.kind = Number(f.int);
    else if (f.num === 7) span.startNanos = f.int;
    else if (f.num === 8) span.endNanos = f.int;
    else if (f.num === 9) attributes.push(f.bytes);
    else if (f.num === 15) for (const s of fields(f.bytes)) if (s.num === 3) span.statusCode = Number(s.int);
  }
  span.attributes = keyValues(attributes);
  return span;
}

/** Decodes an ExportTraceServiceRequest into flat spans carrying their resource attributes. */
export function decodeExportTraceServiceRequest(body: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of fields(body)) {
    if (resourceSpans.num !== 1) continue;
    let resource: Record<string, AttributeValue> = {};
    const scopeSpans: Uint8Array[] = [];
    for (const f of fields(resourceSpans.bytes)) {
      if (f.num === 1) resource = keyValues([...fields(f.bytes)].filter((a) => a.num === 1).map((a) => a.bytes));
      else if (f.num === 2) scopeSpans.push(f.bytes);
    }
    for (const scope of scopeSpans) {
      for (const f of fields(scope)) if (f.num === 2) spans.push(decodeSpan(f.bytes, resource));
    }
  }
  return spans;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();
  requests = 0;
  readonly #server: http.Server;
  url = '';

  constructor() {
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.requests++;
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        this.contentTypes.add(String(req.headers['content-type']));
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        this.spans.push(...decodeExportTraceServiceRequest(body));
        // An empty ExportTraceServiceResponse is an empty protobuf message.
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
