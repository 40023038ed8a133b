// Pure builders of the children's manifests. Fairness lives here: every variant's pod gets
// the SAME requests = limits, taken from spec.resources and nothing else, so the kubelet
// gives each the same CFS quota and memory limit (Guaranteed QoS).
//
// A step (variant, trial) is: the variant's workload pods, then one load pod that runs the
// trial runner (`conclab trial`, the same code `conclab run` runs in process) against them and
// posts its TrialRecord to the operator. With spec.load.generators = N > 1, N - 1 generator
// pods (`conclab generate`) come first; the load pod runs share 0 of every plan and hands them
// the others (operator/load/remote-generator.ts), each under the load pods' own budget. The workloads export their spans to that load pod
// through the experiment's OTLP Service, so every trial's spans are aggregated by the trial
// runner of that trial: nothing is split between operator replicas or lost on failover.
import type {
  V1ConfigMap,
  V1Container,
  V1EnvVar,
  V1OwnerReference,
  V1Pod,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Service,
} from '@kubernetes/client-node';
import type { ConcurrencyExperiment, Variant } from '../../api/schema.ts';
import { budgetOf } from '../../api/sweep.ts';
import { workloadEnv } from '../workload-env.ts';
import {
  childLabels,
  generatorPodName,
  LABEL_EXPERIMENT,
  LABEL_ROLE,
  LABEL_RUN,
  loadPodName,
  otlpServiceName,
  resultConfigMapName,
  runOf,
  tokenSecretName,
  workloadPodName,
} from './names.ts';

export const WORK_PORT = 8080;
export const ADMIN_PORT = 8081;
/** OTLP/HTTP port of the trial runner's receiver in the load pod (and of the OTLP Service). */
export const OTLP_PORT = 4318;
/** Where the k6 init container copies the k6 program for the trial runner to run it. */
export const K6_DIR = '/k6';
/** Port of `conclab generate` in a generator pod (operator/load/remote-generator.ts). */
export const GENERATE_PORT = 8090;

export interface PodImages {
  /** Workload image per runtime, used when spec.workload.image is not set. */
  workload: Record<string, string>;
  /** conclab's own image: runs the trial runner in load pods (`conclab trial`). */
  conclab: string;
  /** The k6 image for `load.driver: k6`: only its k6 program is used, copied into the load pod. */
  k6: string;
}

export const DEFAULT_IMAGES: PodImages = {
  workload: { node: 'conclab/workload-node:0.1.0', python: 'conclab/workload-python:0.1.0' },
  conclab: 'conclab/conclab:0.1.0',
  k6: 'grafana/k6:1.4.2',
};

export interface PodContext {
  images: PodImages;
  /** Base URL of the operator's results endpoint, as load pods reach it. */
  resultsUrl: string;
  /** Resources of the load pod: its own budget, never taken from the workload's. */
  loadResources: { cpu: string; memory: string };
  /** imagePullPolicy of the pods' containers; default: the kubelet's default for the tag. */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

/**
 * Resources of a load or generator pod: the chart's loadResources requested, memory capped,
 * CPU NOT capped. A CFS quota on the generator would stall its event loop for the rest of a
 * period whenever it used its share early, and those stalls read as latency of the server (or
 * flag the generator saturated). Without a limit it uses what the node has spare; it cannot
 * take the workload's CPU, which the workload's own quota caps and its larger request (CPU
 * shares) protects under contention.
 */
export function loadPodResources(ctx: PodContext): V1ResourceRequirements {
  return {
    requests: { cpu: ctx.loadResources.cpu, memory: ctx.loadResources.memory },
    limits: { memory: ctx.loadResources.memory },
  };
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

const TOKEN_ENV = 'CONCLAB_TOKEN';
const tokenEnv = (name: string): V1EnvVar => ({
  name: TOKEN_ENV,
  valueFrom: { secretKeyRef: { name: tokenSecretName(name), key: 'token' } },
});
const podIpEnv = (name: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } });

/**
 * Environment of one workload replica: the shared API -> env mapping (runtime/workload-env.ts,
 * the same the local runtime uses) with the cluster's fixed ports, the host from the downward
 * API (the pod's own IP, so the server never binds a wildcard address), and the OTLP token
 * from the experiment's Secret (Kubernetes expands $(CONCLAB_TOKEN) in the headers variable).
 */
