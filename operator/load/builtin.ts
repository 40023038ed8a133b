// The built-in open-model load driver, on undici.
//
// Requests go out at their intended times (schedule.ts) whether or not earlier ones have
// answered, and latency counts from the intended time: a server that stalls cannot hide the
// queue it builds (no coordinated omission). One timer ticks about every millisecond and
// sends every request that has come due, so thousands of requests per second cost a thousand
// timer callbacks, not one timer each. The driver watches its own lateness and event loop and
// says when its figures are not to be trusted instead of blaming the server.
// A request times out timeoutMillis after it was actually sent (as k6 and undici count it);
// its latency, when it succeeds, still counts from the intended time.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Client, type Dispatcher } from 'undici';
import { encodeHistogram, newHistogram, recordMillis } from '../contracts/histogram.ts';
import { classifyError, classifyStatus } from './classify.ts';
import { validateLoadPlan } from './plan-validation.ts';
import { planSegments, rateAtMillis, sendTimesMillis } from './schedule.ts';
import type { ErrorKind, LoadPlan, LoadProgress, LoadResult, SecondSample, TargetLoad } from './types.ts';

export interface BuiltinLoadOptions {
  /** Send-time slip p99 above which the result is marked unreliable. Default 25 ms. */
  maxSendSlipP99Millis?: number;
  /** Event-loop delay (max) above which the result is marked unreliable. Default 200 ms. */
  maxEventLoopLagMillis?: number;
}

export const DEFAULT_MAX_SEND_SLIP_P99_MILLIS = 25;
export const DEFAULT_MAX_EVENT_LOOP_LAG_MILLIS = 200;

/** Longest sleep between ticks, so timeouts and progress stay timely at low rates. */
const MAX_TICK_MILLIS = 5;

/**
 * Keep-alive connections requests rotate over, even when fewer would do. A server with N
 * workers on one port (SO_REUSEPORT) spreads connections, not requests, over its workers; a
 * client that always reuses its first idle connection (undici's Pool, at low rates) would send
 * nearly everything to one worker, so the workers would not share the work as they do behind
 * many clients, and which worker a fault hits would decide the blast radius. Rotating over this
 * many connections gives every worker about its share (with 4 workers, 25% +- 5%), as k6 does
 * by handing iterations to its pre-allocated VUs in turn.
 */
export const SPREAD_CONNECTIONS = 64;

/**
 * One request, as its own undici dispatch handler: no promise, body stream or AbortController
 * per request, which is what keeps thousands of requests per second cheap. `settle` is called
 * exactly once per request by whichever comes first: the response, an error, or the sweep.
 */
class LoadRequest implements Dispatcher.DispatchHandler {
  readonly id: number;
  readonly intendedMillis: number;
  readonly deadlineMillis: number;
  readonly measured: boolean;
  /** Target (index into plan.targets) and connection slot carrying this request. */
  target = 0;
  slot = 0;
  done = false;
  private status = 0;
  private controller: Dispatcher.DispatchController | undefined;
  private readonly settle: (r: LoadRequest, kind: ErrorKind | undefined) => void;

  constructor(
    id: number,
    intendedMillis: number,
    deadlineMillis: number,
    measured: boolean,
    settle: (r: LoadRequest, kind: ErrorKind | undefined) => void,
  ) {
    this.id = id;
    this.intendedMillis = intendedMillis;
    this.deadlineMillis = deadlineMillis;
    this.measured = measured;
    this.settle = settle;
  }

  /** Cuts the request (timed out or run over); its late error is then ignored. */
  abort(): void {
    this.controller?.abort(new Error('conclab: request abandoned'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // A request can time out while still waiting for a connection: cut it as it starts.
    if (this.done) controller.abort(new Error('conclab: request abandoned'));
    else this.controller = controller;
  }
  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
  }
  onResponseData(): void {
    // The body is read and dropped: only its arrival time matters.
  }
  onResponseEnd(): void {
    if (!this.done) this.settle(this, classifyStatus(this.status));
  }
  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (!this.done) this.settle(this, classifyError(err));
  }
}

interface Bucket {
  sent: number;
  completed: number;
  errors: number;
  dropped: number;
  latenciesMillis: number[];
}

const noop = () => {};

export function newErrorCounts(): Record<ErrorKind, number> {
  return { refused: 0, reset: 0, timeout: 0, http4xx: 0, http5xx: 0, other: 0 };
}

/** p99 of a small array (one second of latencies), exact; 0 when empty. */
export function p99OfMillis(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.max(0, Math.ceil(sorted.length * 0.99) - 1)] ?? 0;
}

