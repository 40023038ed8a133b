// The local runtime against the real kernel: real cgroups (v1 on this machine, as root), real
// processes, real HTTP on loopback. The workload is the FAKE workload from fixtures.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { DeployedWorkload } from '../../../operator/engine/runtime.ts';
import { readAffinity } from '../../../operator/runtime/local/affinity.ts';
import { readCgroupLayout } from '../../../operator/runtime/local/cgroup-detect.ts';
import { listGroupPids } from '../../../operator/runtime/local/cgroup-group.ts';
import {
  createLocalRuntime,
  type LocalRuntime,
  type LocalRuntimeOptions,
} from '../../../operator/runtime/local/index.ts';
import { alive, experiment, fakeWorkload, launchOf, waitFor } from './fixtures.ts';

const layout = readCgroupLayout();
const cgroupsWritable = process.getuid?.() === 0 && layout.version !== 'none';
const cgroupTest = cgroupsWritable ? test.serial : test.skip;
const HIERARCHIES = ['cpu', 'cpuacct', 'memory'].map((c) => path.join('/sys/fs/cgroup', c));

/** conclab groups of this test process (any runtime instance), across the hierarchies. */
function ourGroups(): string[] {
  const mine = `conclab-${process.pid}-`;
  return HIERARCHIES.flatMap((h) => (existsSync(h) ? readdirSync(h).filter((n) => n.startsWith(mine)) : []));
}

function newRuntime(t: { teardown: (f: () => Promise<void> | void) => void }, options: LocalRuntimeOptions = {}) {
  const fake = fakeWorkload();
  const runtime = createLocalRuntime({ workloadCommand: fake.command, stopGraceMillis: 2000, ...options });
  t.teardown(async () => {
    await runtime.cleanup();
    fake.remove();
  });
  return { runtime, fake };
}

function readyFields(runtime: LocalRuntime, deployed: DeployedWorkload): Record<string, unknown> {
  const ready = runtime.observedLines(deployed).find((l) => l.event === 'ready');
  if (!ready) throw new Error('no ready line');
  return ready.fields;
}

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

