// Tracing costs memory once per workload, in the supervisor, whatever the model: a traced
// process-model variant fits the memory an untraced one needs (it did not: every worker process
// carried a span-export isolate, and a 2-worker variant was OOM-killed at start under 160Mi on a
// real node), and tracing adds about as much to 4 worker processes as to 4 worker threads.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { SupervisorStats } from '../../../operator/contracts/supervisor.ts';
import { burst, MAIN, sleep, startWorkload, startWorkloadProcess, type Workload } from './harness.ts';
import { OtlpReceiver } from './otlp-receiver.ts';

const MIB = 1024 * 1024;

/** A real memory cgroup (v1 memory controller, else v2) with this limit; removed at teardown. */
function memoryGroup(t: ExecutionContext, limitMib: number): { dir: string; oomKills: () => number } {
  const name = `conclab-test-tracing-memory-${process.pid}-${randomBytes(3).toString('hex')}`;
  const v1 = '/sys/fs/cgroup/memory';
  const v2 = '/sys/fs/cgroup';
  let dir: string;
  let oomKills: () => number;
  if (existsSync(path.join(v1, 'memory.limit_in_bytes'))) {
    dir = path.join(v1, name);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(limitMib * MIB));
    oomKills = () => Number(/oom_kill (\d+)/.exec(readFileSync(path.join(dir, 'memory.oom_control'), 'utf8'))?.[1]);
  } else if (readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').split(' ').includes('memory')) {
    dir = path.join(v2, name);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'memory.max'), String(limitMib * MIB));
    if (existsSync(path.join(dir, 'memory.swap.max'))) writeFileSync(path.join(dir, 'memory.swap.max'), '0');
    oomKills = () => Number(/oom_kill (\d+)/.exec(readFileSync(path.join(dir, 'memory.events'), 'utf8'))?.[1]);
  } else {
    throw new Error('no memory cgroup controller (v1 /sys/fs/cgroup/memory or v2 memory): run as root on Linux');
  }
  t.teardown(async () => {
    const deadline = Date.now() + 10_000;
    while (existsSync(dir) && Date.now() < deadline) {
      try {
        if (readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim() === '') rmdirSync(dir);
      } catch {
        // tasks still leaving
      }
      if (existsSync(dir)) await sleep(50);
    }
  });
  return { dir, oomKills };
}

test('process model, 2 workers, traced: starts and serves under a 160Mi memory limit with no OOM kill', async (t) => {
  const receiver = await new OtlpReceiver().start();
  t.teardown(() => receiver.close());
  const group = memoryGroup(t, 160);
  const workload = await startWorkloadProcess(
    t,
    ['/bin/sh', '-c', `echo $$ > ${group.dir}/cgroup.procs && exec "$0" "$@"`, process.execPath, MAIN],
    {
      CONCLAB_MODEL: 'process',
      CONCLAB_WORKERS: '2',
      CONCLAB_CPU_MILLIS: '0.2',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    },
  );
  const results = await burst(workload.ready.port, 400, 8, 10_000);
  t.is(results.filter((r) => !(r instanceof Error) && r.status === 200).length, 400);
  t.is((await workload.admin('POST', '/flush')).status, 200);
  t.is(receiver.spans.length, 400);
  t.is(group.oomKills(), 0, 'no process of the variant was OOM-killed');
  t.deepEqual(
    workload.events.filter((e) => e.event === 'worker-exit'),
    [],
    'no worker died',
  );
  t.is(await workload.readyz(), 200);
});

/** USS of every process of the workload (GET /stats?detail=1), MiB. */
async function ussMib(workload: Workload): Promise<number> {
  const stats = (await workload.statsJson('?detail=1')) as unknown as SupervisorStats;
  return stats.processes!.reduce((sum, p) => sum + p.ussBytes, 0) / MIB;
}

test('tracing adds about as much memory to 4 worker processes as to 4 worker threads: one exporter each', async (t) => {
  const receiver = await new OtlpReceiver().start();
  t.teardown(() => receiver.close());
  const cost: Record<string, number> = {};
  for (const model of ['process', 'thread'] as const) {
    const base = { CONCLAB_MODEL: model, CONCLAB_WORKERS: '4', CONCLAB_CPU_MILLIS: '0' };
    const untraced = await startWorkload(t, { ...base, OTEL_SDK_DISABLED: 'true' });
    const traced = await startWorkload(t, { ...base, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    // The same requests for both, so heaps grow alike; the traced one exports every span.
    for (const workload of [untraced, traced]) t.is((await burst(workload.ready.port, 400, 8)).length, 400);
    t.is((await traced.admin('POST', '/flush')).status, 200);
    cost[model] = (await ussMib(traced)) - (await ussMib(untraced));
    t.log(`${model}: tracing costs ${cost[model]!.toFixed(1)} MiB USS`);
    untraced.killGroup();
    traced.killGroup();
  }
  // One span-export isolate per worker process, as before, cost ~30 MiB each: ~130 MiB for 4.
  t.true(cost['process']! < 40, `process model: ${cost['process']!.toFixed(1)} MiB, not one exporter per worker`);
  t.true(
    Math.abs(cost['process']! - cost['thread']!) < 20,
    `process ${cost['process']!.toFixed(1)} MiB against thread ${cost['thread']!.toFixed(1)} MiB`,
  );
});
