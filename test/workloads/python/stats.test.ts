// The Python supervisor's GET /stats beyond the shape (checked for both runtimes in
// ../supervisor-contract.test.ts): the event log tells what happened, in order, exactly once per
// poll, naming the worker; memory and context switches cover the processes the model really has;
// usage without an own cgroup is the process tree, marked approximate.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import type { SupervisorEvent } from '../../../operator/contracts/supervisor.ts';
import { burst, contractStats, MAIN, PYTHON, sleep, startPython, type Workload } from './harness.ts';

async function waitForLogged(
  workload: Workload,
  predicate: (e: SupervisorEvent) => boolean,
  timeoutMillis: number,
): Promise<SupervisorEvent> {
  const deadline = Date.now() + timeoutMillis;
  while (Date.now() < deadline) {
    const found = (await contractStats(workload)).events.items.find(predicate);
    if (found !== undefined) return found;
    await sleep(50);
  }
  throw new Error(
    `no such event within ${timeoutMillis} ms: ${JSON.stringify((await contractStats(workload)).events)}`,
  );
}

test('process model: abort of one worker logs fault, exit, not-ready, replacement with its cold start, ready, in order', async (t) => {
  const spawned = Date.now();
  const workload = await startPython(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
  const first = await contractStats(workload);
  t.deepEqual(
    first.events.items.map((e) => [e.seq, e.kind]),
    [[0, 'ready']],
  );
  t.is(first.readyAtMillis, first.events.items[0]!.atMillis);
  t.true(first.startedAtMillis >= spawned - 1000 && first.startedAtMillis <= first.readyAtMillis!, 'the process start');
  const victim = first.workers[1]!;
  t.is(await workload.fault('abort', 1), 202);
  const replaced = await waitForLogged(workload, (e) => e.kind === 'worker-replaced', 15_000);
  t.true(await workload.until(async () => (await contractStats(workload)).events.items.at(-1)?.kind === 'ready', 5000));
  const page = await contractStats(workload, `?since=${first.events.nextSeq}`);
  t.deepEqual(
    page.events.items.map((e) => e.kind),
    ['fault', 'worker-exit', 'not-ready', 'worker-replaced', 'ready'],
  );
  const [fault, exit, notReady, , ready] = page.events.items;
  t.like(fault, { faultKind: 'abort', worker: 1, pid: victim.pid, threadId: 0 });
  t.like(exit, { worker: 1, pid: victim.pid, exit: 'signal SIGABRT' });
  t.like(notReady, { worker: 1 });
  t.like(ready, { worker: 1 });
  const now = (await contractStats(workload)).workers[1]!;
  t.like(replaced, { worker: 1, pid: now.pid, threadId: 0 });
  t.not(replaced.pid, victim.pid);
  t.true(replaced.coldStartMillis! > 0 && replaced.coldStartMillis! < 15_000, `${replaced.coldStartMillis} ms`);
  t.deepEqual(
    page.events.items.map((e) => e.seq),
    page.events.items.map((_, i) => first.events.nextSeq + i),
    'consecutive sequence numbers from since',
  );
  t.true(page.events.items.every((e, i, all) => i === 0 || e.atMillis >= all[i - 1]!.atMillis));
  t.is((await contractStats(workload, `?since=${page.events.nextSeq}`)).events.items.length, 0, 'nothing new twice');
  t.is(page.events.truncated, undefined);
});

test('thread model: a thrown fault is logged with its error; exit with its code', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '2' });
  t.is(await workload.fault('throw', 0), 202);
  const thrown = await waitForLogged(workload, (e) => e.kind === 'worker-exit', 10_000);
  t.is(thrown.exit, 'error: RuntimeError: conclab injected fault: uncaught exception');
  t.is(thrown.pid, workload.pid);
  await waitForLogged(workload, (e) => e.kind === 'worker-replaced', 15_000);
  t.true(await workload.until(async () => (await workload.readyz()) === 200, 5000));
  t.is(await workload.fault('exit', 1), 202);
  const exited = await waitForLogged(workload, (e) => e.kind === 'worker-exit' && e.worker === 1, 10_000);
  t.is(exited.exit, 'code 70');
});

test('process model: a hung worker makes the supervisor log not-ready naming it, after the heartbeat goes stale', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '3' });
  const before = (await contractStats(workload)).events.nextSeq;
  t.is(await workload.fault('hang', 2), 202);
  const notReady = await waitForLogged(workload, (e) => e.kind === 'not-ready' && e.seq >= before, 8000);
  t.is(notReady.worker, 2, 'the hung worker is named');
  t.regex(notReady.detail ?? '', /no heartbeat/);
  const stats = await contractStats(workload);
  t.like(stats.workers[2], { alive: true, serving: false });
  t.false(stats.ready);
});

