// The Python workload as PID 1 of a pid namespace, as in a container: its abort fault is
// os.abort(), a native abort, so under the thread model it must end the whole OS process even
// there (the kernel drops the SIGABRT abort() raises for a namespace's init; glibc's abort() then
// forces a fault through). See test/workloads/pid-namespace.ts.
import test from 'ava';
import { asPid1, NATIVE_ABORT_SIGNALS, pid1Problem } from '../pid-namespace.ts';
import { MAIN, PYTHON, sleep, startWorkloadProcess } from './harness.ts';

const BOUND_MILLIS = 20_000;

test('as PID 1, thread model: abort in one worker thread ends the whole OS process', async (t) => {
  const problem = pid1Problem();
  if (problem !== undefined) return t.fail(problem);
  const workload = await startWorkloadProcess(
    t,
    asPid1([PYTHON, MAIN]),
    { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '3' },
    { readyTimeoutMillis: 60_000 },
  );
  t.is(workload.ready.pid, 1, 'the supervisor is PID 1 of its namespace');
  t.is(await workload.fault('abort', 2), 202);
  const exit = await Promise.race([workload.exited, sleep(BOUND_MILLIS).then(() => 'timeout' as const)]);
  t.not(
    exit,
    'timeout',
    `still running ${BOUND_MILLIS} ms after the abort; events: ${JSON.stringify(workload.events)}`,
  );
  if (exit === 'timeout') return;
  t.is(exit.code, null);
  t.log(`ended by ${exit.signal}`);
  t.true(NATIVE_ABORT_SIGNALS.includes(exit.signal!), `ended by ${exit.signal}`);
});
