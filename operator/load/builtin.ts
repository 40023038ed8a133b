// The built-in open-model load driver.
//
// Requests go out at their intended times (schedule.ts) whether or not earlier ones have
// answered, and latency counts from the intended time: a server that stalls cannot hide the
// queue it builds (no coordinated omission). A request that finds every connection of its
// target busy waits for the next one freed while the pool grows a few connections per tick
// (TargetPool) instead of opening one of its own; its latency still counts from the intended
// time. One timer ticks about every millisecond and
// sends every request that has come due, so thousands of requests per second cost a thousand
// timer callbacks, not one timer each. The driver watches its own lateness and event loop and
// says when its figures are not to be trusted instead of blaming the server.
//
// Request i of the schedule goes to targets[i % targets.length]: every replica gets an even
// share at even spacing, and the rule does not depend on how many generators share the
// schedule. With plan.generators > 1 (or CPUs to pin to) the schedule is split between
// generator processes (generators.ts) and their parts merged exactly (merge.ts).
//
// A request times out timeoutMillis after it was actually sent (as k6 and undici count it);
// its latency, when it succeeds, still counts from the intended time.
//
// What it costs per request is kept to what the measurement needs (see connection.ts): no
// object per request (the connection carries the request's few numbers), one clock read at
// send and one at completion, one histogram record; per-second histograms are encoded and
// folded into the run's histogram once their second is over.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { encodeHistogram, type Histogram, newHistogram, recordMillis } from '../contracts/histogram.ts';
import { classifyStatus, newErrorCounts } from './classify.ts';
import { Connection, type ConnectionOwner, type Endpoint, endpointOf } from './connection.ts';
import { runGenerators } from './generators.ts';
import { type LoadPart, p99Millis } from './merge.ts';
import { validateLoadPlan } from './plan-validation.ts';
import { planSegments, rateAtMillis, type ScheduleShare, SendTimes } from './schedule.ts';
import type {
  BuiltinLoadOptions,
  ErrorKind,
  LoadPlan,
  LoadProgress,
  LoadResult,
  SecondSample,
  TargetLoad,
} from './types.ts';

export type { BuiltinLoadOptions };

export { newErrorCounts };

/** How one generator of several runs its share (set by generators.ts in each process). */
export interface PartOptions extends BuiltinLoadOptions {
  share?: ScheduleShare;
  /** Epoch millis at which the run's time 0 falls, common to every generator. */
  startAtEpochMillis?: number;
}

export const DEFAULT_MAX_SEND_SLIP_P99_MILLIS = 25;
export const DEFAULT_MAX_EVENT_LOOP_LAG_MILLIS = 200;

/** Longest sleep between ticks, so timeouts and progress stay timely at low rates. */
const MAX_TICK_MILLIS = 5;
/** The timeout sweep runs at most this often (it looks at every open connection). */
const SWEEP_EVERY_MILLIS = 2;

/**
 * Keep-alive connections per target that requests rotate over, even when fewer would do. A
 * server with N workers on one port (SO_REUSEPORT) spreads connections, not requests, over its
 * workers; a client that always reuses its first idle connection would send nearly everything
 * to one worker, so the workers would not share the work as they do behind many clients, and
 * which worker a fault hits would decide the blast radius. Rotating over this many connections
 * gives every worker about its share (with 4 workers, 25% +- 5%), as k6 does by handing
 * iterations to its pre-allocated VUs in turn.
 */
export const SPREAD_CONNECTIONS = 64;

/**
 * When every connection of a target is busy, a request waits for the next one freed instead
 * of opening its own. A server that hiccups for a few milliseconds at a high rate would
 * otherwise get hundreds of connects at once; accepting them, and serving requests spread
 * over many more connections, costs it (and the driver) more per request, so more requests
 * find every connection busy and open more: at 20k requests/s on a loaded machine the old
 * driver went to 2048 connections and completed 17% of its requests. Only when the oldest
 * waiting request has waited growAfterMillis (default DEFAULT_GROW_AFTER_MILLIS) does the pool
 * grow, by NEW_CONNECTIONS_PER_TICK per tick (about a millisecond), up to maxInFlight: a
 * server that needs more concurrency (slow answers at a high rate) gets it. Waiting costs the
 * measurement nothing: latency counts from the intended time.
 */
export const NEW_CONNECTIONS_PER_TICK = 4;
export const DEFAULT_GROW_AFTER_MILLIS = 100;

