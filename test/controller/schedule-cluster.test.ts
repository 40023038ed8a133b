// A scheduled experiment against a REAL kube-apiserver + etcd (test/cluster). The schedule is
// evaluated on a FAKE clock the test steps through cron ticks (an hourly schedule would be far
// too slow otherwise); run deadlines use real time. No kubelet runs: the test plays it, as in
// operator.test.ts, and posts load results the way a load pod does.
import { Watch } from '@kubernetes/client-node';
import test from 'ava';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import { ControllerError } from '../../operator/controller/errors.ts';
import { runIdOf } from '../../operator/runtime/kube/names.ts';
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
import { startLaggingApi } from './lagging-api.ts';

let cp: ControlPlane | undefined;
let api: Api;

test.before(async (t) => {
  // Bounded by its own waits (start 90 s, CRD established and served 60 s each), which outlast
  // ava's 2 min without a result on a loaded machine.
  t.timeout(4 * 60_000, 'control plane start');
  cp = await startControlPlane();
  api = new Api(cp.kubeConfig());
  await installCrd(cp);
});
test.after.always(async () => {
  await cp?.stop();
});

function plane(): ControlPlane {
  if (!cp) throw new Error('control plane did not start (see the test.before failure)');
  return cp;
}

const HOUR = 3_600_000;
const isoSeconds = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;

