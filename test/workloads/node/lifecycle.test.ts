// Lifecycle: SIGTERM drains in-flight requests and exits 0 within the bound; nothing survives the
// supervisor in any path, including SIGKILL of the supervisor and a hung worker at shutdown.
import test from 'ava';
import { pidAlive, request, sleep, startWorkload } from './harness.ts';

async function allGone(pids: number[], timeoutMillis: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMillis;
  let alive = pids.filter(pidAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter(pidAlive);
  }
  return alive;
}

for (const model of ['process', 'thread', 'offload'] as const) {
  test(`${model} model: SIGTERM drains an in-flight request, exits 0 and leaves no process behind`, async (t) => {
    const workload = await startWorkload(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      CONCLAB_PROFILE: 'io',
      CONCLAB_IO_MILLIS: '700',
    });
    const pids = [workload.pid, ...(await workload.stats()).workers.map((w) => w.pid)];
    const inFlight = request(workload.ready.port, '/work', 10_000);
    await sleep(200);
    const signalledAt = Date.now();
    process.kill(workload.pid, 'SIGTERM');
    const response = await inFlight;
    t.is(response.status, 200, 'the in-flight request completed');
    const exit = await Promise.race([workload.exited, sleep(12_000).then(() => 'timeout')]);
    t.deepEqual(exit, { code: 0, signal: null });
    t.true(Date.now() - signalledAt < 10_000, 'within CONCLAB_SHUTDOWN_TIMEOUT_MILLIS');
    t.deepEqual(await allGone(pids, 3000), [], 'no pid survives');
    const events = workload.events.map((e) => e.event);
    t.true(events.includes('shutdown') && events.includes('stopped'));
    t.false(
      workload.events.some((e) => e.event === 'worker-replaced'),
      'no replacement during shutdown',
    );
  });
}

test('process model: SIGKILL of the supervisor takes every worker process with it', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '3' });
  const workerPids = (await workload.stats()).workers.map((w) => w.pid);
  t.is(workerPids.filter(pidAlive).length, 3);
  process.kill(workload.pid, 'SIGKILL'); // only the supervisor, not the group
  t.deepEqual(await allGone(workerPids, 5000), [], 'workers exit when their IPC channel disconnects');
});

test('process model: SIGTERM with a hung worker still exits within the bound and kills it', async (t) => {
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    CONCLAB_SHUTDOWN_TIMEOUT_MILLIS: '3000',
  });
  const workerPids = (await workload.stats()).workers.map((w) => w.pid);
  t.is(await workload.fault('hang', 0), 202);
  await workload.waitForEvent((e) => e.event === 'fault', 3000, 'fault line');
  await sleep(300);
  const signalledAt = Date.now();
  process.kill(workload.pid, 'SIGTERM');
  const exit = await Promise.race([workload.exited, sleep(8000).then(() => 'timeout')]);
  t.deepEqual(exit, { code: 0, signal: null });
  t.true(Date.now() - signalledAt < 5000);
  t.deepEqual(await allGone(workerPids, 3000), []);
});

test('thread model: SIGTERM with a hung thread still exits 0 within the bound', async (t) => {
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '2',
    CONCLAB_SHUTDOWN_TIMEOUT_MILLIS: '3000',
  });
  t.is(await workload.fault('hang', 1), 202);
  await sleep(300);
  const signalledAt = Date.now();
  process.kill(workload.pid, 'SIGTERM');
  const exit = await Promise.race([workload.exited, sleep(8000).then(() => 'timeout')]);
  t.deepEqual(exit, { code: 0, signal: null });
  t.true(Date.now() - signalledAt < 5000);
});
