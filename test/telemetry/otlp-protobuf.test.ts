import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import test from 'ava';
import { decodeTraceRequestProtobuf } from '../../operator/telemetry/otlp-protobuf.ts';
import { OtlpDecodeError } from '../../operator/telemetry/span.ts';
import { sdkSpans } from './sdk-spans.ts';

test('decodes what the OpenTelemetry SDK serializer encodes', async (t) => {
  const start = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const spans = await sdkSpans({ 'service.name': 'w', 'process.pid': 4242, 'conclab.experiment': 'exp' }, [
    {
      startMillis: start,
      durationMillis: 12.5,
      attributes: { 'conclab.worker': 'w1', 'thread.id': 3, 'conclab.queue_time_ms': 1.25, ok: true },
    },
    { startMillis: start + 1, durationMillis: 1, error: true, attributes: { 'conclab.worker': 'w2', big: -5 } },
  ]);
  const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
  const decoded = decodeTraceRequestProtobuf(body);
  t.is(decoded.length, 2);
  const [a, b] = decoded;
  t.is(a!.traceId, spans[0]!.spanContext().traceId);
  t.is(a!.spanId, spans[0]!.spanContext().spanId);
  t.is(a!.name, 'GET /work');
  t.is(a!.kind, 2);
  t.is(a!.durationNanos, 12_500_000);
  t.is(Math.round(a!.startTimeUnixNano / 1e6), start);
  t.deepEqual(a!.attributes, { 'conclab.worker': 'w1', 'thread.id': 3, 'conclab.queue_time_ms': 1.25, ok: true });
  t.is(a!.resource['process.pid'], 4242);
  t.is(a!.resource['conclab.experiment'], 'exp');
  t.is(a!.statusCode, 0);
  t.is(b!.statusCode, 2);
  t.is(b!.attributes['big'], -5);
});

// --- hand-built messages: field order, unknown fields of every wire type, edge values ---------

/** A tiny protobuf writer for building test messages by hand. */
const pb = {
  varint(n: number | bigint): number[] {
    let v = BigInt.asUintN(64, BigInt(n));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return out;
  },
  tag(field: number, wire: number): number[] {
    return pb.varint((field << 3) | wire);
  },
  bytes(field: number, data: number[] | Buffer): number[] {
    return [...pb.tag(field, 2), ...pb.varint(data.length), ...data];
  },
  string(field: number, s: string): number[] {
    return pb.bytes(field, Buffer.from(s, 'utf8'));
  },
  int(field: number, n: number | bigint): number[] {
    return [...pb.tag(field, 0), ...pb.varint(n)];
  },
  fixed64(field: number, n: bigint): number[] {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return [...pb.tag(field, 1), ...b];
  },
  double(field: number, n: number): number[] {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(n);
    return [...pb.tag(field, 1), ...b];
  },
  fixed32(field: number, n: number): number[] {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return [...pb.tag(field, 5), ...b];
  },
  /** An unknown field of every wire type, including a (deprecated) group with a nested group. */
  unknownFields(): number[] {
    return [
      ...pb.int(900, -1),
      ...pb.fixed64(901, 123n),
      ...pb.string(902, 'ignored'),
      ...pb.tag(903, 3),
      ...pb.int(1, 5),
      ...pb.tag(2, 3),
      ...pb.fixed32(1, 7),
      ...pb.tag(2, 4),
      ...pb.tag(903, 4),
      ...pb.fixed32(904, 9),
    ];
  },
};

function keyValue(key: string, value: number[], valueFirst = false): number[] {
  const k = pb.string(1, key);
  const v = pb.bytes(2, value);
  return valueFirst ? [...v, ...pb.unknownFields(), ...k] : [...k, ...v];
}

