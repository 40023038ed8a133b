// Finds the highest arrival rate a target sustains within the SLO: a step-up phase that
// multiplies the rate while trials pass, then bisection between the best pass and the
// lowest failure. Each step is a short constant-rate trial run by an injected function, so
// the search is tested without timing and any driver (built-in, k6) can run the trials.
import { decodeHistogram } from '../contracts/histogram.ts';
import { type BuiltinLoadOptions, runBuiltinLoad } from './builtin.ts';
import { failureRate, type LoadSlo, PERCENTILE_VALUE, SLO_PERCENTILES, type SloPercentile } from './slo.ts';
import type { CapacitySearch, LoadPlan, LoadResult, SearchEnd, ThroughputStep } from './types.ts';

export interface MaxThroughputOptions {
  /** First rate tried, requests/s. */
  startRate: number;
  slo: LoadSlo;
  /** Runs one constant-rate trial at the given rate and returns its result. */
  runTrial: (rate: number) => Promise<LoadResult>;
  /** Rate multiplier of the step-up (and step-down) phase. Default 2. */
  stepFactor?: number;
  /** Bisection stops when (lowest failing - highest passing) / highest passing <= this. Default 0.05. */
  precision?: number;
  /** Most trials run in all. Default 10. */
  maxSteps?: number;
  /** Highest rate tried, requests/s. Default 1,000,000 (the API's bound). */
  maxRate?: number;
  /** Lowest rate tried when even the start rate fails. Default 1. */
  minRate?: number;
  /**
   * Times a trial the driver flagged as saturated is run again at the same rate before the
   * search gives up (a passing hiccup on a shared machine should not end it). Default 1.
   */
  retriesWhenUnreliable?: number;
  signal?: AbortSignal;
  /** Called after each step, for progress displays. Must not throw. */
  onStep?: (step: ThroughputStep) => void;
}

/** A search as callers get it: the contract's CapacitySearch plus the full result at capacity. */
export interface MaxThroughputResult extends CapacitySearch {
  /** The full result of the trial at `capacity`, for the report. */
  capacityResult?: LoadResult;
}

/** Pure: did a trial at `rate` meet the SLO, and if not why. */
export function judgeTrial(result: LoadResult, rate: number, slo: LoadSlo): ThroughputStep {
  const h = decodeHistogram(result.latencyHistogram);
  const latencyMillis = Object.fromEntries(
    SLO_PERCENTILES.map((k) => [k, h.totalCount === 0 ? 0 : h.getValueAtPercentile(PERCENTILE_VALUE[k]) / 1000]),
  ) as Record<SloPercentile, number>;
  const windowSeconds = Math.max(0.001, (result.endedAtMillis - result.startedAtMillis) / 1000);
  const step: ThroughputStep = {
    rate,
    passed: false,
    failureRate: failureRate(result),
    completedPerSecond: result.completed / windowSeconds,
    latencyMillis,
    unreliable: result.saturation.unreliable,
    startedAtMillis: result.startedAtMillis,
  };
  const reasons: string[] = [];
  if (result.saturation.unreliable) reasons.push(`load generator saturated: ${result.saturation.reason ?? ''}`);
  if (result.partial) reasons.push('trial was interrupted');
  if (result.scheduled === 0) reasons.push('no request was scheduled');
  if (step.failureRate > slo.errorRate) {
    reasons.push(`failure rate ${(step.failureRate * 100).toFixed(2)}% above ${(slo.errorRate * 100).toFixed(2)}%`);
  }
  for (const k of SLO_PERCENTILES) {
    const bound = slo.latencyMillis[k];
    if (bound !== undefined && latencyMillis[k] > bound) {
      reasons.push(`${k} ${latencyMillis[k].toFixed(1)} ms above ${bound} ms`);
    }
  }
  step.passed = reasons.length === 0;
  if (!step.passed) step.reason = reasons.join('; ');
  return step;
}

/**
 * Pure: the next rate to try given the best pass and lowest failure so far, or why to stop.
 * Rates are whole requests per second, as the API gives them.
 */
