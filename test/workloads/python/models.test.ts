// The Python workload serves from N distinct workers in every model: N pre-forked processes on one
// listening socket, N threads of one process, or one acceptor with a pool of N threads.
import test from 'ava';
import { identitiesSeen, PythonWorkload, request, startPython } from './harness.ts';

// 20 ms of CPU per request keeps a worker busy long enough that concurrent requests reach the others.
const BUSY = { CONCLAB_CPU_MILLIS: '20', CONCLAB_WORKERS: '3' };

test('process model: three forked worker processes, none of them the supervisor, all serve', async (t) => {
  const workload = await startPython(t, { ...BUSY, CONCLAB_MODEL: 'process' });
  t.like(workload.ready, { model: 'process', workers: 3, pid: workload.pid });
  const seen = await identitiesSeen(workload.ready.port, 3, 120, 6);
  t.is(seen.length, 3, JSON.stringify(seen));
  const pids = new Set(seen.map((s) => s.pid));
  t.is(pids.size, 3, 'one OS process per worker');
  t.false(pids.has(String(workload.pid)), 'the supervisor does not serve');
  t.true(
    seen.every((s) => s.thread === '0'),
    'threadId is 0 under the process model',
  );
  const stats = await workload.stats();
  t.is(stats.model, 'process');
  t.deepEqual(stats.workers.map((w) => String(w.pid)).sort(), [...pids].sort());
  t.true(stats.workers.every((w) => w.alive && w.serving && w.replacedCount === 0));
});

test('thread model: three threads of the one process serve', async (t) => {
  const workload = await startPython(t, { ...BUSY, CONCLAB_MODEL: 'thread' });
  t.like(workload.ready, { model: 'thread', workers: 3 });
  const seen = await identitiesSeen(workload.ready.port, 3, 120, 6);
  t.is(seen.length, 3, JSON.stringify(seen));
  t.true(
    seen.every((s) => s.pid === String(workload.pid)),
    'all in the supervisor process',
  );
  t.is(new Set(seen.map((s) => s.thread)).size, 3, 'three distinct native thread ids');
  const stats = await workload.stats();
  t.true(stats.workers.every((w) => w.pid === workload.pid && w.threadId > 0 && w.serving));
});

test('offload model: one acceptor hands requests to a pool of three threads', async (t) => {
  const workload = await startPython(t, { ...BUSY, CONCLAB_MODEL: 'offload' });
  const seen = await identitiesSeen(workload.ready.port, 3, 120, 6);
  t.is(seen.length, 3, JSON.stringify(seen));
  t.is(new Set(seen.map((s) => s.thread)).size, 3);
  t.is(await workload.readyz(), 200);
});

test('every model answers /healthz on the work port and counts work requests per worker in /stats', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '2' });
  t.is((await request(workload.ready.port, '/healthz', 5000)).body, 'ok\n');
  const work = await request(workload.ready.port, '/work', 5000);
  t.is(work.status, 200);
  t.is(work.body.length, 256, 'CONCLAB_RESPONSE_BYTES defaults to 256');
  t.true(
    await workload.until(async () => (await workload.stats()).workers.reduce((n, w) => n + w.requests, 0) === 1, 3000),
    'one work request counted (healthz is not work)',
  );
});

test('a bad environment stops the workload with exit code 2 naming every bad variable', async (t) => {
  const workload = new PythonWorkload({ CONCLAB_MODEL: 'fork', CONCLAB_WORKERS: '0' });
  t.teardown(() => workload.killGroup());
  const exit = await workload.exited;
  t.is(exit.code, 2);
  t.regex(workload.stderr, /CONCLAB_MODEL="fork" is invalid: expected one of process, thread, offload/);
  t.regex(workload.stderr, /CONCLAB_WORKERS="0" is invalid/);
});
