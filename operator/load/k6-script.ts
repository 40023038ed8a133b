// Generates a k6 script (JavaScript text) from a LoadPlan and the SLO. k6 is AGPL and runs
// only as an external program (k6-runner.ts); this module writes text and never imports it.
//
// The script mirrors the built-in driver as closely as k6 allows:
// - open model: a `warmup` constant-arrival-rate scenario, then a `measure` scenario
//   (constant- or ramping-arrival-rate) starting when the warm-up ends;
// - maxVUs = maxInFlight, since a k6 VU holds one request at a time: an iteration due with no
//   free VU is counted in dropped_iterations, exactly our `dropped`;
// - thresholds from the SLO on the measured scenario's successful requests; submetrics on
//   the `measure` scenario also make the summary report measured figures apart from warm-up;
// - every target of the plan: iteration n of a scenario (exec.scenario.iterationInTest, unique
//   across k6 instances) goes to targets[n % targets.length], the built-in driver's
//   round-robin, and each request carries a `target` tag (its index), so per-sample output
//   gives per-target counts and exact merges;
// - a W3C traceparent header per request, so workload spans can be joined to requests;
// - per-kind error counters (conclab_errors_*) from k6's error codes, recorded only while
//   measuring;
// - handleSummary writes the summary data as JSON to a given path.
// Unlike the built-in driver, k6 times http_req_duration from the actual send, not the
// intended time; with enough VUs the two coincide, and a lack of VUs shows as drops.

import { warmUpRate } from './schedule.ts';
import type { LoadSlo, SloPercentile } from './slo.ts';
import { PERCENTILE_VALUE, SLO_PERCENTILES } from './slo.ts';
import type { ErrorKind, LoadPlan } from './types.ts';

/** Tag naming the index of the target (in plan.targets) a request went to. */
export const TARGET_TAG = 'target';

export const MEASURE_SCENARIO = 'measure';
export const WARMUP_SCENARIO = 'warmup';
/** Trend stats asked of k6, enough to rebuild a histogram of the main percentiles. */
export const SUMMARY_TREND_STATS = ['min', 'med', 'avg', 'max', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'count'];
export const ERROR_KINDS: readonly ErrorKind[] = ['refused', 'reset', 'timeout', 'http4xx', 'http5xx', 'other'];

/** Submetric names the summary parser reads; thresholds create them in k6's summary. */
export const METRIC = {
  duration: `http_req_duration{scenario:${MEASURE_SCENARIO},expected_response:true}`,
  failed: `http_req_failed{scenario:${MEASURE_SCENARIO}}`,
  reqs: `http_reqs{scenario:${MEASURE_SCENARIO}}`,
  dropped: `dropped_iterations{scenario:${MEASURE_SCENARIO}}`,
  errorCounter: (kind: ErrorKind) => `conclab_errors_${kind}`,
} as const;

export interface K6ScriptOptions {
  slo: LoadSlo;
  /** Where handleSummary writes the summary JSON (a path k6 can write). */
  summaryPath: string;
  /**
   * Share of requests whose traceparent is marked sampled (spec.tracing.sampleRatio). The
   * workloads' samplers follow a parent's decision, so marking every request sampled would
   * trace 100% under k6 and only the ratio under the built-in driver. Default 0.1, the API's.
   */
  sampleRatio?: number;
}

export const DEFAULT_SAMPLE_RATIO = 0.1;

const ms = (millis: number) => `${Math.round(millis)}ms`;

/**
 * k6 wants whole iterations per timeUnit; fractional rates get a longer unit (2.5/s becomes
 * 25 per 10s). Returns the multiplier applied to every rate of the plan.
 */
export function rateScale(rates: readonly number[]): number {
  for (const m of [1, 10, 100, 1000]) {
    if (rates.every((r) => Number.isInteger(Math.round(r * m * 1e6) / 1e6))) return m;
  }
  return 1000;
}

/** VUs allocated up front: enough for 100 ms of latency at the peak rate, within the cap. */
export function preAllocatedVUs(peakRate: number, maxInFlight: number): number {
  return Math.max(1, Math.min(maxInFlight, Math.ceil(peakRate / 10)));
}

