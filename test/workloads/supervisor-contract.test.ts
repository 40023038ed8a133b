// Every workload runtime honours the supervisor admin contract (operator/contracts/supervisor.ts),
// because the trial runner reads a running variant only through it, the same way for a local
// process and a pod. Each runtime is started for real and checked against the one schema and
// the behaviours the runner relies on. Nothing is skipped: a runtime that does not honour the
// contract fails here.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { type SupervisorStats, supervisorStatsProblems } from '../../operator/contracts/supervisor.ts';
import { burst, sleep, startWorkloadProcess, type Workload } from './harness.ts';
import { MAIN as NODE_MAIN } from './node/harness.ts';
import { PYTHON, MAIN as PYTHON_MAIN } from './python/harness.ts';

interface Runtime {
  name: string;
  argv: string[];
  /** host.runtime, e.g. "node 24.21.0" or "cpython 3.11.2". */
  runtime: RegExp;
}

const RUNTIMES: Runtime[] = [
  { name: 'node', argv: [process.execPath, NODE_MAIN], runtime: /^node \d+\.\d+\.\d+$/ },
  { name: 'python', argv: [PYTHON, PYTHON_MAIN], runtime: /^cpython \d+\.\d+\.\d+/ },
];
const MODELS = ['process', 'thread', 'offload'] as const;
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory'].map((c) => path.join('/sys/fs/cgroup', c));

/** A fresh v1 group in each controller with a 0.5-core quota and 1 GiB; removed at teardown. */
function v1Group(t: ExecutionContext): string[] {
  const name = `conclab-test-contract-${process.pid}-${randomBytes(3).toString('hex')}`;
  const dirs = V1_CONTROLLERS.map((c) => path.join(c, name));
  for (const dir of dirs) mkdirSync(dir);
  writeFileSync(path.join(dirs[0]!, 'cpu.cfs_period_us'), '100000');
  writeFileSync(path.join(dirs[0]!, 'cpu.cfs_quota_us'), '50000');
  writeFileSync(path.join(dirs[2]!, 'memory.limit_in_bytes'), String(1024 ** 3));
  t.teardown(async () => {
    const deadline = Date.now() + 10_000;
    for (const dir of dirs) {
      while (existsSync(dir) && Date.now() < deadline) {
        try {
          if (readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim() === '') rmdirSync(dir);
        } catch {
          // tasks still leaving
        }
        if (existsSync(dir)) await sleep(50);
      }
    }
  });
  return dirs;
}

function start(t: ExecutionContext, runtime: Runtime, env: Record<string, string>) {
  return startWorkloadProcess(t, runtime.argv, env, { readyTimeoutMillis: 60_000 });
}

async function checkedStats(
  t: { deepEqual: (a: unknown, b: unknown, m?: string) => void },
  workload: Workload,
  query = '',
) {
  const raw = await workload.statsJson(query);
  t.deepEqual(supervisorStatsProblems(raw), [], `GET /stats${query} matches SupervisorStats`);
  return raw as unknown as SupervisorStats;
}

/** Polls /stats until an event of `kind` with seq >= since appears (bounded). */
async function waitForEventKind(workload: Workload, kind: string, since: number, timeoutMillis: number) {
  const deadline = Date.now() + timeoutMillis;
  while (Date.now() < deadline) {
    const items = ((await workload.statsJson(`?since=${since}`)) as unknown as SupervisorStats).events.items;
    if (items.some((e) => e.kind === kind)) return items;
    await sleep(100);
  }
  throw new Error(`no ${kind} event within ${timeoutMillis} ms`);
}

