// A synthetic sweep run for capacity-plan and report tests: every point of the sweep gets
// `trials` records whose max-throughput search found the capacity a given law says, with a
// fixed, deterministic spread between trials (no randomness: the same run every time).
import type { ExperimentRun } from '../../operator/analysis/run.ts';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import { sweepPoints } from '../../operator/api/sweep.ts';
import type { TrialRecord } from '../../operator/contracts/records.ts';
import { planTrials } from '../../operator/engine/plan.ts';
import { buildEnvironment, buildExperiment, buildTrial, T0 } from './records-builder.ts';

/** USL throughput. */
export function usl(n: number, gamma: number, alpha: number, beta: number): number {
  return (gamma * n) / (1 + alpha * (n - 1) + beta * n * (n - 1));
}

/** Trial-to-trial spread as shares of the mean: symmetric, so the mean stays the law's. */
const SPREAD = [-0.02, 0.025, -0.005, 0.01, -0.01];

export function sweepExperiment(
  overrides: Partial<ConcurrencyExperiment['spec']> = {},
  workers: number[] = [1, 2, 4, 8],
): ConcurrencyExperiment {
  return buildExperiment({
    load: {
      driver: 'builtin',
      pattern: 'max-throughput',
      rate: 50,
      duration: '5s',
      warmUp: '1s',
      maxInFlight: 512,
      timeout: '5s',
    },
    variants: [
      { name: 'process', model: 'process', workers: 1, replicas: 1 },
      { name: 'thread', model: 'thread', workers: 1, replicas: 1 },
    ],
    sweep: { workers },
    target: { rate: 2000, headroom: 0, minReplicas: 1 },
    slo: { latency: { p99: '100ms' }, errorRate: 0.01 },
    trials: 3,
    ...overrides,
  });
}

/**
 * Records for every planned trial: capacity = law(base variant, workers) x (1 + spread), each
 * with a converged search and a peak memory that grows with the workers.
 */
export function sweepRun(
  experiment: ConcurrencyExperiment,
  law: (variant: string, workers: number) => number,
  options: { end?: 'converged' | 'max-rate' | 'driver-saturated' } = {},
): ExperimentRun {
  const points = new Map(sweepPoints(experiment.spec).map((p) => [p.name, p]));
  const records: TrialRecord[] = planTrials(experiment.spec).map((p) => {
    const point = points.get(p.variant);
    if (!point) throw new Error(`no point ${p.variant}`);
    const capacity =
      law(point.sweep?.base ?? point.name, point.workers) * (1 + (SPREAD[(p.trial - 1) % SPREAD.length] ?? 0));
    const rounded = Math.round(capacity);
    return buildTrial({
      variant: p.variant,
      trial: p.trial,
      workers: point.workers,
      seconds: 5,
      rate: rounded,
      startedAtMillis: T0 + p.index * 10_000,
      usage: { peakMemoryBytes: (40 + 20 * point.workers) * 1048576 },
      search: {
        capacity: rounded,
        end: options.end ?? 'converged',
        lowestFailingRate: Math.round(rounded * 1.05),
        steps: [Math.round(rounded / 2), rounded, Math.round(rounded * 1.05)].map((rate, i) => ({
          rate,
          passed: i < 2,
          failureRate: i < 2 ? 0 : 0.05,
          completedPerSecond: i < 2 ? rate : rounded,
          latencyMillis: { p50: 5, p90: 10, p99: i < 2 ? 20 : 400, p999: 30 },
          unreliable: false,
        })),
      },
    });
  });
  return {
    experiment,
    environment: buildEnvironment(),
    startedAt: new Date(T0 - 10_000).toISOString(),
    endedAt: new Date(T0 + records.length * 10_000).toISOString(),
    trials: records,
    partial: false,
  };
}
