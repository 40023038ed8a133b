// Pure builders of the cluster's children: fairness (equal requests = limits), ownership,
// what a load pod is told, and that a cluster report is the one shared JSON report.
import test from 'ava';
import type { ConcurrencyExperiment } from '../../../operator/api/schema.ts';
import { checkObject } from '../../../operator/api/validate.ts';
import { clusterEnvironment, clusterReport } from '../../../operator/controller/phase-machine.ts';
import { validateJsonReport } from '../../../operator/report/json.ts';
import {
  DEFAULT_IMAGES,
  generatorPod,
  loadPod,
  RESTRICTED_CONTAINER,
  type TrialAssignment,
  workloadPod,
} from '../../../operator/runtime/kube/pod-spec.ts';
import { buildTrial } from '../../analysis/records-builder.ts';

function cx(spec: Record<string, unknown> = {}): ConcurrencyExperiment {
  const out = checkObject(
    {
      apiVersion: 'conclab.dev/v1alpha1',
      kind: 'ConcurrencyExperiment',
      metadata: { name: 'e', namespace: 'ns', uid: 'u', generation: 3 },
      spec: {
        workload: { image: 'example/workload:1' },
        resources: { cpu: '750m', memory: '300Mi' },
        variants: [
          { name: 'p', model: 'process', workers: 4 },
          { name: 't', model: 'thread', workers: 8 },
          { name: 'o', model: 'offload', workers: 2 },
        ],
        load: { rate: 5 },
        ...spec,
      },
    },
    (s, m) => {
      throw new Error(`${s.join('.')}: ${m}`);
    },
  );
  if (!out) throw new Error('bad');
  return out;
}

const ctx = {
  images: DEFAULT_IMAGES,
  resultsUrl: 'http://op:8080/',
  loadResources: { cpu: '1', memory: '256Mi' },
};
const TRACES = 'http://10.96.0.9:4318/v1/traces';

test('every variant gets identical requests = limits from spec.resources; only model and workers differ', (t) => {
  const e = cx();
  const pods = e.spec.variants.map((v) => workloadPod(e, v, 1, 0, ctx, TRACES));
  for (const p of pods) {
    const r = p.spec?.containers[0]?.resources;
    t.deepEqual(r, { requests: { cpu: '750m', memory: '300Mi' }, limits: { cpu: '750m', memory: '300Mi' } });
  }
  const envOf = (i: number) =>
    Object.fromEntries((pods[i]?.spec?.containers[0]?.env ?? []).map((x) => [x.name, x.value ?? '(ref)']));
  const differing = Object.keys(envOf(0)).filter((k) => envOf(0)[k] !== envOf(1)[k]);
  t.deepEqual(differing.sort(), [
    'CONCLAB_MODEL',
    'CONCLAB_VARIANT',
    'CONCLAB_WORKERS',
    'OTEL_RESOURCE_ATTRIBUTES',
    'OTEL_SERVICE_NAME',
  ]);
});

test('workload pods carry the owner, labels, image and the generation they were made for', (t) => {
  const e = cx();
  const p = workloadPod(e, e.spec.variants[1]!, 2, 1, ctx, TRACES);
  t.is(p.metadata?.name, 'cx-e-t-t2-r1');
  t.like(p.metadata?.labels, {
    'conclab.dev/experiment': 'e',
    'conclab.dev/variant': 't',
    'conclab.dev/trial': '2',
    'conclab.dev/generation': '3',
    'app.kubernetes.io/managed-by': 'conclab-operator',
  });
  t.deepEqual(p.metadata?.ownerReferences, [
    {
      apiVersion: 'conclab.dev/v1alpha1',
      kind: 'ConcurrencyExperiment',
      name: 'e',
      uid: 'u',
      controller: true,
      blockOwnerDeletion: true,
    },
  ]);
  t.is(p.spec?.containers[0]?.image, 'example/workload:1');
  t.is(p.spec?.automountServiceAccountToken, false);
});

test('tracing disabled in the spec: the SDK is disabled and no endpoint is given', (t) => {
  const e = cx({ tracing: { enabled: false } });
  const env = workloadPod(e, e.spec.variants[0]!, 1, 0, ctx, undefined).spec?.containers[0]?.env ?? [];
  t.false(env.some((x) => x.name.startsWith('OTEL_EXPORTER_OTLP')));
  t.true(env.some((x) => x.name === 'OTEL_SDK_DISABLED' && x.value === 'true'));
  t.false(
    env.some((x) => x.name === 'CONCLAB_TOKEN'),
    'no token needed',
  );
});

