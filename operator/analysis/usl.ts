// The Universal Scalability Law (Gunther): throughput at concurrency N,
//
//   X(N) = γN / (1 + α(N−1) + βN(N−1))
//
// with γ the throughput of one worker, α contention (the share of the work that serialises:
// a lock, a GIL, one shared acceptor) and β coherency (the cost of keeping shared state
// consistent between every pair of workers: cache lines, IPC, duplicated data). Fitted per
// concurrency model by weighted nonlinear least squares, so a report can say where each
// model stops scaling and why, in numbers.
//
// Written out rather than taken from an npm package: the packages found do Levenberg–Marquardt
// without the covariance matrix, the weights or the bounds this needs, and a 3-parameter fit
// with 3×3 algebra is small. The method follows the R package `usl` (Stefan Möding), whose
// published fits the tests reproduce:
//
// - Parameters: α in [0, 1], β >= 0, γ > 0 (as `usl`'s bounded nls/nlxb). Levenberg–Marquardt
//   with Marquardt's diagonal scaling; a parameter at a bound is held there while the
//   gradient pushes outward. Started from Gunther's linearised fit (linearizedUsl), from
//   `usl`'s default start and from a contention-only guess; the lowest residual sum wins.
// - Standard errors: sqrt(diag(σ² (JᵀWJ)⁻¹)) with σ² = RSS/(n−p), p the parameters fitted
//   (one at a bound counts, as in `usl`). A parameter at a bound is held there for the others'
//   SEs (that is the model fitted); its own SE is the one it would have if free, which is what
//   `usl` prints (`covarianceIfFree` has `usl`'s full matrix). Intervals are estimate ±
//   t(n−p, two-sided) × SE, not clipped at a bound. (`usl`'s confint uses qt(level, n − 1), a
//   one-sided quantile: its intervals are narrower than these.)
// - Points: each trial may be its own point (repeated N are welcome: they measure noise), or a
//   mean per N with a weight (e.g. its number of trials, or 1/variance).
//
// When the data cannot carry the parameters the result is `fittable: false` with the reason,
// never numbers that only look like an answer:
// - too-few-points: fewer distinct N than fitted parameters + 1: 4 with γ fitted; 3 with γ
//   taken from N = 1 (gamma: "from-n1"), N = 1 among them (γ is then fixed from data, and the
//   SEs of α and β take it as known).
// - not-identifiable: JᵀWJ is numerically singular at the solution.
// - flat: the fit explains no more than a constant throughput does (F test against the
//   constant model, p >= flatAlpha, 0.05 by default): no scaling signal at this noise to
//   attribute to α or β. A GIL-bound thread model with flat throughput ends here, and the
//   message says throughput does not change with N.
// - too-uncertain: a parameter inside its bounds has a standard error above
//   maxRelativeStandardError (0.5 by default) times its value: at the 1..10 residual degrees of
//   freedom of these experiments its 95% interval then spans zero, so the data do not say
//   whether the effect exists. Exempt: α or β too small to matter, whose value + SE moves the
//   predicted throughput at the largest measured N by at most negligibleEffect (5%).
//   Before answering so for α or β, the fit is repeated without it (held at 0) when that fit
//   is not significantly worse (partial F test at flatAlpha); when both could go, β goes (β = 0
//   predicts no peak, and a peak needs evidence). The parameter is then `pinned`, with the
//   estimate and SE it had. Only when neither can go (the data need both but cannot separate
//   them), or γ is the uncertain one, is the answer "too-uncertain". pinUndetermined: false
//   turns this off.

import { type Interval, incompleteBeta, studentTQuantile } from './stats.ts';

export type UslParameter = 'alpha' | 'beta' | 'gamma';

export interface UslCoefficients {
  alpha: number;
  beta: number;
  gamma: number;
}

export interface UslPoint {
  /** Concurrency (workers); N > 0, need not be whole (e.g. average active sessions). */
  n: number;
  /** Measured throughput at N, in any unit (the fit's γ is in the same unit). */
  throughput: number;
  /** Weight in the least squares: e.g. the trials a mean stands for, or 1/variance; 1 by default. */
  weight?: number;
}

export interface UslOptions {
  /**
   * "fit" (default): γ is fitted with α and β (Gunther's three-parameter USL). "from-n1": γ is
   * the weighted mean throughput measured at N = 1, and only α and β are fitted; their
   * standard errors then take γ as known.
   */
  gamma?: 'fit' | 'from-n1';
  /** Confidence level of the intervals; 0.95 by default. */
  level?: number;
  /** Largest standard error a parameter inside its bounds may have, relative to its value; 0.5. */
  maxRelativeStandardError?: number;
  /** Effect on X at the largest measured N below which α or β counts as ≈ 0; 0.05 (5%). */
  negligibleEffect?: number;
  /** Significance level of the F test against a constant throughput; 0.05. */
  flatAlpha?: number;
  /**
   * When α or β is undetermined (see maxRelativeStandardError), fit again without it (held at 0)
   * and report it in `pinned`, instead of answering "too-uncertain"; true by default.
   */
  pinUndetermined?: boolean;
  /** Predicted curve: up to maxN (2 × the largest measured N by default), at most `points` N (65). */
  curve?: { maxN?: number; points?: number };
}

