// CPU work is calibrated computation: a cpu request costs about the configured CPU time of the
// worker that serves it. Measured as the worker process's CPU time (/proc), not wall time, so a
// busy shared machine stretches the latency but not the figure under test.
import test from 'ava';
import { processCpuMillis, request, startPython } from './harness.ts';

test('a cpu request costs about CONCLAB_CPU_MILLIS of the serving worker process CPU time', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '1', CONCLAB_CPU_MILLIS: '40' });
  t.true(workload.ready.cpuIterationsPerMilli > 100, `calibration ${workload.ready.cpuIterationsPerMilli}`);
  const worker = (await workload.stats()).workers[0]!.pid;
  const requests = 15;
  const before = processCpuMillis(worker);
  for (let i = 0; i < requests; i++) t.is((await request(workload.ready.port, '/work', 20_000)).status, 200);
  const perRequest = (processCpuMillis(worker) - before) / requests;
  // Generous: calibration takes the best round, a shared core slows everything a little, and /proc
  // counts in 10 ms ticks.
  t.true(perRequest > 40 * 0.6 && perRequest < 40 * 2, `${perRequest.toFixed(1)} ms CPU per request`);
});

test('an io request costs almost no CPU: the wait is a sleep', async (t) => {
  const workload = await startPython(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '1',
    CONCLAB_PROFILE: 'io',
    CONCLAB_IO_MILLIS: '50',
  });
  const worker = (await workload.stats()).workers[0]!.pid;
  const before = processCpuMillis(worker);
  const started = Date.now();
  for (let i = 0; i < 10; i++) t.is((await request(workload.ready.port, '/work', 20_000)).status, 200);
  t.true(Date.now() - started >= 10 * 50, 'each request waited its 50 ms');
  t.true(processCpuMillis(worker) - before < 200, 'far less CPU than the 500 ms waited');
});

test('CONCLAB_CPU_ITERATIONS_PER_MILLI skips calibration and is announced in the ready line', async (t) => {
  const workload = await startPython(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    CONCLAB_CPU_ITERATIONS_PER_MILLI: '1234',
  });
  t.is(workload.ready.cpuIterationsPerMilli, 1234);
});

test('shared-state: every request updates the one record, no update lost under the lock', async (t) => {
  for (const model of ['process', 'thread']) {
    const workload = await startPython(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      CONCLAB_PROFILE: 'shared-state',
    });
    await Promise.all(Array.from({ length: 20 }, () => request(workload.ready.port, '/work', 10_000)));
    const stats = await workload.stats();
    t.deepEqual(stats.sharedState, { attempts: 20, value: 20 }, model);
    t.is(stats.lostUpdates, 0);
  }
});
