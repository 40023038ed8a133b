// The Node workload as PID 1 of a pid namespace, as in a container: a thread-model abort still
// ends the whole OS process (it did not: kill(own pid, SIGABRT) is dropped for a namespace's
// init, and the supervisor reported the worker not-ready, then ready again); under the process
// model only the one worker process dies; SIGTERM (handled) still drains and exits 0.
import test from 'ava';
import { asPid1, NATIVE_ABORT_SIGNALS, pid1HostPid, pid1Problem } from '../pid-namespace.ts';
import { expectOthersUntouched, expectReplaced } from './faults.ts';
import { MAIN, request, sleep, startWorkloadProcess } from './harness.ts';

const BOUND_MILLIS = 15_000;
const problem = pid1Problem();

function startAsPid1(t: Parameters<typeof startWorkloadProcess>[0], env: Record<string, string>) {
  if (problem !== undefined) throw new Error(problem);
  return startWorkloadProcess(t, asPid1([process.execPath, MAIN]), env);
}

function within<T>(promise: Promise<T>, millis: number): Promise<T | 'timeout'> {
  return Promise.race([promise, sleep(millis).then(() => 'timeout' as const)]);
}

test('as PID 1 a node that kills itself with SIGABRT lives on, while process.abort() ends it by a forced signal', async (t) => {
  if (problem !== undefined) return t.fail(problem);
  // The kernel behaviour the fault relies on, checked on this kernel and glibc rather than assumed.
  const run = (code: string) =>
    startWorkloadProcess(t, asPid1([process.execPath, '-e', code]), {}, { readyTimeoutMillis: 20_000 });
  const ready = 'console.log(JSON.stringify({ event: "ready", pid: process.pid }));';
  const killed = await run(`${ready} process.kill(process.pid, "SIGABRT"); setTimeout(() => process.exit(3), 300);`);
  t.is(killed.ready.pid, 1, 'it is PID 1 of its namespace');
  t.deepEqual(await within(killed.exited, BOUND_MILLIS), { code: 3, signal: null }, 'SIGABRT from itself dropped');
  const aborted = await run(`${ready} setTimeout(() => process.abort(), 100);`);
  t.is(aborted.ready.pid, 1);
  const exit = await within(aborted.exited, BOUND_MILLIS);
  t.not(exit, 'timeout');
  if (exit === 'timeout') return;
  t.is(exit.code, null);
  t.true(NATIVE_ABORT_SIGNALS.includes(exit.signal!), `ended by ${exit.signal}`);
  t.not(exit.signal, 'SIGABRT', 'glibc raised SIGABRT, the kernel dropped it, the forced fault ended it');
});

for (const model of ['thread', 'offload'] as const) {
  test(`as PID 1, ${model} model: abort in one worker thread ends the whole OS process`, async (t) => {
    const workload = await startAsPid1(t, { CONCLAB_MODEL: model, CONCLAB_WORKERS: '3' });
    t.is(workload.ready.pid, 1, 'the supervisor is PID 1 of its namespace');
    t.is(await workload.fault('abort', 2), 202);
    const exit = await within(workload.exited, BOUND_MILLIS);
    t.not(
      exit,
      'timeout',
      `still running ${BOUND_MILLIS} ms after the abort; events: ${JSON.stringify(workload.events)}`,
    );
    if (exit === 'timeout') return;
    t.is(exit.code, null);
    t.log(`ended by ${exit.signal}`);
    t.true(NATIVE_ABORT_SIGNALS.includes(exit.signal!), `ended by ${exit.signal}`);
    t.truthy(workload.events.find((e) => e.event === 'fault' && e['kind'] === 'abort'));
    t.falsy(
      workload.events.find((e) => e.event === 'worker-replaced'),
      'no replacement: nothing survived to replace it',
    );
  });
}

test('as PID 1, process model: abort kills only worker 1, which is replaced, and the supervisor serves on', async (t) => {
  const workload = await startAsPid1(t, { CONCLAB_MODEL: 'process', CONCLAB_WORKERS: '3' });
  t.is(workload.ready.pid, 1);
  const before = (await workload.stats()).workers;
  t.is(await workload.fault('abort', 1), 202);
  const exit = await workload.waitForEvent((e) => e.event === 'worker-exit', BOUND_MILLIS, 'worker-exit');
  t.like(exit, { worker: 1, pid: before[1]!.pid, code: null, signal: 'SIGABRT' }, 'a worker is not PID 1');
  await expectReplaced(t, workload, 1, before[1]!, BOUND_MILLIS);
  t.is(workload.child.exitCode, null, 'the supervisor (PID 1) lives on');
  expectOthersUntouched(t, before, (await workload.stats()).workers, 1);
  t.is((await request(workload.ready.port, '/work', 5000)).status, 200);
});

for (const model of ['process', 'thread'] as const) {
  test(`as PID 1, ${model} model: SIGTERM drains an in-flight request and exits 0`, async (t) => {
    const workload = await startAsPid1(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      CONCLAB_PROFILE: 'io',
      CONCLAB_IO_MILLIS: '700',
    });
    t.is(workload.ready.pid, 1);
    const inFlight = request(workload.ready.port, '/work', 10_000);
    await sleep(200);
    // From outside the namespace, as the kubelet's runtime signals a container's PID 1.
    process.kill(pid1HostPid(workload.pid), 'SIGTERM');
    t.is((await inFlight).status, 200, 'the in-flight request completed');
    t.deepEqual(await within(workload.exited, 12_000), { code: 0, signal: null });
    t.truthy(workload.events.find((e) => e.event === 'stopped' && e['forced'] === false));
  });
}
