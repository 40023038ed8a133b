// SIGTERM drains and exits 0 within the bound, leaving no process behind; workers never outlive
// their supervisor, even a SIGKILLed one; stdin EOF shuts down when conclab run asks for it.
import test from 'ava';
import { pidAlive, startPython } from './harness.ts';

function deadline<T>(promise: Promise<T>, millis: number): Promise<T | 'timeout'> {
  return Promise.race([promise, new Promise<'timeout'>((resolve) => setTimeout(resolve, millis, 'timeout'))]);
}

async function allGone(pids: number[], millis: number): Promise<boolean> {
  const end = Date.now() + millis;
  while (Date.now() < end) {
    if (!pids.some(pidAlive)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !pids.some(pidAlive);
}

for (const model of ['process', 'thread', 'offload'] as const) {
  test(`${model} model: SIGTERM exits 0 within the bound and leaves no process`, async (t) => {
    const workload = await startPython(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '3',
      CONCLAB_SHUTDOWN_TIMEOUT_MILLIS: '4000',
    });
    const pids = [workload.pid, ...(await workload.stats()).workers.map((w) => w.pid)];
    process.kill(workload.pid, 'SIGTERM');
    t.deepEqual(await deadline(workload.exited, 8000), { code: 0, signal: null });
    t.true(await allGone(pids, 3000), `left: ${pids.filter(pidAlive)}`);
    t.like(
      workload.events.find((e) => e.event === 'shutdown'),
      { reason: 'SIGTERM' },
    );
    t.like(
      workload.events.find((e) => e.event === 'stopped'),
      { forced: false },
    );
  });
}

test('process model: SIGTERM with a hung worker still exits 0 within the bound; the hung one is killed', async (t) => {
  const workload = await startPython(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    CONCLAB_SHUTDOWN_TIMEOUT_MILLIS: '2000',
  });
  const pids = (await workload.stats()).workers.map((w) => w.pid);
  t.is(await workload.fault('hang', 0), 202);
  t.true(await workload.until(async () => (await workload.readyz()) === 503, 8000));
  const started = Date.now();
  process.kill(workload.pid, 'SIGTERM');
  t.deepEqual(await deadline(workload.exited, 6000), { code: 0, signal: null });
  t.true(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
  t.true(await allGone(pids, 3000), `left: ${pids.filter(pidAlive)}`);
});

test('process model: workers die with a SIGKILLed supervisor (no orphans)', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '3' });
  const pids = (await workload.stats()).workers.map((w) => w.pid);
  t.true(pids.every(pidAlive));
  process.kill(workload.pid, 'SIGKILL');
  await workload.exited;
  t.true(await allGone(pids, 5000), `orphans: ${pids.filter(pidAlive)}`);
});

test('CONCLAB_EXIT_WITH_STDIN=true: EOF on stdin shuts the workload down', async (t) => {
  const workload = await startPython(
    t,
    { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2', CONCLAB_EXIT_WITH_STDIN: 'true' },
    'pipe',
  );
  const pids = (await workload.stats()).workers.map((w) => w.pid);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.true(pidAlive(workload.pid), 'an open stdin keeps it running');
  workload.child.stdin!.end();
  t.deepEqual(await deadline(workload.exited, 8000), { code: 0, signal: null });
  t.like(
    workload.events.find((e) => e.event === 'shutdown'),
    { reason: 'parent-gone' },
  );
  t.true(await allGone(pids, 3000));
});
