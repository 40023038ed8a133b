// End to end in a cluster on one machine: `kubectl apply` an example manifest against the real
// API server, the REAL operator (`conclab operator`, as the chart's ServiceAccount with only the
// chart's RBAC) runs it, the test node agent runs its pods as local processes under their cgroup
// limits, load pods drive them and post results, and `conclab report` prints the report.
// Durations are shortened copies of the examples so the whole file takes about a minute or two.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import { readGroupLimits } from '../../operator/runtime/local/cgroup-group.ts';
import { type E2eCluster, shortenedExample, startE2eCluster } from './cluster.ts';

const NS = 'e2e';
let cluster: E2eCluster | undefined;

test.before(async () => {
  cluster = await startE2eCluster(NS);
});
test.after.always(async () => {
  await cluster?.stop();
});

function c(): E2eCluster {
  if (!cluster) throw new Error('the e2e cluster did not start (see the test.before failure)');
  return cluster;
}

/** Polls the experiment until `done` says so; fails with the operator's and agent's logs. */
async function waitForExperiment(
  name: string,
  done: (cx: ConcurrencyExperiment) => boolean,
  timeoutMillis: number,
  onTick?: () => Promise<void>,
): Promise<ConcurrencyExperiment> {
  const deadline = Date.now() + timeoutMillis;
  let last: ConcurrencyExperiment | undefined;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    last = await c().api.cx(NS, name);
    if (last && done(last)) return last;
    await onTick?.();
    await sleep(250);
  }
  throw new Error(
    `experiment ${name} not done within ${timeoutMillis} ms; last status: ${JSON.stringify(last?.status, null, 2)}\n${c().diagnostics()}`,
  );
}

async function leftovers(name: string): Promise<{ pods: string[]; configMaps: string[] }> {
  const selector = `conclab.dev/experiment=${name}`;
  const pods = await c().api.core.listNamespacedPod({ namespace: NS, labelSelector: selector });
  const cms = await c().api.core.listNamespacedConfigMap({ namespace: NS, labelSelector: selector });
  return {
    pods: pods.items.map((p) => p.metadata?.name ?? ''),
    configMaps: cms.items.map((m) => m.metadata?.name ?? ''),
  };
}

