import test from 'ava';
import {
  type CapacityAtWorkers,
  formatSlo,
  type ModelMeasurements,
  type ModelNotSizable,
  type ModelSizing,
  recommendSizing,
  type SizingAnswer,
} from '../../operator/analysis/sizing.ts';
import { fitUsl, uslThroughput } from '../../operator/analysis/usl.ts';

const MiB = 1024 * 1024;

/** A measured point: capacity mean ± half (95%, 3 trials), memory mean ± memHalf MiB. */
function at(workers: number, mean: number, half: number, memMiB?: number, memHalf = 2): CapacityAtWorkers {
  return {
    workers,
    capacity: { mean, n: 3, ci: { lower: mean - half, upper: mean + half, level: 0.95 } },
    ...(memMiB === undefined
      ? {}
      : {
          peakMemoryBytes: {
            mean: memMiB * MiB,
            ci: { lower: (memMiB - memHalf) * MiB, upper: (memMiB + memHalf) * MiB, level: 0.95 },
          },
        }),
  };
}

function sized(answer: SizingAnswer, model: string): ModelSizing {
  const m = answer.models.find((x) => x.model === model);
  if (!m?.sizable) throw new Error(`${model} was not sized: ${(m as ModelNotSizable | undefined)?.reason}`);
  return m;
}

const processAndThread = (): ModelMeasurements[] => [
  { model: 'process', cpuCoresPerPod: 1, points: [at(1, 400, 20, 80), at(2, 812, 40, 160, 10)] },
  { model: 'thread', cpuCoresPerPod: 1, points: [at(2, 560, 20, 90)] },
];

test('the arithmetic is shown: ceil(target / capacity) pods × CPU per pod, for the mean and both interval bounds', (t) => {
  const a = recommendSizing(
    { requestsPerSecond: 5000, slo: { latency: { p99: '200ms' }, errorRate: 0.01 } },
    processAndThread(),
  );
  const p = sized(a, 'process');
  t.is(p.workersPerPod, 2);
  t.deepEqual(p.replicas, { pessimistic: 7, expected: 7, optimistic: 6 });
  t.deepEqual(p.totalCpuCores, { pessimistic: 7, expected: 7, optimistic: 6 });
  t.deepEqual(p.arithmetic, [
    'capacity per pod at 2 worker(s) and 1 CPU: 812 req/s (95% CI 772–852, 3 trials) within the SLO (p99 ≤ 200ms, errors ≤ 1%)',
    'expected: ceil(5000 / 812) = 7 pods × 1 CPU = 7 CPU',
    'pessimistic: ceil(5000 / 772) = 7 pods × 1 CPU = 7 CPU',
    'optimistic: ceil(5000 / 852) = 6 pods × 1 CPU = 6 CPU',
    'memory per pod: 170 MiB (upper 95% bound of peak memory) × 7 pods = 1190 MiB',
  ]);
  t.is(p.memoryBytesPerPod, 170 * MiB);
  const th = sized(a, 'thread');
  t.deepEqual(th.replicas, { pessimistic: 10, expected: 9, optimistic: 9 });
});

test('a model needs less CPU only when its pessimistic total is below the other optimistic one', (t) => {
  const a = recommendSizing({ requestsPerSecond: 5000 }, processAndThread());
  t.true(a.lessCpu.clear);
  t.is(a.lessCpu.model, 'process');
  t.is(
    a.lessCpu.statement,
    'process needs less CPU: 7 CPU (6–7) against thread 9 CPU (9–10), even at its pessimistic count',
  );
  t.is(a.lessMemory.model, 'thread');
  t.regex(
    a.summary,
    /^To serve 5000 req\/s: process: 2 worker\(s\) per pod, 7 pods \(6–7\) × 1 CPU and 170 MiB; thread:/,
  );

  const overlapping = recommendSizing({ requestsPerSecond: 5000 }, [
    { model: 'process', cpuCoresPerPod: 1, points: [at(2, 812, 120)] },
    { model: 'thread', cpuCoresPerPod: 1, points: [at(2, 700, 100)] },
  ]);
  t.false(overlapping.lessCpu.clear);
  t.is(overlapping.lessCpu.model, undefined);
  t.is(
    overlapping.lessCpu.statement,
    'neither clearly needs less CPU: process 7 CPU (6–8) and thread 8 CPU (7–9) overlap within the capacity intervals',
  );
  t.is(overlapping.lessMemory.statement, 'no memory figures to compare');
});

