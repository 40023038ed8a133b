// The points of a sweep (api/sweep.ts): names, order, budgets, and that every child name a
// point produces stays within Kubernetes' limits at the schema's worst case.
import test from 'ava';
import { budgetOf, cpuNamePart, pointName, runVariant, sweepPoints } from '../../operator/api/sweep.ts';
import { faultsFor, planTrials } from '../../operator/engine/plan.ts';
import { loadPodName, resultConfigMapName, workloadPodName } from '../../operator/runtime/kube/names.ts';

const variants = [
  { name: 'processes', model: 'process' as const, workers: 4, replicas: 1 },
  { name: 'threads', model: 'thread' as const, workers: 4, replicas: 1 },
];
const resources = { cpu: '1', memory: '512Mi' };

test('without a sweep the points are the manifest variants, unchanged', (t) => {
  t.deepEqual(sweepPoints({ variants }), variants);
  t.is(runVariant({ variants }, 'threads'), variants[1]);
  t.is(runVariant({ variants }, 'threads-w4'), undefined);
});

test('a worker sweep makes one point per variant and count, named VARIANT-wN, workers set', (t) => {
  const points = sweepPoints({ variants, sweep: { workers: [1, 2, 4] } });
  t.deepEqual(
    points.map((p) => `${p.name}:${p.model}x${p.workers}:${p.sweep?.base}`),
    [
      'processes-w1:processx1:processes',
      'processes-w2:processx2:processes',
      'processes-w4:processx4:processes',
      'threads-w1:threadx1:threads',
      'threads-w2:threadx2:threads',
      'threads-w4:threadx4:threads',
    ],
  );
  t.true(points.every((p) => p.sweep?.cpu === undefined));
});

test('a CPU sweep adds -cCPU in millicores and gives each point its own CPU budget', (t) => {
  const spec = { variants: variants.slice(0, 1), resources, sweep: { workers: [1, 2], cpu: ['500m', '1.5', '2'] } };
  const points = sweepPoints(spec);
  t.deepEqual(
    points.map((p) => p.name),
    [
      'processes-w1-c500m',
      'processes-w2-c500m',
      'processes-w1-c1500m',
      'processes-w2-c1500m',
      'processes-w1-c2',
      'processes-w2-c2',
    ],
  );
  t.deepEqual(
    points.map((p) => budgetOf(spec, p).cpu),
    ['500m', '500m', '1.5', '1.5', '2', '2'],
  );
  t.is(budgetOf(spec, points[0]).memory, '512Mi');
  t.deepEqual(budgetOf(spec, variants[0]), resources, 'a manifest variant gets spec.resources');
});

test('CPU values get one DNS-safe spelling: whole cores as they are, anything else in millicores', (t) => {
  for (const [cpu, part] of [
    ['500m', '500m'],
    ['1.5', '1500m'],
    ['0.25', '250m'],
    ['2', '2'],
    ['2.000', '2'],
    ['0.01', '10m'],
    ['64', '64'],
    ['63.999', '63999m'],
  ] as const) {
    t.is(cpuNamePart(cpu), part, cpu);
    t.regex(pointName('v', 1, cpu), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  }
});

test('the longest point name is a label value and the longest child name is a valid name', (t) => {
  const variant = 'v'.repeat(40); // schema: variant names at most 40
  const point = pointName(variant, 256, '63.999'); // the longest worker count and CPU spelling
  t.true(point.length <= 63, `${point.length}`);
  const experiment = 'e'.repeat(63); // MAX_EXPERIMENT_NAME
  const run = '20260101t030000';
  for (const name of [
    loadPodName(experiment, point, 50, run),
    resultConfigMapName(experiment, point, 50, run),
    workloadPodName(experiment, point, 50, 63, run),
  ]) {
    t.true(name.length <= 253, `${name.length}: ${name}`);
    t.regex(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  }
});

test('planTrials interleaves every point of every variant, rotating the start each round', (t) => {
  const planned = planTrials({ variants, trials: 2, sweep: { workers: [1, 2] } });
  t.deepEqual(
    planned.map((p) => `${p.variant}#${p.trial}`),
    [
      'processes-w1#1',
      'processes-w2#1',
      'threads-w1#1',
      'threads-w2#1',
      'threads-w2#2',
      'threads-w1#2',
      'processes-w2#2',
      'processes-w1#2',
    ],
  );
});

test('a fault that names a variant hits every point of its sweep and no other', (t) => {
  const faults = [{ kind: 'exit' as const, at: '2s', variants: ['threads'] }];
  const points = sweepPoints({ variants, sweep: { workers: [1, 2] } });
  t.deepEqual(
    points.map((p) => faultsFor(faults, p).length),
    [0, 0, 1, 1],
  );
  t.is(faultsFor(faults, 'threads').length, 1, 'a plain name still works');
});
