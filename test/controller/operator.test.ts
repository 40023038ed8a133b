// The operator against a REAL kube-apiserver + etcd (test/cluster). No kubelet, scheduler or
// garbage collector runs there: the test plays the kubelet by writing pod status, and posts
// load results the way a load pod does (results endpoint + bearer token).
import test from 'ava';
import { encodeHistogram, newHistogram, recordMillis } from '../../operator/contracts/histogram.ts';
import type { SpanAggregate } from '../../operator/contracts/records.ts';
import { ControllerError } from '../../operator/controller/errors.ts';
import type { Action } from '../../operator/controller/reconcile.ts';
import { type ControlPlane, startControlPlane } from '../cluster/control-plane.ts';
import {
  Api,
  apply,
  createNamespace,
  experiment,
  installCrd,
  loadResult,
  postResult,
  runOperator,
  waitFor,
} from './helpers.ts';

/** What the trial runner of a load pod aggregated from the workload's spans. */
function spanAggregate(variant: string, count: number): SpanAggregate {
  const h = newHistogram();
  for (let i = 0; i < count; i++) recordMillis(h, 2);
  return {
    key: { experiment: 'demo', trial: '1', variant, replica: '0', worker: '0' },
    spans: count,
    errors: 0,
    durationHistogram: encodeHistogram(h),
    queueHistogram: encodeHistogram(newHistogram()),
    pids: [4242],
    threadIds: [0],
    perSecond: [],
  };
}

let cp: ControlPlane | undefined;
let api: Api;

test.before(async (t) => {
  // Bounded by its own waits (start 90 s, CRD established and served 60 s each), which outlast
  // ava's 2 min without a result on a loaded machine.
  t.timeout(4 * 60_000, 'control plane start');
  cp = await startControlPlane();
  api = new Api(cp.kubeConfig());
});
test.after.always(async () => {
  await cp?.stop();
});

function plane(): ControlPlane {
  if (!cp) throw new Error('control plane did not start (see the test.before failure)');
  return cp;
}

test.serial('refuses to start when the CRD is not installed, saying how to install it', async (t) => {
  const err = await t.throwsAsync(runOperator(plane().kubeConfig(), ['default']));
  t.regex(err?.message ?? '', /CRD concurrencyexperiments\.conclab\.dev not found/);
  t.regex(err?.message ?? '', /kubectl apply -f crds\/conclab\.dev_concurrencyexperiments\.yaml/);
  t.regex(err?.message ?? '', /helm install/);
  await installCrd(plane());
});

