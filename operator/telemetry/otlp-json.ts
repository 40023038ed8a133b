// Decoder for OTLP/JSON ExportTraceServiceRequest bodies. Follows the OTLP/JSON mapping: keys in
// lowerCamelCase (the original snake_case names are accepted too, as the protobuf JSON mapping
// requires of parsers), trace and span ids as hex strings, 64-bit integers as decimal strings
// (plain numbers accepted), enums as integers (enum names accepted). Unknown keys are ignored.
import { type AttributeValue, type DecodedSpan, type DecodeOptions, OtlpDecodeError } from './span.ts';

type Json = Record<string, unknown>;

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

/**
 * A problem at a place in the body. Helpers throw it with the field name only; each enclosing
 * loop prepends its own step on the way out, so the path string is built only for a body that is
 * actually wrong, not for every field of every span.
 */
class JsonPathError extends Error {
  path: string;
  readonly problem: string;
  constructor(path: string, problem: string) {
    super(problem);
    this.path = path;
    this.problem = problem;
  }
}

function bad(where: string, problem: string): JsonPathError {
  return new JsonPathError(where, problem);
}

/** Runs fn; a JsonPathError from inside gets `step` prepended to its path. */
function at<T>(step: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof JsonPathError) error.path = `${step}.${error.path}`;
    throw error;
  }
}

function field(obj: Json, camel: string, snake: string): unknown {
  const v = obj[camel];
  return v === undefined ? obj[snake] : v;
}

function objectAt(value: unknown, where: string): Json | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw bad(where, 'expected an object');
  return value as Json;
}

function arrayAt(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw bad(where, 'expected an array');
  return value;
}

function stringAt(value: unknown, where: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw bad(where, 'expected a string');
  return value;
}

function enumAt(value: unknown, names: Record<string, number>, where: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && Object.hasOwn(names, value)) return names[value]!;
  throw bad(where, 'expected an integer enum value');
}

const INT64 = /^-?\d{1,20}$/;

/** An int64 field: decimal string per OTLP/JSON, or a JSON number. */
function int64At(value: unknown, where: string): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'string' && INT64.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isFinite(value)) return BigInt(Math.trunc(value));
  throw bad(where, 'expected an integer as a decimal string');
}

/** Same, as a number, for attribute values (exact up to 2^53). */
function intValueAt(value: unknown, where: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value);
  if (typeof value === 'string' && INT64.test(value)) return Number(value);
  throw bad(where, 'expected an integer as a decimal string');
}

const HEX = /^[0-9a-fA-F]{0,64}$/;

function hexIdAt(value: unknown, where: string): string {
  const s = stringAt(value, where);
  if (!HEX.test(s)) throw bad(where, 'expected a hex id');
  return s.toLowerCase();
}

function anyValue(v: Json): AttributeValue | undefined {
  const s = field(v, 'stringValue', 'string_value');
  if (s !== undefined && s !== null) return stringAt(s, 'stringValue');
  const b = field(v, 'boolValue', 'bool_value');
  if (b !== undefined && b !== null) {
    if (typeof b !== 'boolean') throw bad('boolValue', 'expected true or false');
    return b;
  }
  const i = field(v, 'intValue', 'int_value');
  if (i !== undefined && i !== null) return intValueAt(i, 'intValue');
  const d = field(v, 'doubleValue', 'double_value');
  if (d !== undefined && d !== null) {
    if (typeof d === 'number') return d;
    if (d === 'NaN' || d === 'Infinity' || d === '-Infinity') return Number(d);
    throw bad('doubleValue', 'expected a number');
  }
  return undefined; // arrays, maps and bytes are not used by conclab
}

function attributes(
  list: unknown,
  wanted: ReadonlySet<string> | undefined,
  target: Record<string, AttributeValue>,
): void {
  const items = arrayAt(list, 'attributes');
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      if (item === null || item === undefined) continue;
      throw bad(`attributes[${i}]`, 'expected an object');
    }
    const kv = item as Json;
    const key = kv['key'];
    if (typeof key !== 'string') throw bad(`attributes[${i}].key`, 'expected a string');
    if (key === '__proto__' || (wanted !== undefined && !wanted.has(key))) continue;
    const value = kv['value'];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw bad(`attributes[${i}].value`, 'expected an object');
    const decoded = at(`attributes[${i}].value`, () => anyValue(value as Json));
    if (decoded !== undefined) target[key] = decoded;
  }
}