test.serial('kubectl apply of the quickstart reaches Succeeded with results, a verdict and a report', async (t) => {
  t.timeout(150_000);
  const manifest = shortenedExample('quickstart.yaml', (doc) => {
    doc.spec.load = { ...doc.spec.load, duration: '4s', warmUp: '1s' };
    doc.spec.trials = 1;
  });
  await c().applyManifest(manifest);
  const startedMillis = Date.now();

  // While it runs, read each workload pod's limits back from its cgroup: equal for both variants.
  const limitsByVariant = new Map<string, { cpuCores: number; memoryBytes: number }>();
  const loadResults = new Map<string, unknown>();
  const cx = await waitForExperiment(
    'quickstart',
    (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed',
    120_000,
    async () => {
      const cms = await c().api.core.listNamespacedConfigMap({
        namespace: NS,
        labelSelector: 'conclab.dev/role=result',
      });
      for (const cm of cms.items) {
        const r = JSON.parse(cm.data?.['result.json'] ?? '{}');
        loadResults.set(cm.metadata?.name ?? '', {
          sent: r.sent,
          completed: r.completed,
          dropped: r.dropped,
          errors: r.errors,
          saturation: r.saturation,
        });
      }
      for (const pod of await c().api.pods(NS, 'quickstart')) {
        const variant = pod.metadata?.labels?.['conclab.dev/variant'];
        if (pod.metadata?.labels?.['conclab.dev/role'] !== 'workload' || !variant || limitsByVariant.has(variant))
          continue;
        const group = c()
          .agent.podGroups(NS, pod.metadata?.name ?? '')
          .get('workload');
        if (group)
          limitsByVariant.set(variant, await readGroupLimits(group).catch(() => ({ cpuCores: -1, memoryBytes: -1 })));
      }
    },
  );
  t.is(cx.status?.phase, 'Succeeded', `${JSON.stringify(cx.status?.conditions)}\n${c().diagnostics()}`);
  t.log(`apply to Succeeded: ${((Date.now() - startedMillis) / 1000).toFixed(1)} s`);
  t.deepEqual(
    Object.fromEntries([...limitsByVariant].map(([v, l]) => [v, { cpuCores: l.cpuCores, memoryBytes: l.memoryBytes }])),
    {
      processes: { cpuCores: 1, memoryBytes: 512 * 1024 * 1024 },
      threads: { cpuCores: 1, memoryBytes: 512 * 1024 * 1024 },
    },
    'both variants ran under the same cgroup limits, taken from spec.resources',
  );

  const results = cx.status?.results ?? [];
  t.log(JSON.stringify({ results, load: Object.fromEntries(loadResults) }, null, 1));
  t.deepEqual(results.map((r) => r.name).sort(), ['processes', 'threads']);
  for (const r of results) {
    // Figures depend on how busy this shared machine is (the load pods report their own
    // saturation); the path is what is tested here: every variant was driven and measured.
    t.true(r.throughput > 0, `${r.name} throughput ${r.throughput}`);
    t.true(r.p99Millis > 0, `${r.name} p99 ${r.p99Millis}`);
    t.true(r.errorRate < 1, `${r.name} error rate ${r.errorRate}`);
  }
  t.truthy(cx.status?.verdict?.summary);
  t.is(cx.status?.observedGeneration, cx.metadata.generation);
  const ref = cx.status?.reportRef;
  t.truthy(ref, 'status.reportRef');
  const cm = await c().api.core.readNamespacedConfigMap({ namespace: NS, name: ref?.configMap ?? '' });
  t.truthy(cm.data?.[ref?.key ?? ''], 'the report ConfigMap holds the report');

  // kubectl get cx shows phase, winner and the differences (printer columns).
  const get = await c().cp.kubectl(['get', 'cx', 'quickstart', '-n', NS]);
  t.is(get.code, 0, get.stderr);
  t.regex(get.stdout, /NAME\s+PHASE\s+WINNER\s+THROUGHPUT\s+P99\s+BLAST-RADIUS\s+AGE/);
  t.regex(get.stdout, /quickstart\s+Succeeded\s/);
  t.log(get.stdout);
  const delta = cx.status?.verdict?.throughputDelta;
  t.truthy(delta, 'the verdict states the throughput difference');
  t.true(get.stdout.includes(delta ?? '<none>'), `throughput difference ${delta} shown:\n${get.stdout}`);
  const p99 = cx.status?.verdict?.p99Delta;
  if (p99) t.true(get.stdout.includes(p99), `p99 difference ${p99} shown:\n${get.stdout}`);

  // conclab report prints it (Markdown by default; json as stored).
  const md = await c().conclab(['report', 'quickstart', '-n', NS]);
  t.is(md.code, 0, md.stderr);
  t.true(md.stdout.includes(cx.status?.verdict?.summary ?? '<none>'), md.stdout);
  t.regex(md.stdout, /processes/);
  t.regex(md.stdout, /threads/);
  const json = await c().conclab(['report', 'quickstart', '-n', NS, '--format', 'json']);
  t.is(json.code, 0, json.stderr);
  t.is(JSON.parse(json.stdout).kind, 'ConcurrencyExperimentReport');

  // Nothing but the report is left running: no pods, no processes.
  const left = await leftovers('quickstart');
  t.deepEqual(left.pods, []);
  t.deepEqual(c().agent.pids(), []);
});

test.serial('conclab report says clearly when there is nothing to report', async (t) => {
  const missing = await c().conclab(['report', 'nope', '-n', NS]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /experiment e2e\/nope not found; `kubectl get cx -n e2e` lists/);
  const usage = await c().conclab(['report', 'quickstart', '-n', NS, '--format', 'pdf']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /--format "pdf" is not one of md, json, html/);
});

test.serial(
  'a variant whose container exits at once fails the experiment, naming the variant, and leaves nothing',
  async (t) => {
    t.timeout(120_000);
    const manifest = shortenedExample('quickstart.yaml', (doc) => {
      doc.metadata.name = 'exits';
      doc.spec.load = { ...doc.spec.load, duration: '4s', warmUp: '1s' };
      doc.spec.trials = 1;
      // Valid for the API server, refused by the workload at start (it takes at most 60 s of CPU
      // per request): the container exits with code 2 at once, naming the variable.
      doc.spec.workload = { ...doc.spec.workload, cpuTime: '2m' };
    });
    await c().applyManifest(manifest);
    const notRunning = await c().conclab(['report', 'exits', '-n', NS]);
    t.is(notRunning.code, 1);
    t.regex(notRunning.stderr, /exits (has not finished yet|failed)/);

    const cx = await waitForExperiment(
      'exits',
      (x) => x.status?.phase === 'Failed' || x.status?.phase === 'Succeeded',
      90_000,
    );
    t.is(cx.status?.phase, 'Failed');
    const degraded = cx.status?.conditions?.find((x) => x.type === 'Degraded');
    t.is(degraded?.status, 'True');
    t.is(degraded?.reason, 'WorkloadFailed');
    t.regex(degraded?.message ?? '', /variant processes trial 1/);
    t.regex(degraded?.message ?? '', /exited with code 2/);

    const report = await c().conclab(['report', 'exits', '-n', NS]);
    t.is(report.code, 1);
    t.regex(report.stderr, /experiment e2e\/exits failed \(WorkloadFailed: .*variant processes/);

    // No pods, ConfigMaps or processes are left (the node agent finished the pods' deletion).
    const deadline = Date.now() + 30_000;
    let left = await leftovers('exits');
    while (
      (left.pods.length > 0 || left.configMaps.length > 0 || c().agent.pids().length > 0) &&
      Date.now() < deadline
    ) {
      await sleep(250);
      left = await leftovers('exits');
    }
    t.deepEqual(left, { pods: [], configMaps: [] });
    t.deepEqual(c().agent.pids(), []);
    t.deepEqual(c().agent.liveGroups(), [], 'no cgroup of the pods is left');
  },
);

test.serial(
  'the crash example shows a restarted container for threads and a replaced worker for processes',
  async (t) => {
    t.timeout(150_000);
    const manifest = shortenedExample('crash.yaml', (doc) => {
      doc.spec.load = { ...doc.spec.load, duration: '6s', warmUp: '1s' };
      doc.spec.trials = 1;
      doc.spec.faults = [{ kind: 'abort', at: '2s', target: { worker: 1 } }];
    });
    await c().applyManifest(manifest);
    const cx = await waitForExperiment(
      'crash',
      (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed',
      130_000,
    );
    t.is(cx.status?.phase, 'Succeeded', `${JSON.stringify(cx.status?.conditions)}\n${c().diagnostics()}`);
    const byName = new Map((cx.status?.results ?? []).map((r) => [r.name, r]));
    t.log(`status.results: ${JSON.stringify(cx.status?.results)}`);

    // On the node, first: the abort took the thread server down and the agent restarted its
    // container; under processes the supervisor replaced the one aborted worker process.
    const log = (pod: string) => readFileSync(c().agent.logPath(NS, pod, 'workload') ?? '/dev/null', 'utf8');
    t.regex(log('cx-crash-processes-t1'), /"event":"worker-replaced"/, 'the processes supervisor replaced its worker');
    t.regex(
      c().agent.logPath(NS, 'cx-crash-processes-t1', 'workload') ?? '',
      /workload-0\.log$/,
      'processes: one container run',
    );
    t.regex(
      c().agent.logPath(NS, 'cx-crash-threads-t1', 'workload') ?? '',
      /workload-1\.log$/,
      'threads: restarted once',
    );

    // In the status: restarts counts container restarts or replaced workers (the API field's description).
    t.true((byName.get('threads')?.restarts ?? 0) >= 1, `status: threads ${JSON.stringify(byName.get('threads'))}`);
    t.true(
      (byName.get('processes')?.restarts ?? 0) >= 1,
      `status: processes ${JSON.stringify(byName.get('processes'))}`,
    );

    // In the report: the thread server restarted; one worker process was replaced, its container was not restarted.
    const json = await c().conclab(['report', 'crash', '-n', NS, '--format', 'json']);
    t.is(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as {
      variants?: { name: string; blastRadius?: { restarts: number; workersReplaced: number } }[];
    };
    const blast = new Map((report.variants ?? []).map((v) => [v.name, v.blastRadius]));
    t.log(`report blastRadius: ${JSON.stringify(Object.fromEntries(blast))}`);
    t.true((blast.get('threads')?.restarts ?? 0) >= 1, 'report: the threads container restarted');
    t.true((blast.get('processes')?.workersReplaced ?? 0) >= 1, 'report: a processes worker was replaced');
    t.is(blast.get('processes')?.restarts, 0, 'report: the processes container did not restart');
    const md = await c().conclab(['report', 'crash', '-n', NS]);
    t.is(md.code, 0, md.stderr);
  },
);

test.serial(
  'load.driver k6 on a node without k6 fails the experiment, naming the image, and leaves nothing',
  async (t) => {
    t.timeout(120_000);
    const { findOnPath } = await import('../cluster/node-agent/image-map.ts');
    if (findOnPath('k6', process.env['PATH'] ?? '')) {
      t.pass('k6 is installed here, so the load pod can run; nothing to check');
      return;
    }
    const manifest = shortenedExample('quickstart.yaml', (doc) => {
      doc.metadata.name = 'nok6';
      doc.spec.load = { ...doc.spec.load, driver: 'k6', duration: '3s', warmUp: '1s' };
      doc.spec.trials = 1;
    });
    await c().applyManifest(manifest);
    const cx = await waitForExperiment(
      'nok6',
      (x) => x.status?.phase === 'Failed' || x.status?.phase === 'Succeeded',
      90_000,
    );
    t.is(cx.status?.phase, 'Failed');
    const degraded = cx.status?.conditions?.find((x) => x.type === 'Degraded');
    t.is(degraded?.reason, 'LoadFailed');
    t.regex(degraded?.message ?? '', /variant processes trial 1/);
    t.regex(degraded?.message ?? '', /grafana\/k6:[^ ]+ needs a k6 binary/);
    const deadline = Date.now() + 30_000;
    let left = await leftovers('nok6');
    while ((left.pods.length > 0 || left.configMaps.length > 0) && Date.now() < deadline) {
      await sleep(250);
      left = await leftovers('nok6');
    }
    t.deepEqual(left, { pods: [], configMaps: [] });
  },
);