test.serial(
  'a scheduled experiment runs at each due tick, records history, and keeps historyLimit reports',
  async (t) => {
    t.timeout(8 * 60_000, 'three runs played through on a loaded machine');
    const ns = 'scheduled';
    await createNamespace(plane(), ns);
    // FAKE clock for the cron evaluation only, starting before the experiment exists.
    const FAKE = { nowMillis: Date.now() - 60_000 };
    // The pokes a reconcile has decided on (returned a phase; not a wait for a lagging cache).
    const decided = new Set<string>();
    const op = await runOperator(plane().kubeConfig(), [ns], {
      scheduleClock: () => FAKE.nowMillis,
      onReconciled: (c, outcome) => {
        const seen = c.metadata.annotations?.['test/poke'];
        if (seen && !(outcome instanceof ControllerError) && outcome.phase) decided.add(seen);
      },
    });
    t.teardown(() => op.stop());
    await apply(plane(), experiment('hourly', ns, { schedule: '0 * * * *', historyLimit: 2 }));
    let pokes = 0;
    // A metadata change is an event like any other: the operator re-reads the (FAKE) time.
    const poke = async () => {
      const r = await plane().kubectl(['annotate', 'cx', 'hourly', '-n', ns, `test/poke=${++pokes}`, '--overwrite']);
      if (r.code !== 0) throw new Error(r.stderr);
    };
    /** Waits until the operator acted on the latest poke: whatever it was to do, it has done. */
    const pokeDecided = () => waitFor(`a decision on poke ${pokes}`, async () => decided.has(String(pokes)), 60_000);
    const cx = () => api.cx(ns, 'hourly');
    const cms = async () =>
      (await api.core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'conclab.dev/experiment=hourly' })).items
        .map((c) => c.metadata?.name ?? '')
        .sort();

    // Before the first tick: waiting, nothing created.
    const pending = await waitFor('Pending', async () => {
      const c = await cx();
      return c?.status?.phase === 'Pending' ? c : undefined;
    });
    const progressing = pending.status?.conditions?.find((c) => c.type === 'Progressing');
    t.is(progressing?.reason, 'WaitingForSchedule');
    t.regex(progressing?.message ?? '', /next run at /);
    t.deepEqual(await api.pods(ns, 'hourly'), []);

    const created = Date.parse(pending.metadata.creationTimestamp ?? '');
    const tick1 = Math.floor(created / HOUR + 1) * HOUR;

    /** Plays the kubelet and the load pods through one run (two variants, one trial each). */
    const playRun = async (run: string, throughput: number) => {
      for (const variant of ['procs', 'threads']) {
        const step = `cx-hourly-${run}-${variant}-t1`;
        const pod = await waitFor(`pod ${step}`, () => api.pod(ns, step), 60_000);
        t.is(pod.metadata?.labels?.['conclab.dev/run'], run);
        t.truthy(pod.metadata?.ownerReferences?.[0]?.uid);
        await api.markReady(ns, step, '10.0.0.41');
        await waitFor(`load pod of ${step}`, () => api.pod(ns, `${step}-load`), 60_000);
        const token = await api.token(ns, 'hourly');
        t.is(await postResult(op.url, ns, 'hourly', variant, 1, token, loadResult(throughput)), 204);
      }
      return waitFor(
        `run ${run} in history`,
        async () => {
          // Not `phase === 'Succeeded'`: when a later tick is already due, the operator records this
          // run and starts the next one at once, and a poll may never see the phase in between.
          const c = await cx();
          const entry = c?.status?.history?.find((h) => h.reportRef === `cx-hourly-report-${run}`);
          return entry?.phase === 'Succeeded' ? c : undefined;
        },
        60_000,
      );
    };

    // Tick 1 is due: run 1.
    FAKE.nowMillis = tick1 + 30_000;
    await poke();
    const run1 = runIdOf(tick1);
    const after1 = await playRun(run1, 100);
    t.is(after1.status?.lastScheduleTime, isoSeconds(tick1));
    t.is(after1.status?.history?.length, 1);
    t.is(after1.status?.history?.[0]?.phase, 'Succeeded');
    t.truthy(after1.status?.history?.[0]?.startTime);
    t.truthy(after1.status?.history?.[0]?.completionTime);
    t.deepEqual(after1.status?.reportRef, { configMap: `cx-hourly-report-${run1}`, key: 'report.json' });
    await waitFor('run 1 tidied', async () => (await api.pods(ns, 'hourly')).length === 0);
    t.deepEqual(await cms(), [`cx-hourly-report-${run1}`]);

    // The same tick never runs twice.
    await poke();
    await pokeDecided();
    t.deepEqual(await api.pods(ns, 'hourly'), [], 'no second run for the same tick');
    t.is((await cx())?.status?.lastScheduleTime, isoSeconds(tick1));

    // Tick 2: run 2, with children of its own (names carry the run).
    FAKE.nowMillis = tick1 + HOUR + 30_000;
    await poke();
    const run2 = runIdOf(tick1 + HOUR);
    t.not(run2, run1);
    await waitFor('run 2 started', () => api.pod(ns, `cx-hourly-${run2}-procs-t1`), 60_000);
    // Three ticks pass while run 2 is in progress: no run starts beside it, and afterwards ONE run
    // (for the latest tick) follows, not a backlog of three.
    FAKE.nowMillis = tick1 + 4 * HOUR + 30_000;
    await poke();
    await pokeDecided();
    const during = await cx();
    t.is(during?.status?.phase, 'Running');
    t.is(during?.status?.lastScheduleTime, isoSeconds(tick1 + HOUR), 'never a second run while one is in progress');
    t.deepEqual(during?.status?.reportRef, after1.status?.reportRef, 'reportRef keeps pointing at the latest report');
    await playRun(run2, 90);

    const run3 = runIdOf(tick1 + 4 * HOUR);
    const after3 = await playRun(run3, 80);
    t.is(after3.status?.lastScheduleTime, isoSeconds(tick1 + 4 * HOUR));
    t.deepEqual(
      after3.status?.history?.map((h) => h.reportRef),
      [`cx-hourly-report-${run3}`, `cx-hourly-report-${run2}`],
      'newest first, trimmed to historyLimit 2',
    );
    t.deepEqual(after3.status?.reportRef, { configMap: `cx-hourly-report-${run3}`, key: 'report.json' });
    // Run 1's report fell out of history and is deleted; the others stay, owned by the experiment.
    await waitFor('run 1 report deleted', async () => !(await cms()).includes(`cx-hourly-report-${run1}`));
    await waitFor('only the reports in history remain', async () => (await cms()).length === 2);
    t.deepEqual(await cms(), [`cx-hourly-report-${run2}`, `cx-hourly-report-${run3}`].sort());
    for (const name of [run2, run3]) {
      const cm = await api.core.readNamespacedConfigMap({ namespace: ns, name: `cx-hourly-report-${name}` });
      t.is(cm.metadata?.ownerReferences?.[0]?.uid, after3.metadata.uid);
      t.is(JSON.parse(cm.data?.['report.json'] ?? '{}').schemaVersion, '1');
    }

    // No further run until the next tick.
    await poke();
    await pokeDecided();
    const idle = (await cx()) as ConcurrencyExperiment;
    t.is(idle.status?.phase, 'Succeeded');
    t.is(idle.status?.lastScheduleTime, isoSeconds(tick1 + 4 * HOUR), 'missed ticks did not pile up');
    t.deepEqual(await api.pods(ns, 'hourly'), []);
  },
);

