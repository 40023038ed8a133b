// Faults under the thread model: threads share one OS process, so a native abort ends the whole
// server, while exit, throw and a heap-limited leak end only the one thread, which is replaced.
import test from 'ava';
import { answeringWorkers, expectOthersUntouched, expectReplaced } from './faults.ts';
import { startWorkload } from './harness.ts';

const BOUND_MILLIS = 15_000;

for (const kind of ['exit', 'throw'] as const) {
  test(`thread model: ${kind} ends only worker thread 1, which is replaced in the same process`, async (t) => {
    const workload = await startWorkload(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '3' });
    const before = (await workload.stats()).workers;
    t.is(await workload.fault(kind, 1), 202);
    const fault = await workload.waitForEvent((e) => e.event === 'fault', 5000, 'fault line');
    t.like(fault, { kind, worker: 1, pid: workload.pid, threadId: before[1]!.threadId });
    await expectReplaced(t, workload, 1, before[1]!, BOUND_MILLIS);
    const after = (await workload.stats()).workers;
    t.is(after[1]!.pid, workload.pid, 'still the same OS process');
    expectOthersUntouched(t, before, after, 1);
    if (kind === 'throw') {
      const exit = workload.events.find((e) => e.event === 'worker-exit');
      t.regex(String(exit?.['error']), /injected fault/);
    }
  });
}

test('thread model: abort in one worker thread ends the whole server', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '3' });
  t.is(await workload.fault('abort', 2), 202);
  const exit = await Promise.race([
    workload.exited,
    new Promise<undefined>((resolve) => setTimeout(resolve, BOUND_MILLIS, undefined)),
  ]);
  t.deepEqual(exit, { code: null, signal: 'SIGABRT' });
  t.truthy(workload.events.find((e) => e.event === 'fault' && e['kind'] === 'abort'));
});

test('thread model: hang stops one thread answering, readiness drops, the others still serve', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '2' });
  t.is(await workload.fault('hang', 1), 202);
  t.true(await workload.until(async () => (await workload.readyz()) === 503, 5000), 'readyz turns 503');
  const stats = await workload.stats();
  t.false(stats.workers[1]!.serving);
  t.true(stats.workers[0]!.serving);
  t.deepEqual([...(await answeringWorkers(workload, 16))], ['0']);
});

test('thread model: leak past the per-thread heap limit ends only that thread, which is replaced', async (t) => {
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '2',
    CONCLAB_WORKER_HEAP_MB: '64',
  });
  const before = (await workload.stats()).workers;
  t.is(await workload.fault('leak', 0), 202);
  await expectReplaced(t, workload, 0, before[0]!, 30_000);
  const exit = workload.events.find((e) => e.event === 'worker-exit');
  t.is(exit?.['error'], 'ERR_WORKER_OUT_OF_MEMORY');
  expectOthersUntouched(t, before, (await workload.stats()).workers, 0);
});
