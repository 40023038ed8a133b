// The local runtime against the real kernel: real cgroups (v1 on this machine, as root), real
// processes, real HTTP on loopback. The workload is the real one (workloads/node/main.ts); usage
// is read where the trial runner reads it, from the workload's own GET /stats. The FAKE workload
// of fixtures.ts appears only where a test needs misbehaviour the real one cannot show.
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { readAffinity } from '../../../operator/runtime/local/affinity.ts';
import { readCgroupLayout } from '../../../operator/runtime/local/cgroup-detect.ts';
import { listGroupPids } from '../../../operator/runtime/local/cgroup-group.ts';
import {
  createLocalRuntime,
  type LocalRuntime,
  type LocalRuntimeOptions,
} from '../../../operator/runtime/local/index.ts';
import { processStartTicks } from '../../../operator/runtime/local/process-tree.ts';
import type { DeployedWorkload } from '../../../operator/runtime/types.ts';
import { alive, environOf, experiment, fakeWorkload, launchOf, stats, waitFor } from './fixtures.ts';

const layout = readCgroupLayout();
const cgroupsWritable = process.getuid?.() === 0 && layout.version !== 'none';
const cgroupTest = cgroupsWritable ? test.serial : test.skip;
const HIERARCHIES = ['cpu', 'cpuacct', 'memory'].map((c) => path.join('/sys/fs/cgroup', c));
const MiB = 1024 * 1024;

/** conclab groups of this test process (any runtime instance), across the hierarchies. */
function ourGroups(): string[] {
  const mine = `conclab-${process.pid}.`;
  return HIERARCHIES.flatMap((h) => (existsSync(h) ? readdirSync(h).filter((n) => n.startsWith(mine)) : []));
}

type Teardown = { teardown: (f: () => Promise<void> | void) => void };

/** A runtime that starts the real Node workload. */
function realRuntime(t: Teardown, options: LocalRuntimeOptions = {}): LocalRuntime {
  const runtime = createLocalRuntime({ stopGraceMillis: 3000, readyTimeoutMillis: 60_000, ...options });
  t.teardown(() => runtime.cleanup());
  return runtime;
}

