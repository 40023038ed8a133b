// Statistics over trials, written out so the report does not depend on a numeric library.
//
// Which test for which figure, for the 2..10 trials per variant an experiment runs:
//
// - Throughput (and memory, capacity lost, per-trial p99): Welch's t-test. Each trial's
//   throughput is a mean over thousands of requests, so by the central limit theorem it is
//   close to normal, and Welch does not assume the two variants vary alike. A rank test
//   cannot help at these sizes: the exact Mann-Whitney U with 3 trials against 3 has a
//   smallest possible two-sided p of 2/20 = 0.1, so at the default `trials: 3` it could
//   never name a winner, however large the difference. mannWhitneyU is still here: the
//   verdict uses it as a robustness check once both variants have 4 or more trials (where
//   it can reach p < 0.05) and names no winner when the two tests disagree.
// - Error proportions: Fisher's exact test on the 2x2 table (failed, served) x (A, B). Exact
//   for any counts, including the zero-error cells a chi-square test mishandles. It treats
//   requests as independent, which errors are not (a crash fails many at once), so it is
//   reported with that caveat.
// - Percentiles: bootstrap intervals with a seeded PRNG, so the same records always give the
//   same report.

/** Arithmetic mean; NaN for no values. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Sample standard deviation (n - 1 denominator); NaN for fewer than two values. */
export function sampleSd(values: readonly number[]): number {
  if (values.length < 2) return Number.NaN;
  const m = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - m) ** 2;
  return Math.sqrt(ss / (values.length - 1));
}

/**
 * Coefficient of variation with the population standard deviation: it describes a complete
 * set (e.g. the requests each worker served), not a sample. 0 for fewer than two values.
 */
export function coefficientOfVariation(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  if (m === 0) return 0;
  let ss = 0;
  for (const v of values) ss += (v - m) ** 2;
  return Math.sqrt(ss / values.length) / m;
}

/** Quantile with linear interpolation between order statistics (numpy's default, "type 7"). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be within [0, 1], got ${q}`);
  const sorted = [...values].sort((a, b) => a - b);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (h - lo);
}

// ---------------------------------------------------------------------------------------
// Special functions

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** Natural log of the gamma function (Lanczos, g = 7), for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The continued fraction converges fast only on one side of the mean; use symmetry.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Error function: power series near zero, continued fraction for erfc in the tails. */
export function erf(x: number): number {
  if (x < 0) return -erf(-x);
  if (x < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  return 1 - erfcTail(x);
}

/** erfc(x) for x >= 3 by Lentz's continued fraction; keeps precision far into the tail. */
function erfcTail(x: number): number {
  const tiny = 1e-300;
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = x + an * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = x + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Standard normal cumulative distribution. */
export function normalCdf(z: number): number {
  if (z < -3 * Math.SQRT2) return 0.5 * erfcTail(-z / Math.SQRT2);
  if (z > 3 * Math.SQRT2) return 1 - 0.5 * erfcTail(z / Math.SQRT2);
  return 0.5 * (1 + erf(z / Math.SQRT2));
}

/** Cumulative distribution of Student's t with df degrees of freedom (df may be fractional). */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`studentTCdf: degrees of freedom must be positive, got ${df}`);
  if (!Number.isFinite(df)) return normalCdf(t);
  if (t === Number.POSITIVE_INFINITY) return 1;
  if (t === Number.NEGATIVE_INFINITY) return 0;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/**
 * Quantile of Student's t: the t with P(T <= t) = p. Computed by bisection on the CDF, so it
 * is right for every df rather than for a few tabulated rows.
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`studentTQuantile: p must be within (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && studentTCdf(hi, df) < p; i++) hi *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
    if (hi - lo < 1e-12 * Math.max(1, hi)) break;
  }
  return (lo + hi) / 2;
}

// ---------------------------------------------------------------------------------------
// Intervals

export interface Interval {
  lower: number;
  upper: number;
}

export interface MeanEstimate {
  n: number;
  mean: number;
  /** Sample standard deviation; undefined for one value. */
  sd: number | undefined;
  /** Confidence interval of the mean; undefined when n < 2 (it cannot be estimated). */
  ci: (Interval & { halfWidth: number; level: number }) | undefined;
}