test('decodes fields in any order and skips unknown fields of every wire type at every level', (t) => {
  const start = 1_767_225_600_123_456_789n;
  const span = [
    ...pb.unknownFields(),
    ...pb.fixed64(8, start + 2_500_001n),
    ...pb.bytes(1, Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex')),
    ...pb.bytes(2, Buffer.from('b7ad6b7169203331', 'hex')),
    ...pb.string(5, 'span ✓'),
    ...pb.int(6, 2),
    ...pb.fixed32(16, 1),
    ...pb.fixed64(7, start),
    ...pb.bytes(9, keyValue('conclab.worker', pb.string(1, 'w7'), true)),
    ...pb.bytes(9, keyValue('neg', pb.int(3, -42))),
    ...pb.bytes(9, keyValue('big', pb.int(3, 2n ** 52n))),
    ...pb.bytes(9, keyValue('flag', pb.int(2, 1))),
    ...pb.bytes(9, keyValue('ratio', pb.double(4, 0.25))),
    ...pb.bytes(9, keyValue('list', pb.bytes(5, pb.bytes(1, pb.string(1, 'x'))))),
    ...pb.bytes(9, keyValue('raw', pb.bytes(7, [1, 2, 3]))),
    ...pb.bytes(15, [...pb.string(2, 'failed'), ...pb.unknownFields(), ...pb.int(3, 2)]),
  ];
  const resource = [...pb.unknownFields(), ...pb.bytes(1, keyValue('process.pid', pb.int(3, 31337)))];
  const scopeSpans = [...pb.bytes(1, pb.string(1, 'scope')), ...pb.unknownFields(), ...pb.bytes(2, span)];
  // The resource comes after the spans here: still applied to them.
  const resourceSpans = [...pb.bytes(2, scopeSpans), ...pb.unknownFields(), ...pb.bytes(1, resource)];
  const body = Buffer.from([...pb.unknownFields(), ...pb.bytes(1, resourceSpans)]);

  const [s, ...rest] = decodeTraceRequestProtobuf(body);
  t.is(rest.length, 0);
  t.is(s!.traceId, '0af7651916cd43dd8448eb211c80319c');
  t.is(s!.spanId, 'b7ad6b7169203331');
  t.is(s!.name, 'span ✓');
  t.is(s!.kind, 2);
  t.is(s!.durationNanos, 2_500_001, 'duration is exact although epoch nanoseconds exceed 2^53');
  t.is(s!.statusCode, 2);
  t.deepEqual(s!.attributes, { 'conclab.worker': 'w7', neg: -42, big: 2 ** 52, flag: true, ratio: 0.25 });
  t.deepEqual(s!.resource, { 'process.pid': 31337 });
});

test('with attributeKeys, decodes only those attributes', (t) => {
  const span = [
    ...pb.bytes(9, keyValue('conclab.worker', pb.string(1, 'w1'))),
    ...pb.bytes(9, keyValue('conclab.workers', pb.string(1, 'no'))),
    ...pb.bytes(9, keyValue('other', pb.string(1, 'no'))),
  ];
  const body = Buffer.from(pb.bytes(1, pb.bytes(2, pb.bytes(2, span))));
  const [s] = decodeTraceRequestProtobuf(body, { attributeKeys: ['conclab.worker', 'thread.id'] });
  t.deepEqual(s!.attributes, { 'conclab.worker': 'w1' });
});

test('an empty request is valid and has no spans', (t) => {
  t.deepEqual(decodeTraceRequestProtobuf(Buffer.alloc(0)), []);
});

for (const [name, bytes, message] of [
  ['a truncated length', [0x0a, 0x05, 0x12], /truncated protobuf/],
  ['a truncated varint (unknown field 2)', [0x10, 0x80], /truncated protobuf/],
  ['a varint longer than 10 bytes', [0x10, ...Array(11).fill(0xff), 0x01], /varint longer than 10 bytes/],
  ['field number 0', [0x00, 0x01], /field number 0/],
  ['wire type 6 (unknown field 2)', [0x16], /invalid wire type 6/],
  ['an end group without a start', [0x14], /end of group without a start/],
  ['a group closed by another field', [0x13, 0x1c], /mismatched end of group/],
  [
    'a known field with the wrong wire type',
    [0x08, 0x01],
    /resource_spans has wire type varint, expected length-delimited/,
  ],
  ['a truncated fixed64', [0x0a, 0x07, 0x12, 0x05, 0x12, 0x03, 0x39, 0x01, 0x02], /truncated protobuf/],
] as const) {
  test(`rejects ${name} with OtlpDecodeError`, (t) => {
    t.throws(() => decodeTraceRequestProtobuf(Buffer.from(bytes)), { instanceOf: OtlpDecodeError, message });
  });
}
