// The operator's only door to the API server: a thin shell over @kubernetes/client-node 2.x.
// Every write of an object the operator owns is server-side apply under ONE field manager,
// so the API server tracks what we own and a re-apply is a no-op. client-node's generated
// PATCH methods default to a JSON-patch content type; the content type is set per request
// with setHeaderOptions (a pre-request middleware that overrides it).
import {
  ApiextensionsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
  type V1Lease,
  type V1Pod,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import { type ConcurrencyExperiment, type ConcurrencyExperimentStatus, GROUP, PLURAL, VERSION } from '../api/schema.ts';
import { ErrorKind, statusCodeOf, toControllerError } from './errors.ts';

export const FIELD_MANAGER = 'conclab-operator';

const applyOptions = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
const jsonPatchOptions = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'test';
  path: string;
  value?: unknown;
}

export class KubeClient {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly coordination: CoordinationV1Api;
  readonly apiextensions: ApiextensionsV1Api;

  constructor(config: KubeConfig) {
    this.config = config;
    this.core = config.makeApiClient(CoreV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
    this.coordination = config.makeApiClient(CoordinationV1Api);
    this.apiextensions = config.makeApiClient(ApiextensionsV1Api);
  }

  async getExperiment(namespace: string, name: string): Promise<ConcurrencyExperiment | undefined> {
    return orUndefinedOn404(
      () =>
        this.custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
          name,
        }) as Promise<ConcurrencyExperiment>,
      `get ${PLURAL} ${namespace}/${name}`,
    );
  }

  /** Adds a finalizer by applying only that list element: we own it, nobody else's is touched. */
  async applyFinalizer(cx: ConcurrencyExperiment, finalizer: string): Promise<ConcurrencyExperiment> {
    const body = {
      apiVersion: cx.apiVersion,
      kind: cx.kind,
      metadata: { name: cx.metadata.name, namespace: cx.metadata.namespace, finalizers: [finalizer] },
    };
    return wrap(
      () =>
        this.custom.patchNamespacedCustomObject(
          {
            group: GROUP,
            version: VERSION,
            namespace: ns(cx),
            plural: PLURAL,
            name: cx.metadata.name,
            body,
            fieldManager: FIELD_MANAGER,
            force: true,
          },
          applyOptions,
        ) as Promise<ConcurrencyExperiment>,
      `add finalizer to ${ns(cx)}/${cx.metadata.name}`,
    );
  }

  /** JSON patch on the experiment (used with `test` ops, so a race fails instead of clobbering). */
  async jsonPatchExperiment(namespace: string, name: string, ops: JsonPatchOp[]): Promise<ConcurrencyExperiment> {
    return wrap(
      () =>
        this.custom.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: ops },
          jsonPatchOptions,
        ) as Promise<ConcurrencyExperiment>,
      `patch ${namespace}/${name}`,
    );
  }

  /** Writes the whole observed status through the status subresource (server-side apply). */
  async applyStatus(cx: ConcurrencyExperiment, status: ConcurrencyExperimentStatus): Promise<ConcurrencyExperiment> {
    const body = {
      apiVersion: cx.apiVersion,
      kind: cx.kind,
      metadata: { name: cx.metadata.name, namespace: cx.metadata.namespace },
      status,
    };
    return wrap(
      () =>
        this.custom.patchNamespacedCustomObjectStatus(
          {
            group: GROUP,
            version: VERSION,
            namespace: ns(cx),
            plural: PLURAL,
            name: cx.metadata.name,
            body,
            fieldManager: FIELD_MANAGER,
            force: true,
          },
          applyOptions,
        ) as Promise<ConcurrencyExperiment>,
      `write status of ${ns(cx)}/${cx.metadata.name}`,
    );
  }

  /** Server-side apply of one namespaced core object under the operator's one field manager. */
  #apply<T extends V1Pod | V1ConfigMap | V1Secret | V1Service>(
    kind: string,
    object: T,
    patch: (params: { name: string; namespace: string; body: T; fieldManager: string; force: boolean }) => Promise<T>,
  ): Promise<T> {
    const { name, namespace } = metaOf(object);
    return wrap(
      () => patch({ name, namespace, body: object, fieldManager: FIELD_MANAGER, force: true }),
      `apply ${kind} ${namespace}/${name}`,
    );
  }

  applyPod(pod: V1Pod): Promise<V1Pod> {
    return this.#apply('pod', pod, (params) => this.core.patchNamespacedPod(params, applyOptions));
  }

  applyConfigMap(cm: V1ConfigMap): Promise<V1ConfigMap> {
    return this.#apply('configmap', cm, (params) => this.core.patchNamespacedConfigMap(params, applyOptions));
  }

  applySecret(secret: V1Secret): Promise<V1Secret> {
    return this.#apply('secret', secret, (params) => this.core.patchNamespacedSecret(params, applyOptions));
  }

  applyService(service: V1Service): Promise<V1Service> {
    return this.#apply('service', service, (params) => this.core.patchNamespacedService(params, applyOptions));
  }

  async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return orUndefinedOn404(
      () => this.core.readNamespacedSecret({ namespace, name }),
      `get secret ${namespace}/${name}`,
    );
  }

  async getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    return orUndefinedOn404(() => this.core.readNamespacedPod({ namespace, name }), `get pod ${namespace}/${name}`);
  }

  async getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    return orUndefinedOn404(
      () => this.core.readNamespacedConfigMap({ namespace, name }),
      `get configmap ${namespace}/${name}`,
    );
  }

  /** Deletes; a child already gone is success (cleanup must be idempotent). */
  async deletePod(namespace: string, name: string): Promise<void> {
    await orUndefinedOn404(
      () => this.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }),
      `delete pod ${namespace}/${name}`,
    );
  }

  async deleteConfigMap(namespace: string, name: string): Promise<void> {
    await orUndefinedOn404(
      () => this.core.deleteNamespacedConfigMap({ namespace, name }),
      `delete configmap ${namespace}/${name}`,
    );
  }

  async deleteService(namespace: string, name: string): Promise<void> {
    await orUndefinedOn404(
      () => this.core.deleteNamespacedService({ namespace, name }),
      `delete service ${namespace}/${name}`,
    );
  }

  async listServices(namespace: string, labelSelector: string): Promise<V1Service[]> {
    const list = await wrap(
      () => this.core.listNamespacedService({ namespace, labelSelector }),
      `list services in ${namespace}`,
    );
    return list.items;
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await orUndefinedOn404(
      () => this.core.deleteNamespacedSecret({ namespace, name }),
      `delete secret ${namespace}/${name}`,
    );
  }

  async listPods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    const list = await wrap(
      () => this.core.listNamespacedPod({ namespace, labelSelector }),
      `list pods in ${namespace}`,
    );
    return list.items;
  }

  async listConfigMaps(namespace: string, labelSelector: string): Promise<V1ConfigMap[]> {
    const list = await wrap(
      () => this.core.listNamespacedConfigMap({ namespace, labelSelector }),
      `list configmaps in ${namespace}`,
    );
    return list.items;
  }

  async listSecrets(namespace: string, labelSelector: string): Promise<V1Secret[]> {
    const list = await wrap(
      () => this.core.listNamespacedSecret({ namespace, labelSelector }),
      `list secrets in ${namespace}`,
    );
    return list.items;
  }

  /** A core/v1 Event about the experiment (what `kubectl describe cx` shows). Best effort. */
  async recordEvent(
    cx: ConcurrencyExperiment,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    now: Date,
  ): Promise<void> {
    const namespace = cx.metadata.namespace ?? 'default';
    const time = new Date(Math.floor(now.getTime() / 1000) * 1000);
    await wrap(
      () =>
        this.core.createNamespacedEvent({
          namespace,
          body: {
            metadata: { generateName: `${cx.metadata.name}.`, namespace },
            involvedObject: {
              apiVersion: cx.apiVersion,
              kind: cx.kind,
              name: cx.metadata.name,
              namespace,
              ...(cx.metadata.uid ? { uid: cx.metadata.uid } : {}),
            },
            type,
            reason,
            message: message.slice(0, 1024),
            source: { component: FIELD_MANAGER },
            reportingComponent: FIELD_MANAGER,
            reportingInstance: FIELD_MANAGER,
            firstTimestamp: time,
            lastTimestamp: time,
            count: 1,
          },
        }),
      `record event on ${namespace}/${cx.metadata.name}`,
    );
  }

  async getLease(namespace: string, name: string): Promise<V1Lease | undefined> {
    return orUndefinedOn404(
      () => this.coordination.readNamespacedLease({ namespace, name }),
      `get lease ${namespace}/${name}`,
    );
  }

  async createLease(lease: V1Lease): Promise<V1Lease> {
    const { namespace } = metaOf(lease);
    return wrap(() => this.coordination.createNamespacedLease({ namespace, body: lease }), 'create lease');
  }

  /** Replace with the read resourceVersion: optimistic concurrency, so two candidates cannot both win. */
  async replaceLease(lease: V1Lease): Promise<V1Lease> {
    const { name, namespace } = metaOf(lease);
    return wrap(() => this.coordination.replaceNamespacedLease({ name, namespace, body: lease }), 'update lease');
  }
}

function ns(cx: ConcurrencyExperiment): string {
  return cx.metadata.namespace ?? 'default';
}

function metaOf(obj: { metadata?: { name?: string; namespace?: string } }): { name: string; namespace: string } {
  const name = obj.metadata?.name;
  const namespace = obj.metadata?.namespace;
  if (!name || !namespace) throw new Error('object without metadata.name/namespace (a bug in the operator)');
  return { name, namespace };
}

async function wrap<T>(fn: () => Promise<T>, context: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toControllerError(err, context);
  }
}

async function orUndefinedOn404<T>(fn: () => Promise<T>, context: string): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (statusCodeOf(err) === 404) return undefined;
    const e = toControllerError(err, context);
    if (e.kind === ErrorKind.NotFound) return undefined;
    throw e;
  }
}
