// Regression detection across the runs of a scheduled experiment: did this run get worse than
// the runs before it, beyond what noise explains? Pure: figures of earlier runs and of this
// run in, a decision with its reasons and numbers out, worded for a Kubernetes Event.
//
// A figure (capacity, throughput, p99 per variant) is judged against a baseline pooled from
// the previous runs:
//
// - Baseline: the trials of the previous runs (up to `baselineRuns`, most recent first) pooled
//   as one sample. Its mean is the trial-weighted mean of the run means; its variance counts
//   both the spread within runs and between them,
//     s² = (Σ (n_j − 1) s_j² + Σ n_j (m_j − M)²) / (N − 1),
//   so a machine whose runs drift widens its own baseline. Its interval is M ± t(N−1) s/√N. A
//   run's s_j is its sd when given, else recovered from its t interval (sd = half √n / t).
// - Range of the previous runs: the pooled interval, widened to take in every previous run's
//   own interval. Drift between runs is noise too: a run that falls where an earlier run's
//   interval reached is not an alert, even when the pooled interval (which narrows as √N with
//   history) excludes it.
// - The new run's interval: its own t interval over its trials (from sd or ci).
// - Regressed: the new mean lies outside the pooled interval, AND the new interval does not
//   overlap the range of the previous runs, AND the change is at least minChangePercent (5%)
//   of the pooled mean, in the worse direction (capacity and throughput down, p99 up). The
//   same in the better direction is "improved" and raises nothing. Otherwise "within-noise".
//   With no interval on the new side (one trial), or no spread in the previous runs, the
//   figure is "not-assessable", never an alert. A run with no figure judged at all (no
//   variant in common, one trial, client-side figures withheld) is "not-judged": neither
//   within range nor back in range, and it neither raises nor clears a regression.
// - Verdict flipped: this run names a significant winner and the most recent baseline run
//   that named one named another. Losing significance is not a flip.
//
// The latest runs that regressed themselves (each judged the same way against the runs before
// it), with no run back in range since, are left out of the baseline: a run that is still
// bad is not "back in range" merely because the bad run before it lowered the bar. Once a
// run is back in range, the earlier excursion rejoins the baseline as observed variation; a
// not-judged run in between changes nothing.
// `cleared`: the previous run regressed and this one does not. A shift that persists longer
// than the history holds becomes the baseline once the older runs have left the history; the
// status then returns to ok.

import { studentTQuantile } from './stats.ts';
import { formatWithUncertainty } from './usl.ts';

export interface RunFigure {
  /** Mean over the run's trials. */
  mean: number;
  /** Trials behind the mean. */
  n: number;
  /** Sample standard deviation over the trials, when known (preferred over ci). */
  sd?: number | undefined;
  /** t confidence interval of the mean, as the report gives it, when sd is not given. */
  ci?: { lower: number; upper: number; level: number } | undefined;
}

export const REGRESSION_FIGURES = ['capacity', 'throughput', 'p99Millis'] as const;
export type RegressionFigure = (typeof REGRESSION_FIGURES)[number];

export interface RunVariantFigures {
  name: string;
  /** Capacity within the SLO (max-throughput), req/s. */
  capacity?: RunFigure | undefined;
  /** Completed requests per second, req/s. */
  throughput?: RunFigure | undefined;
  /** p99 latency per trial, its mean, ms. */
  p99Millis?: RunFigure | undefined;
}

export interface RunFigures {
  /** Identifies the run, e.g. its start time (RFC 3339). */
  run: string;
  /** The significant throughput winner of that run; undefined when there was none. */
  winner?: string | undefined;
  variants: RunVariantFigures[];
  /** What this run's figures leave out and why (e.g. trials with a saturated load generator), for the message. */
  note?: string | undefined;
}

export interface RegressionOptions {
  /** Confidence level of the intervals; 0.95. */
  level?: number;
  /** Smallest change, in percent of the baseline mean, that counts; 5. */
  minChangePercent?: number;
  /** Previous runs pooled into the baseline, most recent first; 5. */
  baselineRuns?: number;
  /**
   * Whether the previous run was found regressed, as the caller recorded it (its condition or
   * Event). Recomputed from the history when omitted.
   */
  previouslyRegressed?: boolean;
}

export type FigureVerdict = 'regressed' | 'improved' | 'within-noise' | 'not-assessable';

export interface FigureFinding {
  variant: string;
  figure: RegressionFigure;
  verdict: FigureVerdict;
  now: { mean: number; lower: number | undefined; upper: number | undefined; n: number };
  /** Pooled previous runs: mean, its interval, the range their own intervals reached, runs and trials. */
  baseline:
    | {
        mean: number;
        lower: number;
        upper: number;
        rangeLower: number;
        rangeUpper: number;
        runs: number;
        trials: number;
      }
    | undefined;
  /** (now − baseline) / baseline, percent. */
  changePercent: number | undefined;
  /** "variant threads: capacity 412 req/s, previous 530 ± 25 req/s (-22%)", or why not judged. */
  message: string;
}

