// The informer against a real API server: it re-lists on 410 Gone (provoked by watching from
// a resourceVersion that is too old), retries a failing list with backoff, and its staleness
// watchdog re-lists a watch that went quiet.
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import test from 'ava';
import { Informer } from '../../operator/controller/informer.ts';
import { type ControlPlane, startControlPlane } from '../cluster/control-plane.ts';
import { createNamespace, waitFor } from './helpers.ts';

let cp: ControlPlane | undefined;
test.before(async (t) => {
  // Bounded by its own waits (start 90 s, CRD established and served 60 s each), which outlast
  // ava's 2 min without a result on a loaded machine.
  t.timeout(4 * 60_000, 'control plane start');
  // Watches served from etcd (no watch cache) and etcd compacted every second: a watch from
  // an old resourceVersion then gets the real 410 Gone that long-running operators meet.
  cp = await startControlPlane({ apiServerArgs: ['--watch-cache=false', '--etcd-compaction-interval=1s'] });
});
test.after.always(async () => {
  await cp?.stop();
});
function plane(): ControlPlane {
  if (!cp) throw new Error('control plane did not start (see the test.before failure)');
  return cp;
}

const fastBackoff = { baseMillis: 50, maxMillis: 200, jitter: 0.5 };

function configMapInformer(
  ns: string,
  list: () => Promise<{ items: V1ConfigMap[]; resourceVersion: string }>,
  extra = {},
) {
  const seen: string[] = [];
  const deleted: string[] = [];
  const errors: string[] = [];
  const informer = new Informer<V1ConfigMap>({
    name: `configmaps@${ns}`,
    config: plane().kubeConfig(),
    list,
    watchPath: `/api/v1/namespaces/${ns}/configmaps`,
    onChange: (o) => seen.push(o.metadata?.name ?? ''),
    onDelete: (o) => deleted.push(o.metadata?.name ?? ''),
    onError: (err, context) => errors.push(`${context}: ${err}`),
    backoff: fastBackoff,
    ...extra,
  });
  return { informer, seen, deleted, errors };
}

/**
 * Waits until etcd has compacted past `revision` (a write of this test), so a watch from
 * resourceVersion "1" gets 410 Gone. An exact list at a revision answers 410 once that
 * revision is compacted (the watch cache is off, so the API server asks etcd). Waiting on
 * revision 1 alone is not enough: the API server's first compaction can land at revision 2
 * (its own compaction key was the only write so far), and a watch from "1" starts at 2, which
 * is then still served. Past this test's own write, the compaction is certainly past 2.
 */
async function compactedPast(ns: string, revision: string): Promise<void> {
  const core = plane().kubeConfig().makeApiClient(CoreV1Api);
  await waitFor(
    `etcd to compact revision ${revision}`,
    async () => {
      try {
        await core.listNamespacedConfigMap({ namespace: ns, resourceVersion: revision, resourceVersionMatch: 'Exact' });
        return false;
      } catch (err) {
        if ((err as { code?: number }).code === 410) return true;
        throw err;
      }
    },
    60_000,
  );
}

/** Creates a ConfigMap and returns the revision of that write. */
async function createConfigMap(ns: string, name: string): Promise<string> {
  const made = await plane()
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, namespace: ns }, data: { a: '1' } } });
  return made.metadata?.resourceVersion ?? '';
}

test.serial('re-lists at once when the watch answers 410 Gone, then delivers later events', async (t) => {
  const ns = 'gone';
  await createNamespace(plane(), ns);
  await compactedPast(ns, await createConfigMap(ns, 'before'));
  const core = plane().kubeConfig().makeApiClient(CoreV1Api);
  let lists = 0;
  const { informer, seen, errors } = configMapInformer(ns, async () => {
    lists++;
    const l = await core.listNamespacedConfigMap({ namespace: ns });
    // The first list hands out a long-compacted version: the watch from it gets 410.
    return { items: l.items, resourceVersion: lists === 1 ? '1' : (l.metadata?.resourceVersion ?? '') };
  });
  informer.start();
  t.teardown(() => informer.stop());
  await waitFor('second list', async () => lists >= 2, 10_000);
  await createConfigMap(ns, 'after');
  await waitFor('event after re-list', async () => seen.includes('after'), 10_000);
  t.is(lists, 2, 'exactly one re-list for one 410');
  t.deepEqual(errors, [], '410 is routine: re-listed at once, not reported nor backed off');
  t.is(informer.errors, 1);
  t.true(informer.healthy());
  t.truthy(informer.get(`${ns}/after`));
});

test.serial('retries a failing list with backoff and never stops', async (t) => {
  const ns = 'flaky';
  await createNamespace(plane(), ns);
  const core = plane().kubeConfig().makeApiClient(CoreV1Api);
  let calls = 0;
  const { informer, errors } = configMapInformer(ns, async () => {
    calls++;
    if (calls <= 3) throw Object.assign(new Error('FAKE outage: 503 from the list'), { code: 503 });
    const l = await core.listNamespacedConfigMap({ namespace: ns });
    return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
  });
  informer.start();
  t.teardown(() => informer.stop());
  await waitFor('synced after the outage', async () => informer.synced, 10_000);
  t.is(calls, 4);
  t.is(errors.length, 3);
  t.regex(errors[0] ?? '', /configmaps@flaky: loop: Error: FAKE outage/);
});

test.serial('the staleness watchdog re-lists a watch that heard nothing for too long', async (t) => {
  const ns = 'quiet';
  await createNamespace(plane(), ns);
  const core = plane().kubeConfig().makeApiClient(CoreV1Api);
  let lists = 0;
  const { informer, errors } = configMapInformer(
    ns,
    async () => {
      lists++;
      const l = await core.listNamespacedConfigMap({ namespace: ns });
      return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
    },
    { staleAfterMillis: 1000, watchTimeoutSeconds: 300 },
  );
  informer.start();
  t.teardown(() => informer.stop());
  await waitFor('first list', async () => lists >= 1);
  // Nothing happens in the namespace: only the watchdog can bring the second list.
  await waitFor('the watchdog to re-list', async () => lists >= 2, 30_000);
  t.regex(errors[0] ?? '', /configmaps@quiet: watch stale, re-listing: Error: no events for 1000 ms/);
  t.true(
    errors.every((e) => e.includes('watch stale')),
    `only staleness was reported: ${errors.join('; ')}`,
  );
});

test.serial('a re-list reports objects deleted while the watch was down', async (t) => {
  const ns = 'missed';
  await createNamespace(plane(), ns);
  await compactedPast(ns, await createConfigMap(ns, 'doomed'));
  const core = plane().kubeConfig().makeApiClient(CoreV1Api);
  let lists = 0;
  const { informer, deleted } = configMapInformer(ns, async () => {
    lists++;
    if (lists === 2) await core.deleteNamespacedConfigMap({ namespace: ns, name: 'doomed' });
    const l = await core.listNamespacedConfigMap({ namespace: ns });
    return { items: l.items, resourceVersion: lists === 1 ? '1' : (l.metadata?.resourceVersion ?? '') };
  });
  informer.start();
  t.teardown(() => informer.stop());
  await waitFor('deletion seen', async () => deleted.includes('doomed'), 10_000);
  t.is(informer.get(`${ns}/doomed`), undefined);
});
