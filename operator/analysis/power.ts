// How many trials would have told: the power of Welch's t-test, and the trials per variant
// it would need to detect a difference of the size observed. Pure, like stats.ts.
//
// When the verdict finds no significant difference, "n.s." alone leaves the reader with two
// readings: there is no difference, or there were too few trials to see it. The answer comes
// from the trials themselves: with the observed difference of means as the effect and the
// observed standard deviations as the noise, find the smallest equal number of trials per
// variant at which the test would reject at alpha with the given power. It is an estimate
// ("if the difference seen is the true one"): with 2 or 3 trials the standard deviations are
// themselves uncertain, so the figure says "about", and a large one means the difference is
// small against the noise of this machine, not that running that many would surely find it.
//
// Power needs the noncentral t distribution: T' = (Z + delta) / sqrt(V / df), V ~ chi^2(df).
// Its CDF is an integral over the chi distribution of u = sqrt(V / df) of Phi(t u - delta),
// computed here by the midpoint rule (no endpoint, so the u^(df-1) factor near 0 is harmless).
import { logGamma, mean, normalCdf, sampleSd, studentTQuantile } from './stats.ts';

/** P(T' <= t) for the noncentral t with df degrees of freedom and noncentrality delta. */
export function noncentralTCdf(t: number, df: number, delta: number): number {
  if (!(df > 0)) throw new RangeError(`noncentralTCdf: degrees of freedom must be positive, got ${df}`);
  if (!Number.isFinite(df)) return normalCdf(t - delta);
  // u = sqrt(chi^2_df / df) has mean near 1 and sd near 1/sqrt(2 df); past 1 + 12/sqrt(df)
  // its density is below 1e-30 for every df >= 1.
  const upper = 1 + 12 / Math.sqrt(df);
  const steps = 4000;
  const h = upper / steps;
  const k = df / 2;
  // log density of u: log(2 df u) + log f_chi2(df u^2).
  const logNorm = Math.log(2 * df) - k * Math.LN2 - logGamma(k);
  let sum = 0;
  for (let i = 0; i < steps; i++) {
    const u = (i + 0.5) * h;
    const x = df * u * u;
    const logDensity = logNorm + Math.log(u) + (k - 1) * Math.log(x) - x / 2;
    sum += Math.exp(logDensity) * normalCdf(t * u - delta);
  }
  return Math.min(1, Math.max(0, sum * h));
}

/** Welch-Satterthwaite degrees of freedom for n trials per group. */
function welchDf(sd1: number, sd2: number, n: number): number {
  const v1 = (sd1 * sd1) / n;
  const v2 = (sd2 * sd2) / n;
  return (v1 + v2) ** 2 / ((v1 * v1) / (n - 1) + (v2 * v2) / (n - 1));
}

/**
 * Power of the two-sided Welch t-test with n trials per variant, when the true difference of
 * means is `difference` and the standard deviations are sd1 and sd2.
 */
export function welchPower(difference: number, sd1: number, sd2: number, n: number, alpha = 0.05): number {
  if (!(n >= 2)) throw new RangeError(`welchPower: needs at least 2 trials per variant, got ${n}`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`welchPower: alpha must be within (0, 1), got ${alpha}`);
  if (!(sd1 >= 0 && sd2 >= 0)) throw new RangeError('welchPower: standard deviations must be >= 0');
  const se = Math.sqrt((sd1 * sd1 + sd2 * sd2) / n);
  if (se === 0) return difference === 0 ? alpha : 1;
  const df = welchDf(sd1, sd2, n);
  const delta = Math.abs(difference) / se;
  const critical = studentTQuantile(1 - alpha / 2, df);
  return 1 - noncentralTCdf(critical, df, delta) + noncentralTCdf(-critical, df, delta);
}

export interface TrialsNeeded {
  /** Smallest trials per variant reaching the power; undefined when more than `limit`. */
  trials: number | undefined;
  /** The largest number searched. */
  limit: number;
  power: number;
  alpha: number;
}

export interface TrialsNeededOptions {
  alpha?: number;
  /** Target power; 0.8 by default. */
  power?: number;
  /** Largest answer worth giving; beyond it the difference is lost in the noise. */
  limit?: number;
}

/**
 * Trials per variant that would detect the observed difference between a and b with the
 * target power, from their observed means and standard deviations. Undefined when there is
 * nothing to estimate: fewer than 2 trials in a group, no difference, or no variance at all.
 */
export function trialsNeeded(
  a: readonly number[],
  b: readonly number[],
  options: TrialsNeededOptions = {},
): TrialsNeeded | undefined {
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  const limit = options.limit ?? 1000;
  if (!(power > alpha && power < 1))
    throw new RangeError(`trialsNeeded: power must be within (alpha, 1), got ${power}`);
  if (!(limit >= 2)) throw new RangeError(`trialsNeeded: limit must be at least 2, got ${limit}`);
  if (a.length < 2 || b.length < 2) return undefined;
  const difference = mean(a) - mean(b);
  const sd1 = sampleSd(a);
  const sd2 = sampleSd(b);
  if (!Number.isFinite(difference) || difference === 0 || sd1 + sd2 === 0) return undefined;
  const enough = (n: number) => welchPower(difference, sd1, sd2, n, alpha) >= power;
  if (!enough(limit)) return { trials: undefined, limit, power, alpha };
  // Power grows with n: bisect for the smallest n that reaches it.
  let lo = 2;
  let hi = limit;
  if (enough(lo)) return { trials: lo, limit, power, alpha };
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (enough(mid)) hi = mid;
    else lo = mid;
  }
  return { trials: hi, limit, power, alpha };
}

/** "about 9 trials per variant would detect a difference this size with 80% power at alpha 0.05". */
export function describeTrialsNeeded(t: TrialsNeeded): string {
  const terms = `with ${Math.round(t.power * 100)}% power at alpha ${t.alpha}`;
  return t.trials === undefined
    ? `more than ${t.limit} trials per variant would be needed to detect a difference this size ${terms}: it is small against the noise`
    : `about ${t.trials} trials per variant would detect a difference this size ${terms}`;
}