export type RegressionStatus = 'no-history' | 'ok' | 'regressed' | 'cleared' | 'not-judged';

export interface RegressionResult {
  status: RegressionStatus;
  regressed: boolean;
  cleared: boolean;
  /** Runs pooled into the baseline, newest first. */
  baselineRuns: string[];
  /** The latest runs left out of the baseline: they regressed and nothing has cleared since. */
  excludedRuns: string[];
  winner: { now: string | undefined; previous: string | undefined; flipped: boolean };
  findings: FigureFinding[];
  /** What makes the run regressed (or, when cleared, what came back), one sentence each. */
  reasons: string[];
  /** For a Kubernetes Event: the reasons joined, at most EVENT_MESSAGE_LIMIT characters. */
  message: string;
}

/** events.k8s.io/v1 Event `note` holds at most 1 kB. */
export const EVENT_MESSAGE_LIMIT = 1024;

const LABEL: Record<RegressionFigure, { name: string; unit: string; higherIsBetter: boolean }> = {
  capacity: { name: 'capacity', unit: 'req/s', higherIsBetter: true },
  throughput: { name: 'throughput', unit: 'req/s', higherIsBetter: true },
  p99Millis: { name: 'p99', unit: 'ms', higherIsBetter: false },
};

// ---------------------------------------------------------------------------------------

function validateFigure(f: RunFigure, at: string): void {
  const fail = (problem: string) => {
    throw new RangeError(`detectRegression: ${at}${problem}`);
  };
  if (!Number.isFinite(f.mean)) fail(`.mean must be a finite number, got ${f.mean}`);
  if (!(Number.isInteger(f.n) && f.n >= 1)) fail(`.n must be the number of trials (>= 1), got ${f.n}`);
  if (f.sd !== undefined && !(Number.isFinite(f.sd) && f.sd >= 0)) fail(`.sd must be >= 0, got ${f.sd}`);
  if (f.ci !== undefined) {
    if (!(f.ci.lower <= f.ci.upper)) fail(`.ci must have lower <= upper, got ${f.ci.lower} .. ${f.ci.upper}`);
    if (!(f.ci.level > 0 && f.ci.level < 1)) fail(`.ci.level must be within (0, 1), got ${f.ci.level}`);
  }
}

function validateRun(r: RunFigures, at: string): void {
  if (typeof r.run !== 'string' || r.run === '') throw new RangeError(`detectRegression: ${at}.run must name the run`);
  r.variants.forEach((v, i) => {
    for (const k of REGRESSION_FIGURES) {
      const f = v[k];
      if (f !== undefined) validateFigure(f, `${at}.variants[${i}].${k}`);
    }
  });
}

/** A run's trial sd: given, or recovered from its t interval; undefined with one trial. */
function sdOf(f: RunFigure): number | undefined {
  if (f.n < 2) return undefined;
  if (f.sd !== undefined) return f.sd;
  if (f.ci === undefined) return undefined;
  const half = (f.ci.upper - f.ci.lower) / 2;
  return (half * Math.sqrt(f.n)) / studentTQuantile(1 - (1 - f.ci.level) / 2, f.n - 1);
}

function intervalOf(f: RunFigure, level: number): { lower: number; upper: number } | undefined {
  const sd = sdOf(f);
  if (sd === undefined) return undefined;
  const half = (studentTQuantile(1 - (1 - level) / 2, f.n - 1) * sd) / Math.sqrt(f.n);
  return { lower: f.mean - half, upper: f.mean + half };
}

interface Baseline {
  mean: number;
  lower: number;
  upper: number;
  /** The pooled interval widened to every previous run's own interval. */
  rangeLower: number;
  rangeUpper: number;
  runs: number;
  trials: number;
}

function pool(figures: readonly RunFigure[], level: number): Baseline | undefined {
  const trials = figures.reduce((s, f) => s + f.n, 0);
  if (figures.length === 0 || trials < 2) return undefined;
  const m = figures.reduce((s, f) => s + f.n * f.mean, 0) / trials;
  let ss = 0;
  for (const f of figures) {
    const sd = sdOf(f);
    // A run of several trials without any spread figure cannot be pooled honestly.
    if (f.n >= 2 && sd === undefined) return undefined;
    ss += (f.n - 1) * (sd ?? 0) ** 2 + f.n * (f.mean - m) ** 2;
  }
  const s = Math.sqrt(ss / (trials - 1));
  const half = (studentTQuantile(1 - (1 - level) / 2, trials - 1) * s) / Math.sqrt(trials);
  const own = figures.map((f) => intervalOf(f, level) ?? { lower: f.mean, upper: f.mean });
  return {
    mean: m,
    lower: m - half,
    upper: m + half,
    rangeLower: Math.min(m - half, ...own.map((i) => i.lower)),
    rangeUpper: Math.max(m + half, ...own.map((i) => i.upper)),
    runs: figures.length,
    trials,
  };
}

