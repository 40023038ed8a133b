// GET /stats beyond the shape (checked for every runtime in ../supervisor-contract.test.ts): the
// event log tells what happened, in order, exactly once per poll; memory and context switches
// cover the processes the model really has; POST /flush waits for the spans it promises.
import test from 'ava';
import type { SupervisorEvent, SupervisorStats } from '../../../operator/contracts/supervisor.ts';
import { burst, sleep, startWorkload, type Workload } from './harness.ts';
import { OtlpReceiver } from './otlp-receiver.ts';

async function stats(workload: Workload, query = ''): Promise<SupervisorStats> {
  return (await workload.statsJson(query)) as unknown as SupervisorStats;
}

/** Polls the event log until an event matches; returns it (bounded). */
async function waitForLogged(
  workload: Workload,
  predicate: (e: SupervisorEvent) => boolean,
  timeoutMillis: number,
): Promise<SupervisorEvent> {
  const deadline = Date.now() + timeoutMillis;
  while (Date.now() < deadline) {
    const found = (await stats(workload)).events.items.find(predicate);
    if (found !== undefined) return found;
    await sleep(50);
  }
  throw new Error(`no such event within ${timeoutMillis} ms: ${JSON.stringify((await stats(workload)).events)}`);
}

test('process model: a fault, the exit and the replacement are logged in order with the cold start', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
  const first = await stats(workload);
  t.deepEqual(
    first.events.items.map((e) => e.kind),
    ['ready'],
  );
  t.is(first.readyAtMillis, first.events.items[0]!.atMillis);
  t.true(first.startedAtMillis <= first.readyAtMillis!, 'process start precedes ready');
  const victim = first.workers[1]!;
  t.is(await workload.fault('exit', 1), 202);
  const replaced = await waitForLogged(workload, (e) => e.kind === 'worker-replaced', 15_000);
  t.true(await workload.until(async () => (await stats(workload)).events.items.at(-1)?.kind === 'ready', 5000));
  const page = await stats(workload, `?since=${first.events.nextSeq}`);
  // In this order; a starved machine may add a not-ready/ready pair (a late heartbeat) around them.
  const items = page.events.items;
  const after = (kind: SupervisorEvent['kind'], from: number) => items.findIndex((e, i) => i > from && e.kind === kind);
  const iFault = after('fault', -1);
  const iExit = after('worker-exit', iFault);
  const iNotReady = after('not-ready', iExit);
  const iReplaced = after('worker-replaced', iNotReady);
  const iReady = after('ready', iReplaced);
  t.true(
    iFault >= 0 && iExit > iFault && iNotReady > iExit && iReplaced > iNotReady && iReady > iReplaced,
    items.map((e) => e.kind).join(','),
  );
  const [fault, exit, notReady] = [items[iFault], items[iExit], items[iNotReady]];
  t.like(fault, { faultKind: 'exit', worker: 1, pid: victim.pid, threadId: 0 });
  t.like(exit, { worker: 1, pid: victim.pid, exit: 'code 70' });
  t.like(notReady, { worker: 1 });
  const now = (await stats(workload)).workers[1]!;
  t.like(replaced, { worker: 1, pid: now.pid, threadId: 0 });
  t.not(replaced.pid, victim.pid);
  t.true(replaced.coldStartMillis! > 0 && replaced.coldStartMillis! < 15_000, `${replaced.coldStartMillis} ms`);
  const seqs = page.events.items.map((e) => e.seq);
  t.deepEqual(
    seqs,
    seqs.map((_, i) => first.events.nextSeq + i),
    'consecutive sequence numbers from since',
  );
  t.is((await stats(workload, `?since=${page.events.nextSeq}`)).events.items.length, 0, 'nothing new twice');
});

test('thread model: a hung worker makes the supervisor log not-ready naming it; an abort-free throw names the error', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '3' });
  t.is(await workload.fault('throw', 0), 202);
  const exit = await waitForLogged(workload, (e) => e.kind === 'worker-exit', 10_000);
  t.regex(exit.exit!, /^error: .*injected fault/);
  await waitForLogged(workload, (e) => e.kind === 'worker-replaced', 15_000);
  t.true(await workload.until(async () => (await workload.readyz()) === 200, 5000));
  const before = (await stats(workload)).events.nextSeq;
  t.is(await workload.fault('hang', 2), 202);
  const notReady = await waitForLogged(workload, (e) => e.kind === 'not-ready' && e.seq >= before, 8000);
  t.is(notReady.worker, 2, 'the hung worker is named');
});

