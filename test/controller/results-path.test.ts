// The documented results path, for real: the operator (against a real kube-apiserver)
// creates a step's workload pod and load pod; the test plays the kubelet for the pods (no
// node here; the real node is in test/e2e) and runs exactly what the load pod's container
// runs, `conclab trial` with the pod's env, against a REAL Node workload on loopback. The
// trial runner measures, receives the workload's spans with the experiment's token, and
// POSTs the TrialRecord; the operator checks it against the contract, stores it and moves on.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { trialRecordProblems } from '../../operator/contracts/records.ts';
import type { TrialAssignment } from '../../operator/runtime/kube/pod-spec.ts';
import { freePorts } from '../../operator/runtime/local/free-port.ts';
import { type ControlPlane, startControlPlane } from '../cluster/control-plane.ts';
import { startWorkloadProcess } from '../workloads/harness.ts';
import { Api, apply, createNamespace, experiment, installCrd, ROOT, runOperator, waitFor } from './helpers.ts';

const CONCLAB = join(ROOT, 'operator', 'cli', 'conclab.js');

let cp: ControlPlane | undefined;
test.before(async () => {
  cp = await startControlPlane();
  await installCrd(cp);
});
test.after.always(async () => {
  await cp?.stop();
});

function runTrialCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, [CONCLAB, 'trial', ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    }),
  );
}

const envValue = (pod: V1Pod, name: string) => pod.spec?.containers[0]?.env?.find((e) => e.name === name)?.value;

test('`conclab trial` in a load pod measures the real workload, receives its spans and posts the record the operator stores', async (t) => {
  if (!cp) throw new Error('control plane did not start');
  const ns = 'results';
  await createNamespace(cp, ns);
  const op = await runOperator(cp.kubeConfig(), [ns]);
  t.teardown(() => op.stop());
  const api = new Api(cp.kubeConfig());
  await apply(
    cp,
    experiment('real', ns, {
      load: { rate: 40, duration: '2s', warmUp: '500ms' },
      tracing: { enabled: true, sampleRatio: 1 },
    }),
  );
  const workloadPod = await waitFor('workload pod', () => api.pod(ns, 'cx-real-procs-t1'));
  const token = await api.token(ns, 'real');

  // The real workload, configured with the pod's own environment (the OTLP endpoint is the
  // Service's ClusterIP in the pod; here the trial runner's receiver on loopback).
  const [otlpPort] = await freePorts(1);
  const podEnv = Object.fromEntries(
    (workloadPod.spec?.containers[0]?.env ?? []).flatMap((e) => (e.value !== undefined ? [[e.name, e.value]] : [])),
  );
  const workload = await startWorkloadProcess(t, [process.execPath, join(ROOT, 'workloads', 'node', 'main.ts')], {
    ...podEnv,
    CONCLAB_HOST: '127.0.0.1',
    CONCLAB_PORT: '0',
    CONCLAB_ADMIN_PORT: '0',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${otlpPort}/v1/traces`,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: `authorization=Bearer ${token}`,
  });
  await api.markReady(ns, 'cx-real-procs-t1', '10.0.2.1');
  const loadPod = await waitFor('load pod', () => api.pod(ns, 'cx-real-procs-t1-load'));
  t.deepEqual(loadPod.spec?.containers[0]?.args, ['trial', '--post-results']);

  // Run exactly what the load pod's container would, with its env resolved and the pod IP
  // replaced by the loopback address the real workload listens on.
  const assignment = JSON.parse(envValue(loadPod, 'CONCLAB_TRIAL_JSON') ?? '{}') as TrialAssignment;
  t.deepEqual(assignment.targets, [{ workUrl: 'http://10.0.2.1:8080', adminUrl: 'http://10.0.2.1:8081' }]);
  assignment.targets = [
    { workUrl: `http://127.0.0.1:${workload.ready.port}`, adminUrl: `http://127.0.0.1:${workload.ready.adminPort}` },
  ];
  const resultsUrl = envValue(loadPod, 'CONCLAB_RESULTS_URL') ?? '';
  t.is(resultsUrl, `${op.url}/results/v1/${ns}/real/procs/1`);
  const { code, stderr } = await runTrialCli(['--post-results'], {
    CONCLAB_TRIAL_JSON: JSON.stringify(assignment),
    CONCLAB_RESULTS_URL: resultsUrl,
    CONCLAB_TOKEN: token,
    CONCLAB_HOST: '127.0.0.1',
    CONCLAB_OTLP_PORT: String(otlpPort),
  });
  t.is(code, 0, stderr);
  t.regex(stderr, /record posted/);

  const cm = await waitFor('result ConfigMap', async () => {
    try {
      return await api.core.readNamespacedConfigMap({ namespace: ns, name: 'cx-real-procs-t1-result' });
    } catch {
      return undefined;
    }
  });
  const stored = JSON.parse(cm.data?.['record.json'] ?? '{}');
  t.deepEqual(trialRecordProblems(stored), [], 'the stored record is a valid TrialRecord');
  t.like(stored, { variant: 'procs', trial: 1 });
  t.is(stored.load.scheduled, 80, '40/s for 2 s');
  t.true(stored.load.completed > 0);
  t.true(stored.usage === undefined || stored.usage.cpuSeconds >= 0);
  t.true(stored.spans.length > 0, `the trial runner received the workload's spans: ${stored.spansMissing}`);
  t.true((stored.replicas?.[0]?.requestsReceived ?? 0) > 0, 'the workload counted the load it received');
  t.is(cm.metadata?.ownerReferences?.[0]?.name, 'real');
  await waitFor('next variant starts', () => api.pod(ns, 'cx-real-threads-t1'));
  t.is(await op.metrics.value('conclab_results_received_total'), 1);
});

test('the results endpoint checks the token before it reads a body, and refuses what is not a TrialRecord', async (t) => {
  if (!cp) throw new Error('control plane did not start');
  const ns = 'refusals';
  await createNamespace(cp, ns);
  const op = await runOperator(cp.kubeConfig(), [ns]);
  t.teardown(() => op.stop());
  const api = new Api(cp.kubeConfig());
  await apply(cp, experiment('refuse', ns));
  await waitFor('workload pod', () => api.pod(ns, 'cx-refuse-procs-t1'));
  const token = await api.token(ns, 'refuse');
  const url = `${op.url}/results/v1/${ns}/refuse/procs/1`;
  // A large body with a wrong token: refused at once with 401, which the client sees.
  const big = 'x'.repeat(2 * 1024 * 1024);
  const wrong = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: big });
  t.is(wrong.status, 401);
  // Too large with the right token: 413 reaches the client.
  const large = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: big });
  t.is(large.status, 413);
  // Not a TrialRecord: 400 naming what is missing.
  const bad = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ variant: 'procs', trial: 1, load: {} }),
  });
  t.is(bad.status, 400);
  t.regex(await bad.text(), /not a TrialRecord: .*must have required properties/);
});