export interface UslEstimate {
  value: number;
  /**
   * From `covariance` (the fitted model); for a parameter at a bound, from `covarianceIfFree`
   * (how far it could move were it free). 0 when pinned; NaN without residual degrees of freedom.
   */
  standardError: number;
  /** value ± t(df) × standardError at the requested level. */
  ci: Interval & { level: number };
  /** The value sits on a bound of the fit (α = 0 or 1, β = 0): the data pushed it there. */
  atBound: 'lower' | 'upper' | undefined;
  /** γ taken from the N = 1 measurements rather than fitted. */
  fixed: boolean;
  /** Held at 0 because the data could not tell it from 0 (see UslFit.pinned); SE and interval are 0. */
  pinned: boolean;
}

export type UslPeak =
  | {
      kind: 'finite';
      /** N* = sqrt((1 − α)/β), at least 1. */
      n: number;
      /** Standard error of N* by the delta method. */
      nStandardError: number;
      /** Predicted X(N*). */
      throughput: number;
      /** N* lies beyond the largest measured N: an extrapolation. */
      beyondMeasured: boolean;
    }
  | {
      kind: 'none';
      /** Why there is no finite peak. */
      reason: string;
      /** What X approaches as N grows: γ/α, or Infinity when α = 0 too. */
      asymptote: number;
    };

export interface UslCurvePoint {
  n: number;
  throughput: number;
  /** Confidence band of the fitted mean (delta method), at the fit's level. */
  lower: number;
  upper: number;
}

export interface UslFit {
  fittable: true;
  method: 'three-parameter' | 'gamma-from-n1';
  alpha: UslEstimate;
  beta: UslEstimate;
  gamma: UslEstimate;
  /**
   * α or β held at 0 because the full fit could not tell it from 0: its estimate and standard
   * error there. The fit reported is the reduced one (β pinned: Amdahl's law).
   */
  pinned: { parameter: UslParameter; estimate: number; standardError: number }[];
  /**
   * Covariance of (α, β, γ) of the model fitted: parameters pinned or at a bound are held there
   * (their rows and columns are zero); with γ fixed its variance is that of the N = 1 mean. The
   * SEs of free parameters, the curve's band and N*'s error come from it.
   */
  covariance: number[][];
  /**
   * The same with parameters at a bound treated as free (R usl's standard errors): wider where a
   * bound parameter trades off with the others. Pinned parameters stay zero.
   */
  covarianceIfFree: number[][];
  points: number;
  distinctN: number[];
  degreesOfFreedom: number;
  /** Weighted residual sum of squares. */
  rss: number;
  residualStandardError: number;
  /** 1 − RSS / weighted total sum of squares. */
  rSquared: number;
  residuals: { n: number; throughput: number; predicted: number; residual: number }[];
  peak: UslPeak;
  /** γ/α: the Amdahl asymptote, throughput's limit without coherency cost; Infinity when α = 0. */
  limit: number;
  /** p of the F test against a constant throughput (small: the data do scale). */
  flatnessPValue: number;
  curve: UslCurvePoint[];
  iterations: number;
}

export type UslNotFittableReason = 'too-few-points' | 'not-identifiable' | 'flat' | 'too-uncertain';

export interface UslNotFittable {
  fittable: false;
  reason: UslNotFittableReason;
  /** What is wrong and what would help, for people. */
  message: string;
  points: number;
  distinctN: number[];
}

export type UslResult = UslFit | UslNotFittable;

/** X(N) under the USL. */
export function uslThroughput(n: number, c: UslCoefficients): number {
  return (c.gamma * n) / (1 + c.alpha * (n - 1) + c.beta * n * (n - 1));
}

// ---------------------------------------------------------------------------------------
// Small dense linear algebra (n <= 3)

/** Inverse of a symmetric positive semi-definite matrix, or undefined when numerically singular. */
function invertSymmetric(a: readonly number[][]): number[][] | undefined {
  const n = a.length;
  // Scale to unit diagonal so the singularity test does not depend on the parameters' units
  // (β is ~1e-4 where γ is ~100).
  const d = a.map((row, i) => Math.sqrt(Math.abs(row[i] as number)));
  if (d.some((x) => !(x > 0) || !Number.isFinite(x))) return undefined;
  const m = a.map((row, i) => [
    ...row.map((v, j) => v / ((d[i] as number) * (d[j] as number))),
    ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)),
  ]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs((m[r] as number[])[col] as number) > Math.abs((m[pivot] as number[])[col] as number)) pivot = r;
    }
    const pv = (m[pivot] as number[])[col] as number;
    // A pivot this small against the unit diagonal means a reciprocal condition near 1e-13.
    if (Math.abs(pv) < 1e-13) return undefined;
    [m[col], m[pivot]] = [m[pivot] as number[], m[col] as number[]];
    const prow = m[col] as number[];
    for (let j = 0; j < 2 * n; j++) prow[j] = (prow[j] as number) / pv;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const row = m[r] as number[];
      const f = row[col] as number;
      if (f === 0) continue;
      for (let j = 0; j < 2 * n; j++) row[j] = (row[j] as number) - f * (prow[j] as number);
    }
  }
  return m.map((row, i) => row.slice(n).map((v, j) => v / ((d[i] as number) * (d[j] as number))));
}

