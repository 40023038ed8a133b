// Streaming span aggregation: each span updates the counters and histograms of its key and is
// then forgotten, so memory depends on the number of keys, never on the number of spans.
//
// Memory bounds, all configurable:
//   - at most maxKeys keys (default 10,000). A span of a new key beyond that is DROPPED: it is
//     counted in `dropped`, add() returns false, and the receiver reports it to the sender as
//     rejected (OTLP partial_success). Existing keys keep aggregating. clear() frees keys.
//   - per key at most maxSecondsPerKey per-second buckets (default 3,600, an hour of seconds: a
//     trial is minutes long) and at most maxSecondBuckets across all keys (default 1,000,000,
//     ~100 MB); spans in further seconds still count in the totals and histograms, and the
//     aggregate says perSecondTruncated.
//   - per key at most maxIdsPerKey distinct pids and as many thread ids (default 1,024).
// Measured: a key costs 4 KiB with a few spans, 42 KiB after 2,000 spans spread over four
// decades of latency (two packed HDR histograms, which grow with the buckets used), plus its
// per-second buckets; 10,000 keys stay well under 0.5 GB.
import hdr from 'hdr-histogram-js';
import { encodeHistogram, type Histogram, MAX_TRACKABLE_MICROS, recordMillis } from '../analysis/histogram.ts';
import type { AttributeValue, DecodedSpan } from './span.ts';
import type { SpanAggregate, SpanKey } from './types.ts';

/** Attribute keys the aggregator reads, on the span or else on its resource. */
export const ATTRIBUTE_EXPERIMENT = 'conclab.experiment';
export const ATTRIBUTE_TRIAL = 'conclab.trial';
export const ATTRIBUTE_VARIANT = 'conclab.variant';
export const ATTRIBUTE_WORKER = 'conclab.worker';
export const ATTRIBUTE_QUEUE_TIME_MS = 'conclab.queue_time_ms';
export const ATTRIBUTE_PID = 'process.pid';
export const ATTRIBUTE_THREAD_ID = 'thread.id';

/** Pass as the decoders' attributeKeys: everything else is skipped while decoding. */
export const AGGREGATED_ATTRIBUTES: readonly string[] = [
  ATTRIBUTE_EXPERIMENT,
  ATTRIBUTE_TRIAL,
  ATTRIBUTE_VARIANT,
  ATTRIBUTE_WORKER,
  ATTRIBUTE_QUEUE_TIME_MS,
  ATTRIBUTE_PID,
  ATTRIBUTE_THREAD_ID,
];

/** Value of a key part when the span and its resource both lack the attribute. */
export const UNKNOWN = 'unknown';

/** OTLP STATUS_CODE_ERROR. */
const STATUS_ERROR = 2;

export interface SpanAggregatorOptions {
  /** Most distinct keys held; spans of further keys are dropped and counted. Default 10,000. */
  maxKeys?: number;
  /** Most per-second buckets per key. Default 3,600 (an hour of seconds). */
  maxSecondsPerKey?: number;
  /** Most per-second buckets across all keys. Default 1,000,000. */
  maxSecondBuckets?: number;
  /** Most distinct pids, and thread ids, remembered per key. Default 1,024. */
  maxIdsPerKey?: number;
}

interface KeyState {
  key: SpanKey;
  spans: number;
  errors: number;
  duration: Histogram;
  queue: Histogram;
  pids: Set<number>;
  threadIds: Set<number>;
  /** epoch second -> [count, errors] */
  perSecond: Map<number, [number, number]>;
  perSecondTruncated: boolean;
}

/**
 * Same range and precision as operator/analysis/histogram.ts, so the encoded form merges with
 * every other conclab histogram, but 'packed' storage: a regular histogram of that range holds
 * ~96 KB of counters, which across thousands of keys would dominate the operator's memory.
 */
function newPackedHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_MICROS,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
    bitBucketSize: 'packed',
  });
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`SpanAggregator: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function keyPart(span: DecodedSpan, attribute: string): string {
  const v = span.attributes[attribute] ?? span.resource[attribute];
  return v === undefined || v === '' ? UNKNOWN : String(v);
}

function numeric(span: DecodedSpan, attribute: string): number | undefined {
  const v: AttributeValue | undefined = span.attributes[attribute] ?? span.resource[attribute];
  const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

export function matchesFilter(key: SpanKey, filter: Partial<SpanKey> | undefined): boolean {
  if (filter === undefined) return true;
  return (
    (filter.experiment === undefined || filter.experiment === key.experiment) &&
    (filter.trial === undefined || filter.trial === key.trial) &&
    (filter.variant === undefined || filter.variant === key.variant) &&
    (filter.worker === undefined || filter.worker === key.worker)
  );
}

export class SpanAggregator {
  readonly #states = new Map<string, KeyState>();
  readonly #maxKeys: number;
  readonly #maxSecondsPerKey: number;
  readonly #maxSecondBuckets: number;
  readonly #maxIdsPerKey: number;
  #dropped = 0;
  #secondBuckets = 0;

  constructor(options: SpanAggregatorOptions = {}) {
    this.#maxKeys = positiveInt('maxKeys', options.maxKeys, 10_000);
    this.#maxSecondsPerKey = positiveInt('maxSecondsPerKey', options.maxSecondsPerKey, 3_600);
    this.#maxSecondBuckets = positiveInt('maxSecondBuckets', options.maxSecondBuckets, 1_000_000);
    this.#maxIdsPerKey = positiveInt('maxIdsPerKey', options.maxIdsPerKey, 1_024);
  }

  /** Spans dropped so far because maxKeys keys were already held. */
  get dropped(): number {
    return this.#dropped;
  }

  get keyCount(): number {
    return this.#states.size;
  }

  /** Adds one span; false when it was dropped because the key limit was reached. */
  add(span: DecodedSpan): boolean {
    const experiment = keyPart(span, ATTRIBUTE_EXPERIMENT);
    const trial = keyPart(span, ATTRIBUTE_TRIAL);
    const variant = keyPart(span, ATTRIBUTE_VARIANT);
    const worker = keyPart(span, ATTRIBUTE_WORKER);
    // NUL cannot appear in the usual ids and keeps "a|b"+"c" apart from "a"+"b|c".
    const id = `${experiment}\u0000${trial}\u0000${variant}\u0000${worker}`;
    let state = this.#states.get(id);
    if (state === undefined) {
      if (this.#states.size >= this.#maxKeys) {
        this.#dropped++;
        return false;
      }
      state = {
        key: { experiment, trial, variant, worker },
        spans: 0,
        errors: 0,
        duration: newPackedHistogram(),
        queue: newPackedHistogram(),
        pids: new Set(),
        threadIds: new Set(),
        perSecond: new Map(),
        perSecondTruncated: false,
      };
      this.#states.set(id, state);
    }
    const error = span.statusCode === STATUS_ERROR;
    state.spans++;
    if (error) state.errors++;
    recordMillis(state.duration, Math.max(0, span.durationNanos) / 1e6);
    const queueMillis = numeric(span, ATTRIBUTE_QUEUE_TIME_MS);
    if (queueMillis !== undefined && queueMillis >= 0) recordMillis(state.queue, queueMillis);
    const pid = numeric(span, ATTRIBUTE_PID);
    if (pid !== undefined && state.pids.size < this.#maxIdsPerKey) state.pids.add(pid);
    const threadId = numeric(span, ATTRIBUTE_THREAD_ID);
    if (threadId !== undefined && state.threadIds.size < this.#maxIdsPerKey) state.threadIds.add(threadId);
    const second = Math.floor(span.endTimeUnixNano / 1e9);
    const bucket = state.perSecond.get(second);
    if (bucket !== undefined) {
      bucket[0]++;
      if (error) bucket[1]++;
    } else if (state.perSecond.size < this.#maxSecondsPerKey && this.#secondBuckets < this.#maxSecondBuckets) {
      state.perSecond.set(second, [1, error ? 1 : 0]);
      this.#secondBuckets++;
    } else {
      state.perSecondTruncated = true;
    }
    return true;
  }

  /** Adds a decoded request's spans; returns how many were accepted and dropped. */
  addAll(spans: readonly DecodedSpan[]): { accepted: number; dropped: number } {
    let accepted = 0;
    for (const span of spans) if (this.add(span)) accepted++;
    return { accepted, dropped: spans.length - accepted };
  }

  /** Snapshots of the matching keys, sorted by key; histograms encoded for transport. */
  aggregates(filter?: Partial<SpanKey>): SpanAggregate[] {
    const out: SpanAggregate[] = [];
    for (const state of this.#states.values()) {
      if (!matchesFilter(state.key, filter)) continue;
      out.push({
        key: { ...state.key },
        spans: state.spans,
        errors: state.errors,
        durationHistogram: encodeHistogram(state.duration),
        queueHistogram: encodeHistogram(state.queue),
        pids: [...state.pids].sort((a, b) => a - b),
        threadIds: [...state.threadIds].sort((a, b) => a - b),
        perSecond: [...state.perSecond]
          .sort((a, b) => a[0] - b[0])
          .map(([second, [count, errors]]): [number, number, number] => [second, count, errors]),
        ...(state.perSecondTruncated ? { perSecondTruncated: true } : {}),
      });
    }
    const order = (k: SpanKey) => [k.experiment, k.trial, k.variant, k.worker].join('\u0000');
    return out.sort((a, b) => (order(a.key) < order(b.key) ? -1 : order(a.key) > order(b.key) ? 1 : 0));
  }

  /** Forgets the matching keys (all without a filter). */
  clear(filter?: Partial<SpanKey>): void {
    for (const [id, state] of this.#states) {
      if (!matchesFilter(state.key, filter)) continue;
      this.#secondBuckets -= state.perSecond.size;
      this.#states.delete(id);
    }
  }
}
