// The cluster's phase machine: one pure function of the experiment and its observed children.
import type { V1ConfigMap, V1Pod, V1Service } from '@kubernetes/client-node';
import test from 'ava';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import { parseDurationMillis } from '../../operator/api/units.ts';
import { checkObject } from '../../operator/api/validate.ts';
import {
  clusterEnvironment,
  DEFAULT_TIMEOUTS,
  decidePhase,
  type PhaseInput,
  podProblem,
  RETRIED_WAITING_GRACE_MILLIS,
} from '../../operator/controller/phase-machine.ts';
import { trialTimeBoundMillis } from '../../operator/engine/trial-runner.ts';
import { childLabels } from '../../operator/runtime/kube/names.ts';
import { DEFAULT_IMAGES, type TrialAssignment } from '../../operator/runtime/kube/pod-spec.ts';
import { buildTrial } from '../analysis/records-builder.ts';

const NOW = Date.parse('2026-01-01T12:00:00Z');

function cx(overrides: Record<string, unknown> = {}): ConcurrencyExperiment {
  const obj = {
    apiVersion: 'conclab.dev/v1alpha1',
    kind: 'ConcurrencyExperiment',
    metadata: { name: 'e', namespace: 'ns', uid: 'uid-1', generation: 1 },
    spec: {
      workload: {},
      resources: { cpu: '1', memory: '512Mi' },
      variants: [
        { name: 'a', model: 'process', workers: 2 },
        { name: 'b', model: 'thread', workers: 2, replicas: 2 },
      ],
      load: { rate: 10, duration: '10s', warmUp: '2s' },
      trials: 1,
      ...overrides,
    },
  };
  const out = checkObject(obj, (s, m) => {
    throw new Error(`${s.join('.')}: ${m}`);
  });
  if (!out) throw new Error('invalid test experiment');
  return out;
}

function pod(
  name: string,
  variant: string,
  trial: number,
  role: 'workload' | 'load' | 'generator',
  extra: Partial<V1Pod> = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'ns',
      labels: childLabels('e', role, 1, { variant, trial }),
      creationTimestamp: new Date(NOW - 10_000),
    },
    ...extra,
  };
}

const ready = (ip: string): Partial<V1Pod> => ({
  status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
});

function result(variant: string, trial: number, perSecond: number): V1ConfigMap {
  const record = buildTrial({ variant, trial, rate: perSecond, seconds: 10 });
  return {
    metadata: {
      name: `cx-e-${variant}-t${trial}-result`,
      namespace: 'ns',
      labels: childLabels('e', 'result', 1, { variant, trial }),
    },
    data: { 'record.json': JSON.stringify(record) },
  };
}

/** The experiment's OTLP Service as the API server returns it (with its ClusterIP). */
function otlp(clusterIP = '10.96.0.9'): V1Service {
  return {
    metadata: { name: 'cx-e-otlp', namespace: 'ns', labels: childLabels('e', 'otlp', 1) },
    spec: { clusterIP },
  };
}

function input(over: Partial<PhaseInput> = {}): PhaseInput {
  return {
    cx: cx(),
    pods: [],
    configMaps: [],
    services: [otlp()],
    nowMillis: NOW,
    ctx: {
      images: DEFAULT_IMAGES,
      resultsUrl: 'http://op:8080',
      loadResources: { cpu: '1', memory: '256Mi' },
    },
    timeouts: DEFAULT_TIMEOUTS,
    parseMillis: parseDurationMillis,
    environment: clusterEnvironment('0.1.0', 'op', '24'),
    ...over,
  };
}

test('nothing observed: applies the first variant’s workload pod only', (t) => {
  const d = decidePhase(input());
  t.is(d.phase, 'Running');
  t.is(d.reason, 'DeployingWorkload');
  t.deepEqual(
    d.apply.map((c) => c.metadata?.name),
    ['cx-e-a-t1'],
  );
  t.deepEqual(d.remove, []);
});