cgroupTest('two variants get the same limits, written and read back from the cgroup files', async (t) => {
  const { runtime } = newRuntime(t);
  t.is(runtime.name, `local cgroup ${layout.version}`);
  t.deepEqual(
    runtime.warnings.filter((w) => w.includes('NOT ENFORCED')),
    [],
  );
  const exp = experiment('fairness');
  const a = await runtime.start(launchOf(exp, 0));
  const b = await runtime.start(launchOf(exp, 1));
  const [ua, ub] = [await runtime.usage(a), await runtime.usage(b)];
  t.deepEqual(ua.limits, ub.limits);
  t.is(ua.limits.cpuCores, 0.5);
  t.is(ua.limits.memoryBytes, 256 * 1024 * 1024);
  t.regex(ua.limits.source, /cpu.cfs_quota_us=50000 cpu.cfs_period_us=100000/);
  const [ga] = runtime.groups(a);
  const [gb] = runtime.groups(b);
  t.truthy(ga && gb);
  t.not(ga!.name, gb!.name);
  t.regex(ga!.name, new RegExp(`^conclab-${process.pid}-[0-9a-f]+-fairness-processes-t1-`));
  t.is(readFileSync(path.join(ga!.dirs.cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
  t.is(readFileSync(path.join(gb!.dirs.memory, 'memory.limit_in_bytes'), 'utf8').trim(), String(256 * 1024 * 1024));
  // The workload and the child it spawned are inside the group in every hierarchy.
  const fields = readyFields(runtime, a);
  for (const pid of [fields['pid'], fields['childPid']] as number[]) {
    const cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    for (const c of ['cpu', 'cpuacct', 'memory']) t.regex(cg, new RegExp(`:${c}:/${ga!.name}$`, 'm'), `${c} of ${pid}`);
  }
  // This process (the load generator) stays outside.
  t.false(readFileSync('/proc/self/cgroup', 'utf8').includes('conclab-'));
  t.regex(await get(a.workUrls[0]!), /^ok \d+$/);
  await runtime.stop(a);
  await runtime.stop(b);
});

cgroupTest('the workload gets its configuration from the environment, with the ports the runtime chose', async (t) => {
  const { runtime } = newRuntime(t);
  const exp = experiment('env');
  const d = await runtime.start(launchOf(exp, 1, 2, { CONCLAB_FAULT_KIND: 'exit' }));
  const env = readyFields(runtime, d)['env'] as Record<string, string>;
  t.is(`http://127.0.0.1:${env['CONCLAB_PORT']}`, d.workUrls[0]!);
  t.is(`http://127.0.0.1:${env['CONCLAB_ADMIN_PORT']}`, d.adminUrls[0]!);
  t.is(env['CONCLAB_MODEL'], 'thread');
  t.is(env['CONCLAB_VARIANT'], 'threads');
  t.is(env['CONCLAB_TRIAL'], '2');
  t.is(env['CONCLAB_CPU_MILLIS'], '5');
  t.is(env['CONCLAB_FAULT_KIND'], 'exit');
  t.is(env['CONCLAB_TRACING'], 'false');
  t.is(env['CONCLAB_WORKER_HEAP_MB'], undefined, 'no heap cap when the cgroup enforces memory');
  t.regex(await get(d.adminUrls[0]!), /^ok/);
});

cgroupTest('a CPU-burning workload in a quarter-CPU group gets at most a quarter core and is throttled', async (t) => {
  const { runtime } = newRuntime(t);
  const exp = experiment('burn', { cpu: '250m', memory: '256Mi' });
  const d = await runtime.start(launchOf(exp, 0, 1, { FAKE_MODE: 'burn' }));
  await new Promise((r) => setTimeout(r, 300));
  const before = await runtime.usage(d);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 3000));
  const after = await runtime.usage(d);
  const wallSeconds = (performance.now() - t0) / 1000;
  const cores = (after.cpuSeconds - before.cpuSeconds) / wallSeconds;
  const throttled = after.throttledPeriods - before.throttledPeriods;
  t.log(
    `used ${cores.toFixed(3)} cores; throttled ${throttled} periods, ${(after.throttledSeconds - before.throttledSeconds).toFixed(2)} s`,
  );
  // Two threads want two cores; the quota allows 0.25. The machine is shared by several
  // engineers' tests, so the group may get less than its quota: only the upper bound is tight
  // (without the quota it would show ~1 core, the whole CPU it is pinned to).
  t.true(cores <= 0.32, `${cores} cores is above the 0.25 quota`);
  t.true(cores >= 0.05, `${cores} cores: the workload hardly ran`);
  t.true(throttled >= 1, 'never throttled');
  t.true(after.throttledSeconds > before.throttledSeconds);
});

cgroupTest('the memory limit OOM-kills an allocating workload and the kill is reported', async (t) => {
  const { runtime } = newRuntime(t, { maxRestarts: 0 });
  const exp = experiment('oom', { cpu: '1', memory: '128Mi' });
  const d = await runtime.start(launchOf(exp, 0, 1, { FAKE_MODE: 'alloc' }));
  const died = await waitFor(() => runtime.observedLines(d).some((l) => l.event === 'process-exit'), 20_000);
  t.true(died, 'the allocating workload was not killed');
  const exit = runtime.observedLines(d).find((l) => l.event === 'process-exit')!;
  t.is(exit.fields['signal'], 'SIGKILL');
  const usage = await runtime.usage(d);
  t.true((usage.oomKills ?? 0) >= 1, `oomKills ${usage.oomKills}`);
  t.true(usage.peakMemoryBytes <= 128 * 1024 * 1024);
  t.true(usage.peakMemoryBytes > 64 * 1024 * 1024, `peak ${usage.peakMemoryBytes}`);
  t.true(runtime.events(d).some((e) => e.kind === 'not-ready' && /SIGKILL/.test(e.detail ?? '')));
  t.true(await waitFor(() => runtime.events(d).some((e) => /gave up after 0 restarts/.test(e.detail ?? '')), 5000));
});

cgroupTest('a workload that dies is restarted in the same group on the same address', async (t) => {
  const { runtime, fake } = newRuntime(t);
  const marker = path.join(fake.dir, 'died');
  const d = await runtime.start(launchOf(experiment('restart'), 1, 1, { FAKE_MODE: 'die-once', FAKE_MARKER: marker }));
  const firstPid = runtime.rootPids(d)[0];
  const restarted = await waitFor(() => runtime.observedLines(d).some((l) => l.event === 'process-restart'), 15_000);
  t.true(restarted);
  const line = runtime.observedLines(d).find((l) => l.event === 'process-restart')!;
  t.true(typeof line.fields['coldStartMillis'] === 'number' && (line.fields['coldStartMillis'] as number) > 0);
  t.is(line.fields['previousExit'], 'exited with code 7');
  const kinds = runtime.events(d).map((e) => e.kind);
  t.deepEqual(
    kinds.filter((k) => k !== 'worker-exit'),
    ['ready', 'not-ready', 'ready', 'process-restart'],
  );
  const secondPid = runtime.rootPids(d)[0]!;
  t.not(secondPid, firstPid);
  t.regex(await get(d.workUrls[0]!), new RegExp(`^ok ${secondPid}$`));
  t.regex(
    readFileSync(`/proc/${secondPid}/cgroup`, 'utf8'),
    new RegExp(`:memory:/${runtime.groups(d)[0]!.name}$`, 'm'),
  );
  t.is((await runtime.usage(d)).restarts, 1);
});

cgroupTest('stop does not wait for a restart that is still starting', async (t) => {
  const { runtime, fake } = newRuntime(t, { readyTimeoutMillis: 60_000 });
  const marker = path.join(fake.dir, 'died');
  const d = await runtime.start(
    launchOf(experiment('hang'), 0, 1, { FAKE_MODE: 'die-then-hang', FAKE_MARKER: marker }),
  );
  const group = runtime.groups(d)[0]!;
  t.true(await waitFor(() => runtime.observedLines(d).some((l) => l.event === 'process-exit'), 15_000));
  // Let the restart spawn (it will never be ready).
  t.true(await waitFor(async () => (await listGroupPids(group)).length > 0, 5000));
  const started = performance.now();
  await runtime.stop(d);
  const millis = performance.now() - started;
  t.true(millis < 8000, `stop took ${millis} ms`);
  t.false(existsSync(group.dirs.memory));
});

cgroupTest('stop and cleanup leave no process and no group, even when the workload ignores SIGTERM', async (t) => {
  const { runtime } = newRuntime(t, { stopGraceMillis: 500 });
  const exp = experiment('leftovers');
  const a = await runtime.start(launchOf(exp, 0, 1, { FAKE_MODE: 'ignore-term' }));
  const b = await runtime.start(launchOf(exp, 1));
  const pids = [a, b].flatMap((d) => {
    const f = readyFields(runtime, d);
    return [f['pid'] as number, f['childPid'] as number];
  });
  const names = [...runtime.groups(a), ...runtime.groups(b)].map((g) => g.name);
  t.true(pids.every(alive));
  t.is(ourGroups().filter((n) => names.includes(n)).length, 2 * 3);
  await runtime.stop(a);
  t.false(alive(pids[0]!) || alive(pids[1]!), 'stop left a process of the stopped variant');
  t.true(alive(pids[2]!), 'stop must not touch the other variant');
  await runtime.cleanup();
  t.true(await waitFor(() => !pids.some(alive), 2000), `left: ${pids.filter(alive)}`);
  t.deepEqual(
    ourGroups().filter((n) => names.includes(n)),
    [],
  );
  await runtime.cleanup(); // idempotent
});

cgroupTest(
  'a workload that exits before it is ready fails the start with the variant name and its stderr',
  async (t) => {
    const { runtime } = newRuntime(t);
    const err = await t.throwsAsync(
      runtime.start(launchOf(experiment('early'), 1, 1, { FAKE_MODE: 'exit-before-ready' })),
    );
    t.regex(err!.message, /variant "threads" \(trial 1\)/);
    t.regex(err!.message, /exited with code 3 before it was ready/);
    t.regex(err!.message, /CONCLAB_MODEL=bogus is invalid/);
    t.deepEqual(
      ourGroups().filter((n) => n.includes('-early-')),
      [],
      'the failed start removed its group',
    );
  },
);

cgroupTest('a workload that never prints its ready line is killed after the timeout', async (t) => {
  const { runtime } = newRuntime(t, { readyTimeoutMillis: 1500 });
  const err = await t.throwsAsync(runtime.start(launchOf(experiment('silent'), 0, 1, { FAKE_MODE: 'never-ready' })));
  t.regex(err!.message, /did not print its ready line within 1500 ms/);
  t.deepEqual(
    ourGroups().filter((n) => n.includes('-silent-')),
    [],
  );
});

cgroupTest('cleanup removes groups whose owner process is gone, and leaves live owners alone', async (t) => {
  const { runtime } = newRuntime(t, { staleGroupMinAgeMillis: 0 });
  const { mkdirSync, rmdirSync } = await import('node:fs');
  // pid 2^22+1 is above the kernel's pid_max: no process can own it.
  const stale = 'conclab-4194305-abcdef-crashed-run-t1-000000';
  const live = `conclab-1-abcdef-someone-else-t1-000000`; // pid 1 is always alive
  for (const h of HIERARCHIES) {
    mkdirSync(path.join(h, stale));
    mkdirSync(path.join(h, live));
  }
  t.teardown(() => {
    for (const h of HIERARCHIES)
      for (const n of [stale, live]) if (existsSync(path.join(h, n))) rmdirSync(path.join(h, n));
  });
  await runtime.cleanup();
  for (const h of HIERARCHIES) {
    t.false(existsSync(path.join(h, stale)), `${h}/${stale}`);
    t.true(existsSync(path.join(h, live)), `${h}/${live}`);
  }
});

test.serial(
  'the affinity fallback pins the workload to whole CPUs and warns loudly that limits are not enforced',
  async (t) => {
    const cpus = readAffinity();
    const { runtime } = newRuntime(t, { forceAffinityFallback: true });
    t.is(runtime.name, 'local affinity (limits not enforced)');
    t.is(runtime.cgroupVersion, 'none');
    const warning = runtime.warnings.find((w) => w.includes('LIMITS NOT ENFORCED'));
    t.truthy(warning);
    t.regex(warning!, /CPU budgets are approximate/);
    t.regex(warning!, /memory limits are NOT enforced/);
    t.regex(warning!, /Fix: run conclab as root/);
    const d = await runtime.start(launchOf(experiment('fallback', { cpu: '1500m', memory: '256Mi' }), 0));
    t.deepEqual(runtime.groups(d), []);
    const pid = runtime.rootPids(d)[0]!;
    const expected = cpus.length > 1 ? cpus.slice(-1) : cpus;
    t.deepEqual(readAffinity(pid), expected, 'floor(1.5) = 1 CPU');
    const env = readyFields(runtime, d)['env'] as Record<string, string>;
    t.is(env['CONCLAB_WORKER_HEAP_MB'], '128', '256Mi over 2 workers');
    const usage = await runtime.usage(d);
    t.is(usage.limits.cpuCores, 1);
    t.is(usage.limits.memoryBytes, 0);
    t.regex(usage.limits.source, /affinity/);
    t.true(usage.peakMemoryBytes > 0);
    await runtime.stop(d);
    t.false(alive(pid));
  },
);

test.serial('the load generator is pinned to a CPU the workloads do not use', async (t) => {
  const cpus = readAffinity();
  if (cpus.length < 2) return t.pass('one CPU: nothing to separate');
  const { runtime } = newRuntime(t);
  const { spawn } = await import('node:child_process');
  const stand = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => {
    stand.kill('SIGKILL');
  });
  const placement = await runtime.pinLoadGenerator(0.5, stand.pid);
  t.deepEqual(placement.driverCpus, cpus.slice(0, 1));
  t.deepEqual(readAffinity(stand.pid!), cpus.slice(0, 1));
  t.false(placement.workloadCpus!.includes(cpus[0]!));
});

