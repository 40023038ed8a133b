// Fault injection through the workload supervisor's admin endpoint. The same call works for
// a local process (admin port on loopback) and for a pod (admin port on the pod IP), so the
// engine owns it rather than each runtime.
import type { FaultKind } from '../api/schema.ts';

/** Asks the supervisor to break exactly one worker. Resolves once the supervisor accepted. */
export async function injectFault(
  adminUrl: string,
  kind: FaultKind,
  worker: number,
  timeoutMillis = 2000,
): Promise<void> {
  const url = `${adminUrl}/fault?kind=${encodeURIComponent(kind)}&worker=${worker}`;
  const res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(timeoutMillis) });
  if (res.status !== 202 && res.status !== 200) {
    throw new Error(
      `fault ${kind} on worker ${worker} was refused by ${adminUrl}: HTTP ${res.status} ${await res.text()}`,
    );
  }
}