// ---------------------------------------------------------------------------------------
// Fit

const PARAMETERS: readonly UslParameter[] = ['alpha', 'beta', 'gamma'];
const SYMBOL = ['α', 'β', 'γ'];

interface Prepared {
  n: number[];
  y: number[];
  w: number[];
}

function validate(points: readonly UslPoint[]): Prepared {
  if (!Array.isArray(points)) throw new TypeError('fitUsl: points must be an array of { n, throughput }');
  const n: number[] = [];
  const y: number[] = [];
  const w: number[] = [];
  points.forEach((p, i) => {
    if (!(Number.isFinite(p.n) && p.n > 0)) {
      throw new RangeError(`fitUsl: points[${i}].n must be a finite concurrency above 0, got ${p.n}`);
    }
    if (!(Number.isFinite(p.throughput) && p.throughput >= 0)) {
      throw new RangeError(`fitUsl: points[${i}].throughput must be finite and >= 0, got ${p.throughput}`);
    }
    const weight = p.weight ?? 1;
    if (!(Number.isFinite(weight) && weight > 0)) {
      throw new RangeError(`fitUsl: points[${i}].weight must be finite and above 0 (omit it for 1), got ${p.weight}`);
    }
    n.push(p.n);
    y.push(p.throughput);
    w.push(weight);
  });
  return { n, y, w };
}

function coefficients(p: readonly number[]): UslCoefficients {
  return { alpha: p[0] as number, beta: p[1] as number, gamma: p[2] as number };
}

/** ∂X/∂(α, β, γ) at N. */
function gradient(n: number, c: UslCoefficients): [number, number, number] {
  const d = 1 + c.alpha * (n - 1) + c.beta * n * (n - 1);
  return [(-c.gamma * n * (n - 1)) / (d * d), (-c.gamma * n * n * (n - 1)) / (d * d), n / d];
}

function weightedRss(data: Prepared, p: readonly number[]): number {
  const c = coefficients(p);
  let s = 0;
  for (let i = 0; i < data.n.length; i++) {
    const r = (data.y[i] as number) - uslThroughput(data.n[i] as number, c);
    s += (data.w[i] as number) * r * r;
  }
  return s;
}

/** JᵀWJ over the parameters in `which`, and JᵀW r. */
function normalEquations(data: Prepared, p: readonly number[], which: readonly number[]) {
  const c = coefficients(p);
  const a = which.map(() => which.map(() => 0));
  const g = which.map(() => 0);
  for (let i = 0; i < data.n.length; i++) {
    const grad = gradient(data.n[i] as number, c);
    const r = (data.y[i] as number) - uslThroughput(data.n[i] as number, c);
    const w = data.w[i] as number;
    which.forEach((k, a1) => {
      const gk = grad[k] as number;
      g[a1] = (g[a1] as number) + w * gk * r;
      const row = a[a1] as number[];
      which.forEach((l, a2) => {
        row[a2] = (row[a2] as number) + w * gk * (grad[l] as number);
      });
    });
  }
  return { a, g };
}

const LOWER = [0, 0, 0];
const UPPER = [1, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];

function clamp(k: number, v: number, gammaFloor: number): number {
  const lo = k === 2 ? gammaFloor : (LOWER[k] as number);
  return Math.min(UPPER[k] as number, Math.max(lo, v));
}

/** Levenberg–Marquardt with bounds: parameters at a bound are held while the gradient pushes out. */
function levenbergMarquardt(data: Prepared, start: readonly number[], free: readonly number[], gammaFloor: number) {
  let p = start.map((v, k) => clamp(k, v, gammaFloor));
  let s = weightedRss(data, p);
  let lambda = 1e-3;
  let iterations = 0;
  for (; iterations < 1000 && s > 0; iterations++) {
    const full = normalEquations(data, p, free);
    // Hold a parameter at its bound when the descent direction (JᵀWr) points out of the box.
    const active = free.filter((k, i) => {
      const gk = full.g[i] as number;
      const lo = k === 2 ? gammaFloor : (LOWER[k] as number);
      if ((p[k] as number) <= lo && gk <= 0) return false;
      if ((p[k] as number) >= (UPPER[k] as number) && gk >= 0) return false;
      return true;
    });
    if (active.length === 0) break;
    const { a, g } = normalEquations(data, p, active);
    let improved = false;
    let converged = false;
    while (lambda < 1e16) {
      const damped = a.map((row, i) => row.map((v, j) => (i === j ? v * (1 + lambda) : v)));
      const inv = invertSymmetric(damped);
      if (inv === undefined) {
        lambda *= 10;
        continue;
      }
      const step = inv.map((row) => row.reduce((acc, v, j) => acc + v * (g[j] as number), 0));
      const trial = [...p];
      active.forEach((k, i) => {
        trial[k] = clamp(k, (p[k] as number) + (step[i] as number), gammaFloor);
      });
      const st = weightedRss(data, trial);
      if (st < s) {
        const relativeGain = (s - st) / s;
        const relativeStep = Math.max(
          ...active.map((k) => Math.abs((trial[k] as number) - (p[k] as number)) / (Math.abs(p[k] as number) + 1e-12)),
        );
        p = trial;
        s = st;
        lambda = Math.max(lambda / 10, 1e-12);
        improved = true;
        converged = relativeGain < 1e-15 || relativeStep < 1e-12;
        break;
      }
      lambda *= 10;
    }
    if (!improved || converged) break;
  }
  return { p, s, iterations };
}

