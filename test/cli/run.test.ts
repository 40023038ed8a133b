// `conclab run` as a user runs it: the real bin, real workloads under real cgroups, real load
// on loopback, real spans, real signals. Kept short (a few seconds of load per trial). The tests
// run one after another and share one run lock name of their own (CONCLAB_RUN_LOCK), so they
// neither wait for nor block a real `conclab run` elsewhere on this machine.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT } from '../../operator/api/generate.ts';
import { acquireRunLock } from '../../operator/runtime/local/run-lock.ts';

const BIN = join(ROOT, 'operator', 'cli', 'conclab.js');
const LOCK = `conclab-run-test-${process.pid}`;

function manifest(name: string, duration: string, trials = 1, memory = '256Mi'): string {
  return `apiVersion: conclab.dev/v1alpha1
kind: ConcurrencyExperiment
metadata:
  name: ${name}
spec:
  workload:
    profile: io
    ioWait: 5ms
  resources:
    cpu: 500m
    memory: ${memory}
  variants:
    - name: procs
      model: process
      workers: 2
    - name: threads
      model: thread
      workers: 2
  load:
    rate: 40
    duration: ${duration}
    warmUp: 1s
  trials: ${trials}
  tracing:
    sampleRatio: 1
`;
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** When the process closed (performance.now()). */
  atMillis: number;
}

interface Running {
  child: ChildProcess;
  done: Promise<Outcome>;
  stderrSoFar: () => string;
  stdoutSoFar: () => string;
  /** Resolves with the time (performance.now()) at which stderr (or stdout) first matched; rejects after the bound. */
  seen: (pattern: RegExp, timeoutMillis?: number, stream?: 'stderr' | 'stdout') => Promise<number>;
}

function start(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CONCLAB_RUN_LOCK: LOCK, ...options.env },
  });
  const text = { stdout: '', stderr: '' };
  const waiters: { pattern: RegExp; stream: 'stderr' | 'stdout'; resolve: (at: number) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.pattern.test(text[w.stream])) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(performance.now());
      }
    }
  };
  child.stdout?.on('data', (c) => {
    text.stdout += c;
    check();
  });
  child.stderr?.on('data', (c) => {
    text.stderr += c;
    check();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
  const done = new Promise<Outcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: text.stdout, stderr: text.stderr, atMillis: performance.now() });
    });
  });
  const seen = (pattern: RegExp, timeoutMillis = 90_000, stream: 'stderr' | 'stdout' = 'stderr') =>
    new Promise<number>((resolve, reject) => {
      const timeout = setTimeout(
        () => reject(new Error(`not seen within ${timeoutMillis} ms: ${pattern}\n${stream}: ${text[stream]}`)),
        timeoutMillis,
      );
      waiters.push({
        pattern,
        stream,
        resolve: (at) => {
          clearTimeout(timeout);
          resolve(at);
        },
      });
      check();
      void done.then(() => {
        if (waiters.some((w) => w.pattern === pattern)) {
          clearTimeout(timeout);
          reject(new Error(`exited before ${pattern} was seen\n${stream}: ${text[stream]}`));
        }
      });
    });
  return { child, done, stderrSoFar: () => text.stderr, stdoutSoFar: () => text.stdout, seen };
}

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'conclab-run-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Processes started with CONCLAB_EXPERIMENT=experiment (workloads carry it in their env, not argv). */
function processesOf(experiment: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (env.split('\0').includes(`CONCLAB_EXPERIMENT=${experiment}`)) found.push(Number(entry));
    } catch {
      // Gone already, or not ours to read.
    }
  }
  return found;
}

function cgroupsOf(experiment: string): string[] {
  const found: string[] = [];
  for (const hierarchy of ['cpu', 'memory', 'cpuacct', 'unified']) {
    const dir = join('/sys/fs/cgroup', hierarchy);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir)) if (entry.includes(`-${experiment}-`)) found.push(join(dir, entry));
  }
  return found;
}

async function eventually(check: () => boolean, timeoutMillis: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMillis;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return check();
}

/** The three reports in `dir`, each read in full: the JSON parses and the HTML is closed. */
function completeReports(dir: string): { partial: boolean; trials: { variant: string }[] } {
  const names = readdirSync(dir).sort();
  if (names.join(' ') !== 'report.html report.json report.md') throw new Error(`reports in ${dir}: ${names.join(' ')}`);
  if (!readFileSync(join(dir, 'report.html'), 'utf8').trimEnd().endsWith('</html>'))
    throw new Error('report.html cut off');
  if (readFileSync(join(dir, 'report.md'), 'utf8').length < 100) throw new Error('report.md empty');
  return JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
}

