// Builds a LoadResult from k6's per-request samples (`k6 run --out json=FILE`), so a k6 run
// is as exact as the built-in driver's: real HDR histograms, a per-second series, perTarget,
// and parts that merge exactly (merge.ts). Pure: lines in, a LoadPart out.
//
// The format is k6's documented JSON output: one JSON object per line, either
//   {"type":"Metric","data":{...},"metric":"http_req_duration"}   (a metric declared), or
//   {"type":"Point","data":{"time":"2017-05-09T14:34:45.239531499+02:00","value":459.86,
//     "tags":{"status":"200","scenario":"measure",...}},"metric":"http_req_duration"}.
// One http_req_duration point is written per HTTP request (value in ms), stamped with the
// time the request ended, tagged with k6's system tags (status, error_code, scenario,
// expected_response, ...) and ours (`target`, see k6-script.ts). dropped_iterations points
// (value 1 per iteration k6 could not start for want of a VU) carry the time they were due.
// Only those two metrics are read; lines of the others are skipped before JSON parsing.
//
// Like k6-summary.ts's result, latency counts from the actual send (k6 has no intended
// times); a lack of VUs shows as drops, which latencyHistogramAll holds at the timeout.
import { encodeHistogram, type Histogram, newHistogram, recordMillis } from '../contracts/histogram.ts';
import { newErrorCounts } from './classify.ts';
import { MEASURE_SCENARIO, TARGET_TAG } from './k6-script.ts';
import { type LoadPart, p99Millis } from './merge.ts';
import type { ErrorKind, LoadResult, SecondSample, TargetLoad } from './types.ts';

export class K6SamplesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'K6SamplesError';
  }
}

export interface K6SamplesContext {
  /** The plan's targets: tag `target` = i means targets[i]. */
  targets: readonly string[];
  timeoutMillis: number;
  /** Length of the measured window (the plan's durationMillis). */
  durationMillis: number;
  /**
   * Epoch ms of the window's start, when the caller knows it: runners whose parts are to be
   * merged must share it, so their seconds line up. Default: the first measured send.
   */
  startedAtMillis?: number;
  /** The run was stopped early; then endedAtMillis is when. */
  partial?: boolean;
  endedAtMillis?: number;
}

/** The error kind of a sample, as the generated script's errorKind() decides it (k6 error codes). */
export function k6ErrorKind(status: number, errorCode: number): ErrorKind | undefined {
  if (status >= 500 && status <= 599) return 'http5xx';
  if (status >= 400 && status <= 499) return 'http4xx';
  if (status >= 100 && status <= 399 && !errorCode) return undefined;
  switch (errorCode) {
    case 1212:
      return 'refused';
    case 1201:
    case 1220:
      return 'reset';
    case 1050:
    case 1211:
      return 'timeout';
    default:
      return 'other';
  }
}

/** Epoch ms (with microseconds) of a k6 RFC 3339 time with nanoseconds and an offset. */
export function k6TimeMillis(text: string): number {
  const millis = Date.parse(text);
  if (Number.isNaN(millis)) return Number.NaN;
  const fraction = /\.(\d+)/.exec(text)?.[1] ?? '';
  return millis + (fraction.length > 3 ? Number(`0.${fraction.slice(3, 6)}`) : 0);
}

interface Sample {
  endMillis: number;
  durationMillis: number;
  kind: ErrorKind | undefined;
  target: number;
}

/** Accumulates lines; `finish()` gives the part. Holds one small record per measured request. */
export class K6SamplesParser {
  private readonly context: K6SamplesContext;
  private readonly samples: Sample[] = [];
  private readonly drops: number[] = [];
  private lines = 0;

  constructor(context: K6SamplesContext) {
    this.context = context;
  }

  add(line: string): void {
    this.lines++;
    // Most lines are other metrics (http_req_blocked, ..., iterations): skip them unparsed.
    const duration = line.includes('"http_req_duration"');
    if (!duration && !line.includes('"dropped_iterations"')) return;
    let o: {
      type?: unknown;
      metric?: unknown;
      data?: { time?: unknown; value?: unknown; tags?: Record<string, unknown> | null };
    };
    try {
      o = JSON.parse(line);
    } catch {
      throw new K6SamplesError(`line ${this.lines} of the k6 samples is not JSON: ${line.slice(0, 120)}`);
    }
    if (o.type !== 'Point' || typeof o.data !== 'object' || o.data === null) return;
    const tags = o.data.tags ?? {};
    if (tags['scenario'] !== MEASURE_SCENARIO) return;
    const at = typeof o.data.time === 'string' ? k6TimeMillis(o.data.time) : Number.NaN;
    const value = typeof o.data.value === 'number' ? o.data.value : Number.NaN;
    if (!Number.isFinite(at) || !Number.isFinite(value)) {
      throw new K6SamplesError(`line ${this.lines} of the k6 samples has no valid time or value`);
    }
    if (o.metric === 'dropped_iterations') {
      for (let i = 0; i < Math.round(value); i++) this.drops.push(at);
      return;
    }
    if (o.metric !== 'http_req_duration') return;
    const target = Number(tags[TARGET_TAG] ?? 0);
    this.samples.push({
      endMillis: at,
      durationMillis: value,
      kind: k6ErrorKind(Number(tags['status'] ?? 0), Number(tags['error_code'] ?? 0)),
      target: Number.isInteger(target) && target >= 0 && target < this.context.targets.length ? target : 0,
    });
  }

