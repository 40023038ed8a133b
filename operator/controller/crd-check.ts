// Fail fast at start when the CRD is missing: without it every watch would 404 forever and
// the operator would look healthy while doing nothing.
import { GROUP, PLURAL, VERSION } from '../api/schema.ts';
import { statusCodeOf, toControllerError } from './errors.ts';
import type { KubeClient } from './kube-client.ts';

export const CRD_NAME = `${PLURAL}.${GROUP}`;

export class CrdMissingError extends Error {
  constructor(detail: string) {
    super(
      `CRD ${CRD_NAME} not found (${detail}) — install it: kubectl apply -f crds/conclab.dev_concurrencyexperiments.yaml, or helm install conclab charts/conclab (the chart carries the CRD)`,
    );
    this.name = 'CrdMissingError';
  }
}

/**
 * Checks that the API server serves conclab.dev/v1alpha1 concurrencyexperiments, by listing
 * one object in a watched namespace: it needs only the rights the operator uses anyway
 * (reading the CRD object itself would need a cluster-wide grant).
 */
export async function ensureCrdInstalled(client: KubeClient, namespace: string | undefined): Promise<void> {
  try {
    if (namespace) {
      await client.custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        limit: 1,
      });
    } else {
      await client.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, limit: 1 });
    }
  } catch (err) {
    if (statusCodeOf(err) === 404) throw new CrdMissingError(`GET ${GROUP}/${VERSION} ${PLURAL} answered 404`);
    throw toControllerError(err, `checking that ${CRD_NAME} is installed`);
  }
}
