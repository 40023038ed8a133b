// The Helm chart against the real API server: lint and template are clean, every rendered
// manifest is accepted by `kubectl apply --dry-run=server`, and the operator running AS THE
// CHART'S ServiceAccount (impersonated, with only the chart's RBAC) can run an experiment from
// start to deletion, while cluster-wide rights it does not need are refused.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import test from 'ava';
import { parse } from 'yaml';
import { type ControlPlane, serviceAccountUser, startControlPlane } from '../cluster/control-plane.ts';
import {
  Api,
  apply,
  createNamespace,
  experiment,
  installCrd,
  loadResult,
  postResult,
  ROOT,
  runOperator,
  waitFor,
} from './helpers.ts';

const run = promisify(execFile);
const CHART = join(ROOT, 'charts', 'conclab');
const RELEASE_NS = 'conclab-system';
const WATCHED = 'team-a';
const SA = serviceAccountUser(RELEASE_NS, 'conclab');

let cp: ControlPlane | undefined;
test.before(async () => {
  cp = await startControlPlane();
});
test.after.always(async () => {
  await cp?.stop();
});
function plane(): ControlPlane {
  if (!cp) throw new Error('control plane did not start (see the test.before failure)');
  return cp;
}

async function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(plane().binaries.helm, args, { maxBuffer: 16 * 1024 * 1024 });
}

async function render(extra: string[] = []): Promise<string> {
  const { stdout } = await helm([
    'template',
    'conclab',
    CHART,
    '--namespace',
    RELEASE_NS,
    '--include-crds',
    '--set',
    `watchNamespaces={${WATCHED}}`,
    ...extra,
  ]);
  return stdout;
}

