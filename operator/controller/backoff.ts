// Exponential backoff with full jitter, shared by watches and the work queue: 800 ms doubling
// to a 30 s cap. Jitter spreads retries of many keys (and many operators) so a recovering
// API server is not hit by a synchronized wave.

export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  baseMillis: number;
  /** Upper bound of any delay. */
  maxMillis: number;
  /** Share of the delay that is randomized, 0..1: 0.5 gives [d/2, d]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMillis: 800, maxMillis: 30_000, jitter: 0.5 };

/**
 * Delay before retry number `attempt` (0-based): min(max, base * 2^attempt), of which the
 * `jitter` share is scaled by `random()` (in [0, 1)).
 */
export function backoffDelayMillis(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exp = Math.min(options.maxMillis, options.baseMillis * 2 ** Math.min(Math.max(0, attempt), 30));
  const fixed = exp * (1 - options.jitter);
  return Math.round(fixed + exp * options.jitter * random());
}
