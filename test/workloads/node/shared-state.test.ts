// The shared-state profile: with the lock (threads) or the state owner (processes) no update is
// lost; racy mode counts the updates it lost instead of hiding them.
import test from 'ava';
import { okResponses } from './faults.ts';
import { burst, startWorkload } from './harness.ts';

const REQUESTS = 300;

for (const model of ['process', 'thread', 'offload'] as const) {
  test(`${model} model: shared-state updates are never lost when synchronised`, async (t) => {
    const workload = await startWorkload(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '3',
      CONCLAB_PROFILE: 'shared-state',
      CONCLAB_CPU_MILLIS: '0.2',
    });
    t.is(okResponses(await burst(workload.ready.port, REQUESTS, 12)).length, REQUESTS);
    const stats = await workload.stats();
    t.deepEqual(stats.sharedState, { attempts: REQUESTS, value: REQUESTS });
    t.is(stats.lostUpdates, 0);
  });
}

test('process model: racy shared-state counts lost updates (get and set race over IPC)', async (t) => {
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '3',
    CONCLAB_PROFILE: 'shared-state',
    CONCLAB_CPU_MILLIS: '0',
    CONCLAB_RACY: 'true',
  });
  t.is(okResponses(await burst(workload.ready.port, REQUESTS, 24)).length, REQUESTS);
  const stats = await workload.stats();
  t.is(stats.sharedState!.attempts, REQUESTS);
  t.is(stats.lostUpdates, REQUESTS - stats.sharedState!.value);
  t.true(stats.lostUpdates > 0, `lost ${stats.lostUpdates} of ${REQUESTS}`);
});

test('thread model: racy shared-state reports lost updates consistently (may be 0 on few cores)', async (t) => {
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '3',
    CONCLAB_PROFILE: 'shared-state',
    CONCLAB_CPU_MILLIS: '0',
    CONCLAB_RACY: 'true',
  });
  t.is(okResponses(await burst(workload.ready.port, REQUESTS, 24)).length, REQUESTS);
  const stats = await workload.stats();
  t.is(stats.sharedState!.attempts, REQUESTS);
  t.is(stats.lostUpdates, REQUESTS - stats.sharedState!.value);
  t.true(stats.lostUpdates >= 0);
});