export async function runBuiltinLoad(plan: LoadPlan, options: BuiltinLoadOptions = {}): Promise<LoadResult> {
  validateLoadPlan(plan);
  const maxSlip = options.maxSendSlipP99Millis ?? DEFAULT_MAX_SEND_SLIP_P99_MILLIS;
  const maxLag = options.maxEventLoopLagMillis ?? DEFAULT_MAX_EVENT_LOOP_LAG_MILLIS;
  const urls = plan.targets.map((t) => new URL(t));
  const paths = urls.map((u) => `${u.pathname}${u.search}`);
  const segments = planSegments(plan);
  const measureStart = plan.warmUpMillis;
  const runEnd = plan.warmUpMillis + plan.durationMillis;

  // One connection per request allowed in flight, each carrying one request at a time
  // (pipelining 1): nothing queues inside undici, so the cap we enforce is the only one.
  // Connections open lazily; requests rotate over the first SPREAD_CONNECTIONS of them and use
  // the others only when all of those are busy.
  const clientOptions = {
    pipelining: 1,
    connectTimeout: plan.timeoutMillis,
    // Our own sweep enforces the timeout; undici's are a backstop only.
    headersTimeout: plan.timeoutMillis + 1000,
    bodyTimeout: plan.timeoutMillis + 1000,
  };
  // Each target has its own connections: up to maxInFlight (all could be outstanding at one
  // slow replica), rotating over the first SPREAD_CONNECTIONS.
  const clients: (Client | undefined)[][] = urls.map(() => new Array(plan.maxInFlight));
  const busy = urls.map(() => new Uint8Array(plan.maxInFlight));
  const spread = Math.min(plan.maxInFlight, SPREAD_CONNECTIONS);
  const cursors = urls.map(() => 0);
  /** An idle connection slot of target `t`; the caller made sure one exists (inFlight < maxInFlight). */
  const takeSlot = (t: number): number => {
    const b = busy[t] as Uint8Array;
    const cursor = cursors[t] as number;
    for (let k = 0; k < spread; k++) {
      const i = (cursor + k) % spread;
      if (b[i] === 0) {
        cursors[t] = (i + 1) % spread;
        return i;
      }
    }
    return b.indexOf(0, spread);
  };
  const clientAt = (t: number, slot: number): Client => {
    const row = clients[t] as (Client | undefined)[];
    let c = row[slot];
    if (c === undefined) {
      c = new Client((urls[t] as URL).origin, clientOptions);
      row[slot] = c;
    }
    return c;
  };
  const perTarget: TargetLoad[] = plan.targets.map((url, replica) => ({
    replica,
    url,
    sent: 0,
    completed: 0,
    errors: 0,
  }));
  let nextTarget = 0;
  const headers = plan.headers ?? {};

  const histogram = newHistogram();
  const slip = newHistogram();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  const errors = newErrorCounts();
  const buckets: Bucket[] = [];
  const inFlight = new Map<number, LoadRequest>();
  let nextId = 0;
  let sent = 0;
  let completed = 0;
  let dropped = 0;
  let inFlightAtEnd = 0;
  let live = { sent: 0, completed: 0, errors: 0 };
  let measuring = measureStart === 0;
  let nextProgressMillis = 1000;
  let partial = false;
  let stopAtMillis = runEnd;

  const bucketAt = (tMillis: number): Bucket => {
    const index = Math.max(0, Math.floor((tMillis - measureStart) / 1000));
    for (let i = buckets.length; i <= index; i++) {
      buckets.push({ sent: 0, completed: 0, errors: 0, dropped: 0, latenciesMillis: [] });
    }
    return buckets[index] as Bucket;
  };

  const times = sendTimesMillis(segments);
  let nextDue = times.next();
  const t0 = performance.now();
  const epoch0 = Date.now();
  const now = () => performance.now() - t0;
  loopDelay.enable();

  const settle = (r: LoadRequest, kind: ErrorKind | undefined, at = now()) => {
    r.done = true;
    inFlight.delete(r.id);
    (busy[r.target] as Uint8Array)[r.slot] = 0;
    if (kind === undefined) live.completed++;
    else live.errors++;
    if (!r.measured) return;
    const target = perTarget[r.target] as TargetLoad;
    if (kind === undefined) {
      const latency = at - r.intendedMillis;
      completed++;
      target.completed++;
      recordMillis(histogram, latency);
      const b = bucketAt(at);
      b.completed++;
      b.latenciesMillis.push(latency);
    } else {
      errors[kind]++;
      target.errors++;
      bucketAt(at).errors++;
    }
  };

  const send = (intendedMillis: number) => {
    const measured = intendedMillis >= measureStart;
    if (inFlight.size >= plan.maxInFlight) {
      if (measured) {
        dropped++;
        bucketAt(intendedMillis).dropped++;
      }
      return;
    }
    const sentAt = now();
    const target = nextTarget;
    nextTarget = (nextTarget + 1) % urls.length;
    const slot = takeSlot(target);
    const r = new LoadRequest(nextId++, intendedMillis, sentAt + plan.timeoutMillis, measured, settle);
    r.target = target;
    r.slot = slot;
    (busy[target] as Uint8Array)[slot] = 1;
    inFlight.set(r.id, r);
    live.sent++;
    if (measured) {
      sent++;
      (perTarget[target] as TargetLoad).sent++;
      bucketAt(intendedMillis).sent++;
      recordMillis(slip, Math.max(0, sentAt - intendedMillis));
    }
    clientAt(target, slot).dispatch({ path: paths[target] as string, method: 'GET', headers }, r);
  };

  // Deadlines grow with send order and a Map iterates in insertion order, so the sweep stops
  // at the first request still within its time: cost proportional to what expires.
  const expire = (at: number) => {
    for (const r of inFlight.values()) {
      if (r.deadlineMillis > at) break;
      settle(r, 'timeout', at);
      r.abort();
    }
  };

  const progress = (at: number) => {
    if (!plan.onProgress || at < nextProgressMillis) return;
    nextProgressMillis += 1000 * Math.max(1, Math.floor((at - nextProgressMillis) / 1000) + 1);
    const p: LoadProgress = {
      elapsedMillis: Math.round(at),
      measuring,
      currentRate: rateAtMillis(segments, at),
      sent: live.sent,
      completed: live.completed,
      errors: live.errors,
    };
    try {
      plan.onProgress(p);
    } catch {
      // A broken progress display must not break a measurement.
    }
  };

  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      plan.signal?.removeEventListener('abort', onAbort);
      for (const r of inFlight.values()) {
        if (r.measured) inFlightAtEnd++;
        r.done = true;
        r.abort();
      }
      inFlight.clear();
      resolve();
    };
    const onAbort = () => {
      partial = true;
      stopAtMillis = Math.min(stopAtMillis, now());
      finish();
    };
    const tick = () => {
      timer = undefined;
      const at = now();
      if (!measuring && at >= measureStart) {
        measuring = true;
        live = { sent: 0, completed: 0, errors: 0 };
        loopDelay.reset();
      }
      expire(at);
      while (!nextDue.done && nextDue.value <= at) {
        send(nextDue.value);
        nextDue = times.next();
      }
      progress(at);
      // After the last request is due, wait for the window to end and the stragglers to
      // answer or time out; the grace covers timer granularity of the sweep.
      const scheduleOver = nextDue.done && at >= runEnd;
      if (scheduleOver && (inFlight.size === 0 || at >= runEnd + plan.timeoutMillis + 100)) {
        finish();
        return;
      }
      const until = nextDue.done ? MAX_TICK_MILLIS : nextDue.value - now();
      timer = setTimeout(tick, Math.max(1, Math.min(MAX_TICK_MILLIS, Math.floor(until))));
    };
    if (plan.signal?.aborted) {
      onAbort();
      return;
    }
    plan.signal?.addEventListener('abort', onAbort, { once: true });
    tick();
  });

  loopDelay.disable();
  await Promise.all(clients.flat().map((c) => c?.destroy().catch(noop)));

  const windowEnd = Math.max(measureStart, Math.min(runEnd, stopAtMillis));
  const windowSeconds = Math.ceil((windowEnd - measureStart) / 1000);
  if (windowSeconds > 0) bucketAt(measureStart + (windowSeconds - 1) * 1000);
  const perSecond: SecondSample[] = buckets.map((b, second) => ({
    second,
    sent: b.sent,
    completed: b.completed,
    errors: b.errors,
    dropped: b.dropped,
    p99Millis: p99OfMillis(b.latenciesMillis),
  }));

  const sendSlipP99Millis = slip.totalCount === 0 ? 0 : slip.getValueAtPercentile(99) / 1000;
  // The delay histogram only holds samples once a full resolution period has passed.
  const eventLoopLagMaxMillis = loopDelay.count > 0 ? loopDelay.max / 1e6 : 0;
  const reasons: string[] = [];
  if (sendSlipP99Millis > maxSlip) {
    reasons.push(
      `requests left ${sendSlipP99Millis.toFixed(1)} ms late at p99 (limit ${maxSlip} ms): the load generator could not keep its schedule`,
    );
  }
  if (eventLoopLagMaxMillis > maxLag) {
    reasons.push(
      `the load generator's event loop stalled for ${eventLoopLagMaxMillis.toFixed(0)} ms (limit ${maxLag} ms)`,
    );
  }

  return {
    driver: 'builtin',
    startedAtMillis: epoch0 + measureStart,
    endedAtMillis: epoch0 + windowEnd,
    scheduled: sent + dropped,
    sent,
    completed,
    dropped,
    errors,
    inFlightAtEnd,
    latencyHistogram: encodeHistogram(histogram),
    perSecond,
    perTarget,
    saturation: {
      unreliable: reasons.length > 0,
      sendSlipP99Millis,
      eventLoopLagMaxMillis,
      ...(reasons.length > 0
        ? { reason: `${reasons.join('; ')}. Give the load generator its own core or lower the rate.` }
        : {}),
    },
    partial,
  };
}
