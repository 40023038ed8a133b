// Pure builders of the children's manifests. Fairness lives here: every variant's pod gets
// the SAME requests = limits, taken from spec.resources and nothing else, so the kubelet
// gives each the same CFS quota and memory limit (Guaranteed QoS).
import type { V1ConfigMap, V1EnvVar, V1OwnerReference, V1Pod, V1SecurityContext } from '@kubernetes/client-node';
import type { ConcurrencyExperiment, Variant } from '../../api/schema.ts';
import { workloadEnv } from '../workload-env.ts';
import {
  childLabels,
  k6ScriptConfigMapName,
  loadPodName,
  resultConfigMapName,
  runOf,
  tokenSecretName,
  workloadPodName,
} from './names.ts';

export const WORK_PORT = 8080;
export const ADMIN_PORT = 8081;
/** Where the k6 container's handleSummary writes, on the volume shared with the driver container. */
export const K6_SUMMARY_PATH = '/results/summary.json';

export interface PodImages {
  /** Workload image per runtime, used when spec.workload.image is not set. */
  workload: Record<string, string>;
  /** conclab's own image: runs the built-in load driver (`conclab load`). */
  conclab: string;
  /** The k6 image for `load.driver: k6`. */
  k6: string;
}

export const DEFAULT_IMAGES: PodImages = {
  workload: { node: 'conclab/workload-node:0.1.0', python: 'conclab/workload-python:0.1.0' },
  conclab: 'conclab/conclab:0.1.0',
  k6: 'grafana/k6:1.4.2',
};

export interface PodContext {
  images: PodImages;
  /** OTLP/HTTP base URL workloads export to (the operator's Service); undefined: tracing off. */
  otlpEndpoint: string | undefined;
  /** Base URL of the operator's results endpoint, as load pods reach it. */
  resultsUrl: string;
  /** Resources of the load pod: its own budget, never taken from the workload's. */
  loadResources: { cpu: string; memory: string };
}

