// Faults under the process model: one worker process is hit; only it dies; it is replaced.
import test from 'ava';
import { answeringWorkers, expectOthersUntouched, expectReplaced } from './faults.ts';
import { pidAlive, startWorkload } from './harness.ts';

const BOUND_MILLIS = 15_000;

for (const kind of ['exit', 'abort', 'throw'] as const) {
  test(`process model: ${kind} kills only worker 1, which is replaced within ${BOUND_MILLIS} ms`, async (t) => {
    const workload = await startWorkload(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '3' });
    const before = (await workload.stats()).workers;
    t.is(await workload.fault(kind, 1), 202);
    const fault = await workload.waitForEvent((e) => e.event === 'fault', 5000, 'fault line');
    t.like(fault, { kind, worker: 1, pid: before[1]!.pid });
    t.true(typeof fault['at'] === 'number');
    const exit = await workload.waitForEvent((e) => e.event === 'worker-exit', BOUND_MILLIS, 'worker-exit');
    if (kind === 'abort') t.is(exit['signal'], 'SIGABRT');
    else t.not(exit['code'], 0);
    await expectReplaced(t, workload, 1, before[1]!, BOUND_MILLIS);
    t.false(pidAlive(before[1]!.pid), 'the faulty process is gone');
    t.true(pidAlive(workload.pid), 'the supervisor survived');
    expectOthersUntouched(t, before, (await workload.stats()).workers, 1);
  });
}

test('process model: hang stops one worker answering, readiness drops, the others still serve', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
  t.is(await workload.fault('hang', 0), 202);
  t.true(await workload.until(async () => (await workload.readyz()) === 503, 5000), 'readyz turns 503');
  const stats = await workload.stats();
  t.false(stats.workers[0]!.serving);
  t.true(stats.workers[0]!.alive, 'a hung worker is alive, just not answering');
  t.true(stats.workers[1]!.serving);
  const answering = await answeringWorkers(workload, 16);
  t.deepEqual([...answering], ['1'], 'only the healthy worker answers');
});

test('process model: leak under a small heap limit kills only that worker, which is replaced', async (t) => {
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    CONCLAB_WORKER_HEAP_MB: '64',
  });
  const before = (await workload.stats()).workers;
  t.is(await workload.fault('leak', 0), 202);
  await expectReplaced(t, workload, 0, before[0]!, 30_000);
  expectOthersUntouched(t, before, (await workload.stats()).workers, 0);
});

test('process model: with CONCLAB_REPLACE_WORKERS=false a dead worker stays dead and readiness stays down', async (t) => {
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    CONCLAB_REPLACE_WORKERS: 'false',
  });
  t.is(await workload.fault('exit', 1), 202);
  await workload.waitForEvent((e) => e.event === 'worker-exit', 5000, 'worker-exit');
  t.true(await workload.until(async () => (await workload.readyz()) === 503, 3000));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const stats = await workload.stats();
  t.false(stats.workers[1]!.alive);
  t.is(stats.restarts, 0);
  t.is(await workload.readyz(), 503);
  t.deepEqual([...(await answeringWorkers(workload, 8))], ['0'], 'the survivor serves everything');
});

test('process model: a fault scheduled by environment fires once the server is ready', async (t) => {
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    CONCLAB_FAULT_KIND: 'exit',
    CONCLAB_FAULT_AFTER_MILLIS: '300',
    CONCLAB_FAULT_WORKER: '1',
  });
  const fault = await workload.waitForEvent((e) => e.event === 'fault', 5000, 'fault line');
  t.like(fault, { kind: 'exit', worker: 1 });
  t.true((fault['at'] as number) >= Date.now() - 10_000);
  await workload.waitForEvent((e) => e.event === 'worker-replaced' && e['worker'] === 1, 15_000, 'replacement');
});