/** Intended send times of requests waiting for a connection, oldest first. */
class WaitingRequests {
  private times: number[] = [];
  private head = 0;
  get length(): number {
    return this.times.length - this.head;
  }
  push(intendedMillis: number): void {
    this.times.push(intendedMillis);
  }
  oldest(): number {
    return this.times[this.head] as number;
  }
  shift(): number {
    const t = this.times[this.head++] as number;
    if (this.head === this.times.length) {
      this.times = [];
      this.head = 0;
    }
    return t;
  }
  /** Empties the queue, returning what was in it. */
  drain(): number[] {
    const rest = this.times.slice(this.head);
    this.times = [];
    this.head = 0;
    return rest;
  }
}

/**
 * The connections of one target. Idle connections among the first `spread` wait in a FIFO, so
 * the least recently used goes next (rotation over all of them); more connections open only
 * when all of those are busy, at most `growth` per tick, and are used only then. Requests that
 * find no connection wait in `waiting` and take the next one freed.
 */
class TargetPool {
  readonly connections: Connection[] = [];
  readonly waiting = new WaitingRequests();
  /** New connections beyond the first `spread` this pool may still open in this tick. */
  growth = 0;
  private readonly ring: Int32Array;
  private head = 0;
  private size: number;
  private readonly overflow: number[] = [];
  private readonly spread: number;
  private readonly make: (slot: number) => Connection;

  constructor(spread: number, make: (slot: number) => Connection) {
    this.spread = spread;
    this.make = make;
    this.ring = new Int32Array(spread);
    for (let i = 0; i < spread; i++) this.ring[i] = i;
    this.size = spread;
  }

  /**
   * An idle connection, or undefined when every open one is busy and no new one may open in
   * this tick; the caller made sure fewer than the cap are busy.
   */
  take(): Connection | undefined {
    let slot: number;
    if (this.size > 0) {
      slot = this.ring[this.head] as number;
      this.head = (this.head + 1) % this.spread;
      this.size--;
    } else if (this.overflow.length > 0) slot = this.overflow.pop() as number;
    else if (this.growth > 0) {
      this.growth--;
      slot = Math.max(this.spread, this.connections.length);
    } else return undefined;
    let c = this.connections[slot];
    if (c === undefined) {
      c = this.make(slot);
      this.connections[slot] = c;
    }
    return c;
  }

  release(c: Connection): void {
    if (c.slot < this.spread) {
      this.ring[(this.head + this.size) % this.spread] = c.slot;
      this.size++;
    } else this.overflow.push(c.slot);
  }
}

/** Growable per-second counters of the measured window. */
class SecondCounts {
  sent: number[] = [];
  completed: number[] = [];
  errors: number[] = [];
  dropped: number[] = [];
  ensure(second: number): void {
    for (let i = this.sent.length; i <= second; i++) {
      this.sent.push(0);
      this.completed.push(0);
      this.errors.push(0);
      this.dropped.push(0);
    }
  }
}

/**
 * Runs the once-a-second work (encode a histogram, read its p99, fold it into another) once
 * before the run: the first encode compiles and loads what it needs, a 20-30 ms stall of the
 * event loop on a slow core, which would otherwise fall on the first measured second and, at
 * tens of thousands of requests per second, fill maxInFlight with requests that could not go out.
 */
function warmSecondClose(): void {
  const h = newHistogram();
  recordMillis(h, 1);
  encodeHistogram(h);
  p99Millis(h);
  newHistogram().add(h);
}

export async function runBuiltinLoad(plan: LoadPlan, options: BuiltinLoadOptions = {}): Promise<LoadResult> {
  validateLoadPlan(plan);
  if ((plan.generators ?? 1) > 1 || (options.cpus?.length ?? 0) > 0) return runGenerators(plan, options);
  return (await runBuiltinPart(plan, options)).result;
}

/**
 * One generator's part of the run: the requests of `options.share` of the schedule (all of
 * them by default), on this process's event loop, capped at plan.maxInFlight.
 */