const table: {
  name: string;
  target: { requestsPerSecond: number; headroom?: number; minReplicas?: number };
  points: CapacityAtWorkers[];
  cpu: number;
  workers: number;
  replicas: [number, number, number];
  cpuTotal: number;
  line?: RegExp;
  note?: RegExp;
}[] = [
  {
    name: 'headroom multiplies the target before dividing',
    target: { requestsPerSecond: 5000, headroom: 0.25 },
    points: [at(2, 812, 40)],
    cpu: 1,
    workers: 2,
    replicas: [9, 8, 8],
    cpuTotal: 8,
    line: /^planned rate: 5000 × 1\.25 = 6250 req\/s$/,
  },
  {
    name: 'minReplicas raises a small count and says so',
    target: { requestsPerSecond: 300, minReplicas: 2 },
    points: [at(4, 812, 40)],
    cpu: 2,
    workers: 4,
    replicas: [2, 2, 2],
    cpuTotal: 4,
    line: /^expected: max\(ceil\(300 \/ 812\) = 1, minReplicas 2\) = 2 pods × 2 CPU = 4 CPU$/,
  },
  {
    name: 'fractional CPU budgets multiply exactly',
    target: { requestsPerSecond: 1000 },
    points: [at(1, 210, 10)],
    cpu: 0.5,
    workers: 1,
    replicas: [5, 5, 5],
    cpuTotal: 2.5,
    line: /^expected: ceil\(1000 \/ 210\) = 5 pods × 0\.5 CPU = 2\.5 CPU$/,
  },
  {
    name: 'an exact division is not rounded up by floating point',
    // 400 × 1.1 / 55 is 8.000000000000002 in floating point
    target: { requestsPerSecond: 400, headroom: 0.1 },
    points: [at(1, 55, 0)],
    cpu: 1,
    workers: 1,
    replicas: [8, 8, 8],
    cpuTotal: 8,
  },
  {
    name: 'the worker count with the fewest pessimistic replicas wins, not the highest mean',
    target: { requestsPerSecond: 4000 },
    points: [at(4, 1000, 10), at(8, 1050, 300)],
    cpu: 2,
    workers: 4,
    replicas: [5, 4, 4],
    cpuTotal: 8,
  },
  {
    name: 'between equal counts the one with less memory wins',
    target: { requestsPerSecond: 4000 },
    points: [at(8, 1000, 5, 400), at(4, 1000, 5, 200)],
    cpu: 2,
    workers: 4,
    replicas: [5, 4, 4],
    cpuTotal: 8,
  },
  {
    name: 'one trial has no interval: the range is one count and the note says why',
    target: { requestsPerSecond: 5000 },
    points: [{ workers: 2, capacity: { mean: 812, n: 1 } }],
    cpu: 1,
    workers: 2,
    replicas: [7, 7, 7],
    cpuTotal: 7,
    note: /^one trial: capacity has no interval, so the replica range is a single count$/,
  },
  {
    name: 'an interval reaching 0 makes the pessimistic count unbounded',
    target: { requestsPerSecond: 5000 },
    points: [at(2, 812, 900)],
    cpu: 1,
    workers: 2,
    replicas: [Number.POSITIVE_INFINITY, 7, 3],
    cpuTotal: 7,
    line: /^pessimistic: the capacity interval reaches 0 req\/s, so no count is enough$/,
    note: /pessimistic count is unbounded \(run more trials\)/,
  },
  {
    name: 'a capacity not reached gives upper bounds on the counts',
    target: { requestsPerSecond: 5000 },
    points: [{ ...at(2, 812, 40), lowerBound: true }],
    cpu: 1,
    workers: 2,
    replicas: [7, 7, 7],
    cpuTotal: 7,
    note: /capacity was not reached at 2 worker\(s\).*the counts are upper bounds/,
  },
];

