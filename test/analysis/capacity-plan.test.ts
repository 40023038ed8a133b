// The capacity plan of a run (analysis/capacity-plan.ts): sweep points grouped back into one
// USL series per variant, fitted over every trial's searched capacity, and the sizing answer
// for spec.target from the same measurements.
import test from 'ava';
import { capacityPlan } from '../../operator/analysis/capacity-plan.ts';
import { summarizeVariants } from '../../operator/analysis/variant-summary.ts';
import { sweepExperiment, sweepRun, usl } from './sweep-builder.ts';

const LAWS: Record<string, [number, number, number]> = {
  process: [200, 0.05, 0.01],
  thread: [210, 0.3, 0.02],
};
const law = (variant: string, n: number) => {
  const [g, a, b] = LAWS[variant] ?? [0, 0, 0];
  return usl(n, g, a, b);
};

function planOf(
  experiment = sweepExperiment(),
  lawOf = law,
  options: { end?: 'converged' | 'max-rate' | 'driver-saturated' } = {},
) {
  const run = sweepRun(experiment, lawOf, options);
  return capacityPlan(experiment.spec, summarizeVariants(experiment, run.trials, { seed: 1 }));
}

test('a sweep gives one series per variant with its points in worker order', (t) => {
  const plan = planOf();
  t.deepEqual(
    plan.series.map(
      (s) => `${s.variant}/${s.model}@${s.cpu}: ${s.points.map((p) => `${p.name}x${p.capacity.n}`).join(' ')}`,
    ),
    [
      'process/process@1: process-w1x3 process-w2x3 process-w4x3 process-w8x3',
      'thread/thread@1: thread-w1x3 thread-w2x3 thread-w4x3 thread-w8x3',
    ],
  );
});

test('the USL fit recovers the law each series was built from, within its intervals', (t) => {
  for (const s of planOf().series) {
    t.true(s.fit.fittable, s.description);
    if (!s.fit.fittable) continue;
    const [g, a, b] = LAWS[s.variant] ?? [0, 0, 0];
    for (const [name, truth] of [
      ['gamma', g],
      ['alpha', a],
      ['beta', b],
    ] as const) {
      const e = s.fit[name];
      t.true(
        e.ci.lower <= truth && truth <= e.ci.upper,
        `${s.variant} ${name}: ${truth} not in ${e.ci.lower}..${e.ci.upper}`,
      );
    }
    t.is(s.fit.residuals.length, 12, 'every trial is a point of the fit');
  }
});

test('the sentence names contention and coherency in the model’s own terms, from the numbers', (t) => {
  const [processes, threads] = planOf().series;
  t.regex(
    processes?.description ?? '',
    /^process \(process\): contention α = .*coherency β = .*IPC and memory duplicated between processes/,
  );
  t.regex(
    threads?.description ?? '',
    /^thread \(thread\): contention α = .*shared caches and data kept coherent between threads/,
  );
  t.regex(threads?.description ?? '', /peaks at N\* ≈/);
});

test('three worker counts with N = 1 are fitted with γ from the N = 1 trials', (t) => {
  const plan = planOf(sweepExperiment({}, [1, 2, 4]));
  const s = plan.series[0];
  t.true(s?.fit.fittable, s?.description);
  if (s?.fit.fittable) t.is(s.fit.method, 'gamma-from-n1');
});

test('a flat series (a GIL) says there is no fit and why, instead of printing coefficients', (t) => {
  const plan = planOf(sweepExperiment(), (variant, n) => (variant === 'thread' ? 180 : law(variant, n)));
  const threads = plan.series.find((s) => s.variant === 'thread');
  t.false(threads?.fit.fittable);
  if (threads && !threads.fit.fittable) t.is(threads.fit.reason, 'flat');
  t.regex(threads?.description ?? '', /no USL fit \(flat\)/);
});

test('two worker counts are too few: the series says so', (t) => {
  const plan = planOf(sweepExperiment({}, [2, 4]));
  t.true(plan.series.every((s) => !s.fit.fittable && s.fit.reason === 'too-few-points'));
});

test('the sizing answer carries the capacity interval into a replica range and names who needs less CPU', (t) => {
  const plan = planOf();
  const sizing = plan.sizing;
  if (!sizing) return t.fail('no sizing');
  t.is(sizing.target.requestsPerSecond, 2000);
  for (const m of sizing.models) {
    if (!m.sizable) return t.fail(`${m.model}: ${m.reason}`);
    t.true(m.replicas.optimistic <= m.replicas.expected && m.replicas.expected <= m.replicas.pessimistic);
    t.is(m.totalCpuCores.expected, m.replicas.expected * m.cpuCoresPerPod);
    t.true(m.arithmetic.some((line) => line.startsWith('expected: ceil(2000 / ')));
    t.truthy(m.memoryBytesPerPod);
  }
  const best = (name: string) => {
    const m = sizing.models.find((x) => x.model === name);
    return m?.sizable ? m : undefined;
  };
  // process peaks far above thread at the measured counts: it needs fewer pods.
  t.is(best('process')?.workersPerPod, 8);
  t.true((best('process')?.replicas.pessimistic ?? 99) < (best('thread')?.replicas.optimistic ?? 0));
  t.is(sizing.lessCpu.model, 'process');
  t.regex(plan.sizingLine ?? '', /^process \d+( \(\d+-\d+\))? x 8w x 1 CPU \/ thread .*; process needs less CPU$/);
});

test('a search that ended at its rate limit makes the capacity a lower bound', (t) => {
  const plan = planOf(sweepExperiment(), law, { end: 'max-rate' });
  t.true(plan.series.every((s) => s.points.every((p) => p.lowerBound)));
  const saturated = planOf(sweepExperiment(), law, { end: 'driver-saturated' });
  t.true(
    saturated.series.every((s) => s.points.every((p) => !p.lowerBound)),
    'a saturated generator bounds nothing',
  );
});

test('without a target the plan says how to get a sizing answer', (t) => {
  const experiment = sweepExperiment();
  delete experiment.spec.target;
  const plan = planOf(experiment);
  t.is(plan.sizing, undefined);
  t.regex(plan.sizingMissing ?? '', /no spec\.target/);
  t.is(plan.series.length, 2);
});

test('a CPU sweep gives one series per variant and budget, sized at its own CPU', (t) => {
  const experiment = sweepExperiment({ variants: [{ name: 'process', model: 'process', workers: 1, replicas: 1 }] });
  experiment.spec.sweep = { workers: [1, 2, 4, 8], cpu: ['500m', '2'] };
  const plan = planOf(experiment, (_v, n) => usl(n, 100, 0.05, 0.002));
  t.deepEqual(
    plan.series.map((s) => `${s.label}:${s.cpuCores}`),
    ['process @ 500m CPU:0.5', 'process @ 2 CPU:2'],
  );
  t.deepEqual(
    plan.sizing?.models.map((m) => (m.sizable ? m.cpuCoresPerPod : 0)),
    [0.5, 2],
  );
});
