// Manual SERVER spans with the OpenTelemetry SDK, one tracer provider per serving process or
// thread (each worker_thread is its own isolate). No HTTP auto-instrumentation: it costs far more
// than the work being measured. Spans leave through a BatchSpanProcessor, so export happens off
// the request path; shutdown() flushes what is queued.
import {
  type Attributes,
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { WorkloadConfig } from './config.ts';
import type { Carrier } from './messages.ts';

const propagator = new W3CTraceContextPropagator();

export interface WorkerIdentity {
  index: number;
  pid: number;
  threadId: number;
}

/** Extracts the incoming W3C trace context (traceparent/tracestate headers or a carrier). */
export function extractContext(carrier: Record<string, string | string[] | undefined>): Context {
  return propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
}

/** Serialises a context for another thread: the offload acceptor hands it to the pool. */
export function injectContext(context: Context): Carrier {
  const carrier: Carrier = {};
  propagator.inject(context, carrier, defaultTextMapSetter);
  return carrier;
}

export class RequestTracer {
  readonly #provider: TracerProvider;
  readonly #tracer;
  readonly #attributes: Attributes;

  constructor(config: WorkloadConfig, identity: WorkerIdentity) {
    const common: Attributes = {
      'conclab.experiment': config.experiment,
      'conclab.variant': config.variant,
      'conclab.trial': config.trial,
      'conclab.model': config.model,
    };
    this.#attributes = {
      ...common,
      'conclab.worker': identity.index,
      'process.pid': identity.pid,
      'thread.id': identity.threadId,
    };
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({
        'service.name': 'conclab-workload-node',
        'process.pid': identity.pid,
        ...common,
      }),
      // Parent-based: an incoming sampled traceparent is honoured; new traces use the ratio.
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.traceSampleRatio) }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: `${config.otlpEndpoint}/v1/traces`, timeoutMillis: 5000 }),
          scheduledDelayMillis: 1000,
          maxQueueSize: 16_384,
          maxExportBatchSize: 1024,
        }),
      ],
    });
    this.#tracer = this.#provider.getTracer('conclab-workload-node');
  }

  /**
   * Starts the SERVER span at the moment the request arrived, so its duration includes queueing;
   * conclab.queue_time_ms is the time between arrival and the start of work.
   */
  start(parent: Context, arrivalEpochMillis: number, workStartEpochMillis: number): Span {
    // Attributes are set only on recorded spans: passed at start, the SDK would sanitise a copy
    // of them for every request, sampled or not (the ratio sampler does not read them).
    const span = this.#tracer.startSpan('GET /work', { kind: SpanKind.SERVER, startTime: arrivalEpochMillis }, parent);
    if (span.isRecording()) {
      span.setAttributes(this.#attributes);
      span.setAttribute('conclab.queue_time_ms', Math.max(0, workStartEpochMillis - arrivalEpochMillis));
    }
    return span;
  }

  end(span: Span, status: number): void {
    if (span.isRecording()) {
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }

  /** Flushes queued spans (bounded) and stops the exporter. */
  async shutdown(timeoutMillis: number): Promise<void> {
    await Promise.race([
      this.#provider.shutdown().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, timeoutMillis).unref()),
    ]);
  }
}