/** Mean with a Student-t confidence interval (default 95%). */
export function meanWithCI(values: readonly number[], level = 0.95): MeanEstimate {
  if (!(level > 0 && level < 1)) throw new RangeError(`meanWithCI: level must be within (0, 1), got ${level}`);
  const n = values.length;
  const m = mean(values);
  if (n < 2) return { n, mean: m, sd: undefined, ci: undefined };
  const sd = sampleSd(values);
  const halfWidth = (studentTQuantile(1 - (1 - level) / 2, n - 1) * sd) / Math.sqrt(n);
  return { n, mean: m, sd, ci: { lower: m - halfWidth, upper: m + halfWidth, halfWidth, level } };
}

/** Small, fast, seedable PRNG (mulberry32): the same seed always gives the same stream. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BootstrapOptions {
  /** Number of resamples; 2000 keeps the 2.5% and 97.5% points stable to a few per mille. */
  resamples?: number;
  level?: number;
  /** PRNG seed; fixed by default so reports are reproducible. */
  seed?: number;
}

/**
 * Percentile bootstrap interval of `statistic` over `values`. With very few values (the
 * usual 3 trials) the interval can be no wider than the range of the values, so it
 * understates uncertainty; the report says so when n < 5.
 */
export function bootstrapCI(
  values: readonly number[],
  statistic: (sample: readonly number[]) => number,
  options: BootstrapOptions = {},
): (Interval & { estimate: number; level: number }) | undefined {
  const { resamples = 2000, level = 0.95, seed = 0x5eed } = options;
  if (!(resamples >= 1 && resamples <= 1_000_000)) {
    throw new RangeError(`bootstrapCI: resamples must be within 1..1000000, got ${resamples}`);
  }
  if (values.length < 2) return undefined;
  const random = seededRandom(seed);
  const n = values.length;
  const stats: number[] = new Array(resamples);
  const sample: number[] = new Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) sample[i] = values[Math.floor(random() * n)] as number;
    stats[r] = statistic(sample);
  }
  const alpha = (1 - level) / 2;
  return {
    estimate: statistic(values),
    lower: quantile(stats, alpha),
    upper: quantile(stats, 1 - alpha),
    level,
  };
}

// ---------------------------------------------------------------------------------------
// Tests

export interface TestResult {
  test: 'welch-t' | 'mann-whitney-exact' | 'mann-whitney-normal' | 'fisher-exact';
  statistic: number;
  /** Two-sided p-value. */
  pValue: number;
  df?: number;
}

/** Welch's unequal-variance t-test, two-sided. Needs at least two values per group. */
export function welchTTest(a: readonly number[], b: readonly number[]): TestResult {
  if (a.length < 2 || b.length < 2) {
    throw new RangeError(`welchTTest: needs at least 2 values per group, got ${a.length} and ${b.length}`);
  }
  const ma = mean(a);
  const mb = mean(b);
  const va = sampleSd(a) ** 2 / a.length;
  const vb = sampleSd(b) ** 2 / b.length;
  const se2 = va + vb;
  if (se2 === 0) {
    // Both groups constant: identical values differ by nothing, different ones certainly.
    return ma === mb
      ? { test: 'welch-t', statistic: 0, pValue: 1, df: a.length + b.length - 2 }
      : { test: 'welch-t', statistic: ma > mb ? Infinity : -Infinity, pValue: 0, df: a.length + b.length - 2 };
  }
  const t = (ma - mb) / Math.sqrt(se2);
  const df = se2 ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  const pValue = Math.min(1, 2 * studentTCdf(-Math.abs(t), df));
  return { test: 'welch-t', statistic: t, pValue, df };
}

/** Ranks with ties given their mid-rank (1-based). */
function midRanks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const ranks = new Array<number>(values.length);
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (
      j + 1 < order.length &&
      (order[j + 1] as readonly [number, number])[0] === (order[i] as readonly [number, number])[0]
    )
      j++;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[(order[k] as readonly [number, number])[1]] = rank;
    i = j + 1;
  }
  return ranks;
}

