// The real Node workload (workloads/node/main.ts) under a real cgroup: it starts from the
// runtime's default command, answers on the URL the runtime announced, and when a native abort
// under the thread model takes its whole process down, the runtime restarts it in the same
// group on the same address, as a container runtime would. The runtime tells how the process
// ended; the restart itself and the usage are what the workload's /stats shows (the trial
// runner measures restarts from there, the same way as for a pod).
import { existsSync, readFileSync } from 'node:fs';
import test from 'ava';
import { readCgroupLayout } from '../../../operator/runtime/local/cgroup-detect.ts';
import { createLocalRuntime } from '../../../operator/runtime/local/index.ts';
import { alive, experiment, launchOf, stats, waitFor } from './fixtures.ts';

const cgroupTest = process.getuid?.() === 0 && readCgroupLayout().version !== 'none' ? test : test.skip;

cgroupTest(
  'the real workload runs in its group, and an abort under the thread model is restarted on the same URL in the same group',
  async (t) => {
    const runtime = createLocalRuntime({ stopGraceMillis: 3000, readyTimeoutMillis: 60_000 });
    t.teardown(() => runtime.cleanup());
    const exp = experiment('real', { cpu: '1', memory: '256Mi' });
    const d = await runtime.start(launchOf(exp, 1));
    const [group] = runtime.groups(d);
    const firstPid = runtime.rootPids(d)[0]!;
    t.regex(readFileSync(`/proc/${firstPid}/cgroup`, 'utf8'), new RegExp(`:cpu:/${group!.name}$`, 'm'));
    t.like(runtime.limits(d), { cpuCores: 1, memoryBytes: 256 * 1024 * 1024 });
    const ready = runtime.observedLines(d).find((l) => l.event === 'ready')!;
    t.like(ready.fields, { model: 'thread', workers: 2, pid: firstPid });
    const before = await stats(d.adminUrls[0]!);
    t.is(before.pid, firstPid);

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

    // What the runtime alone saw: how the process ended. Not an OOM kill, and it was restarted.
    const exits = runtime.events(d);
    t.is(exits.length, 1, JSON.stringify(exits));
    t.like(exits[0], { kind: 'process-exit', replica: 0, exit: 'was killed by SIGABRT', oomKilled: false });
    t.is(exits[0]!.restarting, undefined);

    const again = await fetch(`${d.workUrls[0]}/work`, { signal: AbortSignal.timeout(10_000) });
    t.is(again.status, 200);
    await again.arrayBuffer();
    const secondPid = runtime.rootPids(d)[0]!;
    t.not(secondPid, firstPid);
    // The new process answers on the same admin URL, ready after a measurable cold start, and
    // reads the same group: its counters continue (the trial runner's window relies on it).
    const after = await stats(d.adminUrls[0]!);
    t.is(after.pid, secondPid);
    t.true(after.readyAtMillis !== null && after.readyAtMillis > after.startedAtMillis);
    t.is(after.usage?.cgroupId, before.usage?.cgroupId);
    t.true((after.usage?.cpuSeconds ?? 0) >= (before.usage?.cpuSeconds ?? Number.POSITIVE_INFINITY));

    await runtime.stop(d);
    t.false(alive(secondPid));
    t.false(existsSync(group!.dirs.cpu));
    t.false(existsSync(group!.dirs.memory));
  },
);