export async function runBuiltinPart(plan: LoadPlan, options: PartOptions = {}): Promise<LoadPart> {
  validateLoadPlan(plan);
  const maxSlip = options.maxSendSlipP99Millis ?? DEFAULT_MAX_SEND_SLIP_P99_MILLIS;
  const maxLag = options.maxEventLoopLagMillis ?? DEFAULT_MAX_EVENT_LOOP_LAG_MILLIS;
  const growAfter = options.growAfterMillis ?? DEFAULT_GROW_AFTER_MILLIS;
  const segments = planSegments(plan);
  const measureStart = plan.warmUpMillis;
  const runEnd = plan.warmUpMillis + plan.durationMillis;
  const timeoutMillis = plan.timeoutMillis;
  const cap = plan.maxInFlight;
  const targetCount = plan.targets.length;
  const endpoints: Endpoint[] = plan.targets.map((t) => endpointOf(new URL(t), plan.headers ?? {}));
  warmSecondClose();

  const errors = newErrorCounts();
  const perTarget: TargetLoad[] = plan.targets.map((url, replica) => ({
    replica,
    url,
    sent: 0,
    completed: 0,
    errors: 0,
  }));
  const seconds = new SecondCounts();
  /** Latencies of successes by second of completion; encoded once the second is over. */
  const secondLatency: (Histogram | undefined)[] = [];
  const secondEncoded: string[] = [];
  const secondP99: number[] = [];
  let closedSeconds = 0;
  const latency = newHistogram();
  /** Everything latencyHistogramAll holds besides the successes. */
  const failures = newHistogram();
  const slip = newHistogram();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let inFlight = 0;
  /** Requests due but waiting for a connection of their target (in the pools' queues). */
  let waiting = 0;
  let sent = 0;
  let completed = 0;
  let dropped = 0;
  let inFlightAtEnd = 0;
  let live = { sent: 0, completed: 0, errors: 0 };
  let measuring = measureStart === 0;
  let nextProgressMillis = 1000;
  let partial = false;
  let stopAtMillis = runEnd;

  // The run's clock: ms from time 0, which every generator of a run shares (an epoch time);
  // alone, time 0 is now, rounded to a whole epoch millisecond.
  const epoch0 = options.startAtEpochMillis ?? Math.round(performance.timeOrigin + performance.now());
  try {
    plan.onTimeZero?.(epoch0);
  } catch {
    // A caller's timing hook must not break a measurement.
  }
  const t0 = epoch0 - performance.timeOrigin;
  const now = () => performance.now() - t0;
  const secondOf = (t: number) => (t < measureStart ? 0 : Math.floor((t - measureStart) / 1000));

  /** Counts how the request on `c` ended. */
  const account = (c: Connection, kind: ErrorKind | undefined, at: number) => {
    if (kind === undefined) live.completed++;
    else live.errors++;
    if (!c.measured) return;
    const second = secondOf(at);
    seconds.ensure(second);
    const target = perTarget[c.target] as TargetLoad;
    const millis = at - c.intendedMillis;
    if (kind === undefined) {
      completed++;
      target.completed++;
      (seconds.completed[second] as number)++;
      let h = secondLatency[second];
      if (h === undefined) {
        h = newHistogram();
        secondLatency[second] = h;
      }
      recordMillis(h, millis);
    } else {
      errors[kind]++;
      target.errors++;
      (seconds.errors[second] as number)++;
      recordMillis(failures, millis);
    }
  };

  /** Puts the request due at `intendedMillis` on the wire on `c`, now (`at`, a fresh clock read). */
  const start = (c: Connection, intendedMillis: number, at: number) => {
    c.intendedMillis = intendedMillis;
    c.deadlineMillis = at + timeoutMillis;
    c.measured = intendedMillis >= measureStart;
    inFlight++;
    live.sent++;
    c.send();
  };

  /** The request on `c` ended: count it, and hand `c` to the oldest waiting request, if any. */
  const finishRequest = (c: Connection, kind: ErrorKind | undefined, at: number) => {
    inFlight--;
    account(c, kind, at);
    const pool = pools[c.target] as TargetPool;
    if (pool.waiting.length > 0) {
      waiting--;
      start(c, pool.waiting.shift(), at);
    } else pool.release(c);
  };

  const owner: ConnectionOwner = {
    settled(c, kind, status) {
      finishRequest(c, kind ?? classifyStatus(status), now());
    },
  };
  const spread = Math.min(cap, SPREAD_CONNECTIONS);
  const pools = endpoints.map(
    (endpoint, target) =>
      new TargetPool(spread, (slot) => new Connection(target, slot, endpoint, owner, timeoutMillis)),
  );

  /** Encodes and folds into the run's histogram every second before `second`. */
  const closeSecondsBefore = (second: number) => {
    for (; closedSeconds < second; closedSeconds++) {
      const h = secondLatency[closedSeconds];
      if (h === undefined) {
        secondEncoded[closedSeconds] = '';
        secondP99[closedSeconds] = 0;
      } else {
        secondEncoded[closedSeconds] = encodeHistogram(h);
        secondP99[closedSeconds] = p99Millis(h);
        latency.add(h);
        secondLatency[closedSeconds] = undefined;
      }
    }
  };

  /**
   * The request due at `intendedMillis` (schedule index `index`) has come due: send it, or let
   * it wait for a connection, or drop it when maxInFlight requests are already outstanding.
   * Its slip (how late the driver got to it) is the generator's own lateness; time spent
   * waiting for a connection is the server's and shows in the latency, not here.
   */
  const send = (intendedMillis: number, index: number) => {
    const measured = intendedMillis >= measureStart;
    if (inFlight + waiting >= cap) {
      if (measured) {
        dropped++;
        const second = secondOf(intendedMillis);
        seconds.ensure(second);
        (seconds.dropped[second] as number)++;
        recordMillis(failures, timeoutMillis);
      }
      return;
    }
    const target = index % targetCount;
    const at = now();
    if (measured) {
      sent++;
      (perTarget[target] as TargetLoad).sent++;
      const second = secondOf(intendedMillis);
      seconds.ensure(second);
      (seconds.sent[second] as number)++;
      recordMillis(slip, at > intendedMillis ? at - intendedMillis : 0);
    }
    const pool = pools[target] as TargetPool;
    const c = pool.waiting.length > 0 ? undefined : pool.take();
    if (c === undefined) {
      pool.waiting.push(intendedMillis);
      waiting++;
    } else start(c, intendedMillis, at);
  };

  /**
   * A new tick at `at`: a pool whose oldest waiting request has waited growAfterMillis may
   * open a few more connections, and its waiting requests take them.
   */
  const grow = (at: number) => {
    for (const pool of pools) {
      pool.growth = pool.waiting.length > 0 && at - pool.waiting.oldest() >= growAfter ? NEW_CONNECTIONS_PER_TICK : 0;
      while (pool.growth > 0 && pool.waiting.length > 0) {
        const c = pool.take();
        if (c === undefined) break;
        waiting--;
        start(c, pool.waiting.shift(), at);
      }
    }
  };

  let lastSweep = Number.NEGATIVE_INFINITY;
  const sweep = (at: number) => {
    lastSweep = at;
    for (const pool of pools) {
      for (const c of pool.connections) {
        if (c?.busy && c.deadlineMillis <= at) {
          c.abandon();
          finishRequest(c, 'timeout', at);
        }
      }
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

  const times = new SendTimes(segments, options.share);
  let nextDue = times.next();
  let nextIndex = times.index;

  // A shared time 0 may lie ahead: wait for it without holding the event loop.
  const wait = -now();
  if (wait > 1 && !plan.signal?.aborted) await new Promise((resolve) => setTimeout(resolve, wait - 1));
  loopDelay.enable();
  const cpuAtStart = process.cpuUsage();

  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      plan.signal?.removeEventListener('abort', onAbort);
      for (const pool of pools) {
        for (const intended of pool.waiting.drain()) {
          if (intended >= measureStart) {
            inFlightAtEnd++;
            recordMillis(failures, timeoutMillis);
          }
        }
        for (const c of pool.connections) {
          if (c === undefined) continue;
          if (c.busy && c.measured) {
            inFlightAtEnd++;
            recordMillis(failures, timeoutMillis);
          }
          c.close();
        }
      }
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
      if (at - lastSweep >= SWEEP_EVERY_MILLIS) sweep(at);
      grow(at);
      while (nextDue <= at) {
        send(nextDue, nextIndex);
        nextDue = times.next();
        nextIndex = times.index;
      }
      if (measuring) closeSecondsBefore(secondOf(at));
      progress(at);
      // After the last request is due, wait for the window to end and the stragglers to
      // answer or time out; the grace covers timer granularity of the sweep.
      const scheduleOver = nextDue === Number.POSITIVE_INFINITY && at >= runEnd;
      if (scheduleOver && ((inFlight === 0 && waiting === 0) || at >= runEnd + timeoutMillis + 100)) {
        finish();
        return;
      }
      const until = nextDue === Number.POSITIVE_INFINITY ? MAX_TICK_MILLIS : nextDue - now();
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
  const cpu = process.cpuUsage(cpuAtStart);

  const windowEnd = Math.max(measureStart, Math.min(runEnd, stopAtMillis));
  const windowSeconds = Math.ceil((windowEnd - measureStart) / 1000);
  if (windowSeconds > 0) seconds.ensure(windowSeconds - 1);
  closeSecondsBefore(seconds.sent.length);
  const perSecond: SecondSample[] = seconds.sent.map((s, second) => ({
    second,
    sent: s,
    completed: seconds.completed[second] as number,
    errors: seconds.errors[second] as number,
    dropped: seconds.dropped[second] as number,
    p99Millis: secondP99[second] as number,
  }));
  const all = newHistogram();
  all.add(latency);
  all.add(failures);

  const sendSlipP99Millis = p99Millis(slip);
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

  const result: LoadResult = {
    driver: 'builtin',
    startedAtMillis: epoch0 + measureStart,
    endedAtMillis: epoch0 + windowEnd,
    scheduled: sent + dropped,
    sent,
    completed,
    dropped,
    errors,
    inFlightAtEnd,
    latencyHistogram: encodeHistogram(latency),
    latencyHistogramAll: encodeHistogram(all),
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
  return {
    result,
    perSecondLatency: secondEncoded.slice(0, perSecond.length),
    sendSlip: encodeHistogram(slip),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}
