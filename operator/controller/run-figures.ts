// Pure: the figures of one finished run that regression detection compares across the runs
// of a scheduled experiment (analysis/regression.ts), read from that run's JSON report (the
// ConfigMap status.history names). Capacity from the max-throughput searches, throughput, and
// p99 as the mean of the per-trial p99 (each trial is one sample, as for capacity).
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

/** One run's figures per variant (every sweep point is a variant), and its significant winner. */
export function runFiguresOf(report: Pick<JsonReport, 'variants' | 'verdict'>, run: string): RunFigures {
  return {
    run,
    winner: report.verdict.winner,
    variants: report.variants
      .filter((v) => v.trials > 0)
      .map((v) => ({
        name: v.name,
        capacity: fromEstimate(v.searchedCapacity),
        throughput: fromEstimate(v.throughput),
        p99Millis: fromValues(v.latency.p99PerTrialMillis),
      })),
  };
}