function value(v: number): string {
  return Math.abs(v) >= 100 ? String(Math.round(v)) : String(Number(v.toPrecision(3)));
}

function signedPercent(p: number): string {
  const shown = Math.abs(p) < 1 ? Number(Math.abs(p).toFixed(1)) : Math.round(Math.abs(p));
  return shown === 0 ? '0%' : `${p > 0 ? '+' : '-'}${shown}%`;
}

function judgeFigure(
  variant: string,
  figure: RegressionFigure,
  now: RunFigure,
  previous: readonly RunFigure[],
  level: number,
  minChangePercent: number,
): FigureFinding {
  const label = LABEL[figure];
  const interval = intervalOf(now, level);
  const base = pool(previous, level);
  const head = `variant ${variant}: ${label.name} ${value(now.mean)} ${label.unit}`;
  const nowOut = { mean: now.mean, lower: interval?.lower, upper: interval?.upper, n: now.n };
  if (base === undefined) {
    return {
      variant,
      figure,
      verdict: 'not-assessable',
      now: nowOut,
      baseline: undefined,
      changePercent: undefined,
      message: `${head}: the previous runs give no spread to judge it against (one trial in all, or no sd or interval)`,
    };
  }
  const changePercent = base.mean === 0 ? undefined : ((now.mean - base.mean) / Math.abs(base.mean)) * 100;
  const widened = base.rangeLower < base.lower || base.rangeUpper > base.upper;
  const previousText = `previous ${formatWithUncertainty(base.mean, base.upper - base.mean)} ${label.unit}${widened ? ` (runs reached ${value(base.rangeLower)}–${value(base.rangeUpper)})` : ''}`;
  const change = changePercent === undefined ? '' : ` (${signedPercent(changePercent)})`;
  const common = { variant, figure, now: nowOut, baseline: base, changePercent };
  if (interval === undefined) {
    return {
      ...common,
      verdict: 'not-assessable',
      message: `${head}, ${previousText}${change}: one trial has no interval, so it is not judged`,
    };
  }
  const outside = now.mean < base.lower || now.mean > base.upper;
  const separate = interval.upper < base.rangeLower || interval.lower > base.rangeUpper;
  const large = changePercent === undefined ? now.mean !== base.mean : Math.abs(changePercent) >= minChangePercent;
  const worse = label.higherIsBetter ? now.mean < base.mean : now.mean > base.mean;
  const verdict: FigureVerdict = outside && separate && large ? (worse ? 'regressed' : 'improved') : 'within-noise';
  return { ...common, verdict, message: `${head}, ${previousText}${change}` };
}

interface Judgement {
  status: 'no-history' | 'ok' | 'regressed' | 'not-judged';
  findings: FigureFinding[];
  baselineRuns: RunFigures[];
  previousWinner: string | undefined;
  flipped: boolean;
}

/** One run against the runs before it (`earlier`: oldest first, their own judgements known). */
function judge(
  run: RunFigures,
  baselinePool: readonly RunFigures[],
  level: number,
  minChangePercent: number,
  baselineRuns: number,
): Judgement {
  const baseline = baselinePool.slice(-baselineRuns).reverse();
  if (baseline.length === 0)
    return { status: 'no-history', findings: [], baselineRuns: [], previousWinner: undefined, flipped: false };
  const findings: FigureFinding[] = [];
  for (const v of run.variants) {
    for (const figure of REGRESSION_FIGURES) {
      const now = v[figure];
      if (now === undefined) continue;
      const previous = baseline.flatMap((r) => {
        const f = r.variants.find((x) => x.name === v.name)?.[figure];
        return f === undefined ? [] : [f];
      });
      if (previous.length === 0) continue;
      findings.push(judgeFigure(v.name, figure, now, previous, level, minChangePercent));
    }
  }
  const previousWinner = baseline.find((r) => r.winner !== undefined)?.winner;
  const flipped = run.winner !== undefined && previousWinner !== undefined && run.winner !== previousWinner;
  const regressed = flipped || findings.some((f) => f.verdict === 'regressed');
  const judged = flipped || findings.some((f) => f.verdict !== 'not-assessable');
  return {
    status: regressed ? 'regressed' : judged ? 'ok' : 'not-judged',
    findings,
    baselineRuns: baseline,
    previousWinner,
    flipped,
  };
}

