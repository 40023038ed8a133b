// Faults under the offload model: the acceptor survives a pool thread's exit or exception and the
// pool is refilled; a native abort in a pool thread still ends the whole process.
import test from 'ava';
import { expectOthersUntouched, expectReplaced, okResponses } from './faults.ts';
import { burst, startWorkload } from './harness.ts';

test('offload model: throw ends only pool thread 0; the acceptor keeps serving and the pool is refilled', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'offload', CONCLAB_WORKERS: '2' });
  const before = (await workload.stats()).workers;
  t.is(await workload.fault('throw', 0), 202);
  await expectReplaced(t, workload, 0, before[0]!, 15_000);
  expectOthersUntouched(t, before, (await workload.stats()).workers, 0);
  t.is(okResponses(await burst(workload.ready.port, 20, 4)).length, 20);
});

test('offload model: abort in a pool thread ends the whole server', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'offload', CONCLAB_WORKERS: '2' });
  t.is(await workload.fault('abort', 1), 202);
  const exit = await Promise.race([workload.exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  t.deepEqual(exit, { code: null, signal: 'SIGABRT' });
});

test('offload model: hang takes one pool thread; requests still complete on the other', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'offload', CONCLAB_WORKERS: '2' });
  t.is(await workload.fault('hang', 0), 202);
  t.true(await workload.until(async () => (await workload.readyz()) === 503, 5000));
  // The hung thread may hold one request; the acceptor routes the rest to the idle thread.
  const ok = okResponses(await burst(workload.ready.port, 20, 2, 1500));
  t.true(ok.length >= 18, `${ok.length} of 20 answered`);
  t.true(ok.every((r) => r.headers['x-conclab-worker'] === '1'));
});
