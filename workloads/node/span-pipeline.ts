// The OpenTelemetry SDK's export pipeline of a workload, configured from the OTEL_* variables: a
// BatchSpanProcessor (OTEL_BSP_*) and the OTLP/HTTP protobuf exporter (endpoint, headers,
// timeout), with the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES). Spans arrive as the
// batches serving workers recorded (span-recorder.ts); each becomes the SDK's ReadableSpan, with
// the span attributes of the worker that served it. One pipeline per workload process tree, in
// the supervisor's process (span-export.ts says where exactly); the only module of the workload
// that loads the SDK.
import { type Attributes, type SpanContext, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { millisToHrTime, TraceState } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { bounded } from './bounded.ts';
import type { WorkloadConfig } from './config.ts';
import { newTraceId } from './sampling.ts';
import { DEFAULT_SERVICE_NAME, workerAttributes } from './span-attributes.ts';
import { NUMBERS_PER_SPAN, type SpanBatch, type SpanSource } from './span-recorder.ts';

const scope = { name: DEFAULT_SERVICE_NAME };
const NO_TIME: [number, number] = [0, 0];
const random32 = () => (Math.random() * 4294967296) >>> 0;
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

export class SpanPipeline {
  readonly #config: WorkloadConfig;
  readonly #processor: BatchSpanProcessor;
  /** The resource of each serving process (its process.pid), built once per pid. */
  readonly #resources = new Map<number, Resource>();
  /** The constant span attributes of each serving worker and the resource of its process. */
  readonly #bySource = new Map<string, { attributes: Attributes; resource: Resource }>();

  constructor(config: WorkloadConfig) {
    const otel = config.otel;
    this.#config = config;
    this.#processor = new BatchSpanProcessor({
      exporter: new OTLPTraceExporter({
        url: otel.tracesUrl,
        headers: otel.headers,
        timeoutMillis: otel.timeoutMillis,
      }),
      ...otel.batch,
    });
  }

  /** Feeds the first `count` spans of a batch to the processor. */
  add(source: SpanSource, batch: SpanBatch, count: number): void {
    const { attributes, resource } = this.#source(source);
    for (let i = 0; i < count; i++) this.#processor.onEnd(this.#readableSpan(batch, i, attributes, resource));
  }

  /** Exports everything queued; false when that failed or took longer than the bound. */
  forceFlush(timeoutMillis: number): Promise<boolean> {
    return bounded(this.#processor.forceFlush(), timeoutMillis);
  }

  /** Exports everything queued and stops the processor. */
  shutdown(timeoutMillis: number): Promise<boolean> {
    return bounded(this.#processor.shutdown(), timeoutMillis);
  }

  #source(source: SpanSource): { attributes: Attributes; resource: Resource } {
    const key = `${source.index}/${source.pid}/${source.threadId}`;
    let found = this.#bySource.get(key);
    if (found === undefined) {
      found = { attributes: workerAttributes(this.#config, source), resource: this.#resourceOf(source.pid) };
      this.#bySource.set(key, found);
    }
    return found;
  }

  /**
   * Resource: the SDK's defaults, then ours, then OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME;
   * process.pid is the process that served the span (a worker process under the process model),
   * as when each serving process exported its own spans. The exporter groups spans by resource.
   */
  #resourceOf(pid: number): Resource {
    let resource = this.#resources.get(pid);
    if (resource === undefined) {
      const otel = this.#config.otel;
      resource = defaultResource().merge(
        resourceFromAttributes({
          'service.name': DEFAULT_SERVICE_NAME,
          'process.pid': pid,
          ...otel.resourceAttributes,
          ...(otel.serviceName === undefined ? {} : { 'service.name': otel.serviceName }),
        }),
      );
      this.#resources.set(pid, resource);
    }
    return resource;
  }

  /** The i-th span of a batch as the SDK's ReadableSpan, with the constant attributes of its worker. */
  #readableSpan(batch: SpanBatch, i: number, constant: Attributes, resource: Resource): ReadableSpan {
    const n = batch.numbers;
    const at = i * NUMBERS_PER_SPAN;
    const incoming = batch.traceIds[i]!;
    const traceId = incoming === '' ? newTraceId(n[at + 5]!) : incoming;
    const parentSpanId = batch.parentSpanIds[i]!;
    const state = batch.traceStates[i]!;
    const status = n[at + 3]!;
    const sharedStateCost = n[at + 4]!;
    const traceState = state === '' ? undefined : new TraceState(state);
    const context: SpanContext = {
      traceId,
      spanId: hex8(random32()) + hex8(random32() | 1),
      traceFlags: 1,
      traceState,
    };
    const attributes: Attributes = {
      ...constant,
      'conclab.queue_time_ms': n[at + 2]!,
      'http.response.status_code': status,
    };
    if (!Number.isNaN(sharedStateCost)) attributes['conclab.shared_state_cost_ms'] = sharedStateCost;
    return {
      name: 'GET /work',
      kind: SpanKind.SERVER,
      spanContext: () => context,
      parentSpanContext:
        parentSpanId === '' ? undefined : { traceId, spanId: parentSpanId, traceFlags: 1, isRemote: true, traceState },
      startTime: millisToHrTime(n[at]!),
      endTime: millisToHrTime(n[at + 1]!),
      duration: NO_TIME,
      status: { code: status >= 500 ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
      attributes,
      links: [],
      events: [],
      ended: true,
      resource,
      instrumentationScope: scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  }
}
