// Which trials of a run the client-side figures (throughput, latency and errors as the load
// generator saw them) may use. In a trial where the generator saturated (it could not keep its
// schedule) those figures describe the generator, not the server. Pure, and shared by the
// verdict and by regression detection, so that a run is judged on the same trials in both:
//
// - no counted trial saturated: every counted trial ("all");
// - some saturated, and every variant keeps 2+ sound trials: the sound ones ("sound-only");
// - otherwise client-side figures are not judged at all ("withheld"); `trials` then still
//   lists every counted trial, for figures that are shown but marked unreliable.

export type ClientMode = 'all' | 'sound-only' | 'withheld';

export interface TrialHealth {
  /** The trials the statistics count (complete ones), in the order of the per-trial figures. */
  counted: readonly number[];
  /** The trials whose load generator saturated (may include trials not counted). */
  unreliable: readonly number[];
}

export interface ClientTrials {
  mode: ClientMode;
  /** Counted trials, over all variants, whose generator saturated. */
  saturated: number;
  /** Per variant, in the order given: the trials client-side figures use, in counted order. */
  trials: number[][];
}

export function clientTrials(variants: readonly TrialHealth[]): ClientTrials {
  const sound = variants.map((v) => v.counted.filter((trial) => !v.unreliable.includes(trial)));
  const saturated = variants.reduce((n, v, i) => n + v.counted.length - (sound[i]?.length ?? 0), 0);
  const mode: ClientMode = saturated === 0 ? 'all' : sound.every((s) => s.length >= 2) ? 'sound-only' : 'withheld';
  return { mode, saturated, trials: mode === 'sound-only' ? sound : variants.map((v) => [...v.counted]) };
}

/** The entries of per-trial `values` (in counted order) that belong to `keep`. */
export function valuesOfTrials(
  values: readonly number[],
  counted: readonly number[],
  keep: readonly number[],
): number[] {
  return values.filter((_, i) => keep.includes(counted[i] as number));
}
