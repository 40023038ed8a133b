// The serving side of tracing: a sampled request's SERVER span is recorded as a few figures in
// columns and handed, in batches, to the workload's one span exporter, which runs in the
// supervisor's process (span-export.ts) and owns the OpenTelemetry SDK's BatchSpanProcessor and
// OTLP exporter. The serving isolate loads none of the SDK: measured (bench/README.md), merely
// having the SDK's ~240 modules in the isolate that serves made every request dearer, traced or
// not. Nothing here imports OpenTelemetry.
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
  /** Incoming trace id, '' for a new trace (its id is built by the exporter). */
  traceIds: string[];
  /** Remote parent span id, '' for a new trace. */
  parentSpanIds: string[];
  /** Incoming tracestate, '' when none. */
  traceStates: string[];
  numbers: Float64Array<ArrayBuffer>;
}

/**
 * A SpanBatch as it crosses the process model's IPC channel, which serializes JSON (the fork's
 * default, kept so that the shared-state IPC the experiment measures is unchanged): a typed
 * array would turn into an object with one key per element, so the numbers travel as base64.
 */
export interface IpcSpanBatch {
  traceIds: string[];
  parentSpanIds: string[];
  traceStates: string[];
  /** Base64 of the first count x NUMBERS_PER_SPAN doubles, little-endian as in memory. */
  numbersBase64: string;
}

/** Who recorded a batch: its spans carry conclab.worker, process.pid and thread.id. */
export interface SpanSource {
  index: number;
  pid: number;
  threadId: number;
}

/** Where a recorder's batches go; a promise when the hand-over completes later (IPC writes). */
export type HandOver = (batch: SpanBatch, count: number) => void | Promise<void>;

/** Spans per hand-over, and the longest a recorded span waits before it is handed over. */
export const MAX_BATCH = 1024;
const HANDOVER_MILLIS = 200;

function emptyBatch(): SpanBatch {
  return {
    traceIds: [],
    parentSpanIds: [],
    traceStates: [],
    numbers: new Float64Array(MAX_BATCH * NUMBERS_PER_SPAN),
  };
}

export function toIpcBatch(batch: SpanBatch, count: number): IpcSpanBatch {
  const bytes = Buffer.from(batch.numbers.buffer, batch.numbers.byteOffset, count * NUMBERS_PER_SPAN * 8);
  return {
    traceIds: batch.traceIds,
    parentSpanIds: batch.parentSpanIds,
    traceStates: batch.traceStates,
    numbersBase64: bytes.toString('base64'),
  };
}

export function fromIpcBatch(ipc: IpcSpanBatch): SpanBatch {
  const bytes = Buffer.from(ipc.numbersBase64, 'base64');
  // A copy into a fresh (aligned, transferable) buffer: Buffer.from may return a slice of a pool.
  const numbers = new Float64Array(bytes.length / 8);
  new Uint8Array(numbers.buffer).set(bytes);
  return { traceIds: ipc.traceIds, parentSpanIds: ipc.parentSpanIds, traceStates: ipc.traceStates, numbers };
}

export class SpanRecorder {
  readonly #handOver: HandOver;
  #batch = emptyBatch();
  #count = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastHandOver: Promise<void> = Promise.resolve();

  constructor(handOver: HandOver) {
    this.#handOver = handOver;
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
    if (this.#count >= MAX_BATCH) void this.handOver();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.handOver(), HANDOVER_MILLIS);
      this.#timer.unref();
    }
  }

  /**
   * Hands over what is recorded now; resolves once this and every earlier hand-over completed
   * (for a worker process: written to the IPC channel, so the process may exit).
   */
  handOver(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#count > 0) {
      const batch = this.#batch;
      const count = this.#count;
      this.#batch = emptyBatch();
      this.#count = 0;
      const done = this.#handOver(batch, count);
      if (done !== undefined) {
        const previous = this.#lastHandOver;
        this.#lastHandOver = Promise.all([previous, done]).then(() => undefined);
      }
    }
    return this.#lastHandOver;
  }
}
