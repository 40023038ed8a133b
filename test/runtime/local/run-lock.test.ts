// The machine's run lock with real processes and real sockets: one holder at a time, waiters
// told who holds it, released by the kernel when the holder dies (even by SIGKILL), never
// inherited by the holder's children. Each test uses a lock name of its own, so nothing here
// touches the real machine-wide lock of a `conclab run` on this machine.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import {
  acquireRunLock,
  busyMessage,
  describeHolder,
  formatAge,
  lockOwnerPids,
  parseHolder,
  queryHolder,
  type RunHolder,
  RunLockBusyError,
} from '../../../operator/runtime/local/run-lock.ts';
import { alive, waitFor } from './fixtures.ts';

const lockName = () => `conclab-test-lock-${process.pid}-${randomBytes(4).toString('hex')}`;
const holder = (experiment: string, pid = process.pid): RunHolder => ({
  pid,
  experiment,
  file: `${experiment}.yaml`,
  sinceMillis: Date.now(),
  resultsDir: `/tmp/${experiment}`,
});
const ENTRY = new URL('../../../operator/runtime/local/run-lock.ts', import.meta.url).pathname;

/** A process that takes the lock (or squats the name with a plain server) and says "held". */
function holderProcess(
  t: { teardown: (f: () => void) => void },
  name: string,
  kind: 'conclab' | 'squatter',
  withChild = false,
): Promise<{ child: ChildProcess; grandchildPid: number | undefined }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conclab-lock-holder-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'holder.ts');
  writeFileSync(
    script,
    kind === 'conclab'
      ? `import { acquireRunLock } from ${JSON.stringify(ENTRY)};
import { spawn } from 'node:child_process';
await acquireRunLock({ name: ${JSON.stringify(name)}, waitMillis: 0, holder: { pid: process.pid, experiment: 'held-elsewhere', file: 'h.yaml', sinceMillis: Date.now(), resultsDir: '/tmp/h' } });
const grandchild = ${withChild} ? spawn('sleep', ['30'], { stdio: 'ignore', detached: true }) : undefined;
grandchild?.unref();
console.log(JSON.stringify({ held: true, grandchildPid: grandchild?.pid }));
setInterval(() => {}, 1000);
`
      : `import net from 'node:net';
net.createServer((s) => s.end('not a conclab run\\n')).listen({ path: '\\0' + ${JSON.stringify(name)} }, () => console.log(JSON.stringify({ held: true })));
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the holder did not take the lock within 30 s')), 30_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      const { grandchildPid } = JSON.parse(line) as { grandchildPid?: number };
      resolve({ child, grandchildPid });
    });
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }
  });
}

test('one holder at a time: a second caller is told who holds it, waits, and gets the lock when it is released', async (t) => {
  const name = lockName();
  const first = await acquireRunLock({ name, holder: holder('first'), waitMillis: 0 });
  t.like(await queryHolder(name), { pid: process.pid, experiment: 'first', file: 'first.yaml' });
  const told: (RunHolder | undefined)[] = [];
  const second = acquireRunLock({
    name,
    holder: holder('second'),
    waitMillis: 20_000,
    pollMillis: 50,
    onBusy: (h) => told.push(h),
  });
  t.true(await waitFor(() => told.length > 0, 10_000), 'never told it waits');
  t.like(told[0], { experiment: 'first' });
  await first.release();
  const lock = await second;
  t.is(lock.holder.experiment, 'second');
  t.like(await queryHolder(name), { experiment: 'second' });
  t.is(told.length, 1, 'told once while the holder did not change');
  await lock.release();
  await lock.release(); // idempotent
  t.is(await queryHolder(name), undefined, 'released: nobody answers');
});

test('waitMillis 0 refuses at once, naming the holder and the fix', async (t) => {
  const name = lockName();
  const held = await holderProcess(t, name, 'conclab');
  const started = performance.now();
  const err = await t.throwsAsync(acquireRunLock({ name, holder: holder('late'), waitMillis: 0 }), {
    instanceOf: RunLockBusyError,
  });
  t.true(performance.now() - started < 5000);
  t.like((err as RunLockBusyError).holder, { pid: held.child.pid, experiment: 'held-elsewhere' });
  t.regex(
    err!.message,
    new RegExp(
      `another conclab run is using this machine: pid ${held.child.pid}, experiment "held-elsewhere" \\(h.yaml\\), running since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC`,
    ),
  );
  t.regex(
    err!.message,
    new RegExp(
      `Fix: wait for it to finish \\(or stop it: kill -INT ${held.child.pid}\\), or run again with --wait DURATION`,
    ),
  );
});

test('a waiter gives up with the same refusal when the wait ends first, and an abort ends the wait at once', async (t) => {
  const name = lockName();
  const first = await acquireRunLock({ name, holder: holder('first'), waitMillis: 0 });
  t.teardown(() => first.release());
  const started = performance.now();
  await t.throwsAsync(acquireRunLock({ name, holder: holder('x'), waitMillis: 600, pollMillis: 100 }), {
    instanceOf: RunLockBusyError,
    message: /experiment "first"/,
  });
  const waited = performance.now() - started;
  t.true(waited >= 550 && waited < 5000, `waited ${waited} ms`);
  const abort = new AbortController();
  const pending = acquireRunLock({ name, holder: holder('y'), waitMillis: 60_000, signal: abort.signal });
  setTimeout(() => abort.abort(new Error('interrupted by SIGINT')), 200);
  await t.throwsAsync(pending, { message: 'interrupted by SIGINT' });
});

test('a holder killed by SIGKILL leaves nothing stuck, and its children do not hold the lock', async (t) => {
  const name = lockName();
  const held = await holderProcess(t, name, 'conclab', true);
  const grandchild = held.grandchildPid!;
  t.teardown(() => {
    try {
      process.kill(grandchild, 'SIGKILL');
    } catch {
      // Gone already.
    }
  });
  await t.throwsAsync(acquireRunLock({ name, holder: holder('x'), waitMillis: 0 }), { instanceOf: RunLockBusyError });
  await killed(held.child);
  t.true(alive(grandchild), 'the child of the holder still runs (as a workload may, shutting down)');
  const lock = await acquireRunLock({ name, holder: holder('after'), waitMillis: 0 });
  t.is(lock.holder.experiment, 'after');
  await lock.release();
});

test('a process squatting the name without answering as conclab is named by its pid, from the kernel', async (t) => {
  const name = lockName();
  const squatter = await holderProcess(t, name, 'squatter');
  t.is(await queryHolder(name), undefined);
  if (process.getuid?.() === 0) t.deepEqual(lockOwnerPids(name), [squatter.child.pid]);
  const err = await t.throwsAsync(acquireRunLock({ name, holder: holder('x'), waitMillis: 0 }));
  t.regex(err!.message, /holds conclab's run lock but does not answer as a conclab run/);
  if (process.getuid?.() === 0) t.regex(err!.message, new RegExp(`process ${squatter.child.pid} holds`));
});

test('what a holder says is checked field by field; ages and refusals read as a person would say them', (t) => {
  const h = holder('quickstart', 4242);
  t.deepEqual(parseHolder(JSON.stringify({ kind: 'conclab-run', ...h })), h);
  t.is(parseHolder(JSON.stringify({ ...h })), undefined, 'no kind: not a conclab run');
  t.is(parseHolder(JSON.stringify({ kind: 'conclab-run', ...h, pid: 'x' })), undefined);
  t.is(parseHolder('garbage'), undefined);
  t.is(formatAge(42_400), '42 s');
  t.is(formatAge(185_000), '3m 05s');
  t.is(formatAge(2 * 3600_000 + 60_000), '2h 01m');
  const line = describeHolder({ ...h, sinceMillis: Date.UTC(2026, 0, 2, 3, 4, 5) }, [], Date.UTC(2026, 0, 2, 3, 5, 5));
  t.is(
    line,
    'another conclab run is using this machine: pid 4242, experiment "quickstart" (quickstart.yaml), running since 2026-01-02 03:04:05 UTC (1m 00s), results in /tmp/quickstart',
  );
  t.regex(busyMessage(undefined, [], 0), /a process this user cannot see holds conclab's run lock/);
  t.notRegex(busyMessage(undefined, [], 0), /kill -INT/, 'no pid to name: no kill to suggest');
});
