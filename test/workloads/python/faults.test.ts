// Faults hit exactly one worker; what else they take down depends on the model. A native abort
// ends the whole OS process: one worker under the process model (replaced), the whole server under
// the thread model. An uncaught exception ends only the worker thread it was raised in.
import test from 'ava';
import { type LogEvent, pidAlive, request, startPython } from './harness.ts';

const BOUND_MILLIS = 20_000;

function deadline<T>(promise: Promise<T>, millis: number): Promise<T | 'timeout'> {
  return Promise.race([promise, new Promise<'timeout'>((resolve) => setTimeout(resolve, millis, 'timeout'))]);
}

test('thread model: abort in one worker thread ends the whole server (SIGABRT)', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '3' });
  t.is(await workload.fault('abort', 2), 202);
  t.deepEqual(await deadline(workload.exited, BOUND_MILLIS), { code: null, signal: 'SIGABRT' });
  t.like(
    workload.events.find((e) => e.event === 'fault'),
    { kind: 'abort', worker: 2, pid: workload.pid },
  );
});

test('process model: abort ends only that worker process, which is replaced while the others serve', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '3' });
  const before = (await workload.stats()).workers;
  t.is(await workload.fault('abort', 1), 202);
  const replaced = await workload.waitForEvent((e) => e.event === 'worker-replaced', BOUND_MILLIS, 'worker-replaced');
  t.like(replaced, { worker: 1, oldPid: before[1]!.pid, replacedCount: 1 });
  t.not(replaced['pid'], before[1]!.pid);
  const exit = workload.events.find((e) => e.event === 'worker-exit') as LogEvent;
  t.like(exit, { worker: 1, pid: before[1]!.pid, code: null, signal: 'SIGABRT', expected: false });
  t.true(pidAlive(workload.pid), 'the supervisor lives on');
  t.false(pidAlive(before[1]!.pid));
  const after = (await workload.stats()).workers;
  for (const i of [0, 2]) t.is(after[i]!.pid, before[i]!.pid, `worker ${i} untouched`);
  t.true(await workload.until(async () => (await workload.readyz()) === 200, 5000), 'ready again with 3 workers');
  t.is((await request(workload.ready.port, '/work', 5000)).status, 200);
});

test('thread model: throw ends only that worker thread, which is replaced in the same process', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '3' });
  const before = (await workload.stats()).workers;
  t.is(await workload.fault('throw', 0), 202);
  const replaced = await workload.waitForEvent((e) => e.event === 'worker-replaced', BOUND_MILLIS, 'worker-replaced');
  t.like(replaced, { worker: 0, oldPid: workload.pid, pid: workload.pid, oldThreadId: before[0]!.threadId });
  t.not(replaced['threadId'], before[0]!.threadId, 'a new thread');
  const exit = workload.events.find((e) => e.event === 'worker-exit') as LogEvent;
  t.like(exit, { worker: 0, code: 1, expected: false });
  t.regex(String(exit['error']), /RuntimeError: conclab injected fault/);
  const after = (await workload.stats()).workers;
  for (const i of [1, 2]) t.is(after[i]!.threadId, before[i]!.threadId, `thread ${i} untouched`);
  t.is((await request(workload.ready.port, '/work', 5000)).status, 200);
});

test('thread model: exit ends only that thread with code 70', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '2' });
  t.is(await workload.fault('exit', 1), 202);
  await workload.waitForEvent((e) => e.event === 'worker-replaced', BOUND_MILLIS, 'worker-replaced');
  t.like(
    workload.events.find((e) => e.event === 'worker-exit'),
    { worker: 1, code: 70, pid: workload.pid },
  );
  t.true(pidAlive(workload.pid));
});

test('readiness tracks workers: 503 while a dead worker is not replaced, the rest still serve', async (t) => {
  const workload = await startPython(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    CONCLAB_REPLACE_WORKERS: 'false',
  });
  t.is(await workload.readyz(), 200);
  t.is(await workload.fault('exit', 0), 202);
  t.true(await workload.until(async () => (await workload.readyz()) === 503, 5000), 'readyz turns 503');
  const stats = await workload.stats();
  t.false(stats.ready);
  t.like(stats.workers[0], { alive: false, serving: false });
  t.like(stats.workers[1], { alive: true, serving: true });
  t.like(
    workload.events.find((e) => e.event === 'worker-exit'),
    { worker: 0, code: 70 },
  );
  t.is((await request(workload.ready.port, '/work', 5000)).headers['x-conclab-worker'], '1');
  t.is(await workload.fault('exit', 0), 409, 'a dead worker cannot take a fault');
});

test('process model: hang stalls one worker (readiness 503) while the others serve', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
  t.is(await workload.fault('hang', 1), 202);
  t.true(await workload.until(async () => (await workload.readyz()) === 503, 8000), 'readyz turns 503');
  const stats = await workload.stats();
  t.like(stats.workers[1], { alive: true, serving: false });
  t.like(stats.workers[0], { alive: true, serving: true });
});

test('a fault with a bad kind or worker index is refused with 400', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '2' });
  t.is(await workload.fault('explode', 0), 400);
  t.is(await workload.fault('exit', 2), 400);
  t.is(await workload.readyz(), 200);
});

test('a scheduled fault (CONCLAB_FAULT_KIND) hits the named worker after the delay', async (t) => {
  const workload = await startPython(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    CONCLAB_FAULT_KIND: 'exit',
    CONCLAB_FAULT_WORKER: '1',
    CONCLAB_FAULT_AFTER_MILLIS: '300',
  });
  const fault = await workload.waitForEvent((e) => e.event === 'fault', 5000, 'fault line');
  t.like(fault, { kind: 'exit', worker: 1 });
  await workload.waitForEvent((e) => e.event === 'worker-replaced', BOUND_MILLIS, 'worker-replaced');
});
