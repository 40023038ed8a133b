import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import test from 'ava';
import { decodeTraceRequestProtobuf } from '../../operator/telemetry/otlp-protobuf.ts';
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