export function workloadEnvVars(
  cx: ConcurrencyExperiment,
  variant: Variant,
  trial: number,
  replica: number,
  tracesEndpoint: string | undefined,
): V1EnvVar[] {
  const run = runOf(cx);
  const env = workloadEnv(
    {
      experiment: cx,
      variant,
      trial,
      ...(run ? { run } : {}),
      tracing: tracesEndpoint ? { tracesEndpoint, token: `$(${TOKEN_ENV})` } : undefined,
    },
    { replica },
  );
  delete env['CONCLAB_HOST'];
  env['CONCLAB_PORT'] = String(WORK_PORT);
  env['CONCLAB_ADMIN_PORT'] = String(ADMIN_PORT);
  // The container's cgroup is the replica's alone: the supervisor reports its counters.
  env['CONCLAB_OWN_CGROUP'] = 'true';
  return [
    podIpEnv('CONCLAB_HOST'),
    ...(tracesEndpoint ? [tokenEnv(cx.metadata.name)] : []),
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
  tracesEndpoint: string | undefined,
): V1Pod {
  const name = cx.metadata.name;
  // spec.resources, or a sweep point's own CPU (api/sweep.ts): the one reader of the budget.
  const limits = budgetOf(cx.spec, variant);
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
          ...(ctx.imagePullPolicy ? { imagePullPolicy: ctx.imagePullPolicy } : {}),
          ports: [
            { name: 'work', containerPort: WORK_PORT, protocol: 'TCP' },
            { name: 'admin', containerPort: ADMIN_PORT, protocol: 'TCP' },
          ],
          env: workloadEnvVars(cx, variant, trial, replica, tracesEndpoint),
          // requests = limits: Guaranteed QoS, the same CFS quota for every variant.
          resources: { requests: { ...limits }, limits: { ...limits } },
          readinessProbe: {
            httpGet: { path: '/readyz', port: ADMIN_PORT },
            periodSeconds: 2,
            failureThreshold: 3,
            timeoutSeconds: 2,
          },
          // The structured fault line and the exit reason reach `kubectl logs` and the status.
          terminationMessagePolicy: 'FallbackToLogsOnError',
          securityContext: RESTRICTED_CONTAINER,
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
    },
  };
}

/** The experiment's OTLP Service: it selects the current step's load pod (one step at a time). */
export function otlpService(cx: ConcurrencyExperiment): V1Service {
  const name = cx.metadata.name;
  const run = runOf(cx);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: otlpServiceName(name, run),
      namespace: cx.metadata.namespace,
      labels: childLabels(name, 'otlp', cx.metadata.generation ?? 0, undefined, run),
      ownerReferences: [ownerReference(cx)],
    },
    spec: {
      type: 'ClusterIP',
      selector: { [LABEL_EXPERIMENT]: name, [LABEL_ROLE]: 'load', ...(run ? { [LABEL_RUN]: run } : {}) },
      ports: [{ name: 'otlp', port: OTLP_PORT, targetPort: OTLP_PORT, protocol: 'TCP' }],
    },
  };
}

/** What a load pod is told: everything the trial runner needs, as JSON in CONCLAB_TRIAL_JSON. */
export interface TrialAssignment {
  /** The experiment as validated (defaults applied); the load pod validates it again. */
  experiment: ConcurrencyExperiment;
  variant: string;
  trial: number;
  run?: string;
  targets: { workUrl: string; adminUrl: string }[];
  /**
   * Base URLs of the trial's generator pods (generator 1, 2, ... of spec.load.generators), which
   * run the other shares of every plan; empty or absent with one generator.
   */
  generators?: string[];
}

export interface LoadPodInput {
  cx: ConcurrencyExperiment;
  variant: string;
  trial: number;
  /** The variant's ready pods, one per replica in replica order. */
  targets: { workUrl: string; adminUrl: string }[];
  /** The trial's ready generator pods, as base URLs, in generator order. */
  generators?: string[];
}

/** The k6 init container: only the program is taken, copied for a process of ours to run. */
function k6InitContainer(ctx: PodContext, resources: V1Container['resources']): V1Container {
  return {
    name: 'k6',
    image: ctx.images.k6,
    ...(ctx.imagePullPolicy ? { imagePullPolicy: ctx.imagePullPolicy } : {}),
    command: ['sh', '-c', `cp "$(command -v k6)" ${K6_DIR}/k6`],
    terminationMessagePolicy: 'FallbackToLogsOnError',
    ...(resources ? { resources } : {}),
    securityContext: RESTRICTED_CONTAINER,
    volumeMounts: [{ name: 'k6', mountPath: K6_DIR }],
  };
}

/**
 * The load pod of one (variant, trial): `conclab trial` measures the step with the trial
 * runner, receives the workloads' spans on OTLP_PORT, and POSTs the TrialRecord to the
 * operator's results endpoint with the experiment's bearer token. It never shares the
 * workload's budget. With load.driver k6, an init container copies the k6 program from the
 * k6 image into a shared volume; the trial runner runs it as an external program.
 */