/** A runtime that starts the FAKE workload (misbehaviour only). */
function fakeRuntime(t: Teardown, options: LocalRuntimeOptions = {}) {
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

async function work(url: string): Promise<Response> {
  const res = await fetch(`${url}/work`, { signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res;
}

function cgroupOf(pid: number): string {
  return readFileSync(`/proc/${pid}/cgroup`, 'utf8');
}

cgroupTest(
  'two variants get the same limits, written and read back, and the workloads report them from inside their groups',
  async (t) => {
    const runtime = realRuntime(t);
    t.is(runtime.name, `local cgroup ${layout.version}`);
    t.deepEqual(
      runtime.warnings.filter((w) => w.includes('NOT ENFORCED')),
      [],
    );
    const exp = experiment('fairness');
    const a = await runtime.start(launchOf(exp, 0));
    const b = await runtime.start(launchOf(exp, 1));
    const [la, lb] = [runtime.limits(a), runtime.limits(b)];
    t.deepEqual(la, lb);
    t.like(la, { cpuCores: 0.5, memoryBytes: 256 * MiB });
    t.regex(la!.source, /cpu.cfs_quota_us=50000 cpu.cfs_period_us=100000/);
    const [ga] = runtime.groups(a);
    const [gb] = runtime.groups(b);
    t.truthy(ga && gb);
    t.not(ga!.name, gb!.name);
    // Owner pid and its start time, so a later process reusing the pid is not taken for the owner.
    t.regex(
      ga!.name,
      new RegExp(`^conclab-${process.pid}\\.${processStartTicks(process.pid)}-[0-9a-f]+-fairness-processes-t1-`),
    );
    t.is(readFileSync(path.join(ga!.dirs.cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
    t.is(readFileSync(path.join(gb!.dirs.memory, 'memory.limit_in_bytes'), 'utf8').trim(), String(256 * MiB));

    // The workload reads the same limits from inside: its own group, not a guess.
    const sa = await stats(a.adminUrls[0]!);
    t.like(sa.usage?.limits, { cpuCores: 0.5, memoryBytes: 256 * MiB });
    t.true(sa.usage?.cgroupId?.includes(ga!.name), sa.usage?.cgroupId);
    t.regex(sa.usage?.source ?? '', /^cgroup v1/);
    // The supervisor and every worker process it forked are inside the group in every hierarchy.
    const pids = [sa.pid, ...sa.workers.map((w) => w.pid)];
    t.is(new Set(pids).size, 3, 'supervisor + 2 worker processes');
    for (const pid of pids) {
      for (const c of ['cpu', 'cpuacct', 'memory'])
        t.regex(cgroupOf(pid), new RegExp(`:${c}:/${ga!.name}$`, 'm'), `${c} of ${pid}`);
    }
    // This process (the load generator) stays outside.
    t.false(readFileSync('/proc/self/cgroup', 'utf8').includes('conclab-'));
    t.is((await work(a.workUrls[0]!)).status, 200);
    t.is((await work(b.workUrls[0]!)).status, 200);
    await runtime.stop(a);
    await runtime.stop(b);
    t.false(existsSync(ga!.dirs.cpu) || existsSync(gb!.dirs.memory));
  },
);

cgroupTest('the workload gets its configuration from the environment, with the ports the runtime chose', async (t) => {
  const runtime = realRuntime(t, { env: { CONCLAB_FAULT_KIND: 'none' } });
  process.env['CONCLAB_SHOULD_NOT_LEAK'] = 'x';
  t.teardown(() => {
    delete process.env['CONCLAB_SHOULD_NOT_LEAK'];
  });
  const d = await runtime.start(launchOf(experiment('env'), 1, 2));
  const env = environOf(runtime.rootPids(d)[0]!);
  t.is(`http://127.0.0.1:${env['CONCLAB_PORT']}`, d.workUrls[0]!);
  t.is(`http://127.0.0.1:${env['CONCLAB_ADMIN_PORT']}`, d.adminUrls[0]!);
  t.like(env, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_VARIANT: 'threads',
    CONCLAB_TRIAL: '2',
    CONCLAB_REPLICA: '0',
    CONCLAB_CPU_MILLIS: '5',
    CONCLAB_FAULT_KIND: 'none',
    // The supervisor reports this group's counters: it is the replica's alone.
    CONCLAB_OWN_CGROUP: 'true',
    // The workload dies with conclab even if conclab is SIGKILLed.
    CONCLAB_EXIT_WITH_STDIN: 'true',
    // No tracing target given: tracing off through the standard variable.
    OTEL_SDK_DISABLED: 'true',
  });
  t.is(env['CONCLAB_WORKER_HEAP_MB'], undefined, 'no heap cap when the cgroup enforces memory');
  t.is(env['CONCLAB_SHOULD_NOT_LEAK'], undefined, "conclab's own CONCLAB_* settings stay out");
  const s = await stats(d.adminUrls[0]!);
  t.like(s, { model: 'thread', replica: 0, port: Number(env['CONCLAB_PORT']), tracing: { enabled: false } });
});

cgroupTest(
  'a CPU-burning workload in a quarter-CPU group gets at most a quarter core and is throttled, as its /stats shows',
  async (t) => {
    // The real workload's scheduled `hang` fault: one worker spins without yielding (one core wanted).
    const runtime = realRuntime(t, { env: { CONCLAB_FAULT_KIND: 'hang', CONCLAB_FAULT_AFTER_MILLIS: '0' } });
    const d = await runtime.start(launchOf(experiment('burn', { cpu: '250m', memory: '256Mi' }), 1));
    // The machine is shared by several engineers' tests (load 20 and more on 2 cores): the
    // highest weight lets the group reach its quota however busy the machine is, so the quota,
    // not the contention, is what limits it here.
    writeFileSync(path.join(runtime.groups(d)[0]!.dirs.cpu, 'cpu.shares'), '262144');
    await new Promise((r) => setTimeout(r, 500));
    const before = await stats(d.adminUrls[0]!);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const after = await stats(d.adminUrls[0]!);
    const wallSeconds = (performance.now() - t0) / 1000;
    const [ub, ua] = [before.usage!, after.usage!];
    t.is(ua.cgroupId, ub.cgroupId);
    const cores = (ua.cpuSeconds - ub.cpuSeconds) / wallSeconds;
    const throttled = ua.throttledPeriods - ub.throttledPeriods;
    t.log(
      `used ${cores.toFixed(3)} cores; throttled ${throttled} periods, ${(ua.throttledSeconds - ub.throttledSeconds).toFixed(2)} s`,
    );
    // The spinning worker wants a core; the quota allows 0.25.
    t.true(cores <= 0.32, `${cores} cores is above the 0.25 quota`);
    t.true(cores >= 0.05, `${cores} cores: the workload hardly ran`);
    t.true(throttled >= 1, 'never throttled');
    t.true(ua.throttledSeconds > ub.throttledSeconds);
  },
);

cgroupTest(
  'the memory limit OOM-kills a leaking workload, and the runtime reports the exit as OOMKilled',
  async (t) => {
    // The real workload's scheduled `leak` fault under threads: the one process grows to the limit.
    const runtime = realRuntime(t, {
      maxRestarts: 0,
      env: { CONCLAB_FAULT_KIND: 'leak', CONCLAB_FAULT_AFTER_MILLIS: '0' },
    });
    const d = await runtime.start(launchOf(experiment('oom', { cpu: '1', memory: '192Mi' }), 1));
    const [group] = runtime.groups(d);
    const gaveUp = () =>
      runtime.events(d).some((e) => e.restarting === false && /gave up after 0 restarts/.test(e.detail ?? ''));
    t.true(await waitFor(gaveUp, 30_000), JSON.stringify(runtime.events(d)));
    const exit = runtime.events(d).find((e) => e.kind === 'process-exit' && e.exit !== undefined)!;
    t.like(exit, { kind: 'process-exit', replica: 0, exit: 'OOMKilled', oomKilled: true, restarting: false });
    t.regex(exit.detail ?? '', /was killed by SIGKILL \(the kernel's OOM killer: the memory limit was reached\)/);
    // The kernel's own counters agree.
    const oomControl = readFileSync(path.join(group!.dirs.memory, 'memory.oom_control'), 'utf8');
    t.true(Number(/oom_kill (\d+)/.exec(oomControl)?.[1]) >= 1, oomControl);
    const peak = Number(readFileSync(path.join(group!.dirs.memory, 'memory.max_usage_in_bytes'), 'utf8'));
    t.true(peak <= 192 * MiB && peak > 150 * MiB, `peak ${peak}`);
  },
);

cgroupTest(
  'a budget too small to start the workload is reported as out of memory, naming a budget that does start it',
  async (t) => {
    const runtime = realRuntime(t);
    const small = experiment('too-small', { cpu: '1', memory: '48Mi' });
    const err = await t.throwsAsync(runtime.start(launchOf(small, 0)));
    t.log(err!.message);
    t.regex(
      err!.message,
      /^variant "processes" \(trial 1\): out of memory before it was ready: the kernel's OOM killer ended \d+ process/,
    );
    t.regex(err!.message, /memory limit of 48\.0 MiB \(spec\.resources\.memory: 48Mi\)/);
    t.regex(err!.message, /peaks at \d+\.\d MiB before it is ready/);
    const fix = /Fix: raise spec\.resources\.memory to at least (\d+)Mi/.exec(err!.message);
    t.truthy(fix, err!.message);
    t.deepEqual(
      ourGroups().filter((n) => n.includes('-too-small-')),
      [],
      'neither the failed group nor the measuring one is left',
    );
    // The budget it names does start the same workload.
    const enough = experiment('enough', { cpu: '1', memory: `${fix![1]}Mi` });
    const d = await runtime.start(launchOf(enough, 0));
    t.is((await work(d.workUrls[0]!)).status, 200);
    await runtime.stop(d);
  },
);

cgroupTest(
  'a workload that exits before it is ready fails the start with the variant name and its stderr',
  async (t) => {
    const runtime = realRuntime(t, { env: { CONCLAB_FAULT_KIND: 'bogus' } });
    const err = await t.throwsAsync(runtime.start(launchOf(experiment('early'), 1)));
    t.regex(err!.message, /^variant "threads" \(trial 1\): the workload exited with code 2 before it was ready/);
    t.regex(err!.message, /CONCLAB_FAULT_KIND/);
    t.notRegex(err!.message, /out of memory/);
    t.deepEqual(
      ourGroups().filter((n) => n.includes('-early-')),
      [],
      'the failed start removed its group',
    );
  },
);

cgroupTest(
  'stop does not wait for a restart that is still starting (FAKE: the restart never gets ready)',
  async (t) => {
    const markerDir = mkdtempSync(path.join(os.tmpdir(), 'conclab-marker-'));
    t.teardown(() => rmSync(markerDir, { recursive: true, force: true }));
    const marker = path.join(markerDir, 'died');
    const { runtime } = fakeRuntime(t, {
      readyTimeoutMillis: 60_000,
      env: { FAKE_MODE: 'die-then-hang', FAKE_MARKER: marker },
    });
    const d = await runtime.start(launchOf(experiment('hang'), 0));
    const group = runtime.groups(d)[0]!;
    t.true(await waitFor(() => runtime.events(d).some((e) => e.kind === 'process-exit'), 15_000));
    t.regex(runtime.events(d)[0]!.detail ?? '', /exited with code 7/);
    // Let the restart spawn (it will never be ready).
    t.true(await waitFor(async () => (await listGroupPids(group)).length > 0, 5000));
    const started = performance.now();
    await runtime.stop(d);
    const millis = performance.now() - started;
    t.true(millis < 8000, `stop took ${millis} ms`);
    t.false(existsSync(group.dirs.memory));
    t.true(existsSync(marker));
  },
);

cgroupTest(
  'stop and cleanup leave no process and no group, even when the workload ignores SIGTERM (FAKE)',
  async (t) => {
    const { runtime } = fakeRuntime(t, { stopGraceMillis: 500, env: { FAKE_MODE: 'ignore-term' } });
    const exp = experiment('leftovers');
    const a = await runtime.start(launchOf(exp, 0));
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
  },
);

cgroupTest('a workload that never prints its ready line is killed after the timeout (FAKE)', async (t) => {
  const { runtime } = fakeRuntime(t, { readyTimeoutMillis: 1500, env: { FAKE_MODE: 'never-ready' } });
  const err = await t.throwsAsync(runtime.start(launchOf(experiment('silent'), 0)));
  t.regex(err!.message, /did not print its ready line within 1500 ms/);
  t.deepEqual(
    ourGroups().filter((n) => n.includes('-silent-')),
    [],
  );
});

/** A conclab stand-in in its own process: a local runtime that starts the real workload and reports its groups. */
function startOwner(
  t: Teardown,
): Promise<{ pid: number; groups: string[]; workloadPid: number; kill: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conclab-owner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'owner.ts');
  const entry = new URL('../../../operator/runtime/local/index.ts', import.meta.url).pathname;
  const fixtures = new URL('./fixtures.ts', import.meta.url).pathname;
  writeFileSync(
    script,
    `import { createLocalRuntime } from ${JSON.stringify(entry)};
import { experiment, launchOf } from ${JSON.stringify(fixtures)};
const runtime = createLocalRuntime({ readyTimeoutMillis: 60_000 });
const d = await runtime.start(launchOf(experiment('killed-owner'), 0));
console.log(JSON.stringify({ groups: runtime.groups(d).map((g) => g.name), workloadPid: runtime.rootPids(d)[0] }));
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the owner did not start its workload within 60 s')), 60_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      const { groups, workloadPid } = JSON.parse(line) as { groups: string[]; workloadPid: number };
      resolve({
        pid: child.pid!,
        groups,
        workloadPid,
        kill: async () => {
          child.kill('SIGKILL');
          await exited;
        },
      });
    });
  });
}

cgroupTest(
  'a SIGKILLed owner leaves groups that the next start removes at once; a live owner is named as sharing the machine',
  async (t) => {
    const owner = await startOwner(t);
    t.is(owner.groups.length, 1);
    const inHierarchies = () => HIERARCHIES.filter((h) => existsSync(path.join(h, owner.groups[0]!)));

    // While it lives, its groups are left alone, and a run measuring now is told it shares the machine.
    const first = realRuntime(t);
    const d = await first.start(launchOf(experiment('beside'), 1));
    t.is(inHierarchies().length, 3, 'a live owner keeps its groups');
    const shared = first.warnings.find((w) => w.startsWith('MACHINE SHARED') && w.includes(`pid ${owner.pid},`));
    t.truthy(shared, first.warnings.join('\n'));
    t.regex(shared!, /killed-owner-processes/);
    await first.stop(d);

    // SIGKILL: no cleanup code of the owner runs; the workload sees its stdin close and exits.
    await owner.kill();
    t.true(await waitFor(() => !alive(owner.workloadPid), 15_000), 'the workload outlived its owner');
    t.is(inHierarchies().length, 3, 'the killed owner left its (empty) groups');
    const next = realRuntime(t);
    const started = performance.now();
    const removed = await next.sweepLeftovers();
    t.log(`swept ${removed.length} group(s) in ${(performance.now() - started).toFixed(0)} ms`);
    t.true(removed.includes(owner.groups[0]!), removed.join(' '));
    t.deepEqual(inHierarchies(), [], 'removed at once, not after a minimum age');
  },
);

cgroupTest(
  "groups are judged by owner pid and start time: a reused pid does not keep a dead run's group",
  async (t) => {
    const init = processStartTicks(1)!;
    const names = {
      // pid 2^22+1 is above the kernel's pid_max: no process can own it.
      deadPid: 'conclab-4194305.100-abcdef-crashed-run-t1-000000',
      // pid 1 lives, but started at another time than the owner did: the pid was reused.
      reusedPid: `conclab-1.${init + 1}-abcdef-reused-run-t1-000000`,
      liveOwner: `conclab-1.${init}-abcdef-someone-else-t1-000000`,
      // Names without a start time (earlier versions, the test node agent): the pid decides.
      legacyLive: 'conclab-1-abcdef-legacy-t1-000000',
      legacyDead: 'conclab-4194305-abcdef-legacy-dead-t1-000000',
    };
    for (const h of HIERARCHIES) for (const n of Object.values(names)) mkdirSync(path.join(h, n));
    t.teardown(() => {
      for (const h of HIERARCHIES)
        for (const n of Object.values(names)) if (existsSync(path.join(h, n))) rmdirSync(path.join(h, n));
    });
    const runtime = realRuntime(t);
    const removed = await runtime.sweepLeftovers();
    for (const key of ['deadPid', 'reusedPid', 'legacyDead'] as const) {
      t.true(removed.includes(names[key]), key);
      for (const h of HIERARCHIES) t.false(existsSync(path.join(h, names[key])), `${h}/${names[key]}`);
    }
    for (const key of ['liveOwner', 'legacyLive'] as const) {
      for (const h of HIERARCHIES) t.true(existsSync(path.join(h, names[key])), `${h}/${names[key]}`);
    }
  },
);

test.serial(
  'the affinity fallback pins the workload to whole CPUs and warns loudly that limits are not enforced',
  async (t) => {
    const cpus = readAffinity();
    const runtime = realRuntime(t, { forceAffinityFallback: true });
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
    const env = environOf(pid);
    t.is(env['CONCLAB_WORKER_HEAP_MB'], '128', '256Mi over 2 workers');
    t.is(env['CONCLAB_OWN_CGROUP'], undefined, 'no group of its own to report');
    t.like(runtime.limits(d), { cpuCores: 1, memoryBytes: 0 });
    t.regex(runtime.limits(d)!.source, /affinity/);
    // The supervisor falls back to its process tree, and says so.
    const s = await stats(d.adminUrls[0]!);
    t.regex(s.usage?.source ?? '', /^process tree/);
    t.true((s.usage?.peakMemoryBytes ?? 0) > 0);
    await runtime.stop(d);
    t.false(alive(pid));
  },
);

test.serial('the load generator is pinned to a CPU the workloads do not use', async (t) => {
  const cpus = readAffinity();
  if (cpus.length < 2) return t.pass('one CPU: nothing to separate');
  const { runtime } = fakeRuntime(t);
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
  const { chmodSync } = await import('node:fs');
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