/**
 * Gunther's linearisation (Guerrilla Capacity Planning, ch. 5): with C = X/γ and x = N − 1,
 * N/C − 1 = αx + βx(x+1), a linear least squares without intercept. Used as the nonlinear
 * fit's start; this is also what R's `usl` computed as its default before version 2.
 * Points with N = 1 or zero throughput carry no information here and are skipped.
 */
export function linearizedUsl(points: readonly UslPoint[], gamma: number): { alpha: number; beta: number } {
  if (!(Number.isFinite(gamma) && gamma > 0))
    throw new RangeError(`linearizedUsl: gamma must be above 0, got ${gamma}`);
  const data = validate(points);
  let s11 = 0;
  let s12 = 0;
  let s22 = 0;
  let t1 = 0;
  let t2 = 0;
  for (let i = 0; i < data.n.length; i++) {
    const n = data.n[i] as number;
    const x = n - 1;
    const yv = data.y[i] as number;
    if (x === 0 || yv <= 0) continue;
    const w = data.w[i] as number;
    const target = (n * gamma) / yv - 1;
    const u1 = x;
    const u2 = x * (x + 1);
    s11 += w * u1 * u1;
    s12 += w * u1 * u2;
    s22 += w * u2 * u2;
    t1 += w * u1 * target;
    t2 += w * u2 * target;
  }
  const det = s11 * s22 - s12 * s12;
  if (!(Math.abs(det) > 1e-300)) return { alpha: 0, beta: 0 };
  return { alpha: (t1 * s22 - t2 * s12) / det, beta: (s11 * t2 - s12 * t1) / det };
}

function fCdf(f: number, d1: number, d2: number): number {
  if (!(f > 0)) return 0;
  if (f === Number.POSITIVE_INFINITY) return 1;
  return incompleteBeta((d1 * f) / (d1 * f + d2), d1 / 2, d2 / 2);
}

function notFittable(
  reason: UslNotFittableReason,
  message: string,
  data: Prepared,
  distinctN: number[],
): UslNotFittable {
  return { fittable: false, reason, message, points: data.n.length, distinctN };
}

function round(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  return Number(v.toPrecision(digits)).toString();
}