export function ownerReference(cx: ConcurrencyExperiment): V1OwnerReference {
  if (!cx.metadata.uid) throw new Error(`experiment ${cx.metadata.name} has no uid (not read from the API server?)`);
  return {
    apiVersion: cx.apiVersion,
    kind: cx.kind,
    name: cx.metadata.name,
    uid: cx.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The restricted Pod Security Standard, container level. */
export const RESTRICTED_CONTAINER: V1SecurityContext = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

const POD_SECURITY = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * Environment of the workload: the shared API -> env mapping (runtime/workload-env.ts, the same
 * the local runtime uses) with the cluster's fixed ports, and the host from the downward API
 * (the pod's own IP), so the server never binds a wildcard address.
 */
export function workloadEnvVars(
  cx: ConcurrencyExperiment,
  variant: Variant,
  trial: number,
  otlpEndpoint: string | undefined,
): V1EnvVar[] {
  const env = workloadEnv({ experiment: cx, variant, trial, otlpEndpoint, extraEnv: {} });
  delete env['CONCLAB_HOST'];
  env['CONCLAB_PORT'] = String(WORK_PORT);
  env['CONCLAB_ADMIN_PORT'] = String(ADMIN_PORT);
  return [
    { name: 'CONCLAB_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ...Object.entries(env)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]) => ({ name, value })),
  ];
}

export function workloadPod(
  cx: ConcurrencyExperiment,
  variant: Variant,
  trial: number,
  replica: number,
  ctx: PodContext,
): V1Pod {
  const name = cx.metadata.name;
  const limits = { cpu: cx.spec.resources.cpu, memory: cx.spec.resources.memory };
  const image = cx.spec.workload.image ?? ctx.images.workload[cx.spec.workload.runtime];
  if (!image) throw new Error(`no workload image for runtime "${cx.spec.workload.runtime}"`);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: workloadPodName(name, variant.name, trial, replica, runOf(cx)),
      namespace: cx.metadata.namespace,
      labels: childLabels(name, 'workload', cx.metadata.generation ?? 0, { variant: variant.name, trial }, runOf(cx)),
      ownerReferences: [ownerReference(cx)],
    },
    spec: {
      restartPolicy: 'Always',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 15,
      securityContext: POD_SECURITY,
      containers: [
        {
          name: 'workload',
          image,
          ports: [
            { name: 'work', containerPort: WORK_PORT, protocol: 'TCP' },
            { name: 'admin', containerPort: ADMIN_PORT, protocol: 'TCP' },
          ],
          env: workloadEnvVars(cx, variant, trial, ctx.otlpEndpoint),
          // requests = limits: Guaranteed QoS, the same CFS quota for every variant.
          resources: { requests: { ...limits }, limits: { ...limits } },
          readinessProbe: {
            httpGet: { path: '/readyz', port: ADMIN_PORT },
            periodSeconds: 2,
            failureThreshold: 3,
            timeoutSeconds: 2,
          },
          securityContext: RESTRICTED_CONTAINER,
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
    },
  };
}

export interface LoadPodInput {
  cx: ConcurrencyExperiment;
  variant: string;
  trial: number;
  /** Work URLs of the variant's ready pods, one per replica. */
  targets: string[];
  /** The LoadPlan for the driver, without url (the targets replace it). */
  planJson: string;
  /** Faults the load pod injects, at millis from the start of its run (warm-up included). */
  faults?: { kind: string; worker: number; atMillis: number }[];
  /** Admin URLs of the variant's pods: faults go to the first, all are polled for events. */
  adminUrls?: string[];
}

/**
 * The load pod of one (variant, trial). It drives the targets and POSTs its LoadResult to
 * the operator's results endpoint with the experiment's bearer token (see README in this
 * folder); it never shares the workload's budget.
 */
export function loadPod(input: LoadPodInput, ctx: PodContext): V1Pod {
  const { cx, variant, trial } = input;
  const name = cx.metadata.name;
  const namespace = cx.metadata.namespace ?? 'default';
  const resultsPath = `${ctx.resultsUrl.replace(/\/+$/, '')}/results/v1/${namespace}/${name}/${variant}/${trial}`;
  const resources = { requests: { ...ctx.loadResources }, limits: { ...ctx.loadResources } };
  const env: V1EnvVar[] = [
    { name: 'CONCLAB_RESULTS_URL', value: resultsPath },
    {
      name: 'CONCLAB_RESULTS_TOKEN',
      valueFrom: { secretKeyRef: { name: tokenSecretName(name), key: 'token' } },
    },
  ];
  const faultArgs = [
    ...(input.faults?.length ? ['--faults-json', JSON.stringify(input.faults)] : []),
    ...(input.adminUrls?.length ? ['--admin-urls', input.adminUrls.join(',')] : []),
  ];
  const driverArgs = [
    'load',
    '--targets',
    input.targets.join(','),
    '--plan-json',
    input.planJson,
    ...faultArgs,
    '--post-results',
  ];
  const isK6 = cx.spec.load.driver === 'k6';
  const containers = [
    {
      name: 'driver',
      image: ctx.images.conclab,
      // With k6, this container only posts what the k6 init container wrote.
      args: isK6 ? ['load', '--post-k6-summary', K6_SUMMARY_PATH, '--plan-json', input.planJson] : driverArgs,
      env,
      // Our own message when conclab load writes one; the log tail when it crashed without.
      terminationMessagePolicy: 'FallbackToLogsOnError',
      resources,
      securityContext: RESTRICTED_CONTAINER,
      volumeMounts: [
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'results', mountPath: '/results' },
      ],
    },
  ];
  const initContainers = isK6
    ? [
        {
          name: 'k6',
          image: ctx.images.k6,
          args: ['run', '--quiet', '--no-color', '/scripts/script.js'],
          terminationMessagePolicy: 'FallbackToLogsOnError',
          env: [{ name: 'K6_NO_USAGE_REPORT', value: 'true' }],
          resources,
          securityContext: RESTRICTED_CONTAINER,
          volumeMounts: [
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'results', mountPath: '/results' },
            { name: 'script', mountPath: '/scripts', readOnly: true },
          ],
        },
      ]
    : undefined;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: loadPodName(name, variant, trial, runOf(cx)),
      namespace,
      labels: childLabels(name, 'load', cx.metadata.generation ?? 0, { variant, trial }, runOf(cx)),
      ownerReferences: [ownerReference(cx)],
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: POD_SECURITY,
      ...(initContainers ? { initContainers } : {}),
      containers,
      volumes: [
        { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
        { name: 'results', emptyDir: { sizeLimit: '16Mi' } },
        ...(isK6
          ? [{ name: 'script', configMap: { name: k6ScriptConfigMapName(name, variant, trial, runOf(cx)) } }]
          : []),
      ],
    },
  };
}

/** The ConfigMap that durably holds one LoadResult (written by the results endpoint). */
export function resultConfigMap(
  cx: ConcurrencyExperiment,
  variant: string,
  trial: number,
  resultJson: string,
  restarts: number,
): V1ConfigMap {
  const name = cx.metadata.name;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: resultConfigMapName(name, variant, trial, runOf(cx)),
      namespace: cx.metadata.namespace,
      labels: childLabels(name, 'result', cx.metadata.generation ?? 0, { variant, trial }, runOf(cx)),
      ownerReferences: [ownerReference(cx)],
    },
    data: { 'result.json': resultJson, restarts: String(restarts) },
  };
}
