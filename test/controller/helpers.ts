// Shared by the operator tests: a real control plane with the generated CRD, an operator
// started in-process against it, and bounded polling.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import { encodeHistogram, newHistogram, recordMillis } from '../../operator/contracts/histogram.ts';
import { type OperatorHandle, type OperatorOptions, startOperator } from '../../operator/controller/operator.ts';
import type { ControlPlane } from '../cluster/control-plane.ts';
import { waitForCrdEstablished } from './crd-established.ts';

export const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
export const CRD_PATH = join(ROOT, 'crds', 'conclab.dev_concurrencyexperiments.yaml');

export async function installCrd(cp: ControlPlane): Promise<void> {
  const r = await cp.kubectl(['apply', '--server-side', '-f', CRD_PATH]);
  if (r.code !== 0) throw new Error(`installing the CRD failed: ${r.stderr}`);
  // Not `kubectl wait`: it fails outright while the new CRD has no conditions yet.
  await waitForCrdEstablished(cp.kubeConfig(), 'concurrencyexperiments.conclab.dev', 60_000);
  // Established is not yet served by discovery everywhere (and kubectl caches discovery per
  // host:port, which a later control plane may reuse): wait until kubectl resolves `cx`.
  await waitFor(
    'kubectl to resolve cx',
    async () => (await cp.kubectl(['get', 'cx', '-A', '-o', 'name'])).code === 0,
    60_000,
  );
}

export async function createNamespace(cp: ControlPlane, name: string): Promise<void> {
  const r = await cp.kubectl(['create', 'namespace', name]);
  if (r.code !== 0) throw new Error(`create namespace ${name}: ${r.stderr}`);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMillis = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMillis;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMillis} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    }
    await sleep(100);
  }
}

export function experiment(name: string, namespace: string, overrides: Record<string, unknown> = {}) {
  return {
    apiVersion: 'conclab.dev/v1alpha1',
    kind: 'ConcurrencyExperiment',
    metadata: { name, namespace },
    spec: {
      workload: { runtime: 'node', profile: 'cpu', cpuTime: '2ms' },
      resources: { cpu: '500m', memory: '256Mi' },
      variants: [
        { name: 'procs', model: 'process', workers: 2 },
        { name: 'threads', model: 'thread', workers: 2 },
      ],
      load: { driver: 'builtin', pattern: 'constant-arrival-rate', rate: 50, duration: '2s', warmUp: '0s' },
      trials: 1,
      ...overrides,
    },
  };
}

export async function apply(cp: ControlPlane, obj: unknown): Promise<void> {
  const r = await cp.kubectl(['apply', '-f', '-'], { input: stringify(obj) });
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

export class Api {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async pods(namespace: string, experiment: string): Promise<V1Pod[]> {
    const l = await this.core.listNamespacedPod({ namespace, labelSelector: `conclab.dev/experiment=${experiment}` });
    return l.items;
  }

  async pod(namespace: string, name: string): Promise<V1Pod | undefined> {
    try {
      return await this.core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  async cx(namespace: string, name: string): Promise<ConcurrencyExperiment | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: 'conclab.dev',
        version: 'v1alpha1',
        namespace,
        plural: 'concurrencyexperiments',
        name,
      })) as ConcurrencyExperiment;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  /** No kubelet runs here: the test plays it, moving a pod to Running and Ready with an IP. */
  async markReady(namespace: string, name: string, ip: string): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await this.core.patchNamespacedPodStatus(
      {
        namespace,
        name,
        body: {
          status: {
            phase: 'Running',
            podIP: ip,
            podIPs: [{ ip }],
            conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
            containerStatuses: [
              {
                name: 'workload',
                image: 'x',
                imageID: '',
                ready: true,
                restartCount: 0,
                started: true,
                state: { running: { startedAt: now } },
              },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async setPodStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    await this.core.patchNamespacedPodStatus(
      { namespace, name, body: { status } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async token(namespace: string, experiment: string): Promise<string> {
    const s = await this.core.readNamespacedSecret({ namespace, name: `cx-${experiment}-results-token` });
    return Buffer.from(s.data?.['token'] ?? '', 'base64').toString('utf8');
  }
}

/** A LoadResult (built-in driver shape); postResult wraps it into the TrialRecord a load pod posts. */
export function loadResult(completedPerSecond: number, seconds = 2, latencyMillis = 5): Record<string, unknown> {
  const h = newHistogram();
  for (let i = 0; i < completedPerSecond * seconds; i++) recordMillis(h, latencyMillis);
  return {
    driver: 'builtin',
    startedAtMillis: 1_700_000_000_000,
    endedAtMillis: 1_700_000_000_000 + seconds * 1000,
    scheduled: completedPerSecond * seconds,
    sent: completedPerSecond * seconds,
    completed: completedPerSecond * seconds,
    dropped: 0,
    errors: { refused: 0, reset: 0, timeout: 0, http4xx: 0, http5xx: 0, other: 0 },
    inFlightAtEnd: 0,
    latencyHistogram: encodeHistogram(h),
    perSecond: [],
    saturation: { unreliable: false, sendSlipP99Millis: 0, eventLoopLagMaxMillis: 0 },
    partial: false,
  };
}

/**
 * POSTs what a load pod's `conclab trial` posts: a TrialRecord. A LoadResult (from loadResult)
 * is wrapped into the record of that variant and trial; anything else is sent as it is.
 */
export async function postResult(
  url: string,
  namespace: string,
  experiment: string,
  variant: string,
  trial: number,
  token: string,
  body: unknown,
): Promise<number> {
  const isLoad = typeof body === 'object' && body !== null && 'latencyHistogram' in body && !('variant' in body);
  const record = isLoad ? { variant, trial, load: body, spans: [], faults: [], events: [] } : body;
  const res = await fetch(`${url}/results/v1/${namespace}/${experiment}/${variant}/${trial}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(record),
  });
  await res.text();
  return res.status;
}

export async function runOperator(
  kubeConfig: KubeConfig,
  namespaces: string[],
  extra: Partial<OperatorOptions> = {},
): Promise<OperatorHandle & { logs: string[] }> {
  const logs: string[] = [];
  const handle = await startOperator({
    kubeConfig,
    namespaces,
    httpPort: 0,
    httpHost: '127.0.0.1',
    log: (level, m) => logs.push(`${level} ${m}`),
    ...extra,
  });
  return Object.assign(handle, { logs });
}

export function readCrd(): string {
  return readFileSync(CRD_PATH, 'utf8');
}