function span(
  obj: Json,
  wanted: ReadonlySet<string> | undefined,
  resource: Record<string, AttributeValue>,
): DecodedSpan {
  const start = int64At(field(obj, 'startTimeUnixNano', 'start_time_unix_nano'), 'startTimeUnixNano');
  const end = int64At(field(obj, 'endTimeUnixNano', 'end_time_unix_nano'), 'endTimeUnixNano');
  const status = objectAt(obj['status'], 'status');
  const attrs: Record<string, AttributeValue> = {};
  attributes(obj['attributes'], wanted, attrs);
  return {
    traceId: hexIdAt(field(obj, 'traceId', 'trace_id'), 'traceId'),
    spanId: hexIdAt(field(obj, 'spanId', 'span_id'), 'spanId'),
    name: stringAt(obj['name'], 'name'),
    kind: enumAt(obj['kind'], SPAN_KINDS, 'kind'),
    startTimeUnixNano: Number(start),
    endTimeUnixNano: Number(end),
    durationNanos: Number(end - start),
    statusCode: status ? enumAt(status['code'], STATUS_CODES, 'status.code') : 0,
    attributes: attrs,
    resource,
  };
}

function resourceSpans(rs: Json, wanted: ReadonlySet<string> | undefined, out: DecodedSpan[]): void {
  const resource: Record<string, AttributeValue> = {};
  const res = objectAt(rs['resource'], 'resource');
  if (res) at('resource', () => attributes(res['attributes'], wanted, resource));
  const scopeSpans = arrayAt(field(rs, 'scopeSpans', 'scope_spans'), 'scopeSpans');
  for (let s = 0; s < scopeSpans.length; s++) {
    const ss = objectAt(scopeSpans[s], `scopeSpans[${s}]`);
    if (ss === undefined) continue;
    const list = arrayAt(ss['spans'], `scopeSpans[${s}].spans`);
    for (let i = 0; i < list.length; i++) {
      const obj = list[i];
      if (obj === undefined || obj === null) continue;
      if (typeof obj !== 'object' || Array.isArray(obj))
        throw bad(`scopeSpans[${s}].spans[${i}]`, 'expected an object');
      try {
        out.push(span(obj as Json, wanted, resource));
      } catch (error) {
        if (error instanceof JsonPathError) error.path = `scopeSpans[${s}].spans[${i}].${error.path}`;
        throw error;
      }
    }
  }
}

/**
 * Decodes a whole OTLP/JSON ExportTraceServiceRequest. Returns every span or throws
 * OtlpDecodeError naming where the body is wrong.
 */
export function decodeTraceRequestJson(body: Buffer | string, options: DecodeOptions = {}): DecodedSpan[] {
  let root: unknown;
  try {
    root = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (error) {
    throw new OtlpDecodeError(`invalid OTLP/JSON: ${(error as Error).message}`);
  }
  const wanted = options.attributeKeys ? new Set(options.attributeKeys) : undefined;
  const spans: DecodedSpan[] = [];
  try {
    const request = objectAt(root, 'body');
    if (request === undefined) throw bad('body', 'expected an object');
    const list = arrayAt(field(request, 'resourceSpans', 'resource_spans'), 'resourceSpans');
    for (let r = 0; r < list.length; r++) {
      const rs = objectAt(list[r], `resourceSpans[${r}]`);
      if (rs !== undefined) at(`resourceSpans[${r}]`, () => resourceSpans(rs, wanted, spans));
    }
  } catch (error) {
    if (error instanceof JsonPathError) throw new OtlpDecodeError(`invalid OTLP/JSON: ${error.path}: ${error.problem}`);
    throw error;
  }
  return spans;
}

/** ExportTraceServiceResponse as OTLP/JSON: `{}` on full success, partialSuccess otherwise. */
export function encodeTraceResponseJson(rejectedSpans = 0, errorMessage = ''): string {
  if (rejectedSpans === 0 && errorMessage === '') return '{}';
  return JSON.stringify({ partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage } });
}

/** google.rpc.Status as JSON, the body of OTLP/HTTP error responses to JSON requests. */
export function encodeStatusJson(grpcCode: number, message: string): string {
  return JSON.stringify({ code: grpcCode, message });
}
