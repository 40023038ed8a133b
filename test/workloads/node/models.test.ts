import test from 'ava';
import { burst, type Response, request, startWorkload, Workload } from './harness.ts';

for (const model of ['process', 'thread', 'offload'] as const) {
  test(`${model} model serves from 3 distinct workers and reports them in /stats`, async (t) => {
    const workload = await startWorkload(t, { CONCLAB_MODEL: model, CONCLAB_WORKERS: '3' });
    t.is(workload.ready.model, model);
    t.is(workload.ready.workers, 3);
    t.true(workload.ready.port > 0 && workload.ready.adminPort > 0);
    t.is(await workload.readyz(), 200);

    const results = await burst(workload.ready.port, 90, 6);
    const ok = results.filter((r): r is Response => !(r instanceof Error) && r.status === 200);
    t.is(ok.length, 90);
    t.is(ok[0]!.body.length, 256, 'default response size');
    const identities = new Set(ok.map((r) => `${r.headers['x-conclab-pid']}/${r.headers['x-conclab-thread']}`));
    t.is(identities.size, 3, `distinct workers seen: ${[...identities].join(', ')}`);

    const ok2 = await workload.until(async () => {
      const stats = await workload.stats();
      return stats.workers.reduce((sum, w) => sum + w.requests, 0) === 90;
    }, 3000);
    t.true(ok2, 'per-worker request counters add up to what was sent');
    const stats = await workload.stats();
    t.is(stats.model, model);
    t.is(stats.workers.length, 3);
    for (const worker of stats.workers) {
      t.true(worker.alive && worker.serving);
      t.true(worker.requests > 0, `worker ${worker.worker} served`);
      t.is(worker.errors, 0);
    }
    const pids = new Set(stats.workers.map((w) => w.pid));
    const threads = new Set(stats.workers.map((w) => w.threadId));
    if (model === 'process') {
      t.is(pids.size, 3, 'three OS processes');
      t.false(pids.has(workload.pid), 'workers are not the supervisor');
    } else {
      t.deepEqual([...pids], [workload.pid], 'one OS process');
      t.is(threads.size, 3, 'three threads');
    }
  });
}

test('response size follows CONCLAB_RESPONSE_BYTES and /healthz answers on the work port', async (t) => {
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    CONCLAB_RESPONSE_BYTES: '5000',
  });
  const [response] = await burst(workload.ready.port, 1, 1);
  t.false(response instanceof Error);
  t.is((response as Response).body.length, 5000);
  t.is((await request(workload.ready.port, '/healthz', 2000)).status, 200);
});

test('bad environment fails fast with a message naming the variable and the fix', async (t) => {
  const workload = new Workload({ CONCLAB_MODEL: 'fiber', CONCLAB_WORKERS: '0' });
  t.teardown(() => workload.killGroup());
  const exit = await workload.exited;
  t.is(exit.code, 2);
  t.regex(workload.stderr, /CONCLAB_MODEL="fiber" is invalid: expected one of process, thread, offload/);
  t.regex(workload.stderr, /CONCLAB_WORKERS="0" is invalid/);
});