test.serial('a short experiment runs end to end and reports both variants under equal limits', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'short.yaml');
  writeFileSync(file, manifest('e2e-short', '3s'));
  const out = join(dir, 'results');
  const r = await start(['run', '--quiet', '--json', '--out', out, file]).done;
  t.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.is(report.schemaVersion, '1');
  t.false(report.partial);
  t.deepEqual(
    report.variants.map((v: { name: string }) => v.name),
    ['procs', 'threads'],
  );
  for (const v of report.variants) {
    t.true(v.throughput.mean > 20, `${v.name} throughput ${v.throughput.mean}`);
    for (const p of ['p50Millis', 'p90Millis', 'p99Millis', 'p999Millis', 'maxMillis']) {
      t.true(v.latency.client[p] > 0, `${v.name} ${p}`);
    }
    // Spans came back from every variant over OTLP.
    t.true((v.latency.server?.count ?? 0) > 0, `${v.name} has server-side spans`);
  }
  // The fairness contract: limits read back from the cgroup files are the same for both.
  const limits = report.trials.map((tr: { usage?: { limits?: { cpuCores: number; memoryBytes: number } } }) => {
    const l = tr.usage?.limits;
    return l ? `${l.cpuCores} cores / ${l.memoryBytes} bytes` : 'missing';
  });
  t.deepEqual(limits, ['0.5 cores / 268435456 bytes', '0.5 cores / 268435456 bytes']);
  t.like(completeReports(out), { partial: false });
  t.deepEqual(processesOf('e2e-short'), []);
  t.deepEqual(cgroupsOf('e2e-short'), []);
});

test.serial(
  'two runs at once: the second waits for the first, naming it; a third with --wait 0 is refused; every run gets its own folder',
  async (t) => {
    const cwd = tempDir(t);
    const file = join(cwd, 'pair.yaml');
    writeFileSync(file, manifest('e2e-pair', '3s', 1));
    const a = start(['run', file], { cwd });
    await a.seen(/conclab run e2e-pair: .* results in /);
    const b = start(['run', file], { cwd });
    await b.seen(
      new RegExp(
        `another conclab run is using this machine: pid ${a.child.pid}, experiment "e2e-pair" \\(${file.replaceAll('/', '\\/')}\\), running since .* UTC .*waiting up to 30m 00s for it to finish`,
      ),
    );
    t.notRegex(b.stderrSoFar(), /trial 1\//, 'the second run started nothing while the first runs');

    const refusedAt = performance.now();
    const c = await start(['run', '--wait', '0', file], { cwd }).done;
    t.log(`--wait 0 refused in ${(c.atMillis - refusedAt).toFixed(0)} ms (process start included)`);
    t.is(c.code, 2, c.stderr);
    t.regex(c.stderr, new RegExp(`pid ${a.child.pid}, experiment "e2e-pair"`));
    t.regex(
      c.stderr,
      new RegExp(
        `Fix: wait for it to finish \\(or stop it: kill -INT ${a.child.pid}\\), or run again with --wait DURATION`,
      ),
    );

    const ra = await a.done;
    t.is(ra.code, 0, ra.stderr);
    const aReported = ra.stdout.indexOf('Reports:');
    t.true(aReported >= 0);
    const bStarted = await b.seen(/conclab run e2e-pair: .* results in /);
    const rb = await b.done;
    t.is(rb.code, 0, rb.stderr);
    t.regex(rb.stderr, /the other run is done after .* of waiting; starting/);
    t.true(bStarted > ra.atMillis - 5000, 'the second run started its trials only once the first was done');
    // Each run wrote its own folder; the refused one left none.
    const folders = readdirSync(join(cwd, 'conclab-results')).sort();
    t.is(folders.length, 2, folders.join(' '));
    for (const f of folders) t.like(completeReports(join(cwd, 'conclab-results', f)), { partial: false });
    const [aDir] = /results in (\S+)/.exec(ra.stderr)!.slice(1);
    const [bDir] = /results in (\S+)/.exec(rb.stderr)!.slice(1);
    t.not(aDir, bDir);
  },
);

test.serial('an unusable --out is refused before anything starts, with exit 2, in seconds', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.yaml');
  // Long trials: refusing only after the run (the old behaviour) would blow the time bound.
  writeFileSync(file, manifest('e2e-badout', '60s', 2));
  for (const out of ['/sys/forbidden', '/proc/forbidden', join(file, 'results')]) {
    const started = performance.now();
    const r = await start(['run', '--out', out, file]).done;
    const millis = r.atMillis - started;
    t.log(`--out ${out}: exit ${r.code} after ${millis.toFixed(0)} ms`);
    t.is(r.code, 2, `${out}: ${r.stderr}`);
    t.regex(r.stderr, new RegExp(`--out ${out.replaceAll('/', '\\/')}: (cannot create|.* exists and is not a folder)`));
    t.regex(r.stderr, /nothing was started/);
    t.regex(r.stderr, /Fix: give --out a folder this user can create and write/);
    t.true(millis < 30_000, `${out}: ${millis} ms`);
  }
  t.deepEqual(processesOf('e2e-badout'), []);
  t.deepEqual(cgroupsOf('e2e-badout'), []);
});