/** The k6 `options` object for a plan (pure; what the script embeds as JSON). */
export function k6Options(plan: LoadPlan, slo: LoadSlo) {
  const rates = plan.stages ? [plan.startRate ?? 0, ...plan.stages.map((s) => s.targetRate)] : [plan.rate ?? 0];
  const warmRate = warmUpRate(plan);
  const scale = rateScale([...rates, warmRate]);
  const timeUnit = `${scale}s`;
  const scaled = (r: number) => Math.round(r * scale);
  const peak = Math.max(...rates, warmRate);
  const vus = { preAllocatedVUs: preAllocatedVUs(peak, plan.maxInFlight), maxVUs: plan.maxInFlight };
  // Iterations still running when a scenario ends may finish within the request timeout.
  const gracefulStop = ms(plan.timeoutMillis);

  const measure = plan.stages
    ? {
        executor: 'ramping-arrival-rate' as const,
        startRate: scaled(plan.startRate ?? 0),
        timeUnit,
        stages: plan.stages.map((s) => ({ duration: ms(s.durationMillis), target: scaled(s.targetRate) })),
        ...vus,
      }
    : {
        executor: 'constant-arrival-rate' as const,
        rate: scaled(plan.rate ?? 0),
        timeUnit,
        duration: ms(plan.durationMillis),
        ...vus,
      };
  const scenarios: Record<string, object> = {};
  if (plan.warmUpMillis > 0 && warmRate > 0) {
    scenarios[WARMUP_SCENARIO] = {
      executor: 'constant-arrival-rate' as const,
      rate: scaled(warmRate),
      timeUnit,
      duration: ms(plan.warmUpMillis),
      ...vus,
      exec: WARMUP_SCENARIO,
      gracefulStop,
    };
  }
  scenarios[MEASURE_SCENARIO] = {
    ...measure,
    startTime: ms(plan.warmUpMillis),
    exec: MEASURE_SCENARIO,
    gracefulStop,
  };

  const latencyThresholds = SLO_PERCENTILES.filter((k) => slo.latencyMillis[k] !== undefined).map(
    (k: SloPercentile) => `p(${PERCENTILE_VALUE[k]})<${slo.latencyMillis[k]}`,
  );
  const thresholds: Record<string, string[]> = {
    // Always present, so the summary carries the measured scenario's successful latency.
    [METRIC.duration]: latencyThresholds.length > 0 ? latencyThresholds : ['max>=0'],
    [METRIC.failed]: [`rate<=${slo.errorRate}`],
    [METRIC.reqs]: ['count>=0'],
    [METRIC.dropped]: ['count>=0'],
  };
  return {
    scenarios,
    thresholds,
    summaryTrendStats: SUMMARY_TREND_STATS,
    discardResponseBodies: true,
  };
}

/** The whole k6 script: options, the request with its traceparent, error counters, summary. */
export function generateK6Script(plan: LoadPlan, o: K6ScriptOptions): string {
  const options = k6Options(plan, o.slo);
  const sampleRatio = o.sampleRatio ?? DEFAULT_SAMPLE_RATIO;
  if (!(sampleRatio >= 0 && sampleRatio <= 1)) {
    throw new RangeError(`sampleRatio ${sampleRatio} must be between 0 and 1 (spec.tracing.sampleRatio)`);
  }
  const counters = ERROR_KINDS.map(
    (k) => `  ${JSON.stringify(k)}: new Counter(${JSON.stringify(METRIC.errorCounter(k))}),`,
  ).join('\n');
  return `// @ts-check
// Generated by conclab from a LoadPlan; regenerated on every run, do not edit.
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';

/** @type {import('k6/options').Options} */
export const options = ${JSON.stringify(options, null, 2)};

/** Every replica's work URL; iteration n of a scenario goes to TARGETS[n % TARGETS.length]. */
const TARGETS = ${JSON.stringify(plan.targets)};
const HEADERS = ${JSON.stringify(plan.headers ?? {})};
const TIMEOUT = ${JSON.stringify(ms(plan.timeoutMillis))};
const SUMMARY_PATH = ${JSON.stringify(o.summaryPath)};
const SAMPLE_RATIO = ${JSON.stringify(sampleRatio)};

/** @type {Record<string, Counter>} */
const errorCounters = {
${counters}
};

const HEX = '0123456789abcdef';
/** @param {number} digits */
function randomHex(digits) {
  let s = '';
  for (let i = 0; i < digits; i++) s += HEX[Math.floor(Math.random() * 16)];
  return s;
}

/**
 * A W3C trace context header (version 00), marked sampled for SAMPLE_RATIO of requests so the
 * workloads trace the configured share; all-zero ids are invalid, so redraw.
 */
function traceparent() {
  let traceId = randomHex(32);
  while (/^0+$/.test(traceId)) traceId = randomHex(32);
  let spanId = randomHex(16);
  while (/^0+$/.test(spanId)) spanId = randomHex(16);
  return '00-' + traceId + '-' + spanId + (Math.random() < SAMPLE_RATIO ? '-01' : '-00');
}

/**
 * The error kind of a response, as conclab's built-in driver classifies it; k6 error codes:
 * 1050 request timeout, 1211 dial timeout, 1212 connection refused, 1201 broken pipe,
 * 1220 reset by peer.
 * @param {import('k6/http').RefinedResponse<any>} res
 * @returns {string | undefined}
 */
function errorKind(res) {
  if (res.status >= 500 && res.status <= 599) return 'http5xx';
  if (res.status >= 400 && res.status <= 499) return 'http4xx';
  if (res.status >= 100 && res.status <= 399 && !res.error_code) return undefined;
  switch (res.error_code) {
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

/** @param {boolean} measured */
function hit(measured) {
  const index = exec.scenario.iterationInTest % TARGETS.length;
  const res = http.get(TARGETS[index] ?? TARGETS[0], {
    headers: Object.assign({ traceparent: traceparent() }, HEADERS),
    timeout: TIMEOUT,
    tags: { ${TARGET_TAG}: String(index) },
  });
  if (!measured) return;
  const kind = errorKind(res);
  if (kind !== undefined) errorCounters[kind]?.add(1);
}

export function ${WARMUP_SCENARIO}() {
  hit(false);
}

export function ${MEASURE_SCENARIO}() {
  hit(true);
}

/** @param {Record<string, unknown>} data */
export function handleSummary(data) {
  return { [SUMMARY_PATH]: JSON.stringify(data) };
}
`;
}
