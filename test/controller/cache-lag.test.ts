import test from 'ava';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import { lagsBehind } from '../../operator/controller/cache-lag.ts';

const cx = (generation: number, status?: ConcurrencyExperiment['status'], annotations?: Record<string, string>) =>
  ({
    apiVersion: 'conclab.dev/v1alpha1',
    kind: 'ConcurrencyExperiment',
    metadata: { name: 'hourly', namespace: 'ns', generation, ...(annotations ? { annotations } : {}) },
    spec: {},
    ...(status ? { status } : {}),
  }) as unknown as ConcurrencyExperiment;

const run1Done = { phase: 'Succeeded', lastScheduleTime: '2026-12-01T21:00:00Z' } as const;
const run2Started = { phase: 'Pending', lastScheduleTime: '2026-12-01T22:00:00Z' } as const;

const table: [string, ConcurrencyExperiment, ConcurrencyExperiment | undefined, boolean][] = [
  ['the cache has what the API server has', cx(1, run1Done), cx(1, run1Done), false],
  ['the cache misses our own last status write', cx(1, run1Done), cx(1, run2Started), true],
  ['the cache has no status yet, the API server has one', cx(1), cx(1, run2Started), true],
  ['the spec changed (a new generation)', cx(1, run1Done), cx(2, run1Done), true],
  ['only an annotation changed: nothing is decided from it', cx(1, run1Done), cx(1, run1Done, { poke: '2' }), false],
  [
    'keys in another order are the same status',
    cx(1, { lastScheduleTime: 'x', phase: 'Running' }),
    cx(1, { phase: 'Running', lastScheduleTime: 'x' }),
    false,
  ],
  ['the experiment is gone: its delete event decides', cx(1, run1Done), undefined, false],
];

for (const [name, cached, latest, expected] of table) {
  test(name, (t) => {
    t.is(lagsBehind(cached, latest), expected);
  });
}