/** Fits the USL to measured (N, X) points; see the module comment for the method and its limits. */
export function fitUsl(points: readonly UslPoint[], options: UslOptions = {}): UslResult {
  const level = options.level ?? 0.95;
  if (!(level > 0 && level < 1)) throw new RangeError(`fitUsl: level must be within (0, 1), got ${level}`);
  const maxRel = options.maxRelativeStandardError ?? 0.5;
  if (!(maxRel > 0)) throw new RangeError(`fitUsl: maxRelativeStandardError must be above 0, got ${maxRel}`);
  const negligible = options.negligibleEffect ?? 0.05;
  if (!(negligible >= 0)) throw new RangeError(`fitUsl: negligibleEffect must be >= 0, got ${negligible}`);
  const flatAlpha = options.flatAlpha ?? 0.05;
  if (!(flatAlpha > 0 && flatAlpha < 1)) {
    throw new RangeError(`fitUsl: flatAlpha must be within (0, 1), got ${flatAlpha}`);
  }
  const mode = options.gamma ?? 'fit';
  if (mode !== 'fit' && mode !== 'from-n1') {
    throw new RangeError(`fitUsl: gamma must be "fit" or "from-n1", got ${String(mode)}`);
  }
  const pinUndetermined = options.pinUndetermined ?? true;
  const data = validate(points);
  const distinctN = [...new Set(data.n)].sort((a, b) => a - b);
  const nMax = distinctN[distinctN.length - 1] ?? 0;
  const fitted = mode === 'fit' ? [0, 1, 2] : [0, 1];
  const needed = fitted.length + 1;

  // γ from N = 1: the weighted mean there, with the standard error of that mean.
  const ones = data.n.flatMap((n, i) => (n === 1 ? [i] : []));
  let gammaFixed: { value: number; se: number; df: number } | undefined;
  if (mode === 'from-n1') {
    if (ones.length === 0) {
      return notFittable(
        'too-few-points',
        'γ from N = 1 needs measurements at N = 1; measure one worker, or fit γ (gamma: "fit")',
        data,
        distinctN,
      );
    }
    const w1 = ones.reduce((a, i) => a + (data.w[i] as number), 0);
    const value = ones.reduce((a, i) => a + (data.w[i] as number) * (data.y[i] as number), 0) / w1;
    const ss = ones.reduce((a, i) => a + (data.w[i] as number) * ((data.y[i] as number) - value) ** 2, 0);
    const se = ones.length >= 2 ? Math.sqrt(ss / (ones.length - 1) / w1) : Number.NaN;
    if (!(value > 0))
      return notFittable('flat', 'throughput at N = 1 is zero: there is nothing to scale', data, distinctN);
    gammaFixed = { value, se, df: ones.length - 1 };
  }
  if (distinctN.length < needed) {
    return notFittable(
      'too-few-points',
      `${distinctN.length} distinct N (${distinctN.join(', ') || 'none'}) for ${fitted.length} fitted parameters: the USL needs at least ${needed}${mode === 'from-n1' ? ', N = 1 among them' : ''}; measure more worker counts`,
      data,
      distinctN,
    );
  }
  const maxRatio = Math.max(...data.n.map((n, i) => (data.y[i] as number) / n));
  if (!(maxRatio > 0)) return notFittable('flat', 'every measured throughput is zero', data, distinctN);
  const gammaFloor = 1e-12 * maxRatio;
  const gamma0 =
    gammaFixed?.value ??
    (ones.length > 0 ? ones.reduce((a, i) => a + (data.y[i] as number), 0) / ones.length : maxRatio);
  const lin = linearizedUsl(points, gamma0 > 0 ? gamma0 : maxRatio);

  // Starts: Gunther's linearisation, R usl's default (γ = max X/N, α = 0.01, β = 0.0001), and
  // a contention-only guess; the lowest residual sum of squares wins.
  const solve = (free: readonly number[]) => {
    const gStart = gammaFixed?.value;
    const starts = [
      [lin.alpha, lin.beta, gStart ?? (gamma0 > 0 ? gamma0 : maxRatio)],
      [0.01, 0.0001, gStart ?? maxRatio],
      [0.1, 0, gStart ?? maxRatio],
    ].map((s) => s.map((v, k) => (k < 2 && !free.includes(k) ? 0 : v)));
    let best: { p: number[]; s: number; iterations: number } | undefined;
    for (const start of starts) {
      const r = levenbergMarquardt(data, start, free, gammaFloor);
      if (best === undefined || r.s < best.s) best = r;
    }
    return best as { p: number[]; s: number; iterations: number };
  };
  // Two covariances. `ifFree`: over every fitted parameter, one at a bound included, as R's usl
  // reports it (its SEs say how far the fit could move if that parameter were free). `cov`:
  // with parameters at a bound held there, the model the fit actually is; it judges whether a
  // parameter is determined and gives the other parameters' SEs.
  const covarianceOf = (p: readonly number[], free: readonly number[], rss: number) => {
    const df = data.n.length - free.length;
    const sigma2 = df > 0 ? rss / df : Number.NaN;
    const atBound = (k: number) =>
      k < 2 && ((p[k] as number) <= (LOWER[k] as number) || (p[k] as number) >= (UPPER[k] as number));
    const expand = (set: readonly number[]) => {
      const inv = set.length === 0 ? [] : invertSymmetric(normalEquations(data, p, set).a);
      if (inv === undefined) return undefined;
      const out = [0, 1, 2].map(() => [0, 0, 0]);
      set.forEach((k, i) => {
        set.forEach((l, j) => {
          (out[k] as number[])[l] = ((inv[i] as number[])[j] as number) * sigma2;
        });
      });
      if (gammaFixed !== undefined) (out[2] as number[])[2] = gammaFixed.se ** 2;
      return out;
    };
    const cov = expand(free.filter((k) => !atBound(k)));
    if (cov === undefined) return undefined;
    const ifFree = expand(free) ?? [0, 1, 2].map((k) => [0, 1, 2].map((l) => (k === l ? Number.NaN : 0)));
    return { cov, ifFree, df, sigma2 };
  };
  const sensitivityAt = (p: readonly number[]) => {
    const d = 1 + (p[0] as number) * (nMax - 1) + (p[1] as number) * nMax * (nMax - 1);
    // |∂ ln X(Nmax) / ∂p|: how much one unit of each parameter moves the prediction at Nmax.
    return [(nMax - 1) / d, (nMax * (nMax - 1)) / d, 1 / (p[2] as number)];
  };
  /** Parameters inside their bounds whose standard error is too large for their value to mean anything. */
  const undetermined = (p: readonly number[], cov: number[][], free: readonly number[], df: number) => {
    if (df <= 0) return [];
    const sens = sensitivityAt(p);
    return free.filter((k) => {
      const value = p[k] as number;
      if (k < 2 && (value <= (LOWER[k] as number) || value >= (UPPER[k] as number))) return false;
      const se = Math.sqrt((cov[k] as number[])[k] as number);
      if (se <= maxRel * Math.abs(value)) return false;
      return !(k < 2 && (value + se) * (sens[k] as number) <= negligible);
    });
  };

  // Fit; while α or β cannot be told from zero, fit without it (held at 0) and say so.
  let free = [...fitted];
  let sol = solve(free);
  let stats = covarianceOf(sol.p, free, sol.s);
  if (stats === undefined) {
    return notFittable(
      'not-identifiable',
      `the USL's parameters cannot be separated with these points (N = ${distinctN.join(', ')}); measure more worker counts, further apart`,
      data,
      distinctN,
    );
  }
  const pinned: UslFit['pinned'] = [];
  for (;;) {
    const current = stats;
    const bad = undetermined(sol.p, current.cov, free, current.df);
    const pinnable = bad.filter((k) => k < 2);
    if (bad.length === 0 || !pinUndetermined || pinnable.length < bad.length) {
      if (bad.length === 0) break;
      const text = bad.map((k) => {
        const se = Math.sqrt((current.cov[k] as number[])[k] as number);
        const value = sol.p[k] as number;
        return `${SYMBOL[k]} = ${round(value)} ± ${round(se, 2)} (s.e. ${Math.round((se / Math.abs(value)) * 100)}% of it)`;
      });
      return notFittable(
        'too-uncertain',
        `${text.join(', ')}: above the ${Math.round(maxRel * 100)}% bound, so the data do not say whether that effect exists; ${nMax <= 4 ? 'contention and coherency are hard to tell apart below N = 5: measure larger worker counts' : 'measure more trials or more worker counts'}`,
        data,
        distinctN,
      );
    }
    // Hold one at 0, if the fit without it is not significantly worse (partial F test). When
    // both could go, β goes: β = 0 predicts no peak, and a peak needs evidence to be claimed.
    const candidates = pinnable
      .map((k) => {
        const f = free.filter((x) => x !== k);
        const reduced = solve(f);
        const fStat = sol.s > 0 ? (reduced.s - sol.s) / (sol.s / current.df) : Number.POSITIVE_INFINITY;
        return { k, sol: reduced, free: f, pValue: 1 - fCdf(Math.max(0, fStat), 1, current.df) };
      })
      .filter((x) => x.pValue >= flatAlpha)
      .sort((a, b) => b.k - a.k);
    const chosen = candidates[0];
    if (chosen === undefined) {
      const text = bad.map((k) => {
        const se = Math.sqrt((current.cov[k] as number[])[k] as number);
        return `${SYMBOL[k]} = ${round(sol.p[k] as number)} ± ${round(se, 2)}`;
      });
      return notFittable(
        'too-uncertain',
        `${text.join(', ')}: the data need both contention and coherency but cannot tell them apart (each alone is within its error; dropping either worsens the fit significantly); ${nMax <= 4 ? 'measure larger worker counts' : 'measure more trials or more worker counts'}`,
        data,
        distinctN,
      );
    }
    const nextStats = covarianceOf(chosen.sol.p, chosen.free, chosen.sol.s);
    if (nextStats === undefined) break;
    pinned.push({
      parameter: PARAMETERS[chosen.k] as UslParameter,
      estimate: sol.p[chosen.k] as number,
      standardError: Math.sqrt((current.cov[chosen.k] as number[])[chosen.k] as number),
    });
    free = chosen.free;
    sol = chosen.sol;
    stats = nextStats;
  }
  const { p, s: rss, iterations } = sol;
  const { cov: covariance, ifFree: covarianceIfFree, df, sigma2 } = stats;
  const c = coefficients(p);

  // Flatness: does the model explain more than a constant throughput (weighted mean) does?
  const totalW = data.w.reduce((a, b) => a + b, 0);
  const wMean = data.y.reduce((acc, v, i) => acc + (data.w[i] as number) * v, 0) / totalW;
  const tss = data.y.reduce((acc, v, i) => acc + (data.w[i] as number) * (v - wMean) ** 2, 0);
  // With γ fixed the constant model is X = γ (no parameter); otherwise X = mean (one).
  const rss0 =
    gammaFixed === undefined
      ? tss
      : data.y.reduce((acc, v, i) => acc + (data.w[i] as number) * (v - (gammaFixed?.value as number)) ** 2, 0);
  const d1 = free.length - (gammaFixed === undefined ? 1 : 0);
  let flatnessPValue: number;
  if (rss0 <= 0) flatnessPValue = 1;
  else if (rss <= 1e-15 * rss0) flatnessPValue = 0;
  else if (d1 <= 0 || df <= 0) flatnessPValue = rss < rss0 ? 0 : 1;
  else flatnessPValue = 1 - fCdf(Math.max(0, (rss0 - rss) / d1) / (rss / df), d1, df);
  if (!(flatnessPValue < flatAlpha)) {
    const lo = Math.min(...data.y);
    const hi = Math.max(...data.y);
    return notFittable(
      'flat',
      `the USL does not explain the throughput (${round(lo)} to ${round(hi)} at N = ${distinctN.join(', ')}) better than a constant would (F test, p = ${round(flatnessPValue, 2)} with ${df} residual degree(s) of freedom): no scaling signal at this noise to attribute to contention or coherency; ${df < 3 ? 'measure more trials per N' : 'throughput does not change with N'}`,
      data,
      distinctN,
    );
  }

  const t = df > 0 ? studentTQuantile(1 - (1 - level) / 2, df) : Number.NaN;
  const estimates = PARAMETERS.map((_, k): UslEstimate => {
    const value = p[k] as number;
    const fixed = k === 2 && gammaFixed !== undefined;
    const isPinned = k < 2 && !free.includes(k);
    const atBound =
      k === 2 || isPinned
        ? undefined
        : value <= (LOWER[k] as number)
          ? 'lower'
          : value >= (UPPER[k] as number)
            ? 'upper'
            : undefined;
    // At a bound the SE is the one it would have if free (R usl's), to say how far it could move.
    const se = isPinned ? 0 : Math.sqrt(((atBound ? covarianceIfFree : covariance)[k] as number[])[k] as number);
    const tk = fixed
      ? gammaFixed && gammaFixed.df > 0
        ? studentTQuantile(1 - (1 - level) / 2, gammaFixed.df)
        : Number.NaN
      : t;
    const half = isPinned ? 0 : tk * se;
    return {
      value,
      standardError: se,
      ci: { lower: value - half, upper: value + half, level },
      atBound,
      fixed,
      pinned: isPinned,
    };
  });
  const [alpha, beta, gamma] = estimates as [UslEstimate, UslEstimate, UslEstimate];

  const residuals = data.n.map((n, i) => {
    const predicted = uslThroughput(n, c);
    return { n, throughput: data.y[i] as number, predicted, residual: (data.y[i] as number) - predicted };
  });

  const curveMax = options.curve?.maxN ?? 2 * nMax;
  const curvePoints = Math.max(2, Math.floor(options.curve?.points ?? 65));
  if (!(curveMax > 0)) throw new RangeError(`fitUsl: curve.maxN must be above 0, got ${curveMax}`);
  const nMin = Math.min(1, distinctN[0] as number);
  const grid =
    Number.isInteger(nMin) && curveMax - nMin + 1 <= curvePoints
      ? Array.from({ length: Math.floor(curveMax - nMin) + 1 }, (_, i) => nMin + i)
      : Array.from({ length: curvePoints }, (_, i) => nMin + ((curveMax - nMin) * i) / (curvePoints - 1));
  const curve = grid.map((n) => {
    const x = uslThroughput(n, c);
    const g = gradient(n, c);
    let v = 0;
    for (let k = 0; k < 3; k++) {
      for (let l = 0; l < 3; l++) v += (g[k] as number) * (g[l] as number) * ((covariance[k] as number[])[l] as number);
    }
    const half = t * Math.sqrt(Math.max(0, v));
    return { n, throughput: x, lower: x - half, upper: x + half };
  });

  return {
    fittable: true,
    method: mode === 'fit' ? 'three-parameter' : 'gamma-from-n1',
    alpha,
    beta,
    gamma,
    pinned,
    covariance,
    covarianceIfFree,
    points: data.n.length,
    distinctN,
    degreesOfFreedom: df,
    rss,
    residualStandardError: Math.sqrt(sigma2),
    rSquared: tss > 0 ? 1 - rss / tss : 1,
    residuals,
    peak: peakOf(c, covariance, nMax),
    limit: c.alpha > 0 ? c.gamma / c.alpha : Number.POSITIVE_INFINITY,
    flatnessPValue,
    curve,
    iterations,
  };
}

