// Streaming span aggregation: each span updates the counters and histograms of its key and is
// then forgotten, so memory depends on the number of keys, never on the number of spans.
//
// A key is the full SpanKey: experiment, run, trial, variant, replica, worker. What may create
// keys is bounded so that junk cannot crowd out real spans:
//   - an expectation (the experiment, run and optionally variants the receiver serves): spans of
//     anything else are refused as `unexpected` before they touch any state;
//   - at most maxKeysPerVariant keys per (experiment, run, variant) (default 1,024, far above
//     workers x replicas x a trial or two), so junk in one key space cannot starve another;
//   - at most maxKeys keys in all (default 10,000), the hard memory bound;
//   - key parts (attribute values) of at most maxKeyPartLength characters (default 128).
// A refused span is counted per reason; existing keys keep aggregating; clear() frees keys.
// Further bounds, all configurable:
//   - per key at most maxSecondsPerKey per-second buckets (default 3,600, an hour of seconds: a
//     trial is minutes long) and at most maxSecondBuckets across all keys (default 1,000,000,
//     ~100 MB); spans in further seconds still count in the totals and histograms, and the
//     aggregate says perSecondTruncated.
//   - per key at most maxIdsPerKey distinct pids and as many thread ids (default 1,024).
// Measured: a key costs 4 KiB with a few spans, 42 KiB after 2,000 spans spread over four
// decades of latency (two packed HDR histograms, which grow with the buckets used), plus its
// per-second buckets; 10,000 keys stay well under 0.5 GB.
import hdr from 'hdr-histogram-js';
import { encodeHistogram, type Histogram, MAX_TRACKABLE_MICROS, recordMillis } from '../contracts/histogram.ts';
import { printable } from './refusals.ts';
import type { AttributeValue, DecodedSpan } from './span.ts';
import type { SpanAggregate, SpanExpectation, SpanKey } from './types.ts';

/** Attribute keys the aggregator reads, on the span or else on its resource. */
export const ATTRIBUTE_EXPERIMENT = 'conclab.experiment';
export const ATTRIBUTE_RUN = 'conclab.run';
export const ATTRIBUTE_TRIAL = 'conclab.trial';
export const ATTRIBUTE_VARIANT = 'conclab.variant';
export const ATTRIBUTE_REPLICA = 'conclab.replica';
export const ATTRIBUTE_WORKER = 'conclab.worker';
export const ATTRIBUTE_QUEUE_TIME_MS = 'conclab.queue_time_ms';
export const ATTRIBUTE_SHARED_STATE_COST_MS = 'conclab.shared_state_cost_ms';
export const ATTRIBUTE_PID = 'process.pid';
export const ATTRIBUTE_THREAD_ID = 'thread.id';

/** Pass as the decoders' attributeKeys: everything else is skipped while decoding. */
export const AGGREGATED_ATTRIBUTES: readonly string[] = [
  ATTRIBUTE_EXPERIMENT,
  ATTRIBUTE_RUN,
  ATTRIBUTE_TRIAL,
  ATTRIBUTE_VARIANT,
  ATTRIBUTE_REPLICA,
  ATTRIBUTE_WORKER,
  ATTRIBUTE_QUEUE_TIME_MS,
  ATTRIBUTE_SHARED_STATE_COST_MS,
  ATTRIBUTE_PID,
  ATTRIBUTE_THREAD_ID,
];

/** Value of a key part when the span and its resource both lack the attribute. */
export const UNKNOWN = 'unknown';

/** OTLP STATUS_CODE_ERROR. */
const STATUS_ERROR = 2;

/** What became of one span. */
export type SpanOutcome = 'accepted' | 'unexpected' | 'keyLimit' | 'malformed';
type Refused = Exclude<SpanOutcome, 'accepted'>;

/** What became of a request's spans, with a message per refusal reason that occurred. */
export interface AddResult {
  accepted: number;
  /** Spans refused, all reasons. */
  dropped: number;
  refused: Record<Refused, number>;
  /** For each reason that occurred, what the first refused span of it was; safe to print. */
  messages: Partial<Record<Refused, string>>;
}

