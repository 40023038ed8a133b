import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { encodeHistogram, newHistogram, recordMillis } from '../../../operator/analysis/histogram.ts';
import type { ConcurrencyExperiment } from '../../../operator/api/schema.ts';
import { parseDurationMillis } from '../../../operator/api/units.ts';
import { checkObject } from '../../../operator/api/validate.ts';
import { childLabels } from '../../../operator/runtime/kube/names.ts';
import {
  DEFAULT_TIMEOUTS,
  decidePhase,
  type PhaseInput,
  podProblem,
} from '../../../operator/runtime/kube/phase-machine.ts';
import { DEFAULT_IMAGES } from '../../../operator/runtime/kube/pod-spec.ts';

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
  role: 'workload' | 'load',
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
  const h = newHistogram();
  recordMillis(h, 3);
  return {
    metadata: {
      name: `cx-e-${variant}-t${trial}-result`,
      namespace: 'ns',
      labels: childLabels('e', 'result', 1, { variant, trial }),
    },
    data: {
      'result.json': JSON.stringify({
        startedAtMillis: 0,
        endedAtMillis: 10_000,
        sent: perSecond * 10,
        completed: perSecond * 10,
        errors: { other: 0 },
        latencyHistogram: encodeHistogram(h),
      }),
      restarts: '0',
    },
  };
}

function input(over: Partial<PhaseInput> = {}): PhaseInput {
  return {
    cx: cx(),
    pods: [],
    configMaps: [],
    nowMillis: NOW,
    ctx: {
      images: DEFAULT_IMAGES,
      otlpEndpoint: undefined,
      resultsUrl: 'http://op:8080',
      loadResources: { cpu: '1', memory: '256Mi' },
    },
    timeouts: DEFAULT_TIMEOUTS,
    parseMillis: parseDurationMillis,
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
  const args = load.spec?.containers[0]?.args ?? [];
  t.is(args[args.indexOf('--targets') + 1], 'http://10.0.0.1:8080/work,http://10.0.0.2:8080/work');
  const plan = JSON.parse(args[args.indexOf('--plan-json') + 1] ?? '{}');
  t.like(plan, { rate: 10, durationMillis: 10_000, warmUpMillis: 2_000 });
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

test('load pod running past warm-up + duration + grace: LoadTimedOut', (t) => {
  const load = pod('cx-e-a-t1-load', 'a', 1, 'load', { status: { phase: 'Running' } });
  load.metadata = { ...load.metadata, creationTimestamp: new Date(NOW - 12_000 - DEFAULT_TIMEOUTS.loadGraceMillis) };
  const d = decidePhase(input({ pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1')), load] }));
  t.is(d.phase, 'Failed');
  t.is(d.reason, 'LoadTimedOut');
  t.regex(d.message, /^variant a trial 1: no result from load pod cx-e-a-t1-load/);
});

test('a failed load pod fails the run with its termination message', (t) => {
  const load = pod('cx-e-a-t1-load', 'a', 1, 'load', {
    status: {
      phase: 'Failed',
      containerStatuses: [
        {
          name: 'driver',
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
    ['cx-e-a-t1-result', 'cx-e-b-t1-result', 'cx-e-results-token'],
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
  bad.data = { 'result.json': '{"sent": "many"}' };
  const d = decidePhase(input({ configMaps: [bad] }));
  t.is(d.reason, 'ResultInvalid');
  t.regex(d.message, /cx-e-a-t1-result is invalid: field startedAtMillis must be a number/);
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
    const p = podProblem({ metadata: { name: 'p' }, ...(status ? { status } : {}) }, deploying);
    if (expected) t.regex(p ?? '', expected);
    else t.is(p, undefined);
  });
}

test('with load.driver k6 the load pod comes with its generated script ConfigMap', (t) => {
  const k6 = cx({ load: { driver: 'k6', rate: 10, duration: '10s', warmUp: '2s' } });
  const d = decidePhase(input({ cx: k6, pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'))] }));
  t.deepEqual(
    d.apply.map((c) => `${c.kind}/${c.metadata?.name}`),
    ['ConfigMap/cx-e-a-t1-k6', 'Pod/cx-e-a-t1-load'],
  );
  const script = (d.apply[0] as V1ConfigMap).data?.['script.js'] ?? '';
  t.regex(script, /http:\/\/10\.0\.0\.1:8080\/work/);
  t.regex(script, /\/results\/summary\.json/);
});

test('faults of the variant go to the load pod, timed from its start (warm-up + at), for the first replica', (t) => {
  const withFault = cx({
    faults: [
      { kind: 'exit', at: '3s', target: { worker: 5 }, variants: ['a'] },
      { kind: 'hang', at: '1s', variants: ['b'] },
    ],
  });
  const d = decidePhase(input({ cx: withFault, pods: [pod('cx-e-a-t1', 'a', 1, 'workload', ready('10.0.0.1'))] }));
  const args = (d.apply[0] as V1Pod).spec?.containers[0]?.args ?? [];
  t.deepEqual(JSON.parse(args[args.indexOf('--faults-json') + 1] ?? '[]'), [
    { kind: 'exit', worker: 1, atMillis: 5000 },
  ]);
  t.is(args[args.indexOf('--admin-urls') + 1], 'http://10.0.0.1:8081');
});

test('a load pod that cannot start (bad image) fails the run without waiting for the load timeout', (t) => {
  const load = pod('cx-e-a-t1-load', 'a', 1, 'load', {
    status: {
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'driver',
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
  t.regex(d.message, /variant a trial 1: pod cx-e-a-t1-load container driver: InvalidImageName/);
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
  broken.data = {
    ...broken.data,
    'result.json': JSON.stringify({
      ...JSON.parse(broken.data?.['result.json'] ?? '{}'),
      latencyHistogram: 'not-a-histogram',
    }),
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
  const d = decidePhase(
    input({
      cx: scheduled,
      configMaps: [
        earlier('cx-e-20260101t100000-a-t1-result', 'result'),
        earlier('cx-e-report-20260101t100000', 'report'),
      ],
    }),
  );
  t.is(d.reason, 'WaitingForCleanup', 'the earlier run’s children go before this run starts');
  t.deepEqual(d.remove, [{ kind: 'ConfigMap', name: 'cx-e-20260101t100000-a-t1-result' }]);
  const fresh = decidePhase(input({ cx: scheduled, configMaps: [earlier('cx-e-report-20260101t100000', 'report')] }));
  t.is(fresh.reason, 'DeployingWorkload');
  t.deepEqual(fresh.remove, [], 'reports of earlier runs are history, kept');
  t.is(fresh.apply[0]?.metadata?.name, 'cx-e-20260101t110000-a-t1');
  t.is(fresh.apply[0]?.metadata?.labels?.['conclab.dev/run'], '20260101t110000');
});
