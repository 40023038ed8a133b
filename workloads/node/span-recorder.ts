// The serving side of tracing: a sampled request's SERVER span is recorded as a small plain
// object and handed, in batches, to the process's span-export thread (span-export-thread.ts),
// which runs the OpenTelemetry SDK's BatchSpanProcessor and OTLP exporter. The serving isolate
// loads none of the SDK: measured (bench/README.md), merely having the SDK's ~240 modules in
// the isolate that serves made every request dearer, traced or not. Nothing here imports
// OpenTelemetry.
import type { TraceStart } from './sampling.ts';

/** A span being served: the decision plus what is known at its start. */
export interface OpenSpan {
  decided: TraceStart;
  startMillis: number;
  queueTimeMillis: number;
}

/**
 * Numbers per span in SpanBatch.numbers: start, end, queue time (ms), status, shared-state cost
 * (NaN: none), and for a new trace the word XOR its id is built from (newTraceId).
 */
export const NUMBERS_PER_SPAN = 6;

/**
 * Ended spans in columns: a structured clone of a few arrays costs far less than one of
 * hundreds of objects, whose keys would be written again for every span.
 */
export interface SpanBatch {
  /** Incoming trace id, '' for a new trace (its id is built by the export thread). */
  traceIds: string[];
  /** Remote parent span id, '' for a new trace. */
  parentSpanIds: string[];
  /** Incoming tracestate, '' when none. */
  traceStates: string[];
  numbers: Float64Array;
}

/** Who recorded a batch: its spans carry conclab.worker, process.pid and thread.id. */
export interface SpanSource {
  index: number;
  pid: number;
  threadId: number;
}

export type ToExporter =
  | { type: 'spans'; source: SpanSource; batch: SpanBatch; count: number }
  | { type: 'flush'; id: number; timeoutMillis: number }
  | { type: 'shutdown'; id: number; timeoutMillis: number };

export type FromExporter = { type: 'flushed'; id: number; ok: boolean };

/** A channel to the span-export thread: the Worker itself, or a MessagePort to it. */
export interface ExporterChannel {
  postMessage(message: ToExporter): void;
  on(event: 'message', listener: (message: FromExporter) => void): unknown;
}

/** Spans per postMessage, and the longest a recorded span waits before it is handed over. */
const MAX_BATCH = 1024;
const HANDOVER_MILLIS = 200;

function emptyBatch(): SpanBatch {
  return {
    traceIds: [],
    parentSpanIds: [],
    traceStates: [],
    numbers: new Float64Array(MAX_BATCH * NUMBERS_PER_SPAN),
  };
}

export class SpanRecorder {
  readonly #channel: ExporterChannel;
  readonly #source: SpanSource;
  #batch = emptyBatch();
  #count = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #replies = new Map<number, (ok: boolean) => void>();
  #nextId = 1;

  constructor(channel: ExporterChannel, source: SpanSource) {
    this.#channel = channel;
    this.#source = source;
    channel.on('message', (message) => {
      const reply = this.#replies.get(message.id);
      this.#replies.delete(message.id);
      reply?.(message.ok);
    });
  }

  /** Starts the span of a sampled request: arrival is its start, so queueing is inside it. */
  start(decided: TraceStart, arrivalEpochMillis: number, workStartEpochMillis: number): OpenSpan {
    return {
      decided,
      startMillis: arrivalEpochMillis,
      queueTimeMillis: Math.max(0, workStartEpochMillis - arrivalEpochMillis),
    };
  }

  end(span: OpenSpan, status: number, sharedStateCostMillis: number | undefined, endEpochMillis: number): void {
    const batch = this.#batch;
    const i = this.#count++;
    batch.traceIds.push(span.decided.traceId ?? '');
    batch.parentSpanIds.push(span.decided.parentSpanId ?? '');
    batch.traceStates.push(span.decided.traceState ?? '');
    const n = batch.numbers;
    const at = i * NUMBERS_PER_SPAN;
    n[at] = span.startMillis;
    n[at + 1] = endEpochMillis;
    n[at + 2] = span.queueTimeMillis;
    n[at + 3] = status;
    n[at + 4] = sharedStateCostMillis ?? Number.NaN;
    n[at + 5] = span.decided.xor;
    if (this.#count >= MAX_BATCH) this.#handOver();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#handOver(), HANDOVER_MILLIS);
      this.#timer.unref();
    }
  }

  #handOver(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#count === 0) return;
    const batch = this.#batch;
    const count = this.#count;
    this.#batch = emptyBatch();
    this.#count = 0;
    this.#channel.postMessage({ type: 'spans', source: this.#source, batch, count });
  }
  #ask(type: 'flush' | 'shutdown', timeoutMillis: number): Promise<boolean> {
    this.#handOver();
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#replies.delete(id);
        resolve(false);
      }, timeoutMillis);
      this.#replies.set(id, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
      // The exporter bounds its own work a little below ours, so its answer arrives in time.
      this.#channel.postMessage({ type, id, timeoutMillis: Math.max(1, Math.floor(timeoutMillis * 0.9)) });
    });
  }

  /** Hands over what is recorded and waits until the export thread has exported everything. */
  forceFlush(timeoutMillis: number): Promise<boolean> {
    return this.#ask('flush', timeoutMillis);
  }

  /** Process model at exit: flush, then stop the exporter. */
  shutdown(timeoutMillis: number): Promise<boolean> {
    return this.#ask('shutdown', timeoutMillis);
  }
}