export interface SpanAggregatorOptions {
  /** Most distinct keys held in all; spans of further keys are refused (keyLimit). Default 10,000. */
  maxKeys?: number;
  /** Most distinct keys per (experiment, run, variant); further ones are refused (keyLimit). Default 1,024. */
  maxKeysPerVariant?: number;
  /** Longest key part (attribute value) accepted; longer ones are refused (malformed). Default 128. */
  maxKeyPartLength?: number;
  /** Most per-second buckets per key. Default 3,600 (an hour of seconds). */
  maxSecondsPerKey?: number;
  /** Most per-second buckets across all keys. Default 1,000,000. */
  maxSecondBuckets?: number;
  /** Most distinct pids, and thread ids, remembered per key. Default 1,024. */
  maxIdsPerKey?: number;
  /** Only spans of this experiment (run, variants) are aggregated; see SpanAggregator.expect(). */
  expect?: SpanExpectation;
}

interface KeyState {
  key: Required<SpanKey>;
  spans: number;
  errors: number;
  duration: Histogram;
  queue: Histogram;
  /** Created at the first span that carries a shared-state cost. */
  sharedState?: { updates: number; cost: Histogram };
  pids: Set<number>;
  threadIds: Set<number>;
  /** epoch second -> [count, errors] */
  perSecond: Map<number, [number, number]>;
  perSecondTruncated: boolean;
}

/** The keys of one (experiment, run, variant): the unit maxKeysPerVariant bounds. */
interface KeySpace {
  experiment: string;
  run: string;
  variant: string;
  /** trial NUL replica NUL worker -> state */
  keys: Map<string, KeyState>;
}