for (const runtime of RUNTIMES) {
  for (const model of MODELS) {
    test(`${runtime.name} ${model}: GET /stats matches the contract, with and without detail, and describes this process`, async (t) => {
      const workload = await start(t, runtime, { CONCLAB_MODEL: model, CONCLAB_WORKERS: '2', CONCLAB_REPLICA: '3' });
      const stats = await checkedStats(t, workload);
      t.is(stats.model, model);
      t.is(stats.pid, workload.pid);
      t.is(stats.replica, 3, 'CONCLAB_REPLICA');
      t.is(stats.port, workload.ready.port);
      t.is(stats.adminPort, workload.ready.adminPort);
      t.true(stats.ready);
      t.is(stats.workers.length, 2);
      t.true(stats.startedAtMillis <= stats.readyAtMillis! && stats.readyAtMillis! <= Date.now());
      t.true(Date.now() - stats.startedAtMillis < 120_000, 'startedAtMillis is this process start, in epoch ms');
      t.regex(stats.host.runtime, runtime.runtime);
      t.true(stats.host.cores >= 1);
      t.not(stats.usage, null, 'usage is reported (cgroup or process tree)');
      t.true(stats.usage!.cpuSeconds > 0);
      t.true(stats.contextSwitches!.tasks >= 1);
      t.false(stats.tracing.enabled);
      t.is(stats.processes, undefined, 'processes only with detail=1');
      const detailed = await checkedStats(t, workload, '?detail=1');
      const roles = detailed.processes!.map((p) => p.role).sort();
      t.deepEqual(roles, model === 'process' ? ['supervisor', 'worker', 'worker'] : ['process']);
      t.true(detailed.processes!.every((p) => p.rssBytes > 0 && p.ussBytes <= p.rssBytes));
    });
  }

  test(`${runtime.name}: the event log starts with ready, pages by since, and records fault, exit and replacement in order`, async (t) => {
    const workload = await start(t, runtime, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '2' });
    const first = await checkedStats(t, workload);
    t.is(first.events.items[0]?.kind, 'ready');
    t.is(first.events.items[0]?.seq, 0);
    t.is(first.events.nextSeq, first.events.items.length);
    t.deepEqual((await checkedStats(t, workload, `?since=${first.events.nextSeq}`)).events.items, []);
    const victim = first.workers[1]!.pid;
    t.is(await workload.fault('exit', 1), 202);
    const items = await waitForEventKind(workload, 'worker-replaced', first.events.nextSeq, 20_000);
    const kinds = items.map((e) => e.kind);
    const at = (kind: (typeof kinds)[number]) => kinds.indexOf(kind);
    t.true(
      at('fault') >= 0 && at('fault') < at('worker-exit') && at('worker-exit') < at('worker-replaced'),
      kinds.join(','),
    );
    t.like(items[at('fault')], { faultKind: 'exit', worker: 1 });
    t.like(items[at('worker-exit')], { worker: 1, pid: victim });
    t.regex(String(items[at('worker-exit')]!.exit), /^(code \d+|signal SIG[A-Z]+|error: .+)$/);
    const replaced = items[at('worker-replaced')]!;
    t.is(replaced.worker, 1);
    t.not(replaced.pid, victim);
    t.true(typeof replaced.coldStartMillis === 'number' && replaced.coldStartMillis > 0);
    const seqs = items.map((e) => e.seq);
    t.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      'in seq order',
    );
    t.true(seqs.every((s) => s >= first.events.nextSeq));
    await checkedStats(t, workload);
  });

  test(`${runtime.name}: POST /flush with tracing off answers 200 with no workers; bad queries answer 400`, async (t) => {
    const workload = await start(t, runtime, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '1' });
    const flush = await workload.admin('POST', '/flush?timeoutMillis=2000');
    t.is(flush.status, 200);
    t.like(JSON.parse(flush.body), { flushed: true, workers: 0 });
    t.is((await workload.admin('GET', '/stats?since=x')).status, 400);
    t.is((await workload.admin('POST', '/flush?timeoutMillis=-5')).status, 400);
  });
}

for (const runtime of RUNTIMES) {
  test(`${runtime.name}: with CONCLAB_OWN_CGROUP=true, usage is the cgroup v1 group it runs in, its CPU rising, its limits read back`, async (t) => {
    const dirs = v1Group(t);
    const join = dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
    const workload = await startWorkloadProcess(
      t,
      ['/bin/sh', '-c', `${join} && exec "$0" "$@"`, ...runtime.argv],
      { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '2', CONCLAB_OWN_CGROUP: 'true', CONCLAB_CPU_MILLIS: '2' },
      { readyTimeoutMillis: 60_000 },
    );
    const before = await checkedStats(t, workload);
    t.is(before.host.cgroupVersion, 'v1');
    t.regex(before.usage!.source, /^cgroup v1 /);
    t.true(before.usage!.cgroupId!.includes(path.basename(dirs[0]!)), before.usage!.cgroupId);
    t.like(before.usage!.limits, { cpuCores: 0.5, memoryBytes: 1024 ** 3 });
    await burst(workload.ready.port, 150, 4, 20_000);
    const after = await checkedStats(t, workload);
    t.true(
      after.usage!.cpuSeconds >= before.usage!.cpuSeconds + 0.15,
      `${before.usage!.cpuSeconds} -> ${after.usage!.cpuSeconds} s`,
    );
    t.is(after.usage!.cgroupId, before.usage!.cgroupId);
  });
}