  finish(): LoadPart {
    const { targets, timeoutMillis, durationMillis } = this.context;
    if (this.samples.length === 0 && this.drops.length === 0) {
      throw new K6SamplesError(
        `no measured request in the k6 samples (${this.lines} lines): was k6 run with --out json and the generated script?`,
      );
    }
    // Unless given, the window starts with the first measured send (iteration 0 starts the
    // scenario).
    let start = this.context.startedAtMillis ?? Number.POSITIVE_INFINITY;
    if (this.context.startedAtMillis === undefined) {
      for (const s of this.samples) start = Math.min(start, s.endMillis - s.durationMillis);
      for (const d of this.drops) start = Math.min(start, d);
    }
    const end =
      this.context.partial && this.context.endedAtMillis !== undefined
        ? Math.max(start, Math.min(start + durationMillis, this.context.endedAtMillis))
        : start + durationMillis;
    const secondOf = (t: number) => Math.max(0, Math.floor((t - start) / 1000));

    const rows: SecondSample[] = [];
    const histograms: (Histogram | undefined)[] = [];
    const row = (second: number): SecondSample => {
      for (let i = rows.length; i <= second; i++) {
        rows.push({ second: i, sent: 0, completed: 0, errors: 0, dropped: 0, p99Millis: 0 });
      }
      return rows[second] as SecondSample;
    };
    const windowSeconds = Math.ceil((end - start) / 1000);
    if (windowSeconds > 0) row(windowSeconds - 1);

    const errors = newErrorCounts();
    const perTarget: TargetLoad[] = targets.map((url, replica) => ({ replica, url, sent: 0, completed: 0, errors: 0 }));
    const latency = newHistogram();
    const all = newHistogram();
    let completed = 0;
    for (const s of this.samples) {
      row(secondOf(s.endMillis - s.durationMillis)).sent++;
      const target = perTarget[s.target] as TargetLoad;
      target.sent++;
      const second = secondOf(s.endMillis);
      if (s.kind === undefined) {
        completed++;
        target.completed++;
        row(second).completed++;
        recordMillis(latency, s.durationMillis);
        recordMillis(all, s.durationMillis);
        let h = histograms[second];
        if (h === undefined) {
          h = newHistogram();
          histograms[second] = h;
        }
        recordMillis(h, s.durationMillis);
      } else {
        errors[s.kind]++;
        target.errors++;
        row(second).errors++;
        recordMillis(all, s.kind === 'timeout' ? Math.max(timeoutMillis, s.durationMillis) : s.durationMillis);
      }
    }
    for (const d of this.drops) {
      row(secondOf(d)).dropped++;
      recordMillis(all, timeoutMillis);
    }
    const perSecondLatency = rows.map((r, second) => {
      const h = histograms[second];
      if (h === undefined) return '';
      r.p99Millis = p99Millis(h);
      return encodeHistogram(h);
    });

    const sent = this.samples.length;
    const result: LoadResult = {
      driver: 'k6',
      startedAtMillis: start,
      endedAtMillis: end,
      scheduled: sent + this.drops.length,
      sent,
      completed,
      dropped: this.drops.length,
      errors,
      inFlightAtEnd: 0,
      latencyHistogram: encodeHistogram(latency),
      latencyHistogramAll: encodeHistogram(all),
      perSecond: rows,
      perTarget,
      // k6 reports nothing of its own lateness here; drops show a lack of VUs.
      saturation: { unreliable: false, sendSlipP99Millis: 0, eventLoopLagMaxMillis: 0 },
      partial: this.context.partial ?? false,
    };
    return { result, perSecondLatency };
  }
}

/** Parses the whole JSON-lines text of k6's --out json. */
export function parseK6Samples(text: string, context: K6SamplesContext): LoadPart {
  const parser = new K6SamplesParser(context);
  for (const line of text.split('\n')) if (line.trim() !== '') parser.add(line);
  return parser.finish();
}
