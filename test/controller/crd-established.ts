// Waits until the API server has marked a CRD Established, by polling the CRD object itself
// (bounded). `kubectl wait --for=condition=Established` is not a wait for a CRD this young: it
// fails at once ("status.conditions accessor error: <nil> is of the type <nil>") when it reads
// the object before the API server wrote any condition, which a loaded machine makes likely.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';

/** Established=True, or the reason it is not yet (for the time-out message). */
export function establishedOrWhyNot(crd: V1CustomResourceDefinition | undefined): true | string {
  if (!crd) return 'not found';
  const conditions = crd.status?.conditions ?? [];
  const established = conditions.find((c) => c.type === 'Established');
  if (established?.status === 'True') return true;
  if (conditions.length === 0) return 'no conditions written yet';
  const names = conditions.find((c) => c.type === 'NamesAccepted');
  if (names?.status === 'False') return `names not accepted: ${names.message ?? names.reason ?? ''}`;
  return `Established=${established?.status ?? 'absent'}${established?.message ? ` (${established.message})` : ''}`;
}

export async function waitForCrdEstablished(
  kubeConfig: KubeConfig,
  name: string,
  timeoutMillis = 60_000,
): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMillis;
  let why = 'not read yet';
  for (let attempt = 0; ; attempt++) {
    try {
      const state = establishedOrWhyNot(await api.readCustomResourceDefinition({ name }));
      if (state === true) return;
      why = state;
    } catch (err) {
      why = (err as { code?: number }).code === 404 ? 'not found' : `read failed: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) {
      throw new Error(`CRD ${name} not Established within ${timeoutMillis} ms (${attempt + 1} reads): ${why}`);
    }
    await sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
  }
}