/**
 * Same range and precision as operator/contracts/histogram.ts, so the encoded form merges with
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

const KEY_FIELDS = ['experiment', 'run', 'trial', 'variant', 'replica', 'worker'] as const;

export function matchesFilter(key: SpanKey, filter: Partial<SpanKey> | undefined): boolean {
  if (filter === undefined) return true;
  for (const field of KEY_FIELDS) {
    const wanted = filter[field];
    if (wanted !== undefined && wanted !== (key[field] ?? UNKNOWN)) return false;
  }
  return true;
}

function checkExpectation(expectation: SpanExpectation | undefined): SpanExpectation | undefined {
  if (expectation === undefined) return undefined;
  const { experiment, run, variants } = expectation;
  const text = (v: unknown) => typeof v === 'string' && v !== '';
  if (!text(experiment) || (run !== undefined && !text(run)) || (variants !== undefined && !variants.every(text))) {
    throw new TypeError(
      'SpanAggregator: expect must name the experiment (and optionally the run and variants) as non-empty strings',
    );
  }
  return { experiment, ...(run !== undefined ? { run } : {}), ...(variants ? { variants: [...variants] } : {}) };
}

const quote = (text: string) => `"${printable(text)}"`;

export class SpanAggregator {
  /** experiment NUL run NUL variant -> its keys */
  readonly #spaces = new Map<string, KeySpace>();
  /**
   * The space of the previous span. Its parts usually come from the resource, so consecutive
   * spans carry the very same strings and the space is found without building its id.
   */
  #lastSpace: KeySpace | undefined;
  #keyCount = 0;
  readonly #maxKeys: number;
  readonly #maxKeysPerVariant: number;
  readonly #maxKeyPartLength: number;
  readonly #maxSecondsPerKey: number;
  readonly #maxSecondBuckets: number;
  readonly #maxIdsPerKey: number;
  #expect: SpanExpectation | undefined;
  #expectVariants: ReadonlySet<string> | undefined;
  #dropped = 0;
  #secondBuckets = 0;

  constructor(options: SpanAggregatorOptions = {}) {
    this.#maxKeys = positiveInt('maxKeys', options.maxKeys, 10_000);
    this.#maxKeysPerVariant = positiveInt('maxKeysPerVariant', options.maxKeysPerVariant, 1_024);
    this.#maxKeyPartLength = positiveInt('maxKeyPartLength', options.maxKeyPartLength, 128);
    this.#maxSecondsPerKey = positiveInt('maxSecondsPerKey', options.maxSecondsPerKey, 3_600);
    this.#maxSecondBuckets = positiveInt('maxSecondBuckets', options.maxSecondBuckets, 1_000_000);
    this.#maxIdsPerKey = positiveInt('maxIdsPerKey', options.maxIdsPerKey, 1_024);
    this.expect(options.expect);
  }

  /**
   * From now on aggregates only spans of this experiment (and run, and variants); others are
   * refused as `unexpected`. undefined accepts every span. Keys already held are kept.
   */
  expect(expectation: SpanExpectation | undefined): void {
    this.#expect = checkExpectation(expectation);
    this.#expectVariants = this.#expect?.variants ? new Set(this.#expect.variants) : undefined;
  }

  get expectation(): SpanExpectation | undefined {
    return this.#expect ? { ...this.#expect } : undefined;
  }

  /** Spans refused so far, all reasons. */
  get dropped(): number {
    return this.#dropped;
  }

  get keyCount(): number {
    return this.#keyCount;
  }

  /** Adds one span, or says why it was refused. */
  add(span: DecodedSpan): SpanOutcome {
    const experiment = keyPart(span, ATTRIBUTE_EXPERIMENT);
    const run = keyPart(span, ATTRIBUTE_RUN);
    const variant = keyPart(span, ATTRIBUTE_VARIANT);
    const expect = this.#expect;
    if (
      expect !== undefined &&
      (experiment !== expect.experiment ||
        (expect.run !== undefined && run !== expect.run) ||
        (this.#expectVariants !== undefined && !this.#expectVariants.has(variant)))
    ) {
      this.#dropped++;
      return 'unexpected';
    }
    const trial = keyPart(span, ATTRIBUTE_TRIAL);
    const replica = keyPart(span, ATTRIBUTE_REPLICA);
    const worker = keyPart(span, ATTRIBUTE_WORKER);
    let space = this.#lastSpace;
    if (space === undefined || space.experiment !== experiment || space.run !== run || space.variant !== variant) {
      // NUL cannot appear in the usual ids and keeps "a|b"+"c" apart from "a"+"b|c".
      space = this.#spaces.get(`${experiment}\u0000${run}\u0000${variant}`);
      if (space !== undefined) this.#lastSpace = space;
    }
    const id = `${trial}\u0000${replica}\u0000${worker}`;
    let state = space?.keys.get(id);
    if (state === undefined) {
      const outcome = this.#admit(space, [experiment, run, variant, trial, replica, worker]);
      if (outcome !== 'accepted') {
        this.#dropped++;
        return outcome;
      }
      if (space === undefined) {
        space = { experiment, run, variant, keys: new Map() };
        this.#spaces.set(`${experiment}\u0000${run}\u0000${variant}`, space);
        this.#lastSpace = space;
      }
      state = {
        key: { experiment, run, trial, variant, replica, worker },
        spans: 0,
        errors: 0,
        duration: newPackedHistogram(),
        queue: newPackedHistogram(),
        pids: new Set(),
        threadIds: new Set(),
        perSecond: new Map(),
        perSecondTruncated: false,
      };
      space.keys.set(id, state);
      this.#keyCount++;
    }
    this.#record(state, span);
    return 'accepted';
  }

  /** Whether a new key may be created. */
  #admit(space: KeySpace | undefined, parts: readonly string[]): SpanOutcome {
    for (const part of parts) if (part.length > this.#maxKeyPartLength) return 'malformed';
    if (this.#keyCount >= this.#maxKeys) return 'keyLimit';
    if ((space?.keys.size ?? 0) >= this.#maxKeysPerVariant) return 'keyLimit';
    return 'accepted';
  }

  #record(state: KeyState, span: DecodedSpan): void {
    const error = span.statusCode === STATUS_ERROR;
    state.spans++;
    if (error) state.errors++;
    recordMillis(state.duration, Math.max(0, span.durationNanos) / 1e6);
    const queueMillis = numeric(span, ATTRIBUTE_QUEUE_TIME_MS);
    if (queueMillis !== undefined && queueMillis >= 0) recordMillis(state.queue, queueMillis);
    const costMillis = numeric(span, ATTRIBUTE_SHARED_STATE_COST_MS);
    if (costMillis !== undefined && costMillis >= 0) {
      state.sharedState ??= { updates: 0, cost: newPackedHistogram() };
      state.sharedState.updates++;
      recordMillis(state.sharedState.cost, costMillis);
    }
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
  }

  /** Adds a decoded request's spans; says how many were accepted and refused, and why. */
  addAll(spans: readonly DecodedSpan[]): AddResult {
    const refused: Record<Refused, number> = { unexpected: 0, keyLimit: 0, malformed: 0 };
    const first: Partial<Record<Refused, DecodedSpan>> = {};
    let accepted = 0;
    for (const span of spans) {
      const outcome = this.add(span);
      if (outcome === 'accepted') accepted++;
      else {
        refused[outcome]++;
        first[outcome] ??= span;
      }
    }
    const messages: Partial<Record<Refused, string>> = {};
    for (const reason of ['unexpected', 'keyLimit', 'malformed'] as const) {
      const span = first[reason];
      if (span) messages[reason] = this.#describeRefused(reason, span);
    }
    return { accepted, dropped: spans.length - accepted, refused, messages };
  }

  /** Why this span was refused, for people; quotes what the client sent, made printable. */
  #describeRefused(reason: Refused, span: DecodedSpan): string {
    const experiment = keyPart(span, ATTRIBUTE_EXPERIMENT);
    const run = keyPart(span, ATTRIBUTE_RUN);
    const variant = keyPart(span, ATTRIBUTE_VARIANT);
    const where = `experiment ${quote(experiment)} run ${quote(run)} variant ${quote(variant)}`;
    if (reason === 'unexpected') {
      const e = this.#expect!;
      const wanted =
        `experiment ${quote(e.experiment)}` +
        (e.run !== undefined ? ` run ${quote(e.run)}` : '') +
        (e.variants ? ` variants ${e.variants.map(quote).join(', ')}` : '');
      return `spans of ${where}; this receiver serves ${wanted}`;
    }
    if (reason === 'malformed') {
      return `spans of ${where} have a conclab.* attribute longer than ${this.#maxKeyPartLength} characters`;
    }
    const space = this.#spaces.get(`${experiment}\u0000${run}\u0000${variant}`);
    if ((space?.keys.size ?? 0) >= this.#maxKeysPerVariant) {
      return `${where} already has ${this.#maxKeysPerVariant} keys (maxKeysPerVariant)`;
    }
    return `the receiver holds its maximum of ${this.#maxKeys} keys (maxKeys); clear() finished trials`;
  }

  /** Snapshots of the matching keys, sorted by key; histograms encoded for transport. */
  aggregates(filter?: Partial<SpanKey>): SpanAggregate[] {
    const out: { order: string; aggregate: SpanAggregate }[] = [];
    for (const state of this.#allStates()) {
      if (!matchesFilter(state.key, filter)) continue;
      const k = state.key;
      out.push({
        order: [k.experiment, k.run, k.trial, k.variant, k.replica, k.worker].join('\u0000'),
        aggregate: {
          key: { ...k },
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
          ...(state.sharedState
            ? {
                sharedState: {
                  updates: state.sharedState.updates,
                  costHistogram: encodeHistogram(state.sharedState.cost),
                },
              }
            : {}),
        },
      });
    }
    return out.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0)).map((o) => o.aggregate);
  }

  *#allStates(): Iterable<KeyState> {
    for (const space of this.#spaces.values()) yield* space.keys.values();
  }

  /** Forgets the matching keys (all without a filter). */
  clear(filter?: Partial<SpanKey>): void {
    for (const [spaceId, space] of this.#spaces) {
      for (const [id, state] of space.keys) {
        if (!matchesFilter(state.key, filter)) continue;
        this.#secondBuckets -= state.perSecond.size;
        space.keys.delete(id);
        this.#keyCount--;
      }
      if (space.keys.size === 0) {
        this.#spaces.delete(spaceId);
        if (this.#lastSpace === space) this.#lastSpace = undefined;
      }
    }
  }
}
