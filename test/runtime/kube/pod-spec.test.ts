import test from 'ava';
import { encodeHistogram, newHistogram, recordMillis } from '../../../operator/analysis/histogram.ts';
import type { ConcurrencyExperiment } from '../../../operator/api/schema.ts';
import { checkObject } from '../../../operator/api/validate.ts';
import { validateJsonReport } from '../../../operator/report/json.ts';
import { DEFAULT_IMAGES, loadPod, workloadPod } from '../../../operator/runtime/kube/pod-spec.ts';
import { buildClusterReport, clusterEnvironment, type StepResult } from '../../../operator/runtime/kube/report.ts';

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
  otlpEndpoint: 'http://otlp:4318',
  resultsUrl: 'http://op:8080/',
  loadResources: { cpu: '1', memory: '256Mi' },
};

test('every variant gets identical requests = limits from spec.resources; only model and workers differ', (t) => {
  const e = cx();
  const pods = e.spec.variants.map((v) => workloadPod(e, v, 1, 0, ctx));
  for (const p of pods) {
    const r = p.spec?.containers[0]?.resources;
    t.deepEqual(r, { requests: { cpu: '750m', memory: '300Mi' }, limits: { cpu: '750m', memory: '300Mi' } });
  }
  const envOf = (i: number) =>
    Object.fromEntries((pods[i]?.spec?.containers[0]?.env ?? []).map((x) => [x.name, x.value ?? '(ref)']));
  const differing = Object.keys(envOf(0)).filter((k) => envOf(0)[k] !== envOf(1)[k]);
  t.deepEqual(differing.sort(), ['CONCLAB_MODEL', 'CONCLAB_VARIANT', 'CONCLAB_WORKERS']);
});

test('workload pods carry the owner, labels, image and the generation they were made for', (t) => {
  const e = cx();
  const p = workloadPod(e, e.spec.variants[1]!, 2, 1, ctx);
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

test('tracing disabled in the spec: no OTLP endpoint in the env', (t) => {
  const e = cx({ tracing: { enabled: false } });
  const env = workloadPod(e, e.spec.variants[0]!, 1, 0, ctx).spec?.containers[0]?.env ?? [];
  t.false(env.some((x) => x.name === 'OTEL_EXPORTER_OTLP_ENDPOINT'));
  t.true(env.some((x) => x.name === 'CONCLAB_TRACING' && x.value === 'false'));
});

test('the built-in load pod posts to the results endpoint with the token from the Secret', (t) => {
  const p = loadPod({ cx: cx(), variant: 'p', trial: 1, targets: ['http://1.2.3.4:8080/work'], planJson: '{}' }, ctx);
  const c = p.spec?.containers[0];
  t.is(c?.image, DEFAULT_IMAGES.conclab);
  t.true(c?.env?.some((e) => e.name === 'CONCLAB_RESULTS_URL' && e.value === 'http://op:8080/results/v1/ns/e/p/1'));
  t.deepEqual(c?.env?.find((e) => e.name === 'CONCLAB_RESULTS_TOKEN')?.valueFrom?.secretKeyRef, {
    name: 'cx-e-results-token',
    key: 'token',
  });
  t.is(p.spec?.initContainers, undefined);
  t.deepEqual(c?.resources?.limits, ctx.loadResources, 'its own budget, not the workload’s');
});

test('the k6 load pod runs grafana/k6 first, then posts what it wrote', (t) => {
  const p = loadPod(
    {
      cx: cx({ load: { driver: 'k6', rate: 5 } }),
      variant: 'p',
      trial: 1,
      targets: ['http://x:8080/work'],
      planJson: '{}',
    },
    ctx,
  );
  t.is(p.spec?.initContainers?.[0]?.image, DEFAULT_IMAGES.k6);
  t.deepEqual(p.spec?.containers[0]?.args, ['load', '--post-k6-summary', '/results/summary.json', '--plan-json', '{}']);
  t.true(p.spec?.volumes?.some((v) => v.configMap?.name === 'cx-e-p-t1-k6'));
});

function step(variant: string, trial: number, perSecond: number, latencyMillis = 5): StepResult {
  const h = newHistogram();
  for (let i = 0; i < perSecond * 10; i++) recordMillis(h, latencyMillis);
  return {
    variant,
    trial,
    restarts: 0,
    faults: [],
    load: {
      driver: 'builtin',
      startedAtMillis: 1_000_000 + trial * 20_000,
      endedAtMillis: 1_010_000 + trial * 20_000,
      scheduled: perSecond * 10,
      sent: perSecond * 10,
      completed: perSecond * 10,
      dropped: 0,
      errors: { refused: 0, reset: 0, timeout: 0, http4xx: 0, http5xx: 0, other: 0 },
      inFlightAtEnd: 0,
      latencyHistogram: encodeHistogram(h),
      perSecond: Array.from({ length: 10 }, (_, second) => ({
        second,
        sent: perSecond,
        completed: perSecond,
        errors: 0,
        dropped: 0,
        p99Millis: latencyMillis,
      })),
      saturation: { unreliable: false, sendSlipP99Millis: 0, eventLoopLagMaxMillis: 0 },
      partial: false,
    },
  };
}

test('the cluster report is the shared, schema-valid JSON report, with the status rows inside', (t) => {
  const e = cx({
    variants: [
      { name: 'p', model: 'process', workers: 2 },
      { name: 't', model: 'thread', workers: 2 },
    ],
    trials: 3,
  });
  const steps = [
    step('p', 1, 100),
    step('p', 2, 110),
    step('p', 3, 105),
    step('t', 1, 80),
    step('t', 2, 90),
    step('t', 3, 85),
  ];
  const report = buildClusterReport(
    e,
    steps,
    new Date('2026-01-01T00:00:00Z'),
    [],
    clusterEnvironment('0.1.0', 'op', 'v24'),
  );
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