test('detail=1 lists the supervisor and each worker process under the process model, one process under threads', async (t) => {
  const processes = await startPython(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
  const p = await contractStats(processes, '?detail=1');
  t.deepEqual(
    p.processes!.map((x) => [x.role, x.worker, x.pid]),
    [
      ['supervisor', undefined, processes.pid],
      ['worker', 0, p.workers[0]!.pid],
      ['worker', 1, p.workers[1]!.pid],
    ],
  );
  for (const x of p.processes!) {
    t.true(x.rssBytes > 5e6, `${x.role} rss ${x.rssBytes}`);
    t.true(x.ussBytes > 0 && x.ussBytes <= x.pssBytes && x.pssBytes <= x.rssBytes, JSON.stringify(x));
  }
  // Forked workers share the interpreter's pages with the supervisor: each owns far less than it maps.
  const worker = p.processes![1]!;
  t.true(worker.ussBytes < worker.rssBytes / 2, `worker uss ${worker.ussBytes} of rss ${worker.rssBytes}`);
  const threads = await startPython(t, { CONCLAB_MODEL: 'offload', CONCLAB_WORKERS: '2' });
  const th = await contractStats(threads, '?detail=1');
  t.deepEqual(
    th.processes!.map((x) => [x.role, x.pid]),
    [['process', threads.pid]],
  );
});

test('context switches count every thread of every process and grow with load', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
  const before = (await contractStats(workload)).contextSwitches!;
  // The supervisor runs its main thread and the admin server's threads; each worker one thread.
  t.true(before.tasks >= 4, `${before.tasks} tasks`);
  await burst(workload.ready.port, 100, 4);
  const after = (await contractStats(workload)).contextSwitches!;
  t.true(after.voluntary > before.voluntary, `${before.voluntary} -> ${after.voluntary}`);
  t.true(after.runQueueWaitSeconds! >= before.runQueueWaitSeconds!);
});

test('without CONCLAB_OWN_CGROUP, usage is the process tree, marked approximate, limits from affinity', async (t) => {
  const workload = await startPython(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2', CONCLAB_CPU_MILLIS: '5' });
  const before = (await contractStats(workload)).usage!;
  t.regex(before.source, /^process tree \(\/proc; approximate\): CONCLAB_OWN_CGROUP is not true$/);
  t.is(before.cgroupId, undefined);
  t.is(before.oomKills, undefined, 'the process tree cannot tell');
  t.is(before.limits!.memoryBytes, 0);
  t.true(before.limits!.cpuCores >= 1);
  t.regex(before.limits!.source, /^affinity: /);
  await burst(workload.ready.port, 60, 4);
  const after = (await contractStats(workload)).usage!;
  t.true(
    after.cpuSeconds >= before.cpuSeconds + 0.2,
    `${before.cpuSeconds} -> ${after.cpuSeconds} s for 0.3 s of work`,
  );
  t.true(after.peakMemoryBytes > 30e6);
  // A replaced worker's CPU time stays counted: the supervisor reaped it (cutime).
  t.is(await workload.fault('exit', 0), 202);
  t.true(await workload.until(async () => (await contractStats(workload)).restarts === 1, 10_000));
  t.true((await contractStats(workload)).usage!.cpuSeconds >= after.cpuSeconds);
});

test('the event log keeps the last 1,000 events and says when some asked for are gone', (t) => {
  // The EventLog class itself, run by the interpreter (no workload can be made to log 1,200 events quickly).
  const script = [
    'import json, sys',
    'from conclab_workload.events import EventLog',
    'log = EventLog()',
    'for i in range(1200): log.add("fault", worker=i % 3, faultKind="exit")',
    'print(json.dumps([log.since(0), log.since(200), log.since(1195), log.since(1200)]))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script], { cwd: path.dirname(MAIN), encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const [all, kept, tail, none] = JSON.parse(r.stdout) as Array<{
    nextSeq: number;
    items: SupervisorEvent[];
    truncated?: boolean;
  }>;
  t.is(all!.nextSeq, 1200);
  t.is(all!.items.length, 1000);
  t.is(all!.items[0]!.seq, 200, 'the oldest 200 were dropped');
  t.true(all!.truncated);
  t.is(kept!.items.length, 1000);
  t.is(kept!.truncated, undefined, 'since=200: nothing asked for is missing');
  t.deepEqual(
    tail!.items.map((e) => e.seq),
    [1195, 1196, 1197, 1198, 1199],
  );
  t.deepEqual(none!, { nextSeq: 1200, items: [] });
});
