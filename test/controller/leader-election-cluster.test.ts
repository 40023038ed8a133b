// Leader election and graceful shutdown against a real API server: exactly one of two
// operators acts; stopping the leader releases the Lease so the other takes over at once;
// the `conclab operator` command exits 0 on SIGTERM and leaves the Lease released.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import test from 'ava';
import { type ControlPlane, startControlPlane } from '../cluster/control-plane.ts';
import { Api, apply, createNamespace, experiment, installCrd, ROOT, runOperator, waitFor } from './helpers.ts';

let cp: ControlPlane | undefined;
test.before(async (t) => {
  // Bounded by its own waits (start 90 s, CRD established and served 60 s each), which outlast
  // ava's 2 min without a result on a loaded machine.
  t.timeout(4 * 60_000, 'control plane start');
  cp = await startControlPlane();
  await installCrd(cp);
});
test.after.always(async () => {
  await cp?.stop();
});
function plane(): ControlPlane {
  if (!cp) throw new Error('control plane did not start (see the test.before failure)');
  return cp;
}

// A long lease with quick retries: a successor that leads well within the lease duration
// cannot have waited for it to expire, however slow the machine.
const fast = { leaseDurationMillis: 60_000, renewDeadlineMillis: 40_000, retryPeriodMillis: 500 };

test.serial('one of two operators leads; stopping it hands the lease over without waiting it out', async (t) => {
  const ns = 'le';
  await createNamespace(plane(), ns);
  const a = await runOperator(plane().kubeConfig(), [ns], {
    leaderElection: { namespace: ns, name: 'conclab', identity: 'a', ...fast },
  });
  t.teardown(() => a.stop());
  await waitFor('a leads', async () => a.isLeader());
  const b = await runOperator(plane().kubeConfig(), [ns], {
    leaderElection: { namespace: ns, name: 'conclab', identity: 'b', ...fast },
  });
  t.teardown(() => b.stop());
  // b has read the lease and decided to wait (its log says so once), not merely not tried yet.
  await waitFor('b standing by', async () =>
    b.logs.some((l) => /b: lease le\/conclab is held by a; standing by/.test(l)),
  );
  t.true(a.isLeader());
  t.false(b.isLeader(), 'the lease is held: the second candidate waits');
  t.is(await a.metrics.value('conclab_leader'), 1);
  t.is(await b.metrics.value('conclab_leader'), 0);

  // Only the leader reconciles: the experiment gets its first pod from a.
  const api = new Api(plane().kubeConfig());
  await apply(plane(), experiment('led', ns));
  await waitFor('pod', () => api.pod(ns, 'cx-led-procs-t1'));
  // The status is written after the children: once it is there, that reconcile has finished.
  await waitFor('status', async () => (await api.cx(ns, 'led'))?.status?.phase === 'Running');
  await waitFor(
    'reconcile counted',
    async () => (await a.metrics.value('conclab_reconciles_total', { result: 'success' })) > 0,
  );
  t.false(b.isLeader());
  t.true((await a.metrics.value('conclab_reconciles_total', { result: 'success' })) > 0);
  t.is(await b.metrics.value('conclab_reconciles_total', { result: 'success' }), 0);

  const stoppedAt = Date.now();
  await a.stop();
  await waitFor('b leads', async () => b.isLeader(), 25_000);
  t.true(Date.now() - stoppedAt < fast.leaseDurationMillis / 2, 'released, so no need to wait for expiry');
  const lease = await plane()
    .kubeConfig()
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: ns, name: 'conclab' });
  t.is(lease.spec?.holderIdentity, 'b');
  t.true((lease.spec?.leaseTransitions ?? 0) >= 1);

  // Someone else takes the lease from b (as after a long pause of b): b stops acting at once.
  // b renews every 500 ms, so the intruder's write may meet a newer version (409): it re-reads.
  const coordination = plane().kubeConfig().makeApiClient(CoordinationV1Api);
  await waitFor('the intruder holds the lease', async () => {
    const current = await coordination.readNamespacedLease({ namespace: ns, name: 'conclab' });
    try {
      await coordination.replaceNamespacedLease({
        namespace: ns,
        name: 'conclab',
        body: {
          ...current,
          spec: { ...current.spec, holderIdentity: 'intruder', renewTime: new V1MicroTime(Date.now()) },
        },
      });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw err;
    }
  });
  t.is(await b.stopped, 'lost-lease');
  t.false(b.isLeader());
});

test.serial('`conclab operator` exits 0 on SIGTERM and releases its lease', async (t) => {
  const ns = 'cli';
  await createNamespace(plane(), ns);
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
      plane().kubeconfigPath,
      '--namespaces',
      ns,
      '--http-port',
      '0',
      '--leader-elect',
      '--lease-namespace',
      ns,
      '--lease-duration',
      '3s',
      '--renew-deadline',
      '2s',
      '--retry-period',
      '500ms',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const coordination = plane().kubeConfig().makeApiClient(CoordinationV1Api);
  const held = await waitFor(
    'lease held',
    async () => {
      const l = await coordination.readNamespacedLease({ namespace: ns, name: 'conclab-operator' });
      return l.spec?.holderIdentity ? l : undefined;
    },
    60_000, // a cold node start and imports on a busy 2-core machine
  );
  t.truthy(held.spec?.holderIdentity);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
  t.regex(stderr, /SIGTERM, shutting down/);
  const after = await coordination.readNamespacedLease({ namespace: ns, name: 'conclab-operator' });
  t.is(after.spec?.holderIdentity ?? '', '', 'released on the way out');
});

test.serial('`conclab operator` rejects a bad duration with the flag named, exit 2', async (t) => {
  const { operatorCommand } = await import('../../operator/cli/operator.ts');
  const errors: string[] = [];
  const original = console.error;
  console.error = (m: string) => errors.push(m);
  try {
    const code = await operatorCommand([
      '--kubeconfig',
      plane().kubeconfigPath,
      '--leader-elect',
      '--lease-duration',
      'soon',
    ]);
    t.is(code, 2);
  } finally {
    console.error = original;
  }
  t.regex(errors.join('\n'), /--lease-duration: "soon" is not a duration/);
});
