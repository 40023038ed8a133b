// Bench only (bench/workload-overhead.ts --node-sdk DIR, through CONCLAB_INTERNAL_NODE_SDK_DIR):
// the same SERVER spans made the way a user of NodeSDK makes them, in the serving isolate, with
// the tracer of a NodeSDK (@opentelemetry/sdk-node installed under DIR, not a dependency of the
// workload) configured from the environment, except the always_on sampler and the id generator
// that the sampling pre-decision needs. README.md ("Telemetry") says why the workload does not
// run this way.
import { createRequire } from 'node:module';
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, type IdGenerator } from '@opentelemetry/sdk-trace';
import { bounded } from './bounded.ts';
import type { WorkloadConfig } from './config.ts';
import { newTraceId, type TraceStart } from './sampling.ts';
import { DEFAULT_SERVICE_NAME, type WorkerIdentity, workerAttributes } from './span-attributes.ts';

const random32 = () => (Math.random() * 4294967296) >>> 0;
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** Hands the SDK the trace id the sampling decision was made on. */
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

interface NodeSdk {
  start(): void;
  shutdown(): Promise<void>;
}

export class NodeSdkTracer {
  readonly #sdk: NodeSdk;
  readonly #tracer: Tracer;
  readonly #ids: DecidedIdGenerator;
  readonly #attributes;

  constructor(dir: string, config: WorkloadConfig, identity: WorkerIdentity) {
    const require = createRequire(`${dir.replace(/\/+$/, '')}/package.json`);
    const { NodeSDK } = require('@opentelemetry/sdk-node') as { NodeSDK: new (o: object) => NodeSdk };
    this.#ids = new DecidedIdGenerator();
    this.#sdk = new NodeSDK({
      sampler: new AlwaysOnSampler(),
      idGenerator: this.#ids,
      resource: defaultResource().merge(
        resourceFromAttributes({ 'service.name': DEFAULT_SERVICE_NAME, 'process.pid': identity.pid }),
      ),
    });
    this.#sdk.start();
    this.#tracer = trace.getTracer(DEFAULT_SERVICE_NAME);
    this.#attributes = workerAttributes(config, identity);
  }

  start(decided: TraceStart, arrivalEpochMillis: number, workStartEpochMillis: number): Span {
    let parent = ROOT_CONTEXT;
    if (decided.traceId === undefined) this.#ids.next = newTraceId(decided.xor);
    else {
      parent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: decided.traceId,
        spanId: decided.parentSpanId!,
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

  end(span: Span, status: number, sharedStateCostMillis: number | undefined): void {
    span.setAttribute('http.response.status_code', status);
    if (sharedStateCostMillis !== undefined) span.setAttribute('conclab.shared_state_cost_ms', sharedStateCostMillis);
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  async forceFlush(timeoutMillis: number): Promise<boolean> {
    const provider = trace.getTracerProvider() as unknown as { forceFlush(): Promise<void> };
    return bounded(provider.forceFlush(), timeoutMillis);
  }

  shutdown(timeoutMillis: number): Promise<boolean> {
    return bounded(this.#sdk.shutdown(), timeoutMillis);
  }
}