/** Beyond this many splits the exact enumeration gives way to the normal approximation. */
const EXACT_SPLIT_LIMIT = 200_000;

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/**
 * Mann-Whitney U test, two-sided. Exact for small samples by enumerating every split of the
 * pooled values (ties handled as they are, with mid-ranks: an exact permutation test);
 * otherwise the normal approximation with tie and continuity corrections. `statistic` is U
 * of the first group.
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): TestResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 < 1 || n2 < 1) throw new RangeError(`mannWhitneyU: needs values in both groups, got ${n1} and ${n2}`);
  const pooled = [...a, ...b];
  const ranks = midRanks(pooled);
  const n = n1 + n2;
  const offset = (n1 * (n1 + 1)) / 2;
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i] as number;
  const u1 = r1 - offset;
  const mu = (n1 * n2) / 2;

  if (binomial(n, n1) <= EXACT_SPLIT_LIMIT) {
    // Enumerate every choice of n1 ranks out of n; count U at or below / at or above u1.
    let below = 0;
    let above = 0;
    let total = 0;
    const eps = 1e-9;
    const walk = (start: number, left: number, sum: number): void => {
      if (left === 0) {
        const u = sum - offset;
        total++;
        if (u <= u1 + eps) below++;
        if (u >= u1 - eps) above++;
        return;
      }
      for (let i = start; i <= n - left; i++) walk(i + 1, left - 1, sum + (ranks[i] as number));
    };
    walk(0, n1, 0);
    const pValue = Math.min(1, (2 * Math.min(below, above)) / total);
    return { test: 'mann-whitney-exact', statistic: u1, pValue };
  }

  // Tie correction: each group of t tied values reduces the variance by (t^3 - t).
  const counts = new Map<number, number>();
  for (const v of pooled) counts.set(v, (counts.get(v) ?? 0) + 1);
  let tieSum = 0;
  for (const t of counts.values()) tieSum += t ** 3 - t;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieSum / (n * (n - 1))));
  if (sigma === 0) return { test: 'mann-whitney-normal', statistic: u1, pValue: 1 };
  const uMax = Math.max(u1, n1 * n2 - u1);
  const z = (uMax - mu - 0.5) / sigma;
  return { test: 'mann-whitney-normal', statistic: u1, pValue: Math.min(1, 2 * (1 - normalCdf(z))) };
}

/**
 * Fisher's exact test on the 2x2 table [[a, b], [c, d]] (rows: groups; columns: e.g.
 * failed, served), two-sided: the probability of tables at most as likely as the one seen.
 */
export function fisherExact(a: number, b: number, c: number, d: number): TestResult {
  for (const [name, v] of Object.entries({ a, b, c, d })) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`fisherExact: ${name} must be a count (>= 0), got ${v}`);
  }
  const row1 = a + b;
  const col1 = a + c;
  const n = a + b + c + d;
  const logChoose = (nn: number, k: number) => logGamma(nn + 1) - logGamma(k + 1) - logGamma(nn - k + 1);
  const logDenominator = logChoose(n, col1);
  const logP = (x: number) => logChoose(row1, x) + logChoose(n - row1, col1 - x) - logDenominator;
  const lo = Math.max(0, col1 - (n - row1));
  const hi = Math.min(row1, col1);
  const observed = logP(a);
  // Relative tolerance as scipy uses, so tables exactly as likely are not lost to rounding.
  const threshold = observed + Math.log1p(1e-7);
  let p = 0;
  for (let x = lo; x <= hi; x++) {
    const lp = logP(x);
    if (lp <= threshold) p += Math.exp(lp);
  }
  const oddsRatio = b * c === 0 ? (a * d === 0 ? Number.NaN : Infinity) : (a * d) / (b * c);
  return { test: 'fisher-exact', statistic: oddsRatio, pValue: Math.min(1, p) };
}
