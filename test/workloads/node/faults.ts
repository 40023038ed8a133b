// Shared steps of the fault tests: which worker died, was it replaced, did the others serve.
import type { ExecutionContext } from 'ava';
import { burst, type Response, type Workload } from './harness.ts';

/** Waits for the replacement of `worker` (a new pid/thread id, serving again, readyz 200). */
export async function expectReplaced(
  t: ExecutionContext,
  workload: Workload,
  worker: number,
  before: { pid: number; threadId: number },
  boundMillis: number,
): Promise<void> {
  const exit = await workload.waitForEvent(
    (e) => e.event === 'worker-exit' && e['worker'] === worker,
    boundMillis,
    `worker-exit of ${worker}`,
  );
  t.is(exit['pid'], before.pid);
  t.is(exit['threadId'], before.threadId);
  const replaced = await workload.waitForEvent(
    (e) => e.event === 'worker-replaced' && e['worker'] === worker,
    boundMillis,
    `worker-replaced of ${worker}`,
  );
  t.true(replaced['pid'] !== before.pid || replaced['threadId'] !== before.threadId, 'a new worker took the slot');
  t.true(await workload.until(async () => (await workload.readyz()) === 200, boundMillis), 'ready again');
  const stats = await workload.stats();
  t.is(stats.workers[worker]!.replacedCount, 1);
  t.is(stats.restarts, 1);
}

/** Asserts every worker other than `faulty` kept its identity (only one worker was hit). */
export function expectOthersUntouched(
  t: ExecutionContext,
  before: Array<{ pid: number; threadId: number }>,
  after: Array<{ pid: number; threadId: number; replacedCount: number }>,
  faulty: number,
): void {
  before.forEach((identity, index) => {
    if (index === faulty) return;
    t.is(after[index]!.pid, identity.pid, `worker ${index} untouched`);
    t.is(after[index]!.threadId, identity.threadId);
    t.is(after[index]!.replacedCount, 0);
  });
}

export function okResponses(results: Array<Response | Error>): Response[] {
  return results.filter((r): r is Response => !(r instanceof Error) && r.status === 200);
}

/** Sends a burst with short timeouts and returns the identities (pid/thread) that answered 200. */
export async function answeringWorkers(workload: Workload, count: number): Promise<Set<string>> {
  const ok = okResponses(await burst(workload.ready.port, count, 4, 1500));
  return new Set(ok.map((r) => String(r.headers['x-conclab-worker'])));
}