test('tracing on and no OTLP Service yet: the Service and the token come first, then workloads', (t) => {
  const d = decidePhase(input({ services: [] }));
  t.is(d.phase, 'Running');
  t.true(d.ensureToken, 'workloads read the token from the Secret');
  t.deepEqual(
    d.apply.map((c) => `${c.kind}/${c.metadata?.name}`),
    ['Service/cx-e-otlp'],
  );
  const svc = d.apply[0] as V1Service;
  t.deepEqual(svc.spec?.selector, { 'conclab.dev/experiment': 'e', 'conclab.dev/role': 'load' });
  t.is(svc.spec?.ports?.[0]?.port, 4318);
});

test('workloads export spans to the Service ClusterIP with the token from the Secret', (t) => {
  const d = decidePhase(input());
  const env = (d.apply[0] as V1Pod).spec?.containers[0]?.env ?? [];
  const value = (name: string) => env.find((e) => e.name === name);
  t.is(value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')?.value, 'http://10.96.0.9:4318/v1/traces');
  t.is(value('OTEL_EXPORTER_OTLP_TRACES_HEADERS')?.value, 'authorization=Bearer%20$(CONCLAB_TOKEN)');
  t.deepEqual(value('CONCLAB_TOKEN')?.valueFrom?.secretKeyRef, { name: 'cx-e-results-token', key: 'token' });
  t.true(
    env.findIndex((e) => e.name === 'CONCLAB_TOKEN') <
      env.findIndex((e) => e.name === 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'),
    'Kubernetes expands $(VAR) only of variables defined before',
  );
  t.is(value('CONCLAB_OWN_CGROUP')?.value, 'true');
  t.is(value('CONCLAB_REPLICA')?.value, '0');
  t.is(value('OTEL_TRACES_SAMPLER_ARG')?.value, '0.1');
});

test('tracing off: no Service, and the workloads are told the SDK is disabled', (t) => {
  const d = decidePhase(input({ cx: cx({ tracing: { enabled: false } }), services: [] }));
  t.deepEqual(
    d.apply.map((c) => c.kind),
    ['Pod'],
  );
  const env = (d.apply[0] as V1Pod).spec?.containers[0]?.env ?? [];
  t.is(env.find((e) => e.name === 'OTEL_SDK_DISABLED')?.value, 'true');
  t.false(env.some((e) => e.name === 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'));
});

test('a variant with 2 replicas gets two pods with deterministic names', (t) => {
  const d = decidePhase(input({ configMaps: [result('a', 1, 10)] }));
  t.deepEqual(
    d.apply.map((c) => c.metadata?.name),
    ['cx-e-b-t1', 'cx-e-b-t1-r1'],
  );
});

test('only the missing replica is applied when one exists', (t) => {
  const d = decidePhase(input({ configMaps: [result('a', 1, 10)], pods: [pod('cx-e-b-t1', 'b', 1, 'workload')] }));
  t.deepEqual(
    d.apply.map((c) => c.metadata?.name),
    ['cx-e-b-t1-r1'],
  );
});

test('all replicas ready: the load pod targets every pod IP and the token must exist', (t) => {
  const d = decidePhase(
    input({
      configMaps: [result('a', 1, 10)],
      pods: [
        pod('cx-e-b-t1', 'b', 1, 'workload', ready('10.0.0.1')),
        pod('cx-e-b-t1-r1', 'b', 1, 'workload', ready('10.0.0.2')),
      ],
    }),
  );
  t.is(d.reason, 'RunningLoad');
  t.true(d.ensureToken);
  const load = d.apply[0] as V1Pod;
  t.is(load.metadata?.name, 'cx-e-b-t1-load');
  const container = load.spec?.containers[0];
  t.deepEqual(container?.args, ['trial', '--post-results']);
  const assignment = JSON.parse(
    container?.env?.find((e) => e.name === 'CONCLAB_TRIAL_JSON')?.value ?? '{}',
  ) as TrialAssignment;
  t.deepEqual(assignment.targets, [
    { workUrl: 'http://10.0.0.1:8080', adminUrl: 'http://10.0.0.1:8081' },
    { workUrl: 'http://10.0.0.2:8080', adminUrl: 'http://10.0.0.2:8081' },
  ]);
  t.like(assignment, { variant: 'b', trial: 1 });
  t.like(assignment.experiment.spec.load, { rate: 10, duration: '10s', warmUp: '2s' });
  t.is(container?.ports?.[0]?.containerPort, 4318, 'the trial runner receives the spans');
  t.is(load.metadata?.labels?.['conclab.dev/role'], 'load', 'the OTLP Service selects it');
});

test('pods of an earlier step are removed before the next step starts', (t) => {
  const d = decidePhase(
    input({ configMaps: [result('a', 1, 10)], pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'))] }),
  );
  t.is(d.reason, 'WaitingForCleanup');
  t.deepEqual(d.apply, []);
  t.deepEqual(d.remove, [{ kind: 'Pod', name: 'cx-e-a-t1' }]);
});

test('children of an older generation are removed', (t) => {
  const old = pod('cx-e-a-t1', 'a', 1, 'workload');
  old.metadata = { ...old.metadata, labels: childLabels('e', 'workload', 0, { variant: 'a', trial: 1 }) };
  const d = decidePhase(input({ pods: [old] }));
  t.deepEqual(d.remove, [{ kind: 'Pod', name: 'cx-e-a-t1' }]);
});

test('deploy deadline passed: Failed naming variant, trial and the waiting reason', (t) => {
  const p = pod('cx-e-a-t1', 'a', 1, 'workload', {
    status: {
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'workload',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'ImagePullBackOff' } },
        },
      ],
    },
  });
  p.metadata = { ...p.metadata, creationTimestamp: new Date(NOW - DEFAULT_TIMEOUTS.deployMillis - 1) };
  const d = decidePhase(input({ pods: [p] }));
  t.is(d.phase, 'Failed');
  t.is(d.reason, 'WorkloadNotReady');
  t.regex(d.message, /^variant a trial 1: pods not ready within 300s \(cx-e-a-t1: ImagePullBackOff\)$/);
  t.true(d.remove.some((r) => r.name === 'cx-e-a-t1'));
});

test('before the deadline: waits and asks to be woken at the deadline', (t) => {
  const d = decidePhase(input({ pods: [pod('cx-e-a-t1', 'a', 1, 'workload')] }));
  t.is(d.reason, 'DeployingWorkload');
  t.is(d.requeueAfterMillis, DEFAULT_TIMEOUTS.deployMillis - 10_000);
});

test('load pod running past the trial runner’s time bound + grace: LoadTimedOut', (t) => {
  const load = pod('cx-e-a-t1-load', 'a', 1, 'load', { status: { phase: 'Running' } });
  const bound = trialTimeBoundMillis(cx(), parseDurationMillis);
  load.metadata = { ...load.metadata, creationTimestamp: new Date(NOW - bound - DEFAULT_TIMEOUTS.loadGraceMillis) };
  const early = structuredClone(load);
  early.metadata = { ...early.metadata, creationTimestamp: new Date(NOW - bound) };
  t.is(
    decidePhase(input({ pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1')), early] })).reason,
    'RunningLoad',
  );
  const d = decidePhase(input({ pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1')), load] }));
  t.is(d.phase, 'Failed');
  t.is(d.reason, 'LoadTimedOut');
  t.regex(d.message, /^variant a trial 1: no record from load pod cx-e-a-t1-load/);
});

test('a failed load pod fails the run with its termination message', (t) => {
  const load = pod('cx-e-a-t1-load', 'a', 1, 'load', {
    status: {
      phase: 'Failed',
      containerStatuses: [
        {
          name: 'trial',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 2, reason: 'Error', message: 'bad plan' } },
        },
      ],
    },
  });
  const d = decidePhase(input({ pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1')), load] }));
  t.is(d.reason, 'LoadFailed');
  t.regex(d.message, /exited with code 2 \(Error\): bad plan/);
});

test('a restart during load is not a failure (faults restart containers on purpose)', (t) => {
  const w = pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'));
  w.status = {
    ...w.status,
    containerStatuses: [
      {
        name: 'workload',
        image: 'x',
        imageID: '',
        ready: true,
        restartCount: 1,
        state: { running: {} },
        lastState: { terminated: { exitCode: 134 } },
      },
    ],
  };
  const d = decidePhase(input({ pods: [w, pod('cx-e-a-t1-load', 'a', 1, 'load', { status: { phase: 'Running' } })] }));
  t.is(d.phase, 'Running');
  t.is(d.reason, 'RunningLoad');
});

test('every step has a result: Analyzing with the report ConfigMap and per-variant figures', (t) => {
  const d = decidePhase(input({ configMaps: [result('a', 1, 10), result('b', 1, 20)] }));
  t.is(d.phase, 'Analyzing');
  t.deepEqual(
    d.apply.map((c) => c.metadata?.name),
    ['cx-e-report'],
  );
  t.deepEqual(
    d.results?.map((r) => [r.name, r.throughput]),
    [
      ['a', 10],
      ['b', 20],
    ],
  );
  t.falsy(d.verdict?.winner, 'one trial each is never a significant difference');
});

test('the report exists: Succeeded, and every other child is removed', (t) => {
  const analyzing = decidePhase(input({ configMaps: [result('a', 1, 10), result('b', 1, 20)] }));
  const report = analyzing.apply[0] as V1ConfigMap;
  const d = decidePhase(input({ configMaps: [result('a', 1, 10), result('b', 1, 20), report] }));
  t.is(d.phase, 'Succeeded');
  t.deepEqual(d.reportRef, { configMap: 'cx-e-report', key: 'report.json' });
  t.deepEqual(
    d.remove.map((r) => r.name),
    ['cx-e-a-t1-result', 'cx-e-b-t1-result', 'cx-e-otlp', 'cx-e-results-token'],
  );
});

test('a Failed status of the current generation is final; an older one is not', (t) => {
  const failed = cx();
  failed.status = {
    phase: 'Failed',
    observedGeneration: 1,
    conditions: [
      {
        type: 'Degraded',
        status: 'True',
        reason: 'LoadFailed',
        message: 'x',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
  };
  t.is(decidePhase(input({ cx: failed })).phase, 'Failed');
  failed.status.observedGeneration = 0;
  t.is(decidePhase(input({ cx: failed })).phase, 'Running');
});

test('an unparsable result fails the run with ResultInvalid naming the ConfigMap', (t) => {
  const bad = result('a', 1, 10);
  bad.data = { 'record.json': '{"variant": "a", "trial": 1, "load": {"sent": "many"}}' };
  const d = decidePhase(input({ configMaps: [bad] }));
  t.is(d.reason, 'ResultInvalid');
  t.regex(d.message, /cx-e-a-t1-result is invalid: \/: must have required properties spans, faults, events/);
});

const problems: [string, V1Pod['status'], boolean, RegExp | undefined][] = [
  ['running and fine', { phase: 'Running' }, true, undefined],
  ['pod Failed', { phase: 'Failed', message: 'evicted' }, false, /failed: evicted/],
  [
    'image name invalid',
    {
      containerStatuses: [
        {
          name: 'w',
          image: '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'InvalidImageName' } },
        },
      ],
    },
    false,
    /InvalidImageName/,
  ],
  [
    'restart while deploying',
    {
      containerStatuses: [
        {
          name: 'w',
          image: '',
          imageID: '',
          ready: false,
          restartCount: 1,
          lastState: { terminated: { exitCode: 3 } },
        },
      ],
    },
    true,
    /exited with code 3 before becoming ready/,
  ],
];
for (const [name, status, deploying, expected] of problems) {
  test(`podProblem: ${name}`, (t) => {
    const p = podProblem({ metadata: { name: 'p' }, ...(status ? { status } : {}) }, deploying, NOW);
    if (expected) t.regex(p ?? '', expected);
    else t.is(p, undefined);
  });
}

test('podProblem: CreateContainerConfigError is retried by the kubelet, so it fails the pod only after the grace', (t) => {
  // What the real kubelet reported when a scheduled run recreated its token Secret beside the
  // pods; it starts the container on a later sync.
  const waiting = {
    containerStatuses: [
      {
        name: 'workload',
        image: '',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: {
          waiting: {
            reason: 'CreateContainerConfigError',
            message: 'failed to sync secret cache: timed out waiting for the condition',
          },
        },
      },
    ],
  };
  const at = (ageMillis: number) =>
    podProblem({ metadata: { name: 'p', creationTimestamp: new Date(NOW - ageMillis) }, status: waiting }, true, NOW);
  t.is(at(10_000), undefined, 'young: the kubelet retries');
  t.regex(
    at(RETRIED_WAITING_GRACE_MILLIS + 1000) ?? '',
    /CreateContainerConfigError for 61s: failed to sync secret cache/,
  );
});

test('with load.driver k6 an init container copies the k6 program for the trial runner to run', (t) => {
  const k6 = cx({ load: { driver: 'k6', rate: 10, duration: '10s', warmUp: '2s' } });
  const d = decidePhase(input({ cx: k6, pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'))] }));
  t.deepEqual(
    d.apply.map((c) => `${c.kind}/${c.metadata?.name}`),
    ['Pod/cx-e-a-t1-load'],
  );
  const spec = (d.apply[0] as V1Pod).spec;
  const init = spec?.initContainers?.[0];
  t.is(init?.image, DEFAULT_IMAGES.k6);
  t.deepEqual(
    init?.volumeMounts?.map((m) => m.mountPath),
    ['/k6'],
  );
  t.is(spec?.containers[0]?.env?.find((e) => e.name === 'CONCLAB_K6_PATH')?.value, '/k6');
});

test('faults travel in the assignment: the load pod’s trial runner injects and times them', (t) => {
  const withFault = cx({
    faults: [
      { kind: 'exit', at: '3s', target: { worker: 5 }, variants: ['a'] },
      { kind: 'hang', at: '1s', variants: ['b'] },
    ],
  });
  const d = decidePhase(input({ cx: withFault, pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'))] }));
  const env = (d.apply[0] as V1Pod).spec?.containers[0]?.env ?? [];
  const assignment = JSON.parse(env.find((e) => e.name === 'CONCLAB_TRIAL_JSON')?.value ?? '{}') as TrialAssignment;
  t.deepEqual(assignment.experiment.spec.faults, withFault.spec.faults);
  t.falsy((assignment.experiment as { status?: unknown }).status, 'no status travels');
});

test('a load pod that cannot start (bad image) fails the run without waiting for the load timeout', (t) => {
  const load = pod('cx-e-a-t1-load', 'a', 1, 'load', {
    status: {
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'trial',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'InvalidImageName' } },
        },
      ],
    },
  });
  const d = decidePhase(input({ pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1')), load] }));
  t.is(d.reason, 'LoadFailed');
  t.regex(d.message, /variant a trial 1: pod cx-e-a-t1-load container trial: InvalidImageName/);
});

test('a terminating pod of an earlier step still holds the next step back (it burns CPU until gone)', (t) => {
  const leaving = pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'));
  leaving.metadata = { ...leaving.metadata, deletionTimestamp: new Date(NOW - 1000) };
  const d = decidePhase(input({ configMaps: [result('a', 1, 10)], pods: [leaving] }));
  t.is(d.reason, 'WaitingForCleanup');
  t.deepEqual(d.apply, []);
  t.deepEqual(d.remove, [], 'already being deleted: no second delete');
});

test('results that cannot be analysed end the run as AnalysisFailed instead of retrying forever', (t) => {
  const broken = result('a', 1, 10);
  const record = JSON.parse(broken.data?.['record.json'] ?? '{}');
  broken.data = {
    'record.json': JSON.stringify({ ...record, load: { ...record.load, latencyHistogram: 'not-a-histogram' } }),
  };
  const d = decidePhase(input({ configMaps: [broken, result('b', 1, 20)] }));
  t.is(d.phase, 'Failed');
  t.is(d.reason, 'AnalysisFailed');
  t.regex(d.message, /^analysis of 2 trials failed: /);
});

test('a pod of an earlier step stuck terminating fails the run after the cleanup timeout, naming it', (t) => {
  const stuck = pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'));
  stuck.metadata = { ...stuck.metadata, deletionTimestamp: new Date(NOW - DEFAULT_TIMEOUTS.cleanupMillis - 1) };
  const d = decidePhase(input({ configMaps: [result('a', 1, 10)], pods: [stuck] }));
  t.is(d.phase, 'Failed');
  t.is(d.reason, 'CleanupTimedOut');
  t.regex(d.message, /^variant a trial 1: pod cx-e-a-t1 still terminating 120s after its grace period/);
  const waiting = structuredClone(stuck);
  waiting.metadata = { ...waiting.metadata, deletionTimestamp: new Date(NOW - 1000) };
  const w = decidePhase(input({ configMaps: [result('a', 1, 10)], pods: [waiting] }));
  t.is(w.reason, 'WaitingForCleanup');
  t.is(w.requeueAfterMillis, DEFAULT_TIMEOUTS.cleanupMillis - 1000);
});

test('a scheduled run names and labels its children by its tick; another run’s children are stale, its report is kept', (t) => {
  const scheduled = {
    ...cx({ schedule: '0 * * * *' }),
    status: { lastScheduleTime: '2026-01-01T11:00:00Z' },
  } as ConcurrencyExperiment;
  const earlier = (name: string, role: 'result' | 'report'): V1ConfigMap => ({
    metadata: { name, namespace: 'ns', labels: childLabels('e', role, 1, undefined, '20260101t100000') },
  });
  const runOtlp: V1Service = {
    metadata: { name: 'cx-e-20260101t110000-otlp', labels: childLabels('e', 'otlp', 1, undefined, '20260101t110000') },
    spec: { clusterIP: '10.96.0.10' },
  };
  const d = decidePhase(
    input({
      cx: scheduled,
      services: [runOtlp],
      configMaps: [
        earlier('cx-e-20260101t100000-a-t1-result', 'result'),
        earlier('cx-e-report-20260101t100000', 'report'),
      ],
    }),
  );
  t.is(d.reason, 'WaitingForCleanup', 'the earlier run’s children go before this run starts');
  t.deepEqual(d.remove, [{ kind: 'ConfigMap', name: 'cx-e-20260101t100000-a-t1-result' }]);
  const fresh = decidePhase(
    input({ cx: scheduled, services: [runOtlp], configMaps: [earlier('cx-e-report-20260101t100000', 'report')] }),
  );
  const first = decidePhase(
    input({ cx: scheduled, services: [otlp()], configMaps: [earlier('cx-e-report-20260101t100000', 'report')] }),
  );
  t.deepEqual(first.remove, [{ kind: 'Service', name: 'cx-e-otlp' }], 'another run’s Service is stale');
  t.is(fresh.reason, 'DeployingWorkload');
  t.deepEqual(fresh.remove, [], 'reports of earlier runs are history, kept');
  t.is(fresh.apply[0]?.metadata?.name, 'cx-e-20260101t110000-a-t1');
  t.is(fresh.apply[0]?.metadata?.labels?.['conclab.dev/run'], '20260101t110000');
});

test('a pod the scheduler cannot place is waited for (an autoscaler may add a node), then fails naming why', (t) => {
  const unschedulableFor = (millis: number): Partial<V1Pod> => ({
    status: {
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/1 nodes are available: 1 Insufficient cpu.',
          lastTransitionTime: new Date(NOW - millis),
        },
      ],
    },
  });
  const early = decidePhase(input({ pods: [pod('cx-e-a-t1', 'a', 1, 'workload', unschedulableFor(5000))] }));
  t.is(early.phase, 'Running');
  t.regex(early.message, /unschedulable: 0\/1 nodes are available: 1 Insufficient cpu/);
  const late = decidePhase(
    input({ pods: [pod('cx-e-a-t1', 'a', 1, 'workload', unschedulableFor(DEFAULT_TIMEOUTS.unschedulableMillis))] }),
  );
  t.is(late.phase, 'Failed');
  t.is(late.reason, 'Unschedulable');
  t.regex(
    late.message,
    /^variant a trial 1: pod cx-e-a-t1 cannot be scheduled for 120s: 0\/1 nodes .*Insufficient cpu.*loadResources/,
  );
  // The load pod, too: a waiting message, then a failure before the (much later) load deadline.
  const workload = pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'));
  const waiting = decidePhase(
    input({ pods: [workload, pod('cx-e-a-t1-load', 'a', 1, 'load', unschedulableFor(1000))] }),
  );
  t.regex(waiting.message, /the load pod waits for a node \(0\/1 nodes/);
  t.is(waiting.requeueAfterMillis, DEFAULT_TIMEOUTS.unschedulableMillis - 1000);
  const failed = decidePhase(
    input({
      pods: [workload, pod('cx-e-a-t1-load', 'a', 1, 'load', unschedulableFor(DEFAULT_TIMEOUTS.unschedulableMillis))],
    }),
  );
  t.is(failed.reason, 'Unschedulable');
});

// ---- spec.load.generators > 1: generator pods, then the load pod with their URLs ------------

const twoGenerators = () => cx({ load: { rate: 10, duration: '10s', warmUp: '2s', generators: 3 } });
const generatorsReady = () => [
  pod('cx-e-a-t1-load-g1', 'a', 1, 'generator', ready('10.0.1.1')),
  pod('cx-e-a-t1-load-g2', 'a', 1, 'generator', ready('10.0.1.2')),
];

test('generators: 3 deploys two generator pods with the workload, under the load budget, ready when they listen', (t) => {
  const d = decidePhase(input({ cx: twoGenerators() }));
  t.is(d.reason, 'DeployingWorkload');
  t.true(d.ensureToken, 'generator pods read the token from the Secret');
  t.deepEqual(
    d.apply.map((c) => c.metadata?.name),
    ['cx-e-a-t1', 'cx-e-a-t1-load-g1', 'cx-e-a-t1-load-g2'],
  );
  const g = d.apply[1] as V1Pod;
  t.is(g.metadata?.labels?.['conclab.dev/role'], 'generator', 'not selected by the OTLP Service: it gets no spans');
  t.like(g.metadata?.labels, { 'conclab.dev/variant': 'a', 'conclab.dev/trial': '1' });
  t.is(g.spec?.restartPolicy, 'Never');
  const c = g.spec?.containers[0];
  t.deepEqual(c?.args, ['generate']);
  // The load budget requested; memory capped, CPU not (a quota would stall the generator: pod-spec.ts).
  t.deepEqual(c?.resources, { requests: { cpu: '1', memory: '256Mi' }, limits: { memory: '256Mi' } });
  t.deepEqual(c?.readinessProbe?.httpGet, { path: '/readyz', port: 8090 });
  const env = (name: string) => c?.env?.find((e) => e.name === name);
  t.deepEqual(env('CONCLAB_TOKEN')?.valueFrom?.secretKeyRef, { name: 'cx-e-results-token', key: 'token' });
  t.deepEqual(env('CONCLAB_HOST')?.valueFrom?.fieldRef, { fieldPath: 'status.podIP' });
  t.is(env('CONCLAB_GENERATE_PORT')?.value, '8090');
  t.is(g.spec?.initContainers, undefined, 'no k6 for the built-in driver');
});

test('the load pod waits until every generator pod is Ready', (t) => {
  const w = pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'));
  const [g1, g2] = generatorsReady();
  const pending = pod('cx-e-a-t1-load-g2', 'a', 1, 'generator', { status: { phase: 'Pending' } });
  const waiting = decidePhase(input({ cx: twoGenerators(), pods: [w, g1 as V1Pod, pending] }));
  t.is(waiting.reason, 'DeployingWorkload');
  t.deepEqual(waiting.apply, []);
  t.regex(waiting.message, /1\/1 workload pod\(s\) ready, 1\/2 load generator pod\(s\) ready/);
  const missing = decidePhase(input({ cx: twoGenerators(), pods: [w, g1 as V1Pod] }));
  t.deepEqual(
    missing.apply.map((c) => c.metadata?.name),
    ['cx-e-a-t1-load-g2'],
    'only the missing generator is applied',
  );

  const go = decidePhase(input({ cx: twoGenerators(), pods: [w, g1 as V1Pod, g2 as V1Pod] }));
  t.is(go.reason, 'RunningLoad');
  const load = go.apply[0] as V1Pod;
  t.is(load.metadata?.name, 'cx-e-a-t1-load');
  const assignment = JSON.parse(
    load.spec?.containers[0]?.env?.find((e) => e.name === 'CONCLAB_TRIAL_JSON')?.value ?? '{}',
  ) as TrialAssignment;
  t.deepEqual(assignment.generators, ['http://10.0.1.1:8090', 'http://10.0.1.2:8090'], 'in generator order');
});

test('one generator (the default) makes no generator pod and no generators in the assignment', (t) => {
  const d = decidePhase(input({ pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'))] }));
  const assignment = JSON.parse(
    (d.apply[0] as V1Pod).spec?.containers[0]?.env?.find((e) => e.name === 'CONCLAB_TRIAL_JSON')?.value ?? '{}',
  ) as TrialAssignment;
  t.is(assignment.generators, undefined);
});

test('a generator pod that fails fails the run naming it, before or during the load', (t) => {
  const w = pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'));
  const [g1] = generatorsReady();
  const failed = pod('cx-e-a-t1-load-g2', 'a', 1, 'generator', {
    status: {
      phase: 'Failed',
      containerStatuses: [
        {
          name: 'generate',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 2, reason: 'Error', message: 'CONCLAB_TOKEN must hold the token' } },
        },
      ],
    },
  });
  const load = pod('cx-e-a-t1-load', 'a', 1, 'load', { status: { phase: 'Running' } });
  for (const pods of [
    [w, g1 as V1Pod, failed],
    [w, g1 as V1Pod, failed, load],
  ]) {
    const d = decidePhase(input({ cx: twoGenerators(), pods }));
    t.is(d.phase, 'Failed');
    t.is(d.reason, 'LoadFailed');
    t.regex(d.message, /^variant a trial 1: load generator pod cx-e-a-t1-load-g2 failed: .*CONCLAB_TOKEN/);
    t.true(
      d.remove.some((r) => r.name === 'cx-e-a-t1-load-g1'),
      'and everything goes',
    );
  }
});

test('a generator pod gone while the load runs fails the run; once the load pod is done it does not matter', (t) => {
  const w = pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'));
  const [g1] = generatorsReady();
  const running = pod('cx-e-a-t1-load', 'a', 1, 'load', { status: { phase: 'Running' } });
  const d = decidePhase(input({ cx: twoGenerators(), pods: [w, g1 as V1Pod, running] }));
  t.is(d.reason, 'LoadFailed');
  t.is(d.message, 'variant a trial 1: load generator pod cx-e-a-t1-load-g2 is gone while the load ran');
  const done = pod('cx-e-a-t1-load', 'a', 1, 'load', { status: { phase: 'Succeeded' } });
  t.is(decidePhase(input({ cx: twoGenerators(), pods: [w, done] })).reason, 'RunningLoad', 'waits for the record');
});

test('an unschedulable generator pod fails the run after the grace, naming it and the load budget', (t) => {
  const w = pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'));
  const [g1] = generatorsReady();
  const since = new Date(NOW - DEFAULT_TIMEOUTS.unschedulableMillis);
  const g2 = pod('cx-e-a-t1-load-g2', 'a', 1, 'generator', {
    status: {
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/1 nodes are available: 1 Insufficient cpu.',
          lastTransitionTime: since,
        },
      ],
    },
  });
  const d = decidePhase(input({ cx: twoGenerators(), pods: [w, g1 as V1Pod, g2] }));
  t.is(d.reason, 'Unschedulable');
  t.regex(d.message, /pod cx-e-a-t1-load-g2 cannot be scheduled .*Insufficient cpu.*loadResources/);
});

test('generator pods of an earlier step are removed before the next step starts', (t) => {
  const d = decidePhase(
    input({
      cx: twoGenerators(),
      configMaps: [result('a', 1, 10)],
      pods: generatorsReady(),
    }),
  );
  t.is(d.reason, 'WaitingForCleanup');
  t.deepEqual(
    d.remove.map((r) => r.name),
    ['cx-e-a-t1-load-g1', 'cx-e-a-t1-load-g2'],
  );
});

test('with k6 the generator pods get the k6 program as the load pod does', (t) => {
  const d = decidePhase(
    input({ cx: cx({ load: { driver: 'k6', rate: 10, duration: '10s', warmUp: '2s', generators: 2 } }) }),
  );
  const g = d.apply.find((c) => c.metadata?.name === 'cx-e-a-t1-load-g1') as V1Pod;
  t.is(g.spec?.initContainers?.[0]?.name, 'k6');
  t.is(g.spec?.initContainers?.[0]?.image, DEFAULT_IMAGES.k6);
  t.is(g.spec?.containers[0]?.env?.find((e) => e.name === 'CONCLAB_K6_PATH')?.value, '/k6');
});