for (const row of table) {
  test(`sizing: ${row.name}`, (t) => {
    const a = recommendSizing(row.target, [{ model: 'm', cpuCoresPerPod: row.cpu, points: row.points }]);
    const m = sized(a, 'm');
    t.is(m.workersPerPod, row.workers);
    t.deepEqual([m.replicas.pessimistic, m.replicas.expected, m.replicas.optimistic], row.replicas);
    t.is(m.totalCpuCores.expected, row.cpuTotal);
    if (row.line)
      t.true(
        m.arithmetic.some((l) => row.line?.test(l)),
        m.arithmetic.join('\n'),
      );
    if (row.note)
      t.true(
        m.notes.some((l) => row.note?.test(l)),
        m.notes.join('\n'),
      );
  });
}

test('a model with no capacity is not sized, with the reason; the other is', (t) => {
  const a = recommendSizing({ requestsPerSecond: 1000 }, [
    { model: 'process', cpuCoresPerPod: 1, points: [at(2, 500, 10)] },
    { model: 'thread', cpuCoresPerPod: 1, points: [{ workers: 2, capacity: { mean: 0, n: 3 } }] },
    { model: 'offload', cpuCoresPerPod: 1, points: [] },
  ]);
  t.deepEqual(
    a.models.filter((m) => !m.sizable).map((m) => [m.model, (m as ModelNotSizable).reason]),
    [
      ['thread', 'no worker count sustained any rate within the SLO (capacity 0)'],
      ['offload', 'no capacity was measured'],
    ],
  );
  t.is(a.lessCpu.statement, 'only process has a CPU figure to compare');
});

test('a USL peak between measured worker counts is pointed out, not sized on', (t) => {
  const c = { alpha: 0.05, beta: 0.02, gamma: 300 };
  const workers = [1, 2, 4, 10, 16];
  const points = workers.map((n) => at(n, uslThroughput(n, c), 5));
  const fit = fitUsl(
    workers.flatMap((n) => [0.995, 1, 1.005].map((k) => ({ n, throughput: k * uslThroughput(n, c) }))),
  );
  t.true(fit.fittable);
  const a = recommendSizing({ requestsPerSecond: 10000 }, [{ model: 'thread', cpuCoresPerPod: 4, points, fit }]);
  const m = sized(a, 'thread');
  t.true(workers.includes(m.workersPerPod), 'sized on a measured worker count');
  t.true(
    m.notes.some((n) =>
      /the USL fit peaks at N\* ≈ 6\.\d+: it predicts \d+ req\/s at 7 workers.*measure 7 workers/.test(n),
    ),
    m.notes.join('\n'),
  );
});

test('bad inputs name the field and what it must be', (t) => {
  t.throws(() => recommendSizing({ requestsPerSecond: 0 }, []), {
    message: 'recommendSizing: target.requestsPerSecond must be a rate above 0, got 0',
  });
  t.throws(() => recommendSizing({ requestsPerSecond: 10, minReplicas: 1.5 }, []), {
    message: /target\.minReplicas must be a whole number >= 1/,
  });
  t.throws(() => recommendSizing({ requestsPerSecond: 10 }, [{ model: 'm', cpuCoresPerPod: 0, points: [] }]), {
    message: /models\[0\]\.cpuCoresPerPod must be cores above 0 \(the pod's CPU limit\)/,
  });
  t.throws(
    () =>
      recommendSizing({ requestsPerSecond: 10 }, [
        {
          model: 'm',
          cpuCoresPerPod: 1,
          points: [{ workers: 2, capacity: { mean: 5, n: 3, ci: { lower: 6, upper: 7, level: 0.95 } } }],
        },
      ]),
    { message: /models\[0\]\.points\[0\]\.capacity\.ci must contain the mean/ },
  );
});

test('the SLO is worded from its bounds', (t) => {
  t.is(
    formatSlo({ latency: { p50: '20ms', p99: '200ms' }, errorRate: 0.001 }),
    'p50 ≤ 20ms, p99 ≤ 200ms, errors ≤ 0.1%',
  );
  t.is(formatSlo({}), undefined);
  t.is(formatSlo(undefined), undefined);
});
