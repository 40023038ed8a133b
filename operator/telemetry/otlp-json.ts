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

function bad(where: string, problem: string): OtlpDecodeError {
  return new OtlpDecodeError(`invalid OTLP/JSON: ${where}: ${problem}`);
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

/** An int64 field: decimal string per OTLP/JSON, or a JSON number. */
function int64At(value: unknown, where: string): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isFinite(value)) return BigInt(Math.trunc(value));
  throw bad(where, 'expected an integer as a decimal string');
}

function hexIdAt(value: unknown, where: string): string {
  const s = stringAt(value, where);
  if (!/^[0-9a-fA-F]*$/.test(s) || s.length > 64) throw bad(where, 'expected a hex id');
  return s.toLowerCase();
}

function anyValue(value: unknown, where: string): AttributeValue | undefined {
  const v = objectAt(value, where);
  if (v === undefined) return undefined;
  const s = field(v, 'stringValue', 'string_value');
  if (s !== undefined && s !== null) return stringAt(s, `${where}.stringValue`);
  const b = field(v, 'boolValue', 'bool_value');
  if (b !== undefined && b !== null) {
    if (typeof b !== 'boolean') throw bad(`${where}.boolValue`, 'expected true or false');
    return b;
  }
  const i = field(v, 'intValue', 'int_value');
  if (i !== undefined && i !== null) return Number(int64At(i, `${where}.intValue`));
  const d = field(v, 'doubleValue', 'double_value');
  if (d !== undefined && d !== null) {
    if (typeof d === 'number') return d;
    if (d === 'NaN' || d === 'Infinity' || d === '-Infinity') return Number(d);
    throw bad(`${where}.doubleValue`, 'expected a number');
  }
  return undefined; // arrays, maps and bytes are not used by conclab
}

function attributes(
  list: unknown,
  wanted: ReadonlySet<string> | undefined,
  target: Record<string, AttributeValue>,
  where: string,
): void {
  const items = arrayAt(list, where);
  for (let i = 0; i < items.length; i++) {
    const kv = objectAt(items[i], `${where}[${i}]`);
    if (kv === undefined) continue;
    const key = stringAt(kv['key'], `${where}[${i}].key`);
    if (key === '__proto__' || (wanted !== undefined && !wanted.has(key))) continue;
    const value = anyValue(kv['value'], `${where}[${i}].value`);
    if (value !== undefined) target[key] = value;
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
  const request = objectAt(root, 'body');
  if (request === undefined) throw bad('body', 'expected an object');
  const wanted = options.attributeKeys ? new Set(options.attributeKeys) : undefined;
  const spans: DecodedSpan[] = [];
  const resourceSpans = arrayAt(field(request, 'resourceSpans', 'resource_spans'), 'resourceSpans');
  for (let r = 0; r < resourceSpans.length; r++) {
    const rsWhere = `resourceSpans[${r}]`;
    const rs = objectAt(resourceSpans[r], rsWhere);
    if (rs === undefined) continue;
    const resource: Record<string, AttributeValue> = {};
    const res = objectAt(rs['resource'], `${rsWhere}.resource`);
    if (res) attributes(res['attributes'], wanted, resource, `${rsWhere}.resource.attributes`);
    const scopeSpans = arrayAt(field(rs, 'scopeSpans', 'scope_spans'), `${rsWhere}.scopeSpans`);
    for (let s = 0; s < scopeSpans.length; s++) {
      const ssWhere = `${rsWhere}.scopeSpans[${s}]`;
      const ss = objectAt(scopeSpans[s], ssWhere);
      if (ss === undefined) continue;
      const list = arrayAt(ss['spans'], `${ssWhere}.spans`);
      for (let i = 0; i < list.length; i++) {
        const where = `${ssWhere}.spans[${i}]`;
        const span = objectAt(list[i], where);
        if (span === undefined) continue;
        const start = int64At(field(span, 'startTimeUnixNano', 'start_time_unix_nano'), `${where}.startTimeUnixNano`);
        const end = int64At(field(span, 'endTimeUnixNano', 'end_time_unix_nano'), `${where}.endTimeUnixNano`);
        const status = objectAt(span['status'], `${where}.status`);
        const attrs: Record<string, AttributeValue> = {};
        attributes(span['attributes'], wanted, attrs, `${where}.attributes`);
        spans.push({
          traceId: hexIdAt(field(span, 'traceId', 'trace_id'), `${where}.traceId`),
          spanId: hexIdAt(field(span, 'spanId', 'span_id'), `${where}.spanId`),
          name: stringAt(span['name'], `${where}.name`),
          kind: enumAt(span['kind'], SPAN_KINDS, `${where}.kind`),
          startTimeUnixNano: Number(start),
          endTimeUnixNano: Number(end),
          durationNanos: Number(end - start),
          statusCode: status ? enumAt(status['code'], STATUS_CODES, `${where}.status.code`) : 0,
          attributes: attrs,
          resource,
        });
      }
    }
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