test.serial(
  'interrupting a run mid-trial stops it cleanly, says what a second Ctrl-C waits for, and saves complete partial reports',
  async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'long.yaml');
    writeFileSync(file, manifest('e2e-interrupt', '60s', 2));
    const out = join(dir, 'results');
    const run = start(['run', '--out', out, file]);
    await run.seen(/measuring/);
    t.true(processesOf('e2e-interrupt').length > 0, 'the workload should be running mid-trial');
    run.child.kill('SIGINT');
    await run.seen(/SIGINT: stopping variant procs trial 1: its workloads get up to 5 s to drain/);
    run.child.kill('SIGINT');
    await run.seen(
      /SIGINT again: still (stopping variant procs trial 1|removing the last workloads|writing the reports)/,
    );
    const r = await run.done;
    t.is(r.code, 130, r.stderr);
    t.deepEqual(processesOf('e2e-interrupt'), []);
    t.deepEqual(cgroupsOf('e2e-interrupt'), []);
    const report = completeReports(out);
    t.true(report.partial, 'the saved report is marked partial');
    t.is(report.trials.length, 1);
  },
);

test.serial('Ctrl-C while waiting for another run gives up at once and leaves nothing', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'wait.yaml');
  writeFileSync(file, manifest('e2e-waiting', '3s'));
  const held = await acquireRunLock({
    name: LOCK,
    waitMillis: 0,
    holder: { pid: process.pid, experiment: 'the-test', file: 'test.yaml', sinceMillis: Date.now(), resultsDir: dir },
  });
  t.teardown(() => held.release());
  const out = join(dir, 'results');
  const run = start(['run', '--out', out, file]);
  await run.seen(new RegExp(`pid ${process.pid}, experiment "the-test".*waiting up to`));
  const sent = performance.now();
  run.child.kill('SIGINT');
  const r = await run.done;
  t.log(`exited ${(r.atMillis - sent).toFixed(0)} ms after SIGINT`);
  t.is(r.code, 130, r.stderr);
  t.regex(r.stderr, /SIGINT: giving up the wait; nothing was started/);
  t.false(existsSync(out), 'the results folder it claimed is removed again');
});

test.serial(
  'Ctrl-C while the first workload starts reports nothing, waits for the start (saying so), and leaves nothing',
  async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'starting.yaml');
    writeFileSync(file, manifest('e2e-starting', '3s', 2));
    const out = join(dir, 'results');
    const run = start(['run', '--out', out, file]);
    await run.seen(/trial 1\/4: procs #1 starting/);
    // Freeze the workload before its ready line, so the interrupt lands while it starts.
    t.true(await eventually(() => processesOf('e2e-starting').length > 0, 30_000));
    const frozen = processesOf('e2e-starting');
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    t.teardown(() => {
      for (const pid of frozen) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // Gone.
        }
      }
    });
    run.child.kill('SIGINT');
    await run.seen(/SIGINT: stopping variant procs trial 1 while its workload starts; it is stopped once it is up/);
    run.child.kill('SIGINT');
    await run.seen(
      /SIGINT again: still waiting for the workload of variant procs trial 1 to finish starting \(at most 30 s\)/,
    );
    for (const pid of frozen) process.kill(pid, 'SIGCONT');
    const r = await run.done;
    t.is(r.code, 130, r.stderr);
    t.regex(r.stderr, /interrupted by SIGINT before any trial finished; nothing to report/);
    t.false(existsSync(out), 'no results folder for a run that measured nothing');
    t.true(await eventually(() => processesOf('e2e-starting').length === 0, 10_000));
    t.deepEqual(cgroupsOf('e2e-starting'), []);
  },
);

test.serial('Ctrl-C between trials ends the run after the finished trial, marked partial', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'between.yaml');
  writeFileSync(file, manifest('e2e-between', '2s', 2));
  const out = join(dir, 'results');
  const run = start(['run', '--out', out, file]);
  await run.seen(/trial 1\/4: procs #1 done/);
  run.child.kill('SIGINT');
  const r = await run.done;
  t.is(r.code, 130, r.stderr);
  t.regex(r.stderr, /SIGINT: stopping (between trials|variant threads trial 1 while its workload starts)/);
  const report = completeReports(out);
  t.true(report.partial);
  t.deepEqual(
    report.trials.map((x) => x.variant),
    ['procs'],
  );
  t.deepEqual(processesOf('e2e-between'), []);
  t.deepEqual(cgroupsOf('e2e-between'), []);
});