const rootTest = process.getuid?.() === 0 ? test : test.skip;

rootTest('a process that is not root falls back to affinity and says why, with the fix', async (t) => {
  const { execFile } = await import('node:child_process');
  const { chmodSync, mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const os = await import('node:os');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conclab-nobody-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const script = path.join(dir, 'probe.mjs');
  writeFileSync(
    script,
    `const { createLocalRuntime } = await import(process.argv[2]);
const r = createLocalRuntime();
console.log(JSON.stringify({ name: r.name, cgroupVersion: r.cgroupVersion, warnings: r.warnings }));
`,
  );
  const entry = new URL('../../../operator/runtime/local/index.ts', import.meta.url).pathname;
  const stdout = await new Promise<string>((resolve, reject) => {
    // uid/gid 65534: the unprivileged "nobody".
    execFile(process.execPath, [script, entry], { uid: 65534, gid: 65534, timeout: 60_000 }, (err, out, errOut) =>
      err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
    );
  });
  const seen = JSON.parse(stdout) as { name: string; cgroupVersion: string; warnings: string[] };
  t.is(seen.name, 'local affinity (limits not enforced)');
  t.is(seen.cgroupVersion, 'none');
  t.regex(seen.warnings[0] ?? '', /LIMITS NOT ENFORCED: .*permission denied: not root/);
  t.regex(seen.warnings[0] ?? '', /Fix: run conclab as root/);
});
