import test from 'ava';
import type { Fault, Load } from '../../operator/api/schema.ts';
import { faultsFor, faultWorker, planTrials, toLoadPlan } from '../../operator/engine/plan.ts';

const variants = [
  { name: 'proc', model: 'process' as const, workers: 4, replicas: 1 },
  { name: 'thr', model: 'thread' as const, workers: 4, replicas: 1 },
];

test('trials are interleaved across variants and alternate who goes first', (t) => {
  const plan = planTrials({ variants, trials: 3 });
  t.deepEqual(
    plan.map((p) => `${p.variant}#${p.trial}`),
    ['proc#1', 'thr#1', 'thr#2', 'proc#2', 'proc#3', 'thr#3'],
  );
  t.deepEqual(
    plan.map((p) => p.index),
    [0, 1, 2, 3, 4, 5],
  );
});

test('a fault without variants hits every variant; one with variants only those', (t) => {
  const all: Fault = { kind: 'abort', at: '5s' };
  const one: Fault = { kind: 'hang', at: '5s', variants: ['thr'] };
  t.deepEqual(faultsFor([all, one], 'proc'), [all]);
  t.deepEqual(faultsFor([all, one], 'thr'), [all, one]);
  t.deepEqual(faultsFor(undefined, 'thr'), []);
});

test('the fault target wraps around the worker count', (t) => {
  t.is(faultWorker({ kind: 'exit', at: '1s', target: { worker: 5 } }, 4), 1);
  t.is(faultWorker({ kind: 'exit', at: '1s' }, 4), 0);
});

const load: Load = {
  driver: 'builtin',
  pattern: 'constant-arrival-rate',
  rate: 100,
  duration: '10s',
  warmUp: '2s',
  maxInFlight: 64,
  timeout: '1s',
};
const parseMillis = (d: string) => Number.parseFloat(d) * (d.endsWith('ms') ? 1 : 1000);

test('a constant arrival rate maps to a constant plan with parsed durations', (t) => {
  const plan = toLoadPlan({ load, targets: ['http://127.0.0.1:1/work', 'http://127.0.0.2:1/work'], parseMillis });
  t.deepEqual(plan.targets, ['http://127.0.0.1:1/work', 'http://127.0.0.2:1/work'], 'every replica');
  t.like(plan, { rate: 100, durationMillis: 10_000, warmUpMillis: 2000, maxInFlight: 64, timeoutMillis: 1000 });
  t.is(plan.stages, undefined);
});

test('a ramping plan lasts as long as its stages together', (t) => {
  const plan = toLoadPlan({
    load: {
      ...load,
      pattern: 'ramping-arrival-rate',
      rate: undefined,
      stages: [
        { duration: '3s', target: 50 },
        { duration: '500ms', target: 10 },
      ],
    },
    targets: ['http://127.0.0.1:1/work'],
    parseMillis,
  });
  t.is(plan.durationMillis, 3500);
  t.deepEqual(plan.stages, [
    { durationMillis: 3000, targetRate: 50 },
    { durationMillis: 500, targetRate: 10 },
  ]);
});
