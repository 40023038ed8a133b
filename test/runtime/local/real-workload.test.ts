// The real Node workload (workloads/node/main.ts) under a real cgroup: it starts from the
// runtime's default command, answers on the URL the runtime announced, and when a native abort
// under the thread model takes its whole process down, the runtime restarts it in the same
// group on the same address, as a container runtime would.
import { existsSync, readFileSync } from 'node:fs';
import test from 'ava';
import { readCgroupLayout } from '../../../operator/runtime/local/cgroup-detect.ts';
import { createLocalRuntime } from '../../../operator/runtime/local/index.ts';
import { alive, experiment, launchOf, waitFor } from './fixtures.ts';

const cgroupTest = process.getuid?.() === 0 && readCgroupLayout().version !== 'none' ? test : test.skip;

cgroupTest(
  'the real workload runs in its group, and an abort under the thread model is restarted on the same URL',
  async (t) => {
    const runtime = createLocalRuntime({ stopGraceMillis: 3000, readyTimeoutMillis: 60_000 });
    t.teardown(() => runtime.cleanup());
    const exp = experiment('real', { cpu: '1', memory: '256Mi' });
    const d = await runtime.start(launchOf(exp, 1));
    const [group] = runtime.groups(d);
    const firstPid = runtime.rootPids(d)[0]!;
    t.regex(readFileSync(`/proc/${firstPid}/cgroup`, 'utf8'), new RegExp(`:cpu:/${group!.name}$`, 'm'));
    t.like((await runtime.usage(d)).limits, { cpuCores: 1, memoryBytes: 256 * 1024 * 1024 });
    const ready = runtime.observedLines(d).find((l) => l.event === 'ready')!;
    t.like(ready.fields, { model: 'thread', workers: 2, pid: firstPid });

    const work = await fetch(`${d.workUrls[0]}/work`, { signal: AbortSignal.timeout(10_000) });
    t.is(work.status, 200);
    await work.arrayBuffer();

    const fault = await fetch(`${d.adminUrls[0]}/fault?kind=abort&worker=0`, {
      method: 'POST',
      signal: AbortSignal.timeout(10_000),
    }).catch(() => undefined); // the process may die before it answers
    await fault?.arrayBuffer().catch(() => {});
    const restarted = await waitFor(() => runtime.observedLines(d).some((l) => l.event === 'process-restart'), 60_000);
    t.true(restarted, 'no restart after the abort');
    const restart = runtime.observedLines(d).find((l) => l.event === 'process-restart')!;
    t.log(`restart: ${JSON.stringify(restart.fields)}`);
    t.is(restart.fields['previousExit'], 'was killed by SIGABRT');
    t.true((restart.fields['coldStartMillis'] as number) > 0);
    t.true(runtime.events(d).some((e) => e.kind === 'process-restart'));

    const again = await fetch(`${d.workUrls[0]}/work`, { signal: AbortSignal.timeout(10_000) });
    t.is(again.status, 200);
    await again.arrayBuffer();
    t.is((await runtime.usage(d)).restarts, 1);
    const secondPid = runtime.rootPids(d)[0]!;
    t.not(secondPid, firstPid);

    await runtime.stop(d);
    t.false(alive(secondPid));
    t.false(existsSync(group!.dirs.cpu));
    t.false(existsSync(group!.dirs.memory));
  },
);