test.serial(
  'an informer cache that lags the operator’s own writes never starts a second run beside the current one',
  async (t) => {
    t.timeout(6 * 60_000, 'a run and the start of the next on a loaded machine');
    // The experiments watch reaches the operator 1.5 s late (as on a loaded machine), so every
    // event not of the experiment itself (a pod turning ready) finds a cached status older than
    // the operator's last write. Deciding the schedule from that copy would start the next due
    // tick's run beside the current one, delete the current run's pods, and lose history.
    const ns = 'lagging';
    await createNamespace(plane(), ns);
    const front = await startLaggingApi(plane().kubeConfig(), {
      lagMillis: 1500,
      lags: (path) => path.startsWith('/apis/conclab.dev/'),
    });
    t.teardown(() => front.close());
    const FAKE = { nowMillis: Date.now() - 60_000 };
    const op = await runOperator(front.kubeConfig, [ns], { scheduleClock: () => FAKE.nowMillis });
    t.teardown(() => op.stop());

    // Every lastScheduleTime the API server ever held, straight from an unlagged watch.
    const ticks: string[] = [];
    const watching = await new Watch(plane().kubeConfig()).watch(
      `/apis/conclab.dev/v1alpha1/namespaces/${ns}/concurrencyexperiments`,
      {},
      (_type, obj: ConcurrencyExperiment) => {
        const tick = obj.status?.lastScheduleTime;
        if (tick && ticks.at(-1) !== tick) ticks.push(tick);
      },
      () => {},
    );
    t.teardown(() => watching.abort());

    // A stalled step says what the schedule did meanwhile.
    const within = <T>(what: string, probe: () => Promise<T | undefined | false>) =>
      waitFor(what, probe, 60_000).catch((err: Error) => {
        throw new Error(`${err.message}; lastScheduleTime went ${ticks.join(' -> ')}`);
      });
    await apply(plane(), experiment('lagged', ns, { schedule: '0 * * * *', historyLimit: 2 }));
    const cx = () => api.cx(ns, 'lagged');
    const created = Date.parse((await waitFor('created', cx)).metadata.creationTimestamp ?? '');
    const tick1 = Math.floor(created / HOUR + 1) * HOUR;
    const run1 = runIdOf(tick1);
    const run2 = runIdOf(tick1 + HOUR);
    await waitFor('waiting for the first tick', async () => (await cx())?.status?.phase === 'Pending');

    FAKE.nowMillis = tick1 + 30_000;
    await plane().kubectl(['annotate', 'cx', 'lagged', '-n', ns, 'test/poke=1', '--overwrite']);
    const first = await within(`pod of run ${run1}`, () => api.pod(ns, `cx-lagged-${run1}-procs-t1`));
    // The next tick falls due while run 1 is in progress; the pod turning ready brings a
    // reconcile at once, long before the operator's cache has seen that run 1 started.
    FAKE.nowMillis = tick1 + HOUR + 30_000;
    await api.markReady(ns, `cx-lagged-${run1}-procs-t1`, '10.0.0.51');
    for (const variant of ['procs', 'threads']) {
      const step = `cx-lagged-${run1}-${variant}-t1`;
      if (variant !== 'procs') {
        await within(`pod ${step}`, () => api.pod(ns, step));
        await api.markReady(ns, step, '10.0.0.52');
      }
      await within(`load pod of ${step}`, () => api.pod(ns, `${step}-load`));
      const token = await api.token(ns, 'lagged');
      t.is(await postResult(op.url, ns, 'lagged', variant, 1, token, loadResult(100)), 204);
    }
    await within(`run ${run1} in history`, async () =>
      (await cx())?.status?.history?.some((h) => h.reportRef === `cx-lagged-report-${run1}`),
    );
    t.true(front.delayedChunks() > 0, 'the lag was in effect');
    t.is(
      (await api.pod(ns, `cx-lagged-${run1}-procs-t1`))?.metadata?.uid ?? first.metadata?.uid,
      first.metadata?.uid,
      'run 1’s first pod was never replaced while run 1 went on',
    );
    t.deepEqual(
      ticks.slice(0, 1),
      [isoSeconds(tick1)],
      `no run was started beside run ${run1}: lastScheduleTime went ${ticks.join(' -> ')}`,
    );
    t.false(ticks.slice(1).includes(isoSeconds(tick1)), `lastScheduleTime never goes back: ${ticks.join(' -> ')}`);
    // The tick missed meanwhile starts one run afterwards, and history keeps both, newest first.
    await within(`run ${run2} started`, () => api.pod(ns, `cx-lagged-${run2}-procs-t1`));
    const during = await cx();
    t.deepEqual(
      during?.status?.history?.map((h) => h.reportRef),
      [`cx-lagged-report-${run1}`],
    );
    t.deepEqual(ticks, [isoSeconds(tick1), isoSeconds(tick1 + HOUR)]);
  },
);
