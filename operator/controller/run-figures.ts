// Pure: the figures of one finished run that regression detection compares across the runs
// of a scheduled experiment (analysis/regression.ts), read from that run's JSON report (the
// ConfigMap status.history names). Capacity from the max-throughput searches, throughput, and
// p99 as the mean of the per-trial p99 (each trial is one sample, as for capacity).
// Throughput and p99 are client-side figures: they use the trials the verdict uses
// (analysis/client-trials.ts), so a trial whose load generator saturated is left out here as it
// is there, and a run whose client-side figures the verdict withheld gives none to compare.
import { clientTrials, valuesOfTrials } from '../analysis/client-trials.ts';
import type { RunFigure, RunFigures } from '../analysis/regression.ts';
import { mean, sampleSd } from '../analysis/stats.ts';
import type { JsonReport } from '../report/json.ts';

type Estimate = JsonReport['variants'][number]['throughput'];

function fromEstimate(e: Estimate | undefined): RunFigure | undefined {
  if (!e || e.mean === undefined || e.n < 1 || !Number.isFinite(e.mean)) return undefined;
  return { mean: e.mean, n: e.n, ...(e.sd !== undefined ? { sd: e.sd } : {}) };
}

function fromValues(values: readonly number[]): RunFigure | undefined {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return undefined;
  return { mean: mean(finite), n: finite.length, ...(finite.length >= 2 ? { sd: sampleSd(finite) } : {}) };
}

/** Every report this operator writes lists its counted trials; the schema keeps it optional. */
const countedOf = (v: JsonReport['variants'][number]): number[] => v.trialsCounted ?? [];

/** One run's figures per variant (every sweep point is a variant), and its significant winner. */
export function runFiguresOf(report: Pick<JsonReport, 'variants' | 'verdict'>, run: string): RunFigures {
  const variants = report.variants.filter((v) => v.trials > 0);
  const selection = clientTrials(
    variants.map((v) => ({ counted: countedOf(v), unreliable: v.generator.unreliableTrials })),
  );
  const note =
    selection.mode === 'sound-only'
      ? `${selection.saturated} trial(s) with a saturated load generator left out of throughput and p99`
      : selection.mode === 'withheld'
        ? `throughput and p99 not judged: the load generator was saturated in ${selection.saturated} trial(s)`
        : undefined;
  return {
    run,
    winner: report.verdict.winner,
    ...(note ? { note } : {}),
    variants: variants.map((v, i) => {
      const keep = selection.trials[i] ?? [];
      const clientSide = <T>(all: () => T, sound: () => T): T | undefined =>
        selection.mode === 'all' ? all() : selection.mode === 'sound-only' ? sound() : undefined;
      const throughputValues = v.throughput.values;
      return {
        name: v.name,
        capacity: fromEstimate(v.searchedCapacity),
        throughput: clientSide(
          () => fromEstimate(v.throughput),
          () => (throughputValues ? fromValues(valuesOfTrials(throughputValues, countedOf(v), keep)) : undefined),
        ),
        p99Millis: clientSide(
          () => fromValues(v.latency.p99PerTrialMillis),
          () => fromValues(valuesOfTrials(v.latency.p99PerTrialMillis, countedOf(v), keep)),
        ),
      };
    }),
  };
}