test.serial(
  'Ctrl-C while the reports are written, and again and again, still writes every report completely, not marked partial',
  async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'storm.yaml');
    writeFileSync(file, manifest('e2e-storm', '2s', 1));
    const out = join(dir, 'results');
    const run = start(['run', '--out', out, file]);
    await run.seen(/threads #1 measuring/);
    // The first report file appearing means conclab is writing the reports: freeze it right
    // there (SIGSTOP), so the interrupt lands in that phase however busy the machine is.
    const seenFiles = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no report appeared within 90 s')), 90_000);
      const watcher = watch(out, () => {
        const names = readdirSync(out).filter((n) => n.startsWith('report.'));
        if (names.length === 0) return;
        process.kill(run.child.pid!, 'SIGSTOP');
        watcher.close();
        clearTimeout(timer);
        resolve(names);
      });
    });
    t.log(`frozen with ${seenFiles.join(' ')} in the folder`);
    run.child.kill('SIGINT');
    process.kill(run.child.pid!, 'SIGCONT');
    // Then a signal every 20 ms until the reports are announced. After that the process only
    // exits, and a signal in the last milliseconds of Node's own teardown meets the kernel's
    // default action, which no program can handle.
    let sent = 1;
    const storm = setInterval(() => {
      if (!/Reports: /.test(run.stdoutSoFar()) && run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill('SIGINT');
        sent++;
      }
    }, 20);
    const r = await run.done;
    clearInterval(storm);
    t.log(`${sent} SIGINTs sent`);
    t.is(r.code, 130, `${r.signal ?? ''} ${r.stderr}`);
    t.regex(
      r.stderr,
      new RegExp(`SIGINT: writing the reports to ${out.replaceAll('/', '\\/')}; they are complete when written`),
    );
    const report = completeReports(out);
    t.false(report.partial, 'every trial ran: the results are complete');
    t.is(report.trials.length, 2);
    t.regex(r.stdout, /Reports: /);
  },
);

test.serial(
  'a conclab killed by SIGKILL frees the machine at once, and the next run removes its cgroups when it starts',
  async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'killed.yaml');
    writeFileSync(file, manifest('e2e-killed', '60s', 2));
    const run = start(['run', '--out', join(dir, 'results'), file]);
    await run.seen(/measuring/);
    t.true(processesOf('e2e-killed').length > 0, 'the workload should be running mid-trial');
    run.child.kill('SIGKILL');
    await run.done;
    t.true(cgroupsOf('e2e-killed').length > 0, 'SIGKILL leaves the cgroups (no code of conclab runs)');
    // No cleanup code ran in conclab; the workload notices its stdin closing and shuts down.
    t.true(await eventually(() => processesOf('e2e-killed').length === 0, 20_000), 'the workload outlived conclab');
    // The lock died with it: the next run is not refused, and removes the groups before its trials.
    const nextFile = join(dir, 'next.yaml');
    writeFileSync(nextFile, manifest('e2e-after-kill', '2s'));
    const next = start(['run', '--wait', '0', '--out', join(dir, 'next'), nextFile]);
    await next.seen(/conclab run e2e-after-kill: /);
    t.deepEqual(cgroupsOf('e2e-killed'), [], 'removed at once when the next run started');
    t.regex(next.stderrSoFar(), /removed \d+ cgroup\(s\) left by a conclab run that was killed/);
    const r = await next.done;
    t.is(r.code, 0, r.stderr);
  },
);

test.serial('a manifest for k6 without k6 on PATH stops before starting anything, naming the fix', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'k6.yaml');
  writeFileSync(file, manifest('e2e-k6', '3s').replace('    rate: 40', '    driver: k6\n    rate: 40'));
  const r = await start(['run', file], { env: { PATH: '/nonexistent' } }).done;
  t.is(r.code, 2);
  t.regex(r.stderr, /k6/);
  t.regex(r.stderr, /builtin/);
  t.deepEqual(processesOf('e2e-k6'), []);
});

test.serial('an invalid manifest is refused with the problems and exit 2', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, manifest('e2e-bad', '3s').replace('workers: 2', 'workers: 0'));
  const r = await start(['run', file]).done;
  t.is(r.code, 2);
  t.regex(r.stderr, /spec\.variants\[0\]\.workers/);
});
