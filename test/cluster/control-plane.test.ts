import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { waitForCrdEstablished } from '../controller/crd-established.ts';
import { clusterBinaries, requireClusterBinaries, requiredModuleVersion } from './binaries.ts';
import { type ControlPlane, serviceAccountUser, startControlPlane } from './control-plane.ts';

// One control plane for the whole file; tests that need their own (lifecycle) start it themselves.
let plane: ControlPlane | undefined;
test.before(async () => {
  plane = await startControlPlane();
});
test.after.always(async () => {
  await plane?.stop();
});

function shared(): ControlPlane {
  if (!plane) throw new Error('control plane did not start (see the test.before failure)');
  return plane;
}

/** Running (a zombie waiting for init to reap it counts as gone: it holds no port or memory). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(what: string, timeoutMillis: number, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMillis} ms waiting for ${what}`);
    await sleep(100);
  }
}

test('kubectl get ns works with the admin kubeconfig and lists the built-in namespaces', async (t) => {
  const { stdout, stderr, code } = await shared().kubectl(['get', 'ns', '-o', 'name']);
  t.is(code, 0, stderr);
  for (const ns of ['namespace/default', 'namespace/kube-system']) t.true(stdout.includes(ns), stdout);
});

test('the API server and kubectl both report the Kubernetes version pinned in go/kube/go.mod', async (t) => {
  const cp = shared();
  const { stdout, stderr, code } = await cp.kubectl(['version', '-o', 'json']);
  t.is(code, 0, stderr);
  const version = JSON.parse(stdout) as {
    clientVersion: { gitVersion: string };
    serverVersion: { gitVersion: string };
  };
  t.is(version.serverVersion.gitVersion, cp.kubernetesVersion);
  t.is(version.clientVersion.gitVersion, cp.kubernetesVersion);
  t.regex(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
});

test('RBAC is enforced: an impersonated ServiceAccount without bindings is refused', async (t) => {
  const user = serviceAccountUser('default', 'nobody');
  const { stderr, code } = await shared().kubectl(['get', 'ns'], { as: user });
  t.not(code, 0);
  t.regex(stderr, /forbidden/i);
  t.true(stderr.includes(user), stderr);
});

test('an impersonated ServiceAccount gets exactly what a RoleBinding grants, in its namespace only', async (t) => {
  const cp = shared();
  const manifest = `
apiVersion: v1
kind: Namespace
metadata: { name: rbac-probe }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: pod-reader, namespace: rbac-probe }
rules: [{ apiGroups: [''], resources: [pods], verbs: [get, list] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: reader, namespace: rbac-probe }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader }
subjects: [{ kind: ServiceAccount, name: reader, namespace: rbac-probe }]
`;
  const applied = await cp.kubectl(['apply', '-f', '-'], { input: manifest });
  t.is(applied.code, 0, applied.stderr);
  const as = serviceAccountUser('rbac-probe', 'reader');
  const inside = await cp.kubectl(['get', 'pods', '-n', 'rbac-probe'], { as });
  t.is(inside.code, 0, inside.stderr);
  const elsewhere = await cp.kubectl(['get', 'pods', '-n', 'kube-system'], { as });
  t.not(elsewhere.code, 0);
  t.regex(elsewhere.stderr, /forbidden/i);
  const canCreate = await cp.kubectl(['auth', 'can-i', 'create', 'pods', '-n', 'rbac-probe'], { as });
  t.is(canCreate.stdout.trim(), 'no');

  // The same through a kubeconfig file, as another process (the operator) would use it.
  const path = await cp.writeImpersonatingKubeconfig(as, { namespace: 'rbac-probe' });
  const viaFile = await cp.kubectl([
    `--kubeconfig=${path}`,
    'auth',
    'whoami',
    '-o',
    'jsonpath={.status.userInfo.username}',
  ]);
  t.is(viaFile.code, 0, viaFile.stderr);
  t.is(viaFile.stdout, as);
});

test('client-node KubeConfig: the admin lists namespaces and an impersonated ServiceAccount gets 403', async (t) => {
  const cp = shared();
  const admin = cp.kubeConfig().makeApiClient(CoreV1Api);
  const list = await admin.listNamespace();
  t.true(list.items.some((ns) => ns.metadata?.name === 'kube-system'));

  const limited = cp.kubeConfig({ impersonate: serviceAccountUser('default', 'nobody') }).makeApiClient(CoreV1Api);
  const error = await t.throwsAsync(limited.listNamespace());
  t.true(error instanceof ApiException, String(error));
  t.is((error as ApiException<unknown>).code, 403);
});

test('the generated CRD applies, kubectl explain documents cx.spec, and kubectl get cx shows the printer columns', async (t) => {
  const cp = shared();
  const root = join(import.meta.dirname, '..', '..');
  const applied = await cp.kubectl(['apply', '-f', join(root, 'crds', 'conclab.dev_concurrencyexperiments.yaml')]);
  t.is(applied.code, 0, applied.stderr);
  // Polled, not `kubectl wait`: that fails at once while a new CRD has no conditions yet.
  await waitForCrdEstablished(cp.kubeConfig(), 'concurrencyexperiments.conclab.dev');

  // Discovery of a new CRD can lag a moment behind Established; explain retries a bounded few times.
  let explain = await cp.kubectl(['explain', 'cx.spec']);
  for (let attempt = 0; attempt < 20 && explain.code !== 0; attempt++) {
    await sleep(250);
    explain = await cp.kubectl(['explain', 'cx.spec']);
  }
  t.is(explain.code, 0, explain.stderr);
  t.regex(explain.stdout, /DESCRIPTION:\s+\S/);
  for (const field of ['workload', 'resources', 'variants'])
    t.regex(explain.stdout, new RegExp(`^\\s+${field}\\s`, 'm'));

  const created = await cp.kubectl(['apply', '-n', 'default', '-f', join(root, 'examples', 'quickstart.yaml')]);
  t.is(created.code, 0, created.stderr);
  const listed = await cp.kubectl(['get', 'cx', '-n', 'default']);
  t.is(listed.code, 0, listed.stderr);
  const header = listed.stdout.split('\n')[0] ?? '';
  for (const column of ['NAME', 'PHASE', 'WINNER', 'THROUGHPUT', 'P99', 'BLAST-RADIUS'])
    t.true(header.includes(column), header);
  t.regex(listed.stdout, /^quickstart\s/m);
});

test('stop() leaves no process and no temp dir', async (t) => {
  const cp = await startControlPlane();
  t.teardown(() => cp.stop());
  t.true(isAlive(cp.pids.etcd) && isAlive(cp.pids.apiServer));
  t.true(existsSync(cp.dir));
  await cp.stop();
  t.false(isAlive(cp.pids.etcd), 'etcd still running');
  t.false(isAlive(cp.pids.apiServer), 'kube-apiserver still running');
  t.false(existsSync(cp.dir), `${cp.dir} still exists`);
  await cp.stop(); // idempotent
});

test('when the test process is SIGKILLed, the watchdog removes both processes and the temp dir', async (t) => {
  const script = `
import { startControlPlane } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'control-plane.ts')).href)};
const cp = await startControlPlane();
console.log(JSON.stringify({ pids: cp.pids, dir: cp.dir }));
setInterval(() => {}, 1000);
`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  await waitFor('the child to report its control plane', 90_000, () => out.includes('\n') || child.exitCode !== null);
  t.is(child.exitCode, null, err);
  const started = JSON.parse(out) as { pids: { etcd: number; apiServer: number }; dir: string };
  t.true(isAlive(started.pids.apiServer));
  child.kill('SIGKILL');
  await waitFor('the watchdog cleanup', 15_000, () => {
    return !isAlive(started.pids.etcd) && !isAlive(started.pids.apiServer) && !existsSync(started.dir);
  });
  t.pass();
});

test('missing binaries fail with a message that says to run test/cluster/build.sh', async (t) => {
  const cache = await mkdtemp(join(tmpdir(), 'conclab-empty-cache-'));
  t.teardown(() => rm(cache, { recursive: true, force: true }));
  const binaries = clusterBinaries(cache);
  t.throws(() => requireClusterBinaries(['kubeApiserver'], binaries), { message: /test\/cluster\/build\.sh/ });
  await t.throwsAsync(startControlPlane({ binaries }), { message: /kube-apiserver[\s\S]*test\/cluster\/build\.sh/ });
});

test('versions are read from the wrapper go.mod files (block and single-line require)', (t) => {
  t.is(requiredModuleVersion('module x\n\nrequire k8s.io/kubernetes v1.34.4\n', 'k8s.io/kubernetes'), 'v1.34.4');
  t.is(requiredModuleVersion('require (\n\tfoo v1.0.0\n\tbar v2.1.0 // indirect\n)\n', 'bar'), 'v2.1.0');
  t.is(requiredModuleVersion('replace k8s.io/api => k8s.io/api v0.34.4\n', 'k8s.io/api'), undefined);
  t.regex(clusterBinaries().kubernetesVersion, /^v1\.\d+\.\d+$/);
});

test('serviceAccountUser builds the ServiceAccount username and rejects invalid names', (t) => {
  t.is(serviceAccountUser('conclab-system', 'conclab'), 'system:serviceaccount:conclab-system:conclab');
  t.throws(() => serviceAccountUser('Bad_NS', 'x'), { message: /namespace "Bad_NS" is not a DNS label/ });
});