test('the load pod runs the trial runner with its assignment and posts with the token from the Secret', (t) => {
  const targets = [{ workUrl: 'http://1.2.3.4:8080', adminUrl: 'http://1.2.3.4:8081' }];
  const p = loadPod({ cx: cx(), variant: 'p', trial: 1, targets }, ctx);
  const c = p.spec?.containers[0];
  t.is(c?.image, DEFAULT_IMAGES.conclab);
  t.deepEqual(c?.args, ['trial', '--post-results']);
  t.true(c?.env?.some((e) => e.name === 'CONCLAB_RESULTS_URL' && e.value === 'http://op:8080/results/v1/ns/e/p/1'));
  t.deepEqual(c?.env?.find((e) => e.name === 'CONCLAB_TOKEN')?.valueFrom?.secretKeyRef, {
    name: 'cx-e-results-token',
    key: 'token',
  });
  const assignment = JSON.parse(c?.env?.find((e) => e.name === 'CONCLAB_TRIAL_JSON')?.value ?? '{}') as TrialAssignment;
  t.deepEqual(assignment.targets, targets);
  t.deepEqual(assignment.experiment.metadata, { name: 'e', namespace: 'ns', generation: 3 });
  t.is(p.spec?.initContainers, undefined);
  t.deepEqual(c?.resources?.requests, ctx.loadResources, 'its own budget, not the workload’s');
  t.deepEqual(c?.resources?.limits, { memory: ctx.loadResources.memory }, 'no CPU quota to stall the generator');
  t.is(p.spec?.restartPolicy, 'Never');
  t.is(p.spec?.automountServiceAccountToken, false);
});

test('imagePullPolicy from the context reaches every container of experiment pods', (t) => {
  const never = { ...ctx, imagePullPolicy: 'Never' as const };
  const e = cx({ load: { driver: 'k6', rate: 5 } });
  const w = workloadPod(e, e.spec.variants[0]!, 1, 0, never, TRACES);
  const l = loadPod({ cx: e, variant: 'p', trial: 1, targets: [] }, never);
  const g = generatorPod({ cx: e, variant: 'p', trial: 1, generator: 1 }, never);
  const containers = [
    ...(w.spec?.containers ?? []),
    ...(l.spec?.containers ?? []),
    ...(l.spec?.initContainers ?? []),
    ...(g.spec?.containers ?? []),
    ...(g.spec?.initContainers ?? []),
  ];
  t.is(containers.length, 5);
  t.true(containers.every((c) => c.imagePullPolicy === 'Never'));
});

test('a generator pod runs conclab generate under the restricted standard, owned by the experiment', (t) => {
  const e = cx({ load: { rate: 5, generators: 2 } });
  const g = generatorPod({ cx: e, variant: 'p', trial: 2, generator: 1 }, ctx);
  t.is(g.metadata?.name, 'cx-e-p-t2-load-g1');
  t.is(g.metadata?.ownerReferences?.[0]?.uid, 'u');
  t.is(g.metadata?.labels?.['conclab.dev/generation'], '3');
  t.false(g.spec?.automountServiceAccountToken ?? true, 'it needs no API access');
  t.like(g.spec?.securityContext, { runAsNonRoot: true });
  t.deepEqual(g.spec?.containers[0]?.securityContext, RESTRICTED_CONTAINER);
  t.is(g.spec?.containers[0]?.image, DEFAULT_IMAGES.conclab);
});

test('the cluster report is the shared, schema-valid JSON report, with the status rows inside', (t) => {
  const e = cx({
    variants: [
      { name: 'p', model: 'process', workers: 2 },
      { name: 't', model: 'thread', workers: 2 },
    ],
    trials: 3,
  });
  const records = [
    buildTrial({ variant: 'p', trial: 1, rate: 100 }),
    buildTrial({ variant: 'p', trial: 2, rate: 110 }),
    buildTrial({ variant: 'p', trial: 3, rate: 105 }),
    buildTrial({ variant: 't', trial: 1, rate: 80 }),
    buildTrial({ variant: 't', trial: 2, rate: 90 }),
    buildTrial({ variant: 't', trial: 3, rate: 85 }),
  ];
  const report = clusterReport(e, records, new Date('2026-01-01T00:00:00Z'), clusterEnvironment('0.1.0', 'op', 'v24'));
  t.deepEqual(validateJsonReport(report), []);
  t.is(report.environment.cgroupVersion, 'kubernetes');
  t.deepEqual(
    report.results.map((r) => r.name),
    ['p', 't'],
  );
  t.true((report.results[0]?.throughput ?? 0) > (report.results[1]?.throughput ?? 0));
  t.truthy(report.verdict.summary);
  t.is(report.trials.length, 6);
});

test('the OTLP Service name is a DNS-1035 label even for the longest experiment name and a run id', async (t) => {
  const { otlpServiceName } = await import('../../../operator/runtime/kube/names.ts');
  const long = 'e'.repeat(63);
  const a = otlpServiceName(long, '20261201t230000');
  const b = otlpServiceName(`${'e'.repeat(62)}f`, '20261201t230000');
  for (const n of [a, b, otlpServiceName('quickstart'), otlpServiceName('q', '20261201t230000')]) {
    t.true(n.length <= 63, n);
    t.regex(n, /^[a-z]([-a-z0-9]*[a-z0-9])?$/);
  }
  t.not(a, b, 'different experiments keep different Services');
  t.is(otlpServiceName(long, '20261201t230000'), a, 'deterministic');
  t.is(otlpServiceName('quickstart'), 'cx-quickstart-otlp', 'short names stay readable');
});