function cap(message: string): string {
  return message.length <= EVENT_MESSAGE_LIMIT ? message : `${message.slice(0, EVENT_MESSAGE_LIMIT - 1)}…`;
}

/**
 * Whether `current` regressed against `history` (previous runs, newest first, as
 * status.history keeps them; pass only runs that finished). See the module comment.
 */
export function detectRegression(
  history: readonly RunFigures[],
  current: RunFigures,
  options: RegressionOptions = {},
): RegressionResult {
  const level = options.level ?? 0.95;
  if (!(level > 0 && level < 1)) throw new RangeError(`detectRegression: level must be within (0, 1), got ${level}`);
  const minChangePercent = options.minChangePercent ?? 5;
  if (!(Number.isFinite(minChangePercent) && minChangePercent >= 0)) {
    throw new RangeError(`detectRegression: minChangePercent must be >= 0, got ${minChangePercent}`);
  }
  const baselineRuns = options.baselineRuns ?? 5;
  if (!(Number.isInteger(baselineRuns) && baselineRuns >= 1)) {
    throw new RangeError(`detectRegression: baselineRuns must be a whole number >= 1, got ${baselineRuns}`);
  }
  history.forEach((r, i) => {
    validateRun(r, `history[${i}]`);
  });
  validateRun(current, 'current');

  // Replay the history oldest first. A run's baseline is every run before it except the
  // regressed runs at the end (those not yet followed by a run back in range): a regression
  // that has cleared was an excursion and rejoins the baseline as observed variation.
  const replayed: { run: RunFigures; regressed: boolean }[] = [];
  const baselineBefore = () => {
    let end = replayed.length;
    while (end > 0 && replayed[end - 1]?.regressed) end--;
    return {
      pool: replayed.slice(0, end).map((r) => r.run),
      excluded: replayed.slice(end).map((r) => r.run),
    };
  };
  let previous: Judgement | undefined;
  // A not-judged run carries the state before it: it shows neither a regression nor a return.
  const lastRegressed = () => replayed[replayed.length - 1]?.regressed ?? false;
  for (const run of [...history].reverse()) {
    previous = judge(run, baselineBefore().pool, level, minChangePercent, baselineRuns);
    const regressed = previous.status === 'regressed' || (previous.status === 'not-judged' && lastRegressed());
    replayed.push({ run, regressed });
  }
  const { pool: good, excluded } = baselineBefore();
  const now = judge(current, good, level, minChangePercent, baselineRuns);
  const previouslyRegressed = options.previouslyRegressed ?? lastRegressed();

  const regressed = now.status === 'regressed';
  const cleared = !regressed && now.status === 'ok' && previouslyRegressed;
  const status: RegressionStatus = regressed ? 'regressed' : cleared ? 'cleared' : now.status;
  const reasons: string[] = [];
  if (now.flipped) reasons.push(`winner flipped: ${current.winner}, previously ${now.previousWinner}`);
  for (const f of now.findings) if (f.verdict === 'regressed') reasons.push(f.message);
  if (cleared) {
    // Name what came back: the figures that regressed in the previous run, where known.
    const before = new Set(
      (previous?.findings ?? []).filter((f) => f.verdict === 'regressed').map((f) => `${f.variant}/${f.figure}`),
    );
    const back = now.findings.filter((f) => before.has(`${f.variant}/${f.figure}`));
    reasons.push(
      `back in range${back.length > 0 ? `: ${back.map((f) => f.message).join('; ')}` : ': no figure is beyond the previous runs'}`,
    );
  }
  const unjudged = now.findings.filter((f) => f.verdict === 'not-assessable').map((f) => f.message);
  const judged =
    status === 'no-history'
      ? 'no previous run to compare with'
      : status === 'not-judged'
        ? `not judged against the previous ${now.baselineRuns.length} run(s): ${unjudged.length > 0 ? unjudged.join('; ') : 'no figure of this run has a counterpart in them'}`
        : reasons.length > 0
          ? reasons.join('; ')
          : `within the range of the previous ${now.baselineRuns.length} run(s)${unjudged.length > 0 ? `; not judged: ${unjudged.join('; ')}` : ''}`;
  const message = current.note ? `${judged}; ${current.note}` : judged;
  return {
    status,
    regressed,
    cleared,
    baselineRuns: now.baselineRuns.map((r) => r.run),
    excludedRuns: excluded.map((r) => r.run).reverse(),
    winner: { now: current.winner, previous: now.previousWinner, flipped: now.flipped },
    findings: now.findings,
    reasons,
    message: cap(message),
  };
}