function peakOf(c: UslCoefficients, cov: readonly number[][], nMax: number): UslPeak {
  if (c.beta > 0) {
    const raw = Math.sqrt((1 - c.alpha) / c.beta);
    const n = Math.max(1, raw);
    // δN* from δα and δβ: ∂N*/∂α = −1/(2βN*), ∂N*/∂β = −N*/(2β).
    const ga = raw > 0 ? -1 / (2 * c.beta * raw) : 0;
    const gb = -raw / (2 * c.beta);
    const caa = (cov[0] as number[])[0] as number;
    const cab = (cov[0] as number[])[1] as number;
    const cbb = (cov[1] as number[])[1] as number;
    const v = ga * ga * caa + 2 * ga * gb * cab + gb * gb * cbb;
    return {
      kind: 'finite',
      n,
      nStandardError: raw >= 1 ? Math.sqrt(Math.max(0, v)) : 0,
      throughput: uslThroughput(n, c),
      beyondMeasured: n > nMax,
    };
  }
  if (c.alpha > 0) {
    return {
      kind: 'none',
      reason: 'β = 0: no coherency cost, so throughput never falls; it approaches γ/α as N grows (Amdahl)',
      asymptote: c.gamma / c.alpha,
    };
  }
  return {
    kind: 'none',
    reason: 'α = 0 and β = 0: throughput grows linearly with N (γ per worker) over the fitted range',
    asymptote: Number.POSITIVE_INFINITY,
  };
}