export function loadPod(input: LoadPodInput, ctx: PodContext): V1Pod {
  const { cx, variant, trial } = input;
  const name = cx.metadata.name;
  const namespace = cx.metadata.namespace ?? 'default';
  const run = runOf(cx);
  const resultsPath = `${ctx.resultsUrl.replace(/\/+$/, '')}/results/v1/${namespace}/${name}/${variant}/${trial}`;
  const resources = loadPodResources(ctx);
  const { status: _status, ...experiment } = cx;
  const assignment: TrialAssignment = {
    experiment: { ...experiment, metadata: { name, namespace, generation: cx.metadata.generation ?? 0 } },
    variant,
    trial,
    ...(run ? { run } : {}),
    targets: input.targets,
    ...(input.generators?.length ? { generators: input.generators } : {}),
  };
  const pull = ctx.imagePullPolicy ? { imagePullPolicy: ctx.imagePullPolicy } : {};
  const isK6 = cx.spec.load.driver === 'k6';
  // k6 runs as a separate process of the trial runner.
  const initContainers: V1Container[] = isK6 ? [k6InitContainer(ctx, resources)] : [];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: loadPodName(name, variant, trial, run),
      namespace,
      labels: childLabels(name, 'load', cx.metadata.generation ?? 0, { variant, trial }, run),
      ownerReferences: [ownerReference(cx)],
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: POD_SECURITY,
      ...(initContainers.length ? { initContainers } : {}),
      containers: [
        {
          name: 'trial',
          image: ctx.images.conclab,
          ...pull,
          args: ['trial', '--post-results'],
          env: [
            { name: 'CONCLAB_TRIAL_JSON', value: JSON.stringify(assignment) },
            { name: 'CONCLAB_RESULTS_URL', value: resultsPath },
            tokenEnv(name),
            podIpEnv('CONCLAB_HOST'),
            { name: 'CONCLAB_OTLP_PORT', value: String(OTLP_PORT) },
            ...(isK6 ? [{ name: 'CONCLAB_K6_PATH', value: K6_DIR }] : []),
          ],
          ports: [{ name: 'otlp', containerPort: OTLP_PORT, protocol: 'TCP' }],
          // Our own message when conclab trial writes one; the log tail when it crashed without.
          terminationMessagePolicy: 'FallbackToLogsOnError',
          resources,
          securityContext: RESTRICTED_CONTAINER,
          volumeMounts: [
            { name: 'tmp', mountPath: '/tmp' },
            ...(isK6 ? [{ name: 'k6', mountPath: K6_DIR, readOnly: true }] : []),
          ],
        },
      ],
      volumes: [
        { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
        ...(isK6 ? [{ name: 'k6', emptyDir: { sizeLimit: '256Mi' } }] : []),
      ],
    },
  };
}

/**
 * Generator pod g (1-based) of one (variant, trial), for spec.load.generators > 1: `conclab
 * generate` serves on GENERATE_PORT of the pod IP and runs the share of every plan the trial's
 * load pod hands it, with the experiment's token required. It injects no faults and receives no
 * spans (its role is not the OTLP Service's `load`). Ready once it listens; the load pod is
 * created only when every generator pod is Ready. Under the load pods' budget, never the
 * workload's; with load.driver k6 it gets the k6 program as the load pod does.
 */
export function generatorPod(
  input: { cx: ConcurrencyExperiment; variant: string; trial: number; generator: number },
  ctx: PodContext,
): V1Pod {
  const { cx, variant, trial, generator } = input;
  const name = cx.metadata.name;
  const run = runOf(cx);
  const resources = loadPodResources(ctx);
  const isK6 = cx.spec.load.driver === 'k6';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: generatorPodName(name, variant, trial, generator, run),
      namespace: cx.metadata.namespace ?? 'default',
      labels: childLabels(name, 'generator', cx.metadata.generation ?? 0, { variant, trial }, run),
      ownerReferences: [ownerReference(cx)],
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // It stops on SIGTERM at once (a running share is aborted): the next step waits for it.
      terminationGracePeriodSeconds: 10,
      securityContext: POD_SECURITY,
      ...(isK6 ? { initContainers: [k6InitContainer(ctx, resources)] } : {}),
      containers: [
        {
          name: 'generate',
          image: ctx.images.conclab,
          ...(ctx.imagePullPolicy ? { imagePullPolicy: ctx.imagePullPolicy } : {}),
          args: ['generate'],
          env: [
            tokenEnv(name),
            podIpEnv('CONCLAB_HOST'),
            { name: 'CONCLAB_GENERATE_PORT', value: String(GENERATE_PORT) },
            ...(isK6 ? [{ name: 'CONCLAB_K6_PATH', value: K6_DIR }] : []),
          ],
          ports: [{ name: 'generate', containerPort: GENERATE_PORT, protocol: 'TCP' }],
          readinessProbe: {
            httpGet: { path: '/readyz', port: GENERATE_PORT },
            periodSeconds: 1,
            failureThreshold: 3,
            timeoutSeconds: 2,
          },
          terminationMessagePolicy: 'FallbackToLogsOnError',
          resources,
          securityContext: RESTRICTED_CONTAINER,
          volumeMounts: [
            { name: 'tmp', mountPath: '/tmp' },
            ...(isK6 ? [{ name: 'k6', mountPath: K6_DIR, readOnly: true }] : []),
          ],
        },
      ],
      volumes: [
        { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
        ...(isK6 ? [{ name: 'k6', emptyDir: { sizeLimit: '256Mi' } }] : []),
      ],
    },
  };
}

/** The ConfigMap that durably holds one TrialRecord (written by the results endpoint). */
export function resultConfigMap(
  cx: ConcurrencyExperiment,
  variant: string,
  trial: number,
  recordJson: string,
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
    data: { [RECORD_KEY]: recordJson },
  };
}

/** Key of the TrialRecord JSON in a result ConfigMap. */
export const RECORD_KEY = 'record.json';
