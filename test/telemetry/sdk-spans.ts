// Test helper: real spans from the real OpenTelemetry SDK, kept in memory, so the decoders can be
// checked against what the SDK's own serializers produce.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export interface SpanSpec {
  name?: string;
  attributes: Record<string, string | number | boolean>;
  /** Epoch milliseconds (fractions allowed). */
  startMillis: number;
  durationMillis: number;
  error?: boolean;
}

/** Ends every span with the given times and returns the SDK's ReadableSpans. */
export async function sdkSpans(
  resourceAttributes: Record<string, string | number | boolean>,
  specs: readonly SpanSpec[],
): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes(resourceAttributes),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('conclab-test');
  for (const spec of specs) {
    const span = tracer.startSpan(spec.name ?? 'GET /work', {
      kind: SpanKind.SERVER,
      attributes: spec.attributes,
      startTime: spec.startMillis,
    });
    if (spec.error) span.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    span.end(spec.startMillis + spec.durationMillis);
  }
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}
