// Capacity planning in a cluster, against a REAL kube-apiserver + etcd (test/cluster): a
// scheduled sweep with a target. No kubelet runs: the test plays it and posts each trial's
// record the way a load pod does, with the capacity its max-throughput search found. The
// schedule runs on a FAKE clock the test steps through cron ticks. Run 2 is the "slower
// workload setting": its records carry about half the capacity and a higher p99, which must
// raise Regressed with a Warning event and the regression gauge; run 3 is back in range and
// clears it. historyLimit 2 bounds the history.
import test from 'ava';
import { METRIC } from '../../operator/controller/metrics.ts';
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

let cp: ControlPlane | undefined;
let api: Api;

test.before(async (t) => {
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
const POINTS = ['procs-w1', 'procs-w2', 'threads-w1', 'threads-w2'];

/** Capacity of a point in a normal run, per trial: processes scale, threads do not (a GIL, say). */
const NORMAL: Record<string, [number, number]> = {
  'procs-w1': [100, 104],
  'procs-w2': [190, 197],
  'threads-w1': [98, 102],
  'threads-w2': [100, 103],
};

/** The record a load pod posts after a max-throughput search that found `capacity`. */
function searchRecord(variant: string, trial: number, capacity: number, latencyMillis: number) {
  const load = loadResult(capacity, 2, latencyMillis);
  return {
    variant,
    trial,
    load,
    spans: [],
    faults: [],
    events: [],
    search: {
      capacity,
      end: 'converged',
      lowestFailingRate: Math.round(capacity * 1.05),
      steps: [capacity, Math.round(capacity * 1.05)].map((rate, i) => ({
        rate,
        passed: i === 0,
        failureRate: i === 0 ? 0 : 0.1,
        completedPerSecond: capacity,
        latencyMillis: { p50: latencyMillis, p90: latencyMillis, p99: latencyMillis, p999: latencyMillis },
        unreliable: false,
      })),
    },
  };
}

test.serial(
  'a scheduled sweep sizes its target, and a slower run raises Regressed with a Warning event until a run is back in range',
  async (t) => {
    t.timeout(10 * 60_000, 'three runs of eight trials played through on a loaded machine');
    const ns = 'capacity';
    await createNamespace(plane(), ns);
    const FAKE = { nowMillis: Date.now() - 60_000 };
    const op = await runOperator(plane().kubeConfig(), [ns], { scheduleClock: () => FAKE.nowMillis });
    t.teardown(() => op.stop());
    await apply(
      plane(),
      experiment('plan', ns, {
        schedule: '0 * * * *',
        historyLimit: 2,
        trials: 2,
        load: { driver: 'builtin', pattern: 'max-throughput', rate: 50, duration: '2s', warmUp: '0s' },
        sweep: { workers: [1, 2] },
        target: { rate: 1000 },
      }),
    );
    let pokes = 0;
    const poke = async () => {
      const r = await plane().kubectl(['annotate', 'cx', 'plan', '-n', ns, `test/poke=${++pokes}`, '--overwrite']);
      if (r.code !== 0) throw new Error(r.stderr);
    };
    const cx = () => api.cx(ns, 'plan');
    const pending = await waitFor('Pending', async () => {
      const c = await cx();
      return c?.status?.phase === 'Pending' ? c : undefined;
    });
    const tick1 = Math.floor(Date.parse(pending.metadata.creationTimestamp ?? '') / HOUR + 1) * HOUR;

    /** Plays every step of one run: the operator asks for each sweep point, trial by trial. */
    const playRun = async (tick: number, factor: number, latencyMillis: number) => {
      FAKE.nowMillis = tick + 30_000;
      await poke();
      const run = runIdOf(tick);
      const seen: string[] = [];
      for (let step = 0; step < POINTS.length * 2; step++) {
        // The planned order interleaves the points; take whichever step the operator deploys next.
        const pod = await waitFor(
          `step ${step + 1} of run ${run}`,
          async () =>
            (await api.pods(ns, 'plan')).find(
              (p) =>
                p.metadata?.labels?.['conclab.dev/role'] === 'workload' &&
                !p.metadata.deletionTimestamp &&
                !seen.includes(p.metadata.name ?? ''),
            ),
          60_000,
        );
        const name = pod.metadata?.name ?? '';
        seen.push(name);
        const variant = pod.metadata?.labels?.['conclab.dev/variant'] ?? '';
        const trial = Number(pod.metadata?.labels?.['conclab.dev/trial']);
        t.true(POINTS.includes(variant), `the operator deploys sweep point ${variant}`);
        await api.markReady(ns, name, '10.0.0.42');
        await waitFor(`load pod of ${name}`, () => api.pod(ns, `${name}-load`), 60_000);
        const token = await api.token(ns, 'plan');
        const capacity = Math.round((NORMAL[variant]?.[trial - 1] ?? 0) * factor);
        t.is(
          await postResult(
            op.url,
            ns,
            'plan',
            variant,
            trial,
            token,
            searchRecord(variant, trial, capacity, latencyMillis),
          ),
          204,
        );
      }
      t.deepEqual(
        seen.map((n) => n.replace(`cx-plan-${run}-`, '')).sort(),
        POINTS.flatMap((p) => [`${p}-t1`, `${p}-t2`]).sort(),
        'every point of the sweep, every trial, once',
      );
      return waitFor(
        `run ${run} recorded`,
        async () => {
          const c = await cx();
          const entry = c?.status?.history?.find((h) => h.reportRef === `cx-plan-report-${run}`);
          return entry?.phase === 'Succeeded' && c?.status?.phase === 'Succeeded' ? c : undefined;
        },
        60_000,
      );
    };
    const regressed = (c: Awaited<ReturnType<typeof cx>>) => c?.status?.conditions?.find((x) => x.type === 'Regressed');
    const events = async (reason: string) =>
      (await api.core.listNamespacedEvent({ namespace: ns })).items.filter(
        (e) => e.reason === reason && e.involvedObject.name === 'plan',
      );

    // Run 1: the baseline. The sizing answer is in status and the printer column.
    const after1 = await playRun(tick1, 1, 5);
    t.is(after1.status?.results?.length, 4, 'one result row per sweep point');
    const sizing = after1.status?.sizing;
    t.is(sizing?.rate, 1000);
    t.deepEqual(
      sizing?.variants.map((v) => `${v.variant}:${v.model}:${v.workers}w:${v.cpu}`),
      ['procs:process:2w:500m', 'threads:thread:2w:500m'],
    );
    const procs = sizing?.variants[0];
    t.true((procs?.replicas?.optimistic ?? 0) <= (procs?.replicas?.expected ?? 0));
    t.true((procs?.replicas?.expected ?? 0) <= (procs?.replicas?.pessimistic ?? 0));
    t.is(procs?.totalCpu?.expected, (procs?.replicas?.expected ?? 0) * 0.5);
    t.regex(after1.status?.verdict?.sizing ?? '', /^procs \d+.* x 2w x 0\.5 CPU \/ threads .*; procs needs less CPU$/);
    const table = await plane().kubectl(['get', 'cx', 'plan', '-n', ns]);
    t.regex(table.stdout, /SIZING/);
    t.regex(table.stdout, /procs needs less CPU/);
    t.is(regressed(after1)?.reason, 'NoBaseline', 'the first run has nothing to compare with');
    t.is(regressed(after1)?.status, 'False');
    t.is(await op.metrics.value(METRIC.capacity, { namespace: ns, experiment: 'plan', variant: 'procs-w2' }), 193.5);

    // Run 2: the slower setting. Regressed, with the numbers, as a condition, an Event and a gauge.
    const after2 = await playRun(tick1 + HOUR, 0.5, 9);
    const cond2 = regressed(after2);
    t.is(cond2?.status, 'True');
    t.is(cond2?.reason, 'RegressionDetected');
    t.regex(cond2?.message ?? '', /variant procs-w2: capacity [\d.]+ req\/s, previous [\d.]+ ± [\d.]+ req\/s \(-50%\)/);
    t.regex(cond2?.message ?? '', /p99/);
    const warning = await waitFor('the Warning event', async () => (await events('RegressionDetected'))[0], 30_000);
    t.is(warning.type, 'Warning');
    t.regex(warning.message ?? '', /capacity \d+ req\/s, previous [\d.]+ ± [\d.]+ req\/s \(-\d+%\)/);
    t.is(await op.metrics.value(METRIC.regressed, { namespace: ns, experiment: 'plan' }), 1);

    // Run 3: back in range. Cleared, with a Normal event; the history stays at historyLimit.
    const after3 = await playRun(tick1 + 2 * HOUR, 1.01, 5);
    const cond3 = regressed(after3);
    t.is(cond3?.status, 'False');
    t.is(cond3?.reason, 'RegressionCleared');
    t.regex(cond3?.message ?? '', /^back in range/);
    const cleared = await waitFor('the cleared event', async () => (await events('RegressionCleared'))[0], 30_000);
    t.is(cleared.type, 'Normal');
    t.is(await op.metrics.value(METRIC.regressed, { namespace: ns, experiment: 'plan' }), 0);
    t.deepEqual(
      after3.status?.history?.map((h) => h.reportRef),
      [`cx-plan-report-${runIdOf(tick1 + 2 * HOUR)}`, `cx-plan-report-${runIdOf(tick1 + HOUR)}`],
      'newest first, bounded by historyLimit 2',
    );
    const rendered = await op.metrics.render();
    t.regex(
      rendered,
      /conclab_experiment_capacity_requests_per_second\{namespace="capacity",experiment="plan",variant="threads-w1"\} \d+/,
    );
  },
);