test.serial('runs an experiment through every phase as pods become ready and results arrive', async (t) => {
  const ns = 'flow';
  await createNamespace(plane(), ns);
  const op = await runOperator(plane().kubeConfig(), [ns]);
  t.teardown(() => op.stop());
  await apply(plane(), experiment('demo', ns));

  // Step 1: the first variant's workload pod, with the finalizer already on the experiment.
  const procs = await waitFor('pod cx-demo-procs-t1', () => api.pod(ns, 'cx-demo-procs-t1'));
  const cx1 = await api.cx(ns, 'demo');
  t.deepEqual(cx1?.metadata.finalizers, ['conclab.dev/cleanup']);
  const running = await waitFor('phase Running', async () => {
    const cx = await api.cx(ns, 'demo');
    return cx?.status?.phase === 'Running' ? cx : undefined;
  });
  t.is(running.status?.currentVariant, 'procs');
  t.is(running.status?.observedGeneration, running.metadata.generation);
  t.is(running.status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'DeployingWorkload');
  t.is((await api.pods(ns, 'demo')).length, 1, 'one step at a time: only the first variant has a pod');

  const c = procs.spec?.containers[0];
  t.deepEqual(c?.resources?.limits, { cpu: '500m', memory: '256Mi' });
  t.deepEqual(c?.resources?.requests, c?.resources?.limits);
  t.is(procs.metadata?.ownerReferences?.[0]?.uid, cx1?.metadata.uid);
  t.is(procs.metadata?.ownerReferences?.[0]?.controller, true);
  t.is(procs.metadata?.labels?.['conclab.dev/variant'], 'procs');
  t.is(procs.metadata?.labels?.['conclab.dev/trial'], '1');
  t.is(procs.metadata?.managedFields?.[0]?.manager, 'conclab-operator');
  t.like(c?.securityContext, {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  t.is(c?.readinessProbe?.httpGet?.path, '/readyz');
  t.is(c?.readinessProbe?.httpGet?.port, 8081);
  const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
  t.like(env, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    CONCLAB_EXPERIMENT: 'demo',
    CONCLAB_VARIANT: 'procs',
    CONCLAB_TRIAL: '1',
    CONCLAB_HOST: 'status.podIP',
  });
  // Spans go to the step's load pod through the experiment's OTLP Service, by its ClusterIP.
  const otlp = await api.core.readNamespacedService({ namespace: ns, name: 'cx-demo-otlp' });
  t.truthy(otlp.spec?.clusterIP);
  t.is(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'], `http://${otlp.spec?.clusterIP}:4318/v1/traces`);
  t.deepEqual(otlp.spec?.selector, { 'conclab.dev/experiment': 'demo', 'conclab.dev/role': 'load' });

  // The test plays the kubelet: Ready with an IP -> the load pod targets that IP.
  await api.markReady(ns, 'cx-demo-procs-t1', '10.0.0.11');
  const load = await waitFor('load pod', () => api.pod(ns, 'cx-demo-procs-t1-load'));
  const assignment = JSON.parse(
    load.spec?.containers[0]?.env?.find((e) => e.name === 'CONCLAB_TRIAL_JSON')?.value ?? '{}',
  ) as { targets: { workUrl: string }[] };
  t.deepEqual(
    assignment.targets.map((x) => x.workUrl),
    ['http://10.0.0.11:8080'],
  );
  t.is(load.spec?.restartPolicy, 'Never');
  await waitFor('RunningLoad', async () => {
    const cx = await api.cx(ns, 'demo');
    return cx?.status?.conditions?.find((x) => x.type === 'Progressing')?.reason === 'RunningLoad';
  });

  // Results come back through the operator's endpoint, only with the experiment's token.
  const token = await api.token(ns, 'demo');
  t.is(await postResult(op.url, ns, 'demo', 'procs', 1, 'wrong-token', loadResult(100)), 401);
  t.is(await postResult(op.url, ns, 'demo', 'procs', 1, token, { not: 'a result' }), 400);
  t.is(
    await postResult(op.url, ns, 'demo', 'threads', 1, token, loadResult(100)),
    409,
    'no load pod for that step yet',
  );
  t.is(
    await postResult(op.url, ns, 'demo', 'procs', 1, token, {
      variant: 'procs',
      trial: 1,
      load: loadResult(100),
      spans: [spanAggregate('procs', 3)],
      faults: [],
      events: [],
    }),
    204,
  );

  // Step 2 starts only once step 1's pods are gone.
  const threads = await waitFor('pod cx-demo-threads-t1', () => api.pod(ns, 'cx-demo-threads-t1'));
  t.is(await api.pod(ns, 'cx-demo-procs-t1'), undefined);
  t.is(await api.pod(ns, 'cx-demo-procs-t1-load'), undefined);
  t.deepEqual(threads.spec?.containers[0]?.resources, c?.resources, 'every variant gets the same budget');
  await api.markReady(ns, 'cx-demo-threads-t1', '10.0.0.12');
  await waitFor('load pod 2', () => api.pod(ns, 'cx-demo-threads-t1-load'));
  t.is(await postResult(op.url, ns, 'demo', 'threads', 1, token, loadResult(60)), 204);

  const done = await waitFor(
    'Succeeded',
    async () => {
      const cx = await api.cx(ns, 'demo');
      return cx?.status?.phase === 'Succeeded' ? cx : undefined;
    },
    30_000,
  );
  t.deepEqual(done.status?.reportRef, { configMap: 'cx-demo-report', key: 'report.json' });
  t.is(done.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
  t.deepEqual(
    done.status?.results?.map((r) => [r.name, r.throughput]),
    [
      ['procs', 100],
      ['threads', 60],
    ],
  );
  t.truthy(done.status?.verdict?.summary);
  const report = await api.core.readNamespacedConfigMap({ namespace: ns, name: 'cx-demo-report' });
  const parsed = JSON.parse(report.data?.['report.json'] ?? '{}');
  t.is(parsed.results.length, 2);
  t.is(parsed.schemaVersion, '1', 'the same versioned report `conclab run` writes');
  t.is(parsed.environment.runtime, 'kubernetes');
  t.is(
    parsed.variants.find((v: { name: string }) => v.name === 'procs')?.latency.server?.count,
    3,
    'the spans the trial runner aggregated are in the report',
  );
  await waitFor('children removed after completion', async () => (await api.pods(ns, 'demo')).length === 0);
  const cms = await api.core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'conclab.dev/experiment=demo' });
  t.deepEqual(
    cms.items.map((x) => x.metadata?.name),
    ['cx-demo-report'],
  );

  const events = await api.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=demo' });
  const reasons = events.items.map((e) => e.reason);
  for (const r of ['DeployingWorkload', 'RunningLoad', 'Analyzing', 'Completed'])
    t.true(reasons.includes(r), `${reasons}`);
  t.is(events.items.find((e) => e.reason === 'Completed')?.source?.component, 'conclab-operator');

  const printed = await plane().kubectl(['get', 'cx', '-n', ns]);
  t.is(printed.code, 0, printed.stderr);
  t.regex(printed.stdout, /NAME\s+PHASE\s+WINNER\s+THROUGHPUT\s+P99\s+BLAST-RADIUS\s+CAPACITY\s+SIZING\s+AGE/);
  t.regex(printed.stdout, /demo\s+Succeeded/);
  t.true((await op.metrics.value('conclab_reconciles_total', { result: 'success' })) > 0);
  const metrics = await (await fetch(`${op.url}/metrics`)).text();
  t.regex(metrics, /conclab_experiments\{phase="Succeeded"\} 1/);
  t.is((await fetch(`${op.url}/healthz`)).status, 200);
  t.is((await fetch(`${op.url}/readyz`)).status, 200);
});

test.serial('deleting an experiment removes its children through the finalizer', async (t) => {
  const ns = 'deletion';
  await createNamespace(plane(), ns);
  const op = await runOperator(plane().kubeConfig(), [ns]);
  t.teardown(() => op.stop());
  await apply(plane(), experiment('gone', ns));
  await waitFor('workload pod', () => api.pod(ns, 'cx-gone-procs-t1'));
  await api.markReady(ns, 'cx-gone-procs-t1', '10.0.0.21');
  await waitFor('load pod', () => api.pod(ns, 'cx-gone-procs-t1-load'));

  const del = await plane().kubectl(['delete', 'cx', 'gone', '-n', ns, '--wait=false']);
  t.is(del.code, 0, del.stderr);
  await waitFor('experiment gone', async () => (await api.cx(ns, 'gone')) === undefined);
  t.deepEqual(await api.pods(ns, 'gone'), []);
  const secrets = await api.core.listNamespacedSecret({ namespace: ns, labelSelector: 'conclab.dev/experiment=gone' });
  t.deepEqual(secrets.items, []);
});

test.serial('a restarted operator resumes the run without duplicating children', async (t) => {
  const ns = 'restart';
  await createNamespace(plane(), ns);
  const first = await runOperator(plane().kubeConfig(), [ns]);
  await apply(plane(), experiment('resume', ns));
  const pod = await waitFor('workload pod', () => api.pod(ns, 'cx-resume-procs-t1'));
  await first.stop();

  // While no operator runs, the pod becomes ready.
  await api.markReady(ns, 'cx-resume-procs-t1', '10.0.0.31');
  const second = await runOperator(plane().kubeConfig(), [ns]);
  t.teardown(() => second.stop());
  await waitFor('load pod from the second operator', () => api.pod(ns, 'cx-resume-procs-t1-load'));
  const pods = await api.pods(ns, 'resume');
  t.deepEqual(pods.map((p) => p.metadata?.name).sort(), ['cx-resume-procs-t1', 'cx-resume-procs-t1-load']);
  t.is(
    pods.find((p) => p.metadata?.name === 'cx-resume-procs-t1')?.metadata?.uid,
    pod.metadata?.uid,
    'the same pod, not a new one',
  );
});

test.serial('a workload container that exits before becoming ready fails the run, naming the variant', async (t) => {
  const ns = 'crash';
  await createNamespace(plane(), ns);
  const op = await runOperator(plane().kubeConfig(), [ns]);
  t.teardown(() => op.stop());
  await apply(plane(), experiment('boom', ns));
  await waitFor('workload pod', () => api.pod(ns, 'cx-boom-procs-t1'));
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await api.setPodStatus(ns, 'cx-boom-procs-t1', {
    phase: 'Running',
    containerStatuses: [
      {
        name: 'workload',
        image: 'x',
        imageID: '',
        ready: false,
        restartCount: 1,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off restarting failed container' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: now, finishedAt: now } },
      },
    ],
  });
  const failed = await waitFor('Failed', async () => {
    const cx = await api.cx(ns, 'boom');
    return cx?.status?.phase === 'Failed' ? cx : undefined;
  });
  const degraded = failed.status?.conditions?.find((c) => c.type === 'Degraded');
  t.is(degraded?.status, 'True');
  t.is(degraded?.reason, 'WorkloadFailed');
  t.regex(degraded?.message ?? '', /variant procs trial 1: .*CrashLoopBackOff/);
  // The Event is recorded just after the status write: wait for it rather than race it.
  const warning = await waitFor('WorkloadFailed event', async () => {
    const events = await api.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=boom' });
    return events.items.find((e) => e.reason === 'WorkloadFailed');
  });
  t.is(warning.type, 'Warning');
  await waitFor('children removed after failure', async () => (await api.pods(ns, 'boom')).length === 0);
});

test.serial('a workload that never becomes ready fails at the deploy timeout with the reason', async (t) => {
  const ns = 'slow';
  await createNamespace(plane(), ns);
  const op = await runOperator(plane().kubeConfig(), [ns], { timeouts: { deployMillis: 1500 } });
  t.teardown(() => op.stop());
  await apply(plane(), experiment('late', ns));
  const failed = await waitFor('Failed', async () => {
    const cx = await api.cx(ns, 'late');
    return cx?.status?.phase === 'Failed' ? cx : undefined;
  });
  const degraded = failed.status?.conditions?.find((c) => c.type === 'Degraded');
  t.is(degraded?.reason, 'WorkloadNotReady');
  t.regex(degraded?.message ?? '', /variant procs trial 1: pods not ready within 2s/);
});

test.serial(
  'a spec the API server accepts but conclab cannot run fails as InvalidSpec, once, until it is fixed',
  async (t) => {
    const ns = 'invalid';
    await createNamespace(plane(), ns);
    const outcomes: { phase?: string; outcome: Action | ControllerError }[] = [];
    const op = await runOperator(plane().kubeConfig(), [ns], {
      onReconciled: (cx, outcome) => {
        if (cx.metadata.name === 'huge')
          outcomes.push({ ...(cx.status?.phase ? { phase: cx.status.phase } : {}), outcome });
      },
    });
    t.teardown(() => op.stop());
    // A cron range written backwards passes the CRD (its CEL rule checks the five fields'
    // shape and value ranges) but not conclab's own cron parser, the one rule left to conclab.
    await apply(plane(), experiment('huge', ns, { schedule: '5-1 * * * *' }));
    const failed = await waitFor('Failed', async () => {
      const cx = await api.cx(ns, 'huge');
      return cx?.status?.phase === 'Failed' ? cx : undefined;
    });
    const degraded = failed.status?.conditions?.find((c) => c.type === 'Degraded');
    t.is(degraded?.reason, 'InvalidSpec');
    t.regex(
      degraded?.message ?? '',
      /spec\.schedule: "5-1 \* \* \* \*" is not a valid cron expression \(Invalid range: 5-1/,
    );
    // Our own status write brings it back (once or twice more on a stale cache): wait until the
    // operator reconciled the Failed status it wrote. That reconcile ends it: no requeue.
    const last = await waitFor('a reconcile of the Failed status', async () =>
      outcomes.find((o) => o.phase === 'Failed' && !(o.outcome instanceof ControllerError)),
    );
    t.is((last.outcome as Action).requeueAfterMillis, undefined, 'nothing more to do until the spec changes');
    // The only retry path is the rate-limited requeue; a terminal error never takes it.
    const errors = outcomes.flatMap((o) => (o.outcome instanceof ControllerError ? [o.outcome] : []));
    t.true(errors.length >= 1 && errors.length <= 3, `${errors.length} InvalidSpec errors`);
    t.true(
      errors.every((e) => e.kind === 'InvalidSpec' && e.terminal),
      'terminal: not retried',
    );
    t.is(op.queue.failures(`${ns}/huge`), 0, 'never requeued with backoff');
    t.is(await op.metrics.value('conclab_reconcile_errors_total', { type: 'InvalidSpec' }), errors.length);
    t.deepEqual(await api.pods(ns, 'huge'), []);

    // Fixing the spec (a new generation) starts the run.
    await apply(plane(), experiment('huge', ns, { resources: { cpu: '2', memory: '256Mi' } }));
    const p = await waitFor('pod after the fix', () => api.pod(ns, 'cx-huge-procs-t1'));
    t.is(p.spec?.containers[0]?.resources?.limits?.['cpu'], '2');
    const running = await waitFor('Running', async () => {
      const cx = await api.cx(ns, 'huge');
      return cx?.status?.phase === 'Running' ? cx : undefined;
    });
    t.is(running.status?.observedGeneration, 2);
  },
);

test.serial('watching all namespaces, experiments anywhere are run', async (t) => {
  const op = await runOperator(plane().kubeConfig(), []);
  t.teardown(() => op.stop());
  await createNamespace(plane(), 'anywhere');
  await apply(plane(), experiment('wide', 'anywhere'));
  const p = await waitFor('pod', () => api.pod('anywhere', 'cx-wide-procs-t1'));
  t.is(p.metadata?.labels?.['conclab.dev/experiment'], 'wide');
});

test.serial('a temporary error (RBAC missing a rule) is retried with backoff until it clears', async (t) => {
  const ns = 'perm';
  await createNamespace(plane(), ns);
  const rules = (podVerbs: string[]) => [
    { apiGroups: ['conclab.dev'], resources: ['concurrencyexperiments'], verbs: ['get', 'list', 'watch', 'patch'] },
    { apiGroups: ['conclab.dev'], resources: ['concurrencyexperiments/status'], verbs: ['get', 'patch'] },
    { apiGroups: ['conclab.dev'], resources: ['concurrencyexperiments/finalizers'], verbs: ['update'] },
    { apiGroups: [''], resources: ['pods'], verbs: podVerbs },
    {
      apiGroups: [''],
      resources: ['configmaps', 'services'],
      verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
    },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'delete'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  ];
  const role = (podVerbs: string[]) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'limited', namespace: ns },
    rules: rules(podVerbs),
  });
  await apply(plane(), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'limited', namespace: ns } });
  await apply(plane(), role(['get', 'list', 'watch', 'delete'])); // no create/patch of pods
  await apply(plane(), {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'limited', namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'limited' },
    subjects: [{ kind: 'ServiceAccount', name: 'limited', namespace: ns }],
  });
  const op = await runOperator(plane().kubeConfig({ impersonate: 'system:serviceaccount:perm:limited' }), [ns]);
  t.teardown(() => op.stop());
  await apply(plane(), experiment('denied', ns));
  // Retried, not given up on: three failed attempts in a row, each requeued with backoff.
  await waitFor('three failed attempts', async () => op.queue.failures(`${ns}/denied`) >= 3, 60_000);
  t.true((await op.metrics.value('conclab_reconcile_errors_total', { type: 'Forbidden' })) >= 3);
  t.regex(op.logs.join('\n'), /apply pod perm\/cx-denied-procs-t1: .*forbidden.*\(retry in \d+ ms\)/);
  // Backed off, not hammering: retry i waits 800 ms * 2^i of which half is jitter (backoff.ts).
  const delays = [...op.logs.join('\n').matchAll(/\(retry in (\d+) ms\)/g)].map((m) => Number(m[1]));
  for (const [i, delay] of delays.slice(0, 3).entries()) {
    t.true(delay >= 400 * 2 ** i && delay <= 800 * 2 ** i, `retry ${i} after ${delay} ms (${delays.join(', ')})`);
  }

  await apply(plane(), role(['get', 'list', 'watch', 'create', 'patch', 'delete']));
  await waitFor('pod once the rule exists', () => api.pod(ns, 'cx-denied-procs-t1'), 60_000);
  t.pass();
});
