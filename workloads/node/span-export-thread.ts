// The span-export thread: one per serving process (each worker process under the process model,
// the one process under thread and offload). It owns the OpenTelemetry SDK's export pipeline,
// configured from the OTEL_* variables: a BatchSpanProcessor (OTEL_BSP_*) and the OTLP/HTTP
// protobuf exporter (endpoint, headers, timeout), with the resource (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES). Serving threads send it the spans they recorded (span-recorder.ts);
// it turns each into the SDK's ReadableSpan, with the span attributes of the worker that served
// it, and hands it to the processor. Running here, the SDK costs the serving isolates nothing.

import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { type Attributes, type SpanContext, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { millisToHrTime, TraceState } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import type { WorkloadConfig } from './config.ts';
import { newTraceId } from './sampling.ts';
import { DEFAULT_SERVICE_NAME, workerAttributes } from './span-attributes.ts';
import {
  type FromExporter,
  NUMBERS_PER_SPAN,
  type SpanBatch,
  type SpanSource,
  type ToExporter,
} from './span-recorder.ts';

const { config } = workerData as { config: WorkloadConfig };
const otel = config.otel;

// Resource: the SDK's defaults, then ours, then OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME.
const resource = defaultResource().merge(
  resourceFromAttributes({
    'service.name': DEFAULT_SERVICE_NAME,
    'process.pid': process.pid,
    ...otel.resourceAttributes,
    ...(otel.serviceName === undefined ? {} : { 'service.name': otel.serviceName }),
  }),
);
const processor = new BatchSpanProcessor({
  exporter: new OTLPTraceExporter({ url: otel.tracesUrl, headers: otel.headers, timeoutMillis: otel.timeoutMillis }),
  ...otel.batch,
});
const scope = { name: DEFAULT_SERVICE_NAME };
const NO_TIME: [number, number] = [0, 0];
const random32 = () => (Math.random() * 4294967296) >>> 0;
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** The constant span attributes of each serving worker, built once per worker identity. */
const attributesBySource = new Map<string, Attributes>();
function sourceAttributes(source: SpanSource): Attributes {
  const key = `${source.index}/${source.pid}/${source.threadId}`;
  let attributes = attributesBySource.get(key);
  if (attributes === undefined) {
    attributes = workerAttributes(config, source);
    attributesBySource.set(key, attributes);
  }
  return attributes;
}

/** The i-th span of a batch as the SDK's ReadableSpan, with the constant attributes of its worker. */
function readableSpan(batch: SpanBatch, i: number, constant: Attributes): ReadableSpan {
  const n = batch.numbers;
  const at = i * NUMBERS_PER_SPAN;
  const incoming = batch.traceIds[i]!;
  const traceId = incoming === '' ? newTraceId(n[at + 5]!) : incoming;
  const parentSpanId = batch.parentSpanIds[i]!;
  const state = batch.traceStates[i]!;
  const status = n[at + 3]!;
  const sharedStateCost = n[at + 4]!;
  const traceState = state === '' ? undefined : new TraceState(state);
  const context: SpanContext = { traceId, spanId: hex8(random32()) + hex8(random32() | 1), traceFlags: 1, traceState };
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

function bounded(work: Promise<void>, timeoutMillis: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMillis);
    }),
  ]).finally(() => clearTimeout(timer));
}

function listen(port: MessagePort): void {
  port.on('message', (message: ToExporter | { type: 'port'; port: MessagePort }) => {
    switch (message.type) {
      case 'port':
        listen(message.port);
        break;
      case 'spans': {
        const constant = sourceAttributes(message.source);
        for (let i = 0; i < message.count; i++) processor.onEnd(readableSpan(message.batch, i, constant));
        break;
      }
      case 'flush':
      case 'shutdown': {
        const work = message.type === 'flush' ? processor.forceFlush() : processor.shutdown();
        const { id } = message;
        void bounded(work, message.timeoutMillis).then((ok) =>
          port.postMessage({ type: 'flushed', id, ok } satisfies FromExporter),
        );
        break;
      }
    }
  });
}

listen(parentPort!);