// ---------------------------------------------------------------------------------------
// Words

export interface DescribeUslOptions {
  /** The concurrency model ("process", "thread", "offload"): names the usual causes. */
  model?: string;
  /** Unit of throughput; "req/s". */
  unit?: string;
}

/** "0.031 ± 0.025": the uncertainty to two significant figures, the value to the same decimals. */
export function formatWithUncertainty(value: number, half: number): string {
  if (!(Number.isFinite(half) && half > 0)) return round(value, 3);
  const decimals = Math.min(12, Math.max(0, 1 - Math.floor(Math.log10(half))));
  return `${value.toFixed(decimals)} ± ${half.toFixed(decimals)}`;
}

function percent(share: number): string {
  const p = share * 100;
  return `${p < 10 ? p.toFixed(1) : Math.round(p)}%`;
}

const CAUSES: Record<string, { contention: string; coherency: string }> = {
  thread: {
    contention: 'as under a GIL or a lock all threads share',
    coherency: 'shared caches and data kept coherent between threads',
  },
  process: {
    contention: 'as under a shared acceptor or a lock on shared state',
    coherency: 'IPC and memory duplicated between processes',
  },
  offload: {
    contention: 'as under the one acceptor thread or a lock on the pool',
    coherency: 'data handed between the acceptor and the pool kept coherent',
  },
};
const DEFAULT_CAUSES = {
  contention: 'as under a lock, a GIL or a shared acceptor',
  coherency: 'shared caches, IPC or duplicated memory kept coherent',
};

