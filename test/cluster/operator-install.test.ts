// The operator installs on the real test node the way a user installs it: `helm install` of
// charts/conclab with the image built from operator/Dockerfile. The kubelet enforces the chart's
// security context for real, and the operator reaches the API server through the `kubernetes`
// Service (a ClusterIP: there is no DNS on this cluster, and none is needed for that).
import test from 'ava';
import { type InstalledOperator, installOperator } from './operator-install.ts';
import type { RealCluster } from './real-cluster.ts';
import { useSharedCluster } from './shared-cluster.ts';

let cluster: RealCluster | undefined;
let operator: InstalledOperator | undefined;
let watched = '';

function installed(): { cluster: RealCluster; operator: InstalledOperator } {
  if (!cluster || !operator) throw new Error('the operator was not installed (see the test.before failure)');
  return { cluster, operator };
}

async function operatorPod(): Promise<{ name: string; ip: string }> {
  const { cluster, operator } = installed();
  const got = await cluster.kubectl([
    'get',
    'pods',
    '-n',
    operator.namespace,
    '-l',
    `app.kubernetes.io/instance=${operator.release}`,
    '-o',
    'jsonpath={.items[0].metadata.name} {.items[0].status.podIP}',
  ]);
  const [name = '', ip = ''] = got.stdout.trim().split(' ');
  return { name, ip };
}

test.before(async (t) => {
  // A cold start imports every image into the node (minutes on a loaded machine).
  t.timeout(8 * 60_000, 'starting the shared real cluster and installing the operator');
  cluster = await useSharedCluster({ holder: 'test/cluster/operator-install.test.ts' });
  watched = await cluster.createNamespace('operator-watch');
  // Its own release namespace, so other files may install the chart on the shared cluster too.
  const namespace = await cluster.createNamespace('conclab-system');
  operator = await installOperator(cluster, { namespace, watchNamespaces: [watched] });
});
test.after.always(async () => {
  await operator?.uninstall();
  await cluster?.stop();
});

test('helm install of charts/conclab with the locally built image makes the operator Deployment Available', async (t) => {
  const { cluster, operator } = installed();
  const status = await cluster.kubectl([
    'get',
    'deployment',
    operator.deployment,
    '-n',
    operator.namespace,
    '-o',
    'jsonpath={.status.availableReplicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].imagePullPolicy}',
  ]);
  t.is(status.stdout, `1 ${cluster.images.operator} Never`);
  const list = await cluster.helm(['list', '-n', operator.namespace, '-o', 'json']);
  const releases = JSON.parse(list.stdout) as { name: string; status: string }[];
  t.like(releases[0], { name: operator.release, status: 'deployed' });
});

test("the kubelet enforces the chart's security context: uid 65532, read-only root filesystem", async (t) => {
  const { cluster, operator } = installed();
  const { name } = await operatorPod();
  const id = await cluster.kubectl(['exec', '-n', operator.namespace, name, '--', 'id', '-u']);
  t.is(id.code, 0, id.stderr);
  t.is(id.stdout.trim(), '65532');
  const write = await cluster.kubectl(['exec', '-n', operator.namespace, name, '--', 'touch', '/app/x']);
  t.not(write.code, 0);
  t.regex(write.stderr, /Read-only file system/);
  const tmp = await cluster.kubectl(['exec', '-n', operator.namespace, name, '--', 'touch', '/tmp/x']);
  t.is(tmp.code, 0, `the emptyDir on /tmp is writable: ${tmp.stderr}`);
});

test('the operator reaches the API server through the kubernetes Service: it holds its leader Lease and is ready', async (t) => {
  const { cluster, operator } = installed();
  const { name, ip } = await operatorPod();
  const lease = await cluster.kubectl([
    'get',
    'lease',
    'conclab-operator',
    '-n',
    operator.namespace,
    '-o',
    'jsonpath={.spec.holderIdentity}',
  ]);
  t.is(lease.code, 0, lease.stderr);
  t.true(lease.stdout.startsWith(name), lease.stdout);
  const env = await cluster.kubectl([
    'exec',
    '-n',
    operator.namespace,
    name,
    '--',
    'printenv',
    'KUBERNETES_SERVICE_HOST',
  ]);
  t.regex(env.stdout.trim(), /^10\.214\.\d+\.1$/);
  const ready = await fetch(`http://${ip}:8080/readyz`, { signal: AbortSignal.timeout(10_000) });
  t.is(ready.status, 200);
  const logs = await cluster.kubectl(['logs', '-n', operator.namespace, name]);
  t.true(logs.stdout.includes(`watching ${watched}`), logs.stdout);
});