test('detail=1 lists the supervisor and each worker process under the process model, one process under threads', async (t) => {
  const processes = await startWorkload(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
  const p = await stats(processes, '?detail=1');
  t.deepEqual(
    p.processes!.map((x) => [x.role, x.worker, x.pid]),
    [
      ['supervisor', undefined, processes.pid],
      ['worker', 0, p.workers[0]!.pid],
      ['worker', 1, p.workers[1]!.pid],
    ],
  );
  for (const x of p.processes!) {
    t.true(x.rssBytes > 10e6, `${x.role} rss ${x.rssBytes}`);
    t.true(x.ussBytes > 0 && x.ussBytes <= x.rssBytes && x.pssBytes <= x.rssBytes);
  }
  t.is((await stats(processes)).processes, undefined, 'only with detail=1');
  const threads = await startWorkload(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '2' });
  const th = await stats(threads, '?detail=1');
  t.deepEqual(
    th.processes!.map((x) => [x.role, x.pid]),
    [['process', threads.pid]],
  );
});

test('context switches count every thread of every process, and grow with load', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
  const before = (await stats(workload)).contextSwitches!;
  // Node runs ~7+ threads per process (main, libuv pool, V8 platform): three processes.
  t.true(before.tasks >= 3 * 6, `${before.tasks} tasks`);
  await burst(workload.ready.port, 200, 8);
  const after = (await stats(workload)).contextSwitches!;
  t.true(after.voluntary > before.voluntary, `${before.voluntary} -> ${after.voluntary}`);
  t.true(after.runQueueWaitSeconds! >= before.runQueueWaitSeconds!);
});

test('without CONCLAB_OWN_CGROUP, usage is the process tree, marked approximate, limits from affinity', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2', CONCLAB_CPU_MILLIS: '2' });
  const before = (await stats(workload)).usage!;
  t.regex(before.source, /^process tree \(\/proc; approximate\)/);
  t.is(before.limits!.memoryBytes, 0);
  t.true(before.limits!.cpuCores >= 1);
  t.regex(before.limits!.source, /affinity/);
  await burst(workload.ready.port, 200, 4);
  const after = (await stats(workload)).usage!;
  t.true(after.cpuSeconds > before.cpuSeconds, `${before.cpuSeconds} -> ${after.cpuSeconds} s`);
  t.true(after.peakMemoryBytes > 30e6);
});

test('bad /stats and /flush queries are refused with the fix', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '1' });
  const since = await workload.admin('GET', '/stats?since=-1');
  t.is(since.status, 400);
  t.regex(since.body, /since=-1 is invalid: expected the nextSeq/);
  t.is((await workload.admin('GET', '/stats?detail=yes')).status, 400);
  const flush = await workload.admin('POST', '/flush?timeoutMillis=0');
  t.is(flush.status, 400);
  t.regex(flush.body, /timeoutMillis=0 is invalid/);
  t.is((await workload.admin('GET', '/flush')).status, 405);
});

test('POST /flush with tracing off answers at once: nothing to flush', async (t) => {
  const workload = await startWorkload(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
  const response = await workload.admin('POST', '/flush');
  t.is(response.status, 200);
  t.deepEqual(JSON.parse(response.body), { flushed: true, workers: 0 });
});

for (const model of ['process', 'thread', 'offload'] as const) {
  test(`${model} model: POST /flush returns once every worker exported its spans, long before the batch delay`, async (t) => {
    const receiver = await new OtlpReceiver().start();
    t.teardown(() => receiver.close());
    const workload = await startWorkload(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '60000',
    });
    t.is((await burst(workload.ready.port, 30, 4)).length, 30);
    t.is(receiver.spans.length, 0, 'the batch delay holds them');
    const response = await workload.admin('POST', '/flush?timeoutMillis=5000');
    t.is(response.status, 200, response.body);
    t.deepEqual(JSON.parse(response.body), { flushed: true, workers: 2 });
    t.is(receiver.spans.length, 30, 'every span arrived before the answer');
  });
}

test('POST /flush answers 504 at the bound when a worker is hung, naming it', async (t) => {
  const receiver = await new OtlpReceiver().start();
  t.teardown(() => receiver.close());
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '2',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  });
  t.is(await workload.fault('hang', 1), 202);
  await sleep(300);
  const started = Date.now();
  const response = await workload.admin('POST', '/flush?timeoutMillis=800');
  const took = Date.now() - started;
  t.is(response.status, 504);
  t.like(JSON.parse(response.body), { flushed: false, workers: 2, done: [0], pending: [1] });
  t.true(took >= 700 && took < 5000, `${took} ms`);
});