test.serial('helm lint passes with default and wide values', async (t) => {
  for (const values of [[], ['--set', 'watchAllNamespaces=true', '--set', 'replicas=2']]) {
    const { stdout } = await helm(['lint', '--strict', CHART, ...values]);
    t.regex(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test.serial('bad values are refused by the chart’s values schema, naming the value', async (t) => {
  const err = await t.throwsAsync(helm(['template', 'conclab', CHART, '--set', 'leaderElection.leaseDuration=soon']));
  t.regex(String((err as { stderr?: string })?.stderr), /\/leaderElection\/leaseDuration.*does not match pattern/);
});

test.serial('the rendered chart (with its CRD) is accepted by the API server', async (t) => {
  await createNamespace(plane(), RELEASE_NS);
  await createNamespace(plane(), WATCHED);
  const manifests = await render();
  t.regex(manifests, /kind: CustomResourceDefinition/);
  t.notRegex(manifests, /kind: ClusterRole\b/, 'namespaced RBAC only by default');
  // The CRD first, so the dry run of everything else can be checked for real.
  await installCrd(plane());
  const dry = await plane().kubectl(['apply', '--dry-run=server', '-f', '-'], { input: manifests });
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /deployment\.apps\/conclab created \(server dry run\)/);
  t.regex(dry.stdout, /role\.rbac\.authorization\.k8s\.io\/conclab created \(server dry run\)/);
  const wide = await plane().kubectl(['apply', '--dry-run=server', '-f', '-'], {
    input: await render(['--set', 'watchAllNamespaces=true']),
  });
  t.is(wide.code, 0, wide.stderr);
  t.regex(wide.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/conclab created/);
});

test.serial('as the chart’s ServiceAccount the operator runs an experiment end to end', async (t) => {
  const manifests = await render();
  // Install the ServiceAccount and RBAC for real (no kubelet would run the Deployment anyway).
  const rbacOnly = manifests
    .split(/^---$/m)
    .filter((doc) => /kind: (ServiceAccount|Role|RoleBinding)\b/.test(doc))
    .join('\n---\n');
  const applied = await plane().kubectl(['apply', '-f', '-'], { input: rbacOnly });
  t.is(applied.code, 0, applied.stderr);

  const kubeConfig = plane().kubeConfig({ impersonate: SA });
  const op = await runOperator(kubeConfig, [WATCHED], {
    leaderElection: {
      namespace: RELEASE_NS,
      name: 'conclab-operator',
      identity: 'rbac-test',
      leaseDurationMillis: 3000,
      renewDeadlineMillis: 2000,
      retryPeriodMillis: 500,
    },
  });
  t.teardown(() => op.stop());
  await waitFor('leading', async () => op.isLeader());

  const api = new Api(plane().kubeConfig());
  await apply(plane(), experiment('rbac', WATCHED));
  await waitFor('pod', () => api.pod(WATCHED, 'cx-rbac-procs-t1'));
  await api.markReady(WATCHED, 'cx-rbac-procs-t1', '10.0.1.1');
  await waitFor('load pod', () => api.pod(WATCHED, 'cx-rbac-procs-t1-load'));
  const token = await api.token(WATCHED, 'rbac');
  t.is(await postResult(op.url, WATCHED, 'rbac', 'procs', 1, token, loadResult(50)), 204);
  await waitFor('second variant', () => api.pod(WATCHED, 'cx-rbac-threads-t1'));
  await api.markReady(WATCHED, 'cx-rbac-threads-t1', '10.0.1.2');
  await waitFor('load pod 2', () => api.pod(WATCHED, 'cx-rbac-threads-t1-load'));
  t.is(await postResult(op.url, WATCHED, 'rbac', 'threads', 1, token, loadResult(40)), 204);
  await waitFor('Succeeded', async () => (await api.cx(WATCHED, 'rbac'))?.status?.phase === 'Succeeded');
  const del = await plane().kubectl(['delete', 'cx', 'rbac', '-n', WATCHED, '--wait=false']);
  t.is(del.code, 0, del.stderr);
  await waitFor('deleted through the finalizer', async () => (await api.cx(WATCHED, 'rbac')) === undefined);
  t.is(await op.metrics.value('conclab_reconcile_errors_total', { type: 'Forbidden' }), 0, op.logs.join('\n'));
  t.notRegex(op.logs.join('\n'), /event not recorded/, 'the chart lets it record Events');
  for (const resource of ['concurrencyexperiments', 'pods', 'configmaps']) {
    t.is(
      await op.metrics.value('conclab_watch_errors_total', { resource }),
      0,
      `watch of ${resource}: ${op.logs.join('\n')}`,
    );
  }
});

const refused: [string, string[]][] = [
  ['list pods in all namespaces', ['list', 'pods', '--all-namespaces']],
  ['create pods outside the watched namespaces', ['create', 'pods', '-n', 'default']],
  ['list secrets even in the watched namespace', ['list', 'secrets', '-n', WATCHED]],
  ['read nodes', ['get', 'nodes']],
  ['create cluster role bindings', ['create', 'clusterrolebindings']],
  ['read CRDs', ['get', 'customresourcedefinitions']],
  ['update leases other than its own', ['update', 'leases/other', '-n', RELEASE_NS]],
  ['edit experiments’ spec through update', ['update', 'concurrencyexperiments', '-n', WATCHED]],
];
for (const [what, args] of refused) {
  test.serial(`the chart’s ServiceAccount may not ${what}`, async (t) => {
    const r = await plane().kubectl(['auth', 'can-i', ...args, '--as', SA]);
    t.is(r.stdout.trim(), 'no', r.stderr);
  });
}

const granted: [string, string[]][] = [
  ['patch experiment status in the watched namespace', ['patch', 'concurrencyexperiments/status', '-n', WATCHED]],
  ['create pods in the watched namespace', ['create', 'pods', '-n', WATCHED]],
  ['update its own lease', ['update', 'leases/conclab-operator', '-n', RELEASE_NS]],
];
for (const [what, args] of granted) {
  test.serial(`the chart’s ServiceAccount may ${what}`, async (t) => {
    const r = await plane().kubectl(['auth', 'can-i', ...args, '--as', SA]);
    t.is(r.stdout.trim(), 'yes', r.stderr);
  });
}

test.serial('the rendered Deployment runs non-root with probes and resources, binding the pod IP', async (t) => {
  const docs = (await render()).split(/^---$/m).map((d) => parse(d) as { kind?: string } | null);
  const deployment = docs.find((d) => d?.kind === 'Deployment') as V1Deployment | undefined;
  const pod = deployment?.spec?.template.spec;
  const c = pod?.containers[0];
  t.is(pod?.serviceAccountName, 'conclab');
  t.like(pod?.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  t.like(c?.securityContext, {
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
  });
  t.is(c?.livenessProbe?.httpGet?.path, '/healthz');
  t.is(c?.readinessProbe?.httpGet?.path, '/readyz');
  t.truthy(c?.resources?.limits?.['memory']);
  const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
  t.false('CONCLAB_OTLP_ENDPOINT' in env, 'the operator receives no spans: each trial’s load pod does');
  t.like(env, {
    CONCLAB_BIND_ADDRESS: 'status.podIP',
    CONCLAB_WATCH_NAMESPACES: WATCHED,
    CONCLAB_RESULTS_SERVICE: 'conclab',
    CONCLAB_LEADER_ELECT: 'true',
  });
  const service = docs.find((d) => d?.kind === 'Service') as V1Service | undefined;
  t.deepEqual(
    service?.spec?.ports?.map((p) => [p.name, p.port]),
    [['http', 8080]],
  );
});

test.serial('`conclab operator` with a kubeconfig impersonating the ServiceAccount takes the lease', async (t) => {
  const kubeconfig = await plane().writeImpersonatingKubeconfig(SA);
  const script = `import { operatorCommand } from ${JSON.stringify(join(ROOT, 'operator/cli/operator.ts'))};
process.exitCode = await operatorCommand(process.argv.slice(1));`;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      script,
      '--',
      '--kubeconfig',
      kubeconfig,
      '--namespaces',
      WATCHED,
      '--http-port',
      '0',
      '--leader-elect',
      '--lease-namespace',
      RELEASE_NS,
      '--lease-name',
      'conclab-operator',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor('became leader', async () => /became leader/.test(stderr), 60_000);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
  t.notRegex(stderr, /forbidden/i);
});
