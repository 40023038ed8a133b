// Manual SERVER spans with the OpenTelemetry SDK, one tracer provider per serving process or
// thread (each worker_thread is its own isolate). No HTTP auto-instrumentation: it costs far more
// than the work being measured. Only requests the TraceSampler (sampling.ts) chose reach this
// module; the SDK's own sampler is therefore always_on, and the span gets the trace id and parent
// the decision was made on. Spans leave through a BatchSpanProcessor, so export happens off the
// request path; forceFlush() and shutdown() push out what is queued.
//
// Why a hand-built TracerProvider and not NodeSDK: see README.md, "Telemetry".
import { type Attributes, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  type IdGenerator,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { WorkloadConfig } from './config.ts';
import type { TraceStart } from './sampling.ts';

export interface WorkerIdentity {
  index: number;
  pid: number;
  threadId: number;
}

export const DEFAULT_SERVICE_NAME = 'conclab-workload-node';

/** The span attributes every span of this worker carries (CONCLAB_* variables and identity). */
export function workerAttributes(config: WorkloadConfig, identity: WorkerIdentity): Attributes {
  const attributes: Attributes = {
    'conclab.experiment': config.experiment,
    'conclab.variant': config.variant,
    'conclab.trial': config.trial,
    'conclab.model': config.model,
    'conclab.worker': identity.index,
    'process.pid': identity.pid,
    'thread.id': identity.threadId,
  };
  if (config.replica !== undefined) attributes['conclab.replica'] = config.replica;
  if (config.run !== '') attributes['conclab.run'] = config.run;
  return attributes;
}

const random32 = () => (Math.random() * 4294967296) >>> 0;
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/**
 * Hands the SDK the trace id the sampling decision was made on; span ids are random. Set
 * `next` right before a synchronous startSpan of a new trace.
 */
class DecidedIdGenerator implements IdGenerator {
  next: string | undefined;
  generateTraceId(): string {
    const id = this.next;
    this.next = undefined;
    return id ?? hex8(random32()) + hex8(random32()) + hex8(random32()) + hex8(random32() | 1);
  }
  generateSpanId(): string {
    return hex8(random32()) + hex8(random32() | 1);
  }
}

/** Resource: the SDK's defaults, then ours, then OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME. */
function resourceAttributes(config: WorkloadConfig, identity: WorkerIdentity): Attributes {
  return {
    'service.name': DEFAULT_SERVICE_NAME,
    'process.pid': identity.pid,
    ...config.otel.resourceAttributes,
    ...(config.otel.serviceName === undefined ? {} : { 'service.name': config.otel.serviceName }),
  };
}

function batchProcessor(config: WorkloadConfig): SpanProcessor {
  const otel = config.otel;
  return new BatchSpanProcessor({
    exporter: new OTLPTraceExporter({ url: otel.tracesUrl, headers: otel.headers, timeoutMillis: otel.timeoutMillis }),
    ...otel.batch,
  });
}

interface Provider {
  getTracer(name: string): ReturnType<TracerProvider['getTracer']>;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Bench only (bench/workload-overhead.ts --node-sdk DIR): the same spans through NodeSDK from
 * @opentelemetry/sdk-node installed under DIR, configured from the environment except for the
 * always_on sampler and the id generator the pre-decision needs. Not a dependency of the
 * workload (README.md says why).
 */
async function nodeSdkProvider(
  dir: string,
  config: WorkloadConfig,
  identity: WorkerIdentity,
  idGenerator: IdGenerator,
): Promise<Provider> {
  const { createRequire } = await import('node:module');
  const require = createRequire(`${dir.replace(/\/+$/, '')}/package.json`);
  const { NodeSDK } = require('@opentelemetry/sdk-node') as {
    NodeSDK: new (options: Record<string, unknown>) => { start(): void; shutdown(): Promise<void> };
  };
  const sdk = new NodeSDK({
    sampler: new AlwaysOnSampler(),
    idGenerator,
    resource: defaultResource().merge(
      resourceFromAttributes({ 'service.name': DEFAULT_SERVICE_NAME, 'process.pid': identity.pid }),
    ),
    serviceName: config.otel.serviceName,
  });
  sdk.start();
  const provider = trace.getTracerProvider() as unknown as Provider;
  return {
    getTracer: (name) => provider.getTracer(name),
    forceFlush: () => provider.forceFlush(),
    shutdown: () => sdk.shutdown(),
  };
}

export class RequestTracer {
  readonly #provider: Provider;
  readonly #tracer;
  readonly #ids: DecidedIdGenerator;
  readonly #attributes: Attributes;

  private constructor(provider: Provider, ids: DecidedIdGenerator, attributes: Attributes) {
    this.#provider = provider;
    this.#tracer = provider.getTracer(DEFAULT_SERVICE_NAME);
    this.#ids = ids;
    this.#attributes = attributes;
  }

  static async create(config: WorkloadConfig, identity: WorkerIdentity): Promise<RequestTracer> {
    const ids = new DecidedIdGenerator();
    const nodeSdkDir = process.env['CONCLAB_INTERNAL_NODE_SDK_DIR'];
    const provider =
      nodeSdkDir === undefined || nodeSdkDir === ''
        ? new TracerProvider({
            resource: defaultResource().merge(resourceFromAttributes(resourceAttributes(config, identity))),
            sampler: new AlwaysOnSampler(),
            idGenerator: ids,
            spanProcessors: [batchProcessor(config)],
          })
        : await nodeSdkProvider(nodeSdkDir, config, identity, ids);
    return new RequestTracer(provider, ids, workerAttributes(config, identity));
  }

  /**
   * Starts the SERVER span of a sampled request at the moment it arrived, so its duration
   * includes queueing; conclab.queue_time_ms is the time between arrival and the start of work.
   */
  start(decided: TraceStart, arrivalEpochMillis: number, workStartEpochMillis: number): Span {
    let parent = ROOT_CONTEXT;
    if (decided.parentSpanId === undefined) {
      this.#ids.next = decided.traceId;
    } else {
      parent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: decided.traceId,
        spanId: decided.parentSpanId,
        traceFlags: 1,
        isRemote: true,
        ...(decided.traceState === undefined ? {} : { traceState: new TraceState(decided.traceState) }),
      });
    }
    const span = this.#tracer.startSpan(
      'GET /work',
      { kind: SpanKind.SERVER, startTime: arrivalEpochMillis, attributes: this.#attributes },
      parent,
    );
    this.#ids.next = undefined;
    span.setAttribute('conclab.queue_time_ms', Math.max(0, workStartEpochMillis - arrivalEpochMillis));
    return span;
  }

  /** Ends the span; sharedStateCostMillis is the cost of the request's shared-state update, if any. */
  end(span: Span, status: number, sharedStateCostMillis: number | undefined): void {
    span.setAttribute('http.response.status_code', status);
    if (sharedStateCostMillis !== undefined) span.setAttribute('conclab.shared_state_cost_ms', sharedStateCostMillis);
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  /** Exports everything queued; false when the bound passed first or the export failed. */
  async forceFlush(timeoutMillis: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMillis);
    });
    const flushed = this.#provider.forceFlush().then(
      () => true,
      () => false,
    );
    const result = await Promise.race([flushed, bound]);
    clearTimeout(timer);
    return result;
  }

  /** Flushes queued spans (bounded) and stops the exporter. */
  async shutdown(timeoutMillis: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#provider.shutdown().catch(() => undefined),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMillis);
      }),
    ]);
    clearTimeout(timer);
  }
}
