// When each request of an open-model run is due. Pure functions, so the arithmetic of
// arrival rates is table-tested apart from any timer.
//
// The rate over time is piecewise linear: segments that hold a rate or ramp linearly from one
// rate to another. The cumulative number of arrivals N(t) is the integral of the rate; request
// i (0-based) is due at the t where N(t) = i, so request 0 goes out at t = 0 and a constant rate
// r gives exactly one request every 1000/r ms, with no drift from summing rounded intervals.
import type { LoadPlan } from './types.ts';

/** A stretch of the run during which the rate changes linearly from startRate to endRate. */
export interface RateSegment {
  durationMillis: number;
  /** Requests per second at the start of the segment. */
  startRate: number;
  /** Requests per second at the end of the segment (equal to startRate for a constant rate). */
  endRate: number;
}

/** Arrivals in one segment: the area under its rate line. */
export function segmentArrivals(s: RateSegment): number {
  return ((s.startRate + s.endRate) / 2) * (s.durationMillis / 1000);
}

/**
 * Time in ms, from the start of the segment, at which `n` arrivals (fractional) have accrued.
 * Solves r0*t + a*t^2/2 = n in the form 2n / (r0 + sqrt(r0^2 + 2an)), which stays accurate when
 * the ramp is nearly flat (a -> 0) and needs no special case for a ramp starting at zero.
 */
export function timeOfArrivalInSegment(s: RateSegment, n: number): number {
  if (n <= 0) return 0;
  const seconds = s.durationMillis / 1000;
  const a = seconds > 0 ? (s.endRate - s.startRate) / seconds : 0;
  const disc = Math.max(0, s.startRate * s.startRate + 2 * a * n);
  const t = (2 * n) / (s.startRate + Math.sqrt(disc));
  return Math.min(s.durationMillis, t * 1000);
}

/** Which requests of the schedule one generator of several sends: i = index, index + count, ... */
export interface ScheduleShare {
  index: number;
  count: number;
}

/**
 * Intended send times in ms from the start of the run, in order, for all segments end to end.
 * A generator, so a long run at a high rate never holds its whole schedule in memory.
 * A request exactly at the end of the last segment is not sent (the run is [0, total)).
 * With a share, only requests index, index + count, ... are yielded: the shares of count
 * generators interleave into exactly the whole schedule. The request number i is
 * `share.index + k * share.count` for the k-th time yielded.
 */
export function* sendTimesMillis(
  segments: readonly RateSegment[],
  share: ScheduleShare = { index: 0, count: 1 },
): Generator<number, void, void> {
  const times = new SendTimes(segments, share);
  for (let t = times.next(); t !== Number.POSITIVE_INFINITY; t = times.next()) yield t;
}

/**
 * The same schedule as a cursor for the driver's hot loop: `next()` returns the next intended
 * time (Infinity after the last) and leaves its request number in `index`, with no object
 * allocated per request.
 */
export class SendTimes {
  /** Request number (position in the whole schedule) of the time `next()` returned last. */
  index = -1;
  private readonly segments: readonly RateSegment[];
  private readonly step: number;
  private i: number;
  private segment = 0;
  private offsetMillis = 0;
  private arrivalsBefore = 0;

  constructor(segments: readonly RateSegment[], share: ScheduleShare = { index: 0, count: 1 }) {
    if (!(Number.isInteger(share.count) && share.count >= 1 && share.index >= 0 && share.index < share.count)) {
      throw new RangeError(`schedule share ${share.index} of ${share.count} is not one of count generators`);
    }
    this.segments = segments;
    this.step = share.count;
    this.i = share.index;
  }

  next(): number {
    while (this.segment < this.segments.length) {
      const s = this.segments[this.segment] as RateSegment;
      const arrivals = segmentArrivals(s);
      // Float sums of areas can land a hair below an integer; a small epsilon keeps a request
      // that is due exactly at a segment boundary in the next segment, never lost or doubled.
      if (this.i < this.arrivalsBefore + arrivals - 1e-9) {
        this.index = this.i;
        const t = this.offsetMillis + timeOfArrivalInSegment(s, this.i - this.arrivalsBefore);
        this.i += this.step;
        return t;
      }
      this.offsetMillis += s.durationMillis;
      this.arrivalsBefore += arrivals;
      this.segment++;
    }
    return Number.POSITIVE_INFINITY;
  }
}

/** The rate (requests/s) intended at time t (ms from the start of the run); 0 after the end. */
export function rateAtMillis(segments: readonly RateSegment[], tMillis: number): number {
  let offset = 0;
  for (const s of segments) {
    if (tMillis < offset + s.durationMillis) {
      const f = s.durationMillis > 0 ? (tMillis - offset) / s.durationMillis : 0;
      return s.startRate + (s.endRate - s.startRate) * Math.max(0, f);
    }
    offset += s.durationMillis;
  }
  return 0;
}

/**
 * The rate of the warm-up: the constant rate, or for a ramp its start rate; a ramp that starts
 * from zero warms up at its first non-zero stage target, since warming at zero warms nothing.
 */
export function warmUpRate(plan: Pick<LoadPlan, 'rate' | 'stages' | 'startRate'>): number {
  if (plan.rate !== undefined) return plan.rate;
  if (plan.startRate !== undefined && plan.startRate > 0) return plan.startRate;
  return plan.stages?.find((s) => s.targetRate > 0)?.targetRate ?? 0;
}

/** The whole run as segments: warm-up first, then the constant rate or the stages. */
export function planSegments(
  plan: Pick<LoadPlan, 'rate' | 'stages' | 'startRate' | 'durationMillis' | 'warmUpMillis'>,
): RateSegment[] {
  const segments: RateSegment[] = [];
  if (plan.warmUpMillis > 0) {
    const r = warmUpRate(plan);
    segments.push({ durationMillis: plan.warmUpMillis, startRate: r, endRate: r });
  }
  if (plan.stages !== undefined) {
    let from = plan.startRate ?? 0;
    for (const st of plan.stages) {
      segments.push({ durationMillis: st.durationMillis, startRate: from, endRate: st.targetRate });
      from = st.targetRate;
    }
  } else {
    const r = plan.rate ?? 0;
    segments.push({ durationMillis: plan.durationMillis, startRate: r, endRate: r });
  }
  return segments;
}