test('`conclab trial` with a wrong token fails, says why, and does not retry forever', async (t) => {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(401).end('missing or wrong bearer token for this experiment');
  });
  const work = createServer((_req, res) => res.end('ok'));
  await Promise.all([server, work].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  t.teardown(() => {
    server.close();
    work.close();
  });
  const port = (server.address() as AddressInfo).port;
  const workPort = (work.address() as AddressInfo).port;
  const assignment = {
    experiment: {
      apiVersion: 'conclab.dev/v1alpha1',
      kind: 'ConcurrencyExperiment',
      metadata: { name: 'e', namespace: 'ns' },
      spec: {
        workload: {},
        resources: { cpu: '1', memory: '256Mi' },
        variants: [
          { name: 'a', model: 'process', workers: 1 },
          { name: 'b', model: 'thread', workers: 1 },
        ],
        load: { rate: 5, duration: '1s', warmUp: '0s' },
        tracing: { enabled: false },
        trials: 1,
      },
    },
    variant: 'a',
    trial: 1,
    targets: [{ workUrl: `http://127.0.0.1:${workPort}`, adminUrl: `http://127.0.0.1:${workPort}` }],
  };
  const { code, stderr } = await runTrialCli(['--post-results', '--attempts', '3'], {
    CONCLAB_TRIAL_JSON: JSON.stringify(assignment),
    CONCLAB_RESULTS_URL: `http://127.0.0.1:${port}/results/v1/ns/e/a/1`,
    CONCLAB_TOKEN: 'nope',
  });
  t.is(code, 1);
  t.regex(stderr, /could not post the record .*401 missing or wrong bearer token/);
  t.false(existsSync('/dev/termination-log'), 'outside a pod nothing is written into the host /dev');
});

test('`conclab trial` refuses an assignment that is not one, naming what is missing', async (t) => {
  const { code, stderr } = await runTrialCli([], { CONCLAB_TRIAL_JSON: '{"variant": "a"}' });
  t.is(code, 2);
  t.regex(stderr, /the assignment's experiment is invalid/);
});