export function nextRate(
  state: { rate: number; highestPass: number; lowestFail: number },
  o: { stepFactor: number; precision: number; maxRate: number; minRate: number },
): number | SearchEnd {
  const { rate, highestPass, lowestFail } = state;
  if (lowestFail === Number.POSITIVE_INFINITY) {
    if (rate >= o.maxRate) return 'max-rate';
    return Math.min(o.maxRate, Math.max(rate + 1, Math.round(rate * o.stepFactor)));
  }
  if (highestPass === 0) {
    if (rate <= o.minRate) return 'min-rate';
    return Math.max(o.minRate, Math.min(rate - 1, Math.round(rate / o.stepFactor)));
  }
  if ((lowestFail - highestPass) / highestPass <= o.precision || lowestFail - highestPass <= 1) return 'converged';
  return Math.round((highestPass + lowestFail) / 2);
}

export async function findMaxThroughput(o: MaxThroughputOptions): Promise<MaxThroughputResult> {
  const limits = {
    stepFactor: o.stepFactor ?? 2,
    precision: o.precision ?? 0.05,
    maxRate: o.maxRate ?? 1_000_000,
    minRate: o.minRate ?? 1,
  };
  const maxSteps = o.maxSteps ?? 10;
  if (!(o.startRate >= 1)) throw new RangeError(`max-throughput: startRate ${o.startRate} must be 1 or more`);
  if (!(limits.stepFactor > 1)) throw new RangeError(`max-throughput: stepFactor ${limits.stepFactor} must be above 1`);
  if (!(limits.precision > 0)) throw new RangeError(`max-throughput: precision ${limits.precision} must be above 0`);

  const steps: ThroughputStep[] = [];
  let highestPass = 0;
  let lowestFail = Number.POSITIVE_INFINITY;
  let capacityResult: LoadResult | undefined;
  let rate = Math.min(limits.maxRate, Math.round(o.startRate));
  let end: SearchEnd = 'max-steps';
  const retries = o.retriesWhenUnreliable ?? 1;
  let retriesLeft = retries;
  while (steps.length < maxSteps) {
    if (o.signal?.aborted) {
      end = 'aborted';
      break;
    }
    const result = await o.runTrial(rate);
    const step = judgeTrial(result, rate, o.slo);
    steps.push(step);
    try {
      o.onStep?.(step);
    } catch {
      // A broken progress display must not break the search.
    }
    if (result.partial && o.signal?.aborted) {
      end = 'aborted';
      break;
    }
    // A saturated driver says nothing about the target: retry, then stop with capacity as a
    // lower bound (the best pass so far).
    if (step.unreliable) {
      if (retriesLeft-- > 0) continue;
      end = 'driver-saturated';
      break;
    }
    retriesLeft = retries;
    if (step.passed && rate > highestPass) {
      highestPass = rate;
      capacityResult = result;
    }
    if (!step.passed) lowestFail = Math.min(lowestFail, rate);
    const next = nextRate({ rate, highestPass, lowestFail }, limits);
    if (typeof next === 'string') {
      end = next;
      break;
    }
    rate = next;
  }
  return {
    capacity: highestPass,
    end,
    ...(lowestFail !== Number.POSITIVE_INFINITY ? { lowestFailingRate: lowestFail } : {}),
    steps,
    ...(capacityResult ? { capacityResult } : {}),
  };
}

/** The plan of one search step: the base plan at a constant rate (stages dropped). */
export function constantRatePlan(base: LoadPlan, rate: number): LoadPlan {
  const { stages: _stages, startRate: _startRate, ...rest } = base;
  return { ...rest, rate };
}

/** A trial runner on the built-in driver; each step gets its own warm-up from the base plan. */
export function builtinTrialRunner(
  base: LoadPlan,
  options?: BuiltinLoadOptions,
): (rate: number) => Promise<LoadResult> {
  return (rate) => runBuiltinLoad(constantRatePlan(base, rate), options);
}