/**
 * One factual sentence per model from the fitted numbers: contention α, coherency β, where
 * throughput peaks (or that it does not), with 95% (the fit's level) intervals as ±.
 */
export function describeUsl(label: string, result: UslResult, options: DescribeUslOptions = {}): string {
  const unit = options.unit ?? 'req/s';
  if (!result.fittable) return `${label}: no USL fit (${result.reason}): ${result.message}`;
  const causes = CAUSES[options.model ?? ''] ?? DEFAULT_CAUSES;
  const { alpha, beta, gamma } = result;
  const half = (e: UslEstimate) => (e.ci.upper - e.ci.lower) / 2;
  const pinnedNote = (parameter: UslParameter) => {
    const p = result.pinned.find((x) => x.parameter === parameter);
    return p
      ? ` (not distinguishable from 0 at ${round(p.estimate, 2)} ± ${round(p.standardError, 2)} s.e., so fitted without it)`
      : '';
  };

  let contention: string;
  if (alpha.pinned) contention = `contention α ≈ 0${pinnedNote('alpha')}`;
  else if (alpha.atBound === 'lower') contention = 'contention α = 0 (at its bound: no measurable serialisation)';
  else if (alpha.ci.lower <= 0) {
    contention = `contention α = ${formatWithUncertainty(alpha.value, half(alpha))} (not distinguishable from 0)`;
  } else if (alpha.value >= 0.9) {
    contention = `contention α = ${formatWithUncertainty(alpha.value, half(alpha))} (${percent(alpha.value)} of the work serialises: extra workers add almost nothing)`;
  } else {
    contention = `contention α = ${formatWithUncertainty(alpha.value, half(alpha))} (${percent(alpha.value)} of the work serialises, ${causes.contention})`;
  }

  let coherency: string;
  if (beta.pinned) coherency = `coherency β ≈ 0${pinnedNote('beta')}`;
  else if (beta.atBound === 'lower') coherency = 'coherency β ≈ 0 (at its bound: no measurable crosstalk)';
  else if (beta.ci.lower <= 0) {
    coherency = `coherency β = ${formatWithUncertainty(beta.value, half(beta))} (not distinguishable from 0)`;
  } else {
    coherency = `coherency β = ${formatWithUncertainty(beta.value, half(beta))} (crosstalk: ${causes.coherency}; its cost grows with N², so throughput falls past the peak)`;
  }

  let peak: string;
  const p = result.peak;
  const nMax = result.distinctN[result.distinctN.length - 1] ?? 0;
  if (p.kind === 'finite') {
    const t = result.degreesOfFreedom > 0 ? studentTQuantile(1 - (1 - alpha.ci.level) / 2, result.degreesOfFreedom) : 0;
    const nText = p.nStandardError > 0 ? formatWithUncertainty(p.n, t * p.nStandardError) : round(p.n, 3);
    peak = `throughput peaks at N* ≈ ${nText} (X ≈ ${round(p.throughput, 3)} ${unit})${p.beyondMeasured ? `, beyond the largest N measured (${nMax}): an extrapolation` : ''}`;
  } else if (alpha.value > 0 && alpha.ci.lower > 0) {
    peak = `no peak (β = 0, N* = ∞): adding workers only approaches γ/α = ${round(result.limit, 3)} ${unit}`;
  } else {
    peak = `throughput grows linearly, ${round(gamma.value, 3)} ${unit} per worker, over the measured N ≤ ${nMax} (no peak, N* = ∞)`;
  }
  return `${label}: ${contention}; ${coherency}; ${peak} (± ${Math.round(alpha.ci.level * 100)}% intervals; R² = ${result.rSquared.toFixed(3)})`;
}
