// End to end on a REAL node: `kubectl apply` of the examples (shortened) against a real
// kubelet with containerd and runc, the operator installed with helm as its chart's
// Deployment, load pods running the trial runner, `conclab report` printing the report.
// Every case also reads back the CPU quota and memory limit the kubelet set on every workload
// container (as each workload's supervisor read them from its own cgroup, in the report).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { stringify } from 'yaml';
import { parseCpuCores, parseMemoryBytes } from '../../operator/api/units.ts';
import { CONCLAB_BIN, type E2eCluster, type ReportJson, shortenedExample, startE2eCluster } from './cluster.ts';

let cluster: E2eCluster | undefined;
test.before(async () => {
  cluster = await startE2eCluster('test/e2e/cluster-e2e.test.ts');
});
test.after.always(async () => {
  await cluster?.stop();
});

function c(): E2eCluster {
  if (!cluster) throw new Error('the e2e cluster did not start (see the test.before failure)');
  return cluster;
}

async function reportOf(t: ExecutionContext, name: string): Promise<ReportJson> {
  const json = await c().conclab(['report', name, '-n', c().namespace, '--format', 'json']);
  t.is(json.code, 0, json.stderr);
  return JSON.parse(json.stdout) as ReportJson;
}

/** Every workload container ran under exactly spec.resources, as the kubelet set them. */
function assertLimits(t: ExecutionContext, report: ReportJson, resources: { cpu: string; memory: string }): void {
  const expected = { cpuCores: parseCpuCores(resources.cpu), memoryBytes: parseMemoryBytes(resources.memory) };
  const replicas = report.trials.flatMap((tr) =>
    (tr.replicas ?? []).map((r) => ({ trial: `${tr.variant}#${tr.trial}`, r })),
  );
  t.true(replicas.length > 0, 'every trial reports its replicas');
  for (const { trial, r } of replicas) {
    t.like(r.limits, expected, `${trial} replica ${r.replica}: ${r.limits?.source}`);
    t.regex(r.limits?.source ?? '', /cpu\.cfs_quota_us=\d+|cpu\.max/, 'read from the container cgroup');
  }
}

test.serial(
  'kubectl apply of the quickstart reaches Succeeded with the verdict in kubectl get cx and a report',
  async (t) => {
    t.timeout(300_000);
    const manifest = shortenedExample('quickstart.yaml', (doc) => {
      doc.spec.load = { ...doc.spec.load, duration: '5s', warmUp: '2s' };
      doc.spec.trials = 1;
    });
    const started = Date.now();
    await c().applyManifest(manifest);
    const cx = await c().waitForExperiment(
      'quickstart',
      (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed',
      240_000,
    );
    t.is(cx.status?.phase, 'Succeeded', `${JSON.stringify(cx.status?.conditions)}\n${await c().diagnostics()}`);
    t.log(`apply to Succeeded: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const results = cx.status?.results ?? [];
    t.deepEqual(results.map((r) => r.name).sort(), ['processes', 'threads']);
    for (const r of results) {
      t.true(r.throughput > 0, `${r.name} throughput ${r.throughput}`);
      t.true((r.cpuSeconds ?? 0) > 0, `${r.name}: CPU used is measured in the cluster too`);
      t.true((r.peakMemoryBytes ?? 0) > 0, `${r.name}: peak memory is measured in the cluster too`);
    }

    // kubectl get cx shows phase, winner, the differences and the capacity column.
    const get = await c().cluster.kubectl(['get', 'cx', 'quickstart', '-n', c().namespace]);
    t.is(get.code, 0, get.stderr);
    t.regex(get.stdout, /NAME\s+PHASE\s+WINNER\s+THROUGHPUT\s+P99\s+BLAST-RADIUS\s+CAPACITY\s+SIZING\s+AGE/);
    t.regex(get.stdout, /quickstart\s+Succeeded\s/);
    const delta = cx.status?.verdict?.throughputDelta;
    t.truthy(delta, 'the verdict states the throughput difference');
    t.true(get.stdout.includes(delta ?? '<none>'), `throughput difference ${delta} shown:\n${get.stdout}`);

    const report = await reportOf(t, 'quickstart');
    assertLimits(t, report, manifest.spec.resources);
    t.is(report.environment.cgroupVersion, 'kubernetes');
    t.notRegex(report.environment.kernel, /^unknown/, 'the node kernel, as the workload saw it');
    t.true((report.environment.images?.length ?? 0) > 0, 'images with their digests, from the kubelet');
    const md = await c().conclab(['report', 'quickstart', '-n', c().namespace]);
    t.is(md.code, 0, md.stderr);
    t.true(md.stdout.includes(cx.status?.verdict?.summary ?? '<none>'), md.stdout);
    t.deepEqual(await c().waitForNoLeftovers('quickstart'), { pods: [], configMaps: [], services: [] });
  },
);

test.serial('conclab report says clearly when there is nothing to report', async (t) => {
  const missing = await c().conclab(['report', 'nope', '-n', c().namespace]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /experiment .*\/nope not found/);
  const usage = await c().conclab(['report', 'quickstart', '-n', c().namespace, '--format', 'pdf']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /--format "pdf" is not one of md, json, html/);
});

test.serial(
  'a variant whose container exits at once fails the experiment, naming the variant, and leaves no pod',
  async (t) => {
    t.timeout(240_000);
    const manifest = shortenedExample('quickstart.yaml', (doc) => {
      doc.metadata.name = 'exits';
      doc.spec.load = { ...doc.spec.load, duration: '4s', warmUp: '1s' };
      doc.spec.trials = 1;
      // A workload image that exits at once: conclab's own image runs `conclab operator`,
      // which stops at start in a pod without a ServiceAccount token (as every workload pod is).
      doc.spec.workload = { ...doc.spec.workload, image: c().cluster.images.operator };
    });
    await c().applyManifest(manifest);
    const cx = await c().waitForExperiment(
      'exits',
      (x) => x.status?.phase === 'Failed' || x.status?.phase === 'Succeeded',
      180_000,
    );
    t.is(cx.status?.phase, 'Failed');
    const degraded = cx.status?.conditions?.find((x) => x.type === 'Degraded');
    t.is(degraded?.status, 'True');
    t.is(degraded?.reason, 'WorkloadFailed');
    t.regex(degraded?.message ?? '', /variant processes trial 1/);
    t.regex(degraded?.message ?? '', /exited with code \d+|CrashLoopBackOff/);
    const report = await c().conclab(['report', 'exits', '-n', c().namespace]);
    t.is(report.code, 1);
    t.regex(report.stderr, /exits failed \(WorkloadFailed: .*variant processes/);
    t.deepEqual(await c().waitForNoLeftovers('exits'), { pods: [], configMaps: [], services: [] });
  },
);

test.serial(
  'the crash example: the kubelet restarts the thread variant’s container, the process variant replaces one worker, kubectl logs shows the fault',
  async (t) => {
    t.timeout(300_000);
    const manifest = shortenedExample('crash.yaml', (doc) => {
      doc.spec.load = { ...doc.spec.load, duration: '8s', warmUp: '2s' };
      doc.spec.trials = 1;
      doc.spec.faults = [{ kind: 'abort', at: '2s', target: { worker: 1 } }];
    });
    await c().applyManifest(manifest);
    // kubectl logs of a workload pod while it runs: the supervisor's structured fault line.
    const faultLines = new Map<string, string>();
    const cx = await c().waitForExperiment(
      'crash',
      (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed',
      240_000,
      async () => {
        for (const pod of await c().api.pods(c().namespace, 'crash')) {
          const variant = pod.metadata?.labels?.['conclab.dev/variant'] ?? '';
          if (pod.metadata?.labels?.['conclab.dev/role'] !== 'workload' || faultLines.has(variant)) continue;
          for (const previous of [false, true]) {
            const logs = await c().cluster.kubectl(
              ['logs', '-n', c().namespace, pod.metadata?.name ?? '', ...(previous ? ['--previous'] : [])],
              { timeoutMillis: 10_000 },
            );
            const line = logs.stdout.split('\n').find((l) => l.includes('"event":"fault"'));
            if (line) faultLines.set(variant, line);
          }
        }
      },
    );
    t.is(cx.status?.phase, 'Succeeded', `${JSON.stringify(cx.status?.conditions)}\n${await c().diagnostics()}`);
    for (const variant of ['processes', 'threads']) {
      const line = JSON.parse(faultLines.get(variant) ?? '{}') as { event?: string; kind?: string; worker?: number };
      t.like(
        line,
        { event: 'fault', kind: 'abort', worker: 1 },
        `kubectl logs of a ${variant} pod shows the fault line`,
      );
    }
    const report = await reportOf(t, 'crash');
    assertLimits(t, report, manifest.spec.resources);
    const trial = (v: string) => report.trials.find((tr) => tr.variant === v);
    const threadRestart = trial('threads')?.events.find((e) => e.kind === 'process-restart');
    t.truthy(
      threadRestart,
      `threads: the kubelet restarted the container: ${JSON.stringify(trial('threads')?.events)}`,
    );
    t.true((threadRestart?.coldStartMillis ?? 0) > 0, 'with its cold start, measured by the new process');
    t.true(
      trial('threads')?.events.some((e) => e.kind === 'process-exit' && /signal|code/.test(e.exit ?? '')) ?? false,
      'the kubelet’s exit status',
    );
    const replaced = trial('processes')?.events.find((e) => e.kind === 'worker-replaced' && e.worker === 1);
    t.truthy(replaced, `processes: the supervisor replaced worker 1: ${JSON.stringify(trial('processes')?.events)}`);
    t.false(
      trial('processes')?.events.some((e) => e.kind === 'process-restart') ?? true,
      'processes: no container restart',
    );
    const blast = new Map(report.variants.map((v) => [v.name, v.blastRadius]));
    t.true((blast.get('threads')?.restarts ?? 0) >= 1);
    t.true((blast.get('processes')?.workersReplaced ?? 0) >= 1);
  },
);

test.serial(
  'a leak under a small memory limit ends with the kubelet reporting OOMKilled, and the report counts it',
  async (t) => {
    t.timeout(300_000);
    const manifest = shortenedExample('quickstart.yaml', (doc) => {
      doc.metadata.name = 'leak';
      doc.spec.resources = { cpu: '500m', memory: '160Mi' };
      doc.spec.variants = [
        { name: 'processes', model: 'process', workers: 2 },
        { name: 'threads', model: 'thread', workers: 2 },
      ];
      doc.spec.load = { ...doc.spec.load, rate: 20, duration: '10s', warmUp: '2s' };
      doc.spec.faults = [{ kind: 'leak', at: '2s', variants: ['threads'] }];
      doc.spec.trials = 1;
      // Spans are not what this case measures; without the exporters the budget is the workers'.
      doc.spec.tracing = { enabled: false };
    });
    await c().applyManifest(manifest);
    let oomSeen = false;
    const cx = await c().waitForExperiment(
      'leak',
      (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed',
      240_000,
      async () => {
        for (const pod of await c().api.pods(c().namespace, 'leak')) {
          const last = pod.status?.containerStatuses?.[0]?.lastState?.terminated;
          if (last?.reason === 'OOMKilled') oomSeen = true;
        }
      },
    );
    t.is(cx.status?.phase, 'Succeeded', `${JSON.stringify(cx.status?.conditions)}\n${await c().diagnostics()}`);
    t.true(oomSeen, 'the kubelet reported the threads container OOMKilled');
    const report = await reportOf(t, 'leak');
    assertLimits(t, report, manifest.spec.resources);
    const threads = report.trials.find((tr) => tr.variant === 'threads');
    t.true(
      threads?.events.some((e) => e.kind === 'process-exit' && e.oomKilled === true) ?? false,
      JSON.stringify(threads?.events),
    );
    t.true((threads?.usage?.oomKills ?? 0) >= 1, 'the report counts the OOM kill');
    t.true((report.variants.find((v) => v.name === 'threads')?.resources?.oomKills ?? 0) >= 1);
  },
);

test.serial(
  'load.driver k6 with no k6 image on the node fails the experiment, naming the image, and leaves nothing',
  async (t) => {
    t.timeout(240_000);
    const manifest = shortenedExample('quickstart.yaml', (doc) => {
      doc.metadata.name = 'nok6';
      doc.spec.load = { ...doc.spec.load, driver: 'k6', duration: '3s', warmUp: '1s' };
      doc.spec.trials = 1;
    });
    await c().applyManifest(manifest);
    const cx = await c().waitForExperiment(
      'nok6',
      (x) => x.status?.phase === 'Failed' || x.status?.phase === 'Succeeded',
      180_000,
    );
    t.is(cx.status?.phase, 'Failed');
    const degraded = cx.status?.conditions?.find((x) => x.type === 'Degraded');
    t.is(degraded?.reason, 'LoadFailed');
    t.regex(degraded?.message ?? '', /variant processes trial 1/);
    t.regex(degraded?.message ?? '', /container k6: ErrImageNeverPull/);
    t.regex(degraded?.message ?? '', /grafana\/k6/);
    t.deepEqual(await c().waitForNoLeftovers('nok6'), { pods: [], configMaps: [], services: [] });
  },
);

test.serial(
  'the Python GIL example: threads stay near one core’s worth of capacity while processes scale past it',
  async (t) => {
    t.timeout(600_000);
    const manifest = shortenedExample('python-gil.yaml', (doc) => {
      // 1.5 cores: more than the one core the GIL lets the thread model use.
      doc.spec.resources = { cpu: '1500m', memory: '1Gi' };
      doc.spec.load = { ...doc.spec.load, rate: 40, duration: '3s', warmUp: '1s' };
      doc.spec.trials = 1;
    });
    await c().applyManifest(manifest);
    const cx = await c().waitForExperiment(
      'python-gil',
      (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed',
      540_000,
    );
    t.is(cx.status?.phase, 'Succeeded', `${JSON.stringify(cx.status?.conditions)}\n${await c().diagnostics()}`);
    const capacity = new Map((cx.status?.results ?? []).map((r) => [r.name, r.capacity ?? 0]));
    t.log(`capacity: ${JSON.stringify(Object.fromEntries(capacity))}`);
    // 5 ms of CPU per request: one core serves at most 200 req/s, whatever the thread count.
    t.true((capacity.get('threads') ?? 0) > 0);
    t.true((capacity.get('threads') ?? 0) <= 1.2 * 200, 'the GIL holds threads to about one core');
    t.true((capacity.get('processes') ?? 0) > (capacity.get('threads') ?? 0), 'processes use the budget past one core');
    const report = await reportOf(t, 'python-gil');
    assertLimits(t, report, manifest.spec.resources);
    t.true(
      report.trials.every((tr) => (tr.search?.steps.length ?? 0) > 1),
      'each capacity from a search',
    );
  },
);

// ---- one engine, two placements ---------------------------------------------------------
// The same manifest (max-throughput, a `throw` fault, a variant with two replicas) through
// `conclab run` on this machine and through the operator on the real node. Both reports must
// have the same fields filled, from measurement: capacity found by a search of several steps
// (the steps in the report), CPU used, throttled and peak memory per variant, restarts with
// their cold start, and load received by every replica. Figures differ between placements
// (different machines, under other load); which fields are measured may not.
const parityTmp = mkdtempSync(join(tmpdir(), 'conclab-parity-'));
test.after.always(() => rmSync(parityTmp, { recursive: true, force: true }));

const parityManifest = {
  apiVersion: 'conclab.dev/v1alpha1',
  kind: 'ConcurrencyExperiment',
  metadata: { name: 'parity' },
  spec: {
    workload: { runtime: 'node', profile: 'cpu', cpuTime: '4ms' },
    resources: { cpu: '500m', memory: '256Mi' },
    variants: [
      { name: 'processes', model: 'process', workers: 2, replicas: 2 },
      { name: 'threads', model: 'thread', workers: 2 },
    ],
    // Steps of 2 s find the capacity; the fault step at capacity has the same length, with
    // the fault 1.5 s in: enough seconds before it for a baseline.
    load: { pattern: 'max-throughput', rate: 20, duration: '3s', warmUp: '1s', timeout: '2s' },
    faults: [{ kind: 'throw', at: '1500ms', target: { worker: 0 } }],
    slo: { latency: { p99: '1s' }, errorRate: 0.05 },
    tracing: { enabled: true, sampleRatio: 0.5 },
    trials: 1,
  },
};

/** What a report must have filled, whichever placement made it. */
function assertMeasured(t: ExecutionContext, where: string, report: ReportJson): void {
  for (const variant of ['processes', 'threads']) {
    const trial = report.trials.find((tr) => tr.variant === variant);
    const summary = report.variants.find((v) => v.name === variant);
    const steps = trial?.search?.steps.length ?? 0;
    t.true(steps > 1, `${where} ${variant}: capacity from a search of ${steps} step(s)`);
    t.true((trial?.search?.capacity ?? 0) > 0, `${where} ${variant}: a capacity was found`);
    t.true((summary?.resources?.cpuSeconds.mean ?? 0) > 0, `${where} ${variant}: CPU used`);
    t.not(summary?.resources?.throttledSeconds.mean, undefined, `${where} ${variant}: CPU throttled`);
    t.true((summary?.resources?.peakMemoryBytes.mean ?? 0) > 0, `${where} ${variant}: peak memory`);
    t.true((summary?.blastRadius?.workersReplaced ?? 0) >= 1, `${where} ${variant}: the thrown-in worker was replaced`);
    t.true((summary?.blastRadius?.coldStartSeconds?.mean ?? 0) > 0, `${where} ${variant}: its cold start`);
    const received = trial?.requestsPerReplica ?? [];
    const replicas = variant === 'processes' ? 2 : 1;
    t.is(received.length, replicas, `${where} ${variant}: ${replicas} replica(s) reported`);
    t.true(
      received.every((n) => n > 0),
      `${where} ${variant}: every replica received load (${received.join(', ')})`,
    );
    const row = report.results.find((r) => r.name === variant);
    t.true((row?.capacity ?? 0) > 0, `${where} ${variant}: capacity in the status rows`);
    t.regex(row?.search?.[0]?.steps ?? '', /\d+ (ok|failed)(, \d+ (ok|failed|unjudged))+/, `${where}: the steps`);
  }
  t.regex(report.verdict.capacity ?? '', /processes \d+ \/ threads \d+ req\/s/);
}

/** The set of report fields that hold a value (recursively), without the values. */
function filledShape(value: unknown, prefix = ''): string[] {
  if (value === null || value === undefined) return [];
  // Every element counts: an optional field of an array element (a step's reason) is filled when
  // any element has it; the first alone would make the shape depend on how the first step went.
  if (Array.isArray(value)) return [...new Set(value.flatMap((v) => filledShape(v, `${prefix}[]`)))];
  if (typeof value !== 'object') return [prefix];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    filledShape(v, prefix ? `${prefix}.${k}` : k),
  );
}

test.serial(
  'the same manifest reports the same measured fields through conclab run and through the operator',
  async (t) => {
    t.timeout(900_000);
    // On this machine.
    const file = join(parityTmp, 'parity.yaml');
    writeFileSync(file, stringify(parityManifest));
    const out = join(parityTmp, 'local');
    const local = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [CONCLAB_BIN, 'run', '--quiet', '--out', out, file],
        { maxBuffer: 32 * 1024 * 1024 },
        (err, _o, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
      ),
    );
    t.is(local.code, 0, local.stderr);
    const localReport = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ReportJson;
    assertMeasured(t, 'conclab run', localReport);

    // In the cluster.
    await c().applyManifest(parityManifest);
    const cx = await c().waitForExperiment(
      'parity',
      (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed',
      600_000,
    );
    t.is(cx.status?.phase, 'Succeeded', `${JSON.stringify(cx.status?.conditions)}\n${await c().diagnostics()}`);
    const json = await c().conclab(['report', 'parity', '-n', c().namespace, '--format', 'json']);
    t.is(json.code, 0, json.stderr);
    const clusterReport = JSON.parse(json.stdout) as ReportJson;
    assertMeasured(t, 'operator', clusterReport);

    // The search and its capacity are visible where a cluster user looks.
    const get = await c().cluster.kubectl(['get', 'cx', 'parity', '-n', c().namespace]);
    t.is(get.code, 0, get.stderr);
    t.regex(get.stdout, /processes \d+ \/ threads \d+ req\/s/, get.stdout);
    for (const r of cx.status?.results ?? [])
      t.true((r.search?.[0]?.steps.split(',').length ?? 0) > 1, `status steps of ${r.name}`);

    for (const [where, r] of [
      ['conclab run', localReport],
      ['operator', clusterReport],
    ] as const) {
      for (const trial of r.trials) {
        const steps = (trial.search?.steps ?? []).map((s) => `${s.rate} ${s.passed ? 'ok' : `failed (${s.reason})`}`);
        const g = trial.generator;
        t.log(
          `${where} ${trial.variant}: ${steps.join(', ')}; generator ${g.unreliable ? `saturated (${g.reason})` : 'ok'}`,
        );
      }
    }
    // Field for field, the trials of both placements carry the same kinds of measurement.
    const shape = (r: ReportJson, variant: string) => {
      const trial = r.trials.find((tr) => tr.variant === variant);
      const fields = new Set(filledShape(trial));
      // Placement facts that only one side has by nature: image digests (cluster), and events
      // whose kinds depend on what happened (compared above where it matters).
      // Count maps list only the kinds that occurred (failedByKind): which kinds is data, not shape.
      // Blast-radius durations exist only when the outcome had them (a recovery seen within the
      // trial, an outage long enough to detect): whether they are filled is data too, as is the
      // reason a load generator gives only when it flagged itself saturated (its flag and figures
      // are compared).
      const outcomeDependent =
        /^blastRadius\[\]\.(recoverySeconds|detectSeconds|downSeconds|coldStartSeconds|spans\.survivorsChangePercent)$|^generator\.reason$/;
      for (const f of [...fields]) {
        if (
          /^replicas\[\]\.image|^events|^warnings|^spansMissing|^usage\.approximate|failedByKind\./.test(f) ||
          outcomeDependent.test(f)
        ) {
          fields.delete(f);
        }
      }
      return [...fields].sort();
    };
    for (const variant of ['processes', 'threads']) {
      const local = new Set(shape(localReport, variant));
      const cluster = new Set(shape(clusterReport, variant));
      t.deepEqual(
        {
          onlyLocal: [...local].filter((f) => !cluster.has(f)),
          onlyCluster: [...cluster].filter((f) => !local.has(f)),
        },
        { onlyLocal: [], onlyCluster: [] },
        `${variant}: the same fields filled in both placements`,
      );
    }
  },
);

// ---- load that never limits the measurement ----------------------------------------------
// spec.load.generators: 2 in a cluster: a generator pod (`conclab generate`) beside each
// trial's load pod, both under the chart's load budget (400m here), each sending its half of
// the one schedule from a common start; the load pod merges the two parts exactly into the
// trial's record. Budget: 500m workload + 2 x 400m load pods + the operator fit the 2 CPUs.
test.serial(
  'generators: 2 runs a generator pod beside each load pod, and one merged result holds both pods’ requests at the plan’s rate',
  async (t) => {
    t.timeout(300_000);
    const rate = 40;
    const manifest = shortenedExample('quickstart.yaml', (doc) => {
      doc.metadata.name = 'twoload';
      doc.spec.resources = { cpu: '500m', memory: '256Mi' };
      doc.spec.variants = [
        { name: 'processes', model: 'process', workers: 2 },
        { name: 'threads', model: 'thread', workers: 2 },
      ];
      doc.spec.load = { ...doc.spec.load, rate, duration: '4s', warmUp: '1s', generators: 2 };
      doc.spec.trials = 1;
    });
    await c().applyManifest(manifest);
    // Generator pods are removed once the report is written: see them while the run goes, as a
    // user would with kubectl get. What each did is read afterwards from the report, where it
    // is kept (result ConfigMaps are deleted as soon as the operator has read them).
    const generatorPods = new Set<string>();
    const cx = await c().waitForExperiment(
      'twoload',
      (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed',
      240_000,
      async () => {
        for (const pod of await c().api.pods(c().namespace, 'twoload')) {
          if (pod.metadata?.labels?.['conclab.dev/role'] === 'generator') generatorPods.add(pod.metadata.name ?? '');
        }
      },
    );
    t.is(cx.status?.phase, 'Succeeded', `${JSON.stringify(cx.status?.conditions)}\n${await c().diagnostics()}`);
    t.deepEqual(
      [...generatorPods].sort(),
      ['cx-twoload-processes-t1-load-g1', 'cx-twoload-threads-t1-load-g1'],
      'one generator pod per trial, beside its load pod',
    );
    const report = await reportOf(t, 'twoload');
    t.deepEqual(report.trials.map((tr) => tr.variant).sort(), ['processes', 'threads'], 'a trial of each variant');
    for (const trial of report.trials) {
      const variant = trial.variant;
      const parts = trial.parts ?? [];
      const sent = trial.scheduled - trial.dropped;
      const received = trial.replicas?.[0]?.requestsReceived;
      t.log(
        `${variant}: scheduled ${trial.scheduled} (plan ${rate * 4}), sent ${sent}, completed ${trial.completed}; ` +
          `parts ${parts.map((p) => `g${p.generator} ${p.sent}/${p.completed}`).join(', ')}; ` +
          `the workload counted ${received}`,
      );
      t.is(trial.generators, 2, `${variant}: two load pods merged`);
      t.is(trial.scheduled, rate * 4, `${variant}: together exactly the plan: ${rate} req/s for 4 s`);
      t.deepEqual(
        parts.map((p) => [p.generator, p.scheduled]),
        [
          [0, (rate * 4) / 2],
          [1, (rate * 4) / 2],
        ],
        `${variant}: each pod sent its half`,
      );
      t.true(
        parts.every((p) => p.completed > 0),
        `${variant}: both pods' requests were answered`,
      );
      t.is(
        parts.reduce((a, p) => a + p.sent, 0),
        sent,
        `${variant}: the merge holds every request of both`,
      );
      t.false(trial.latencyHistogramSynthesized ?? false, `${variant}: exact`);
      // Server side: the workload received the requests of both pods.
      t.true((received ?? 0) >= trial.completed, `${variant}: the workload counted ${received} of ${trial.completed}`);
    }
    t.deepEqual(await c().waitForNoLeftovers('twoload'), { pods: [], configMaps: [], services: [] });
  },
);

// ---- capacity planning -----------------------------------------------------------------------
// examples/sweep.yaml, shortened, on the real node: the same engine expands the sweep into
// points in both placements, and the cluster report carries the same capacity sections as a
// local one: a series per model with its measured points and a fit (or the typed reason there
// is none), and the sizing answer for spec.target, also in status and the Sizing column.
test.serial('the sweep example yields the capacity plan sections in the cluster too', async (t) => {
  t.timeout(900_000);
  const manifest = shortenedExample('sweep.yaml', (doc) => {
    // 1 CPU: the point's pods and the load pod fit the 2-CPU node.
    doc.spec.resources = { cpu: '1', memory: '512Mi' };
    doc.spec.trials = 1;
  });
  await c().applyManifest(manifest);
  const cx = await c().waitForExperiment(
    'sweep',
    (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed',
    840_000,
  );
  t.is(cx.status?.phase, 'Succeeded', `${JSON.stringify(cx.status?.conditions)}\n${await c().diagnostics()}`);
  t.deepEqual(
    (cx.status?.results ?? []).map((r) => r.name).sort(),
    ['processes-w1', 'processes-w2', 'processes-w4', 'threads-w1', 'threads-w2', 'threads-w4'],
    'one point per variant and worker count',
  );
  t.truthy((cx.status as { verdict?: { sizing?: string } })?.verdict?.sizing, 'the sizing answer in status');
  const json = await c().conclab(['report', 'sweep', '-n', c().namespace, '--format', 'json']);
  t.is(json.code, 0, json.stderr);
  const plan = (JSON.parse(json.stdout) as { capacityPlan?: Record<string, unknown> }).capacityPlan as
    | {
        series: { variant: string; points: { workers: number; capacity: number }[]; fit: Record<string, unknown> }[];
        sizing?: { models: unknown[] };
        sizingMissing?: string;
      }
    | undefined;
  t.truthy(plan, 'the report has the capacity plan');
  t.deepEqual(plan?.series.map((s) => s.variant).sort(), ['processes', 'threads']);
  for (const s of plan?.series ?? []) {
    t.deepEqual(
      s.points.map((p) => p.workers),
      [1, 2, 4],
      `${s.variant}: the measured points`,
    );
    t.true(Object.keys(s.fit).length > 0, `${s.variant}: a fit or the reason there is none`);
  }
  t.true(plan?.sizing !== undefined || plan?.sizingMissing !== undefined, 'a sizing answer or why not');
  const md = await c().conclab(['report', 'sweep', '-n', c().namespace]);
  t.is(md.code, 0, md.stderr);
  t.regex(md.stdout, /Universal Scalability Law|USL/);
  const get = await c().cluster.kubectl(['get', 'cx', 'sweep', '-n', c().namespace]);
  t.regex(get.stdout, /SIZING/);
});

test.serial(
  'a scheduled run whose workload got slower raises Regressed with a Warning event, and a run back in range clears it',
  async (t) => {
    // Three runs of a schedule on the real node: a baseline, then the workload's downstream
    // wait per request raised from 1 ms to 400 ms (a dependency that got slower), then back.
    // A wait, not CPU, on purpose: the wait is awaited, so it adds 400 ms to every request
    // without queueing, and the slow run's p99 sits just above 400 ms with a spread of tens
    // of ms at most (150 ms gave 167-199 ms per trial), above even a hiccup trial's p99.
    // Extra CPU per request (30 ms at 20 req/s, until 2026-12-03) made the slow p99 itself
    // queue-bound and noisy (47-96 ms per trial), so one machine hiccup in a trial of each
    // variant (p99 60-290 ms at 1 ms of CPU, seen in CI) could hide the change. Four trials
    // per variant: a run's p99 is judged by its t interval over trials. Every 2 minutes so
    // that a run (8 trials, about 70 s) ends before the next tick, and each spec edit lands
    // between runs.
    t.timeout(12 * 60_000);
    const name = 'regress';
    const manifest = shortenedExample('quickstart.yaml', (doc) => {
      doc.metadata.name = name;
      doc.spec.workload = { ...doc.spec.workload, profile: 'mixed', cpuTime: '1ms', ioWait: '1ms' };
      doc.spec.load = { ...doc.spec.load, rate: 20, duration: '3s', warmUp: '1s' };
      doc.spec.trials = 4;
      Object.assign(doc.spec, { schedule: '*/2 * * * *', historyLimit: 3 });
    });
    await c().applyManifest(manifest);
    t.teardown(async () => {
      await c().cluster.kubectl(['delete', 'cx', name, '-n', c().namespace, '--wait=true', '--timeout=60s']);
    });
    const ns = c().namespace;
    const setIoWait = async (ioWait: string) => {
      const patch = JSON.stringify({ spec: { workload: { ioWait } } });
      const r = await c().cluster.kubectl(['patch', 'cx', name, '-n', ns, '--type', 'merge', '-p', patch]);
      t.is(r.code, 0, r.stderr);
    };
    /** Waits for the n-th run in status.history to have succeeded, with the experiment idle again. */
    const run = async (n: number) => {
      const cx = await c().waitForExperiment(
        name,
        (x) =>
          (x.status?.history ?? []).length >= n &&
          (x.status?.history ?? []).slice(0, 1).every((h) => h.phase === 'Succeeded' || h.phase === 'Failed') &&
          x.status?.phase !== 'Running',
        240_000,
      );
      t.is(cx.status?.history?.[0]?.phase, 'Succeeded', `run ${n}: ${JSON.stringify(cx.status?.conditions)}`);
      const report = await reportOf(t, name);
      t.log(
        `run ${n} p99 per trial: ${report.variants.map((v) => `${v.name} ${v.latency.p99PerTrialMillis.map((x) => x.toFixed(1)).join('/')} ms`).join(', ')}`,
      );
      return cx;
    };
    const regressed = (cx: Awaited<ReturnType<typeof run>>) =>
      cx.status?.conditions?.find((x) => x.type === 'Regressed');
    const events = async (reason: string) =>
      (await c().api.core.listNamespacedEvent({ namespace: ns })).items.filter(
        (e) => e.reason === reason && e.involvedObject.name === name,
      );

    const first = await run(1);
    t.is(regressed(first)?.reason, 'NoBaseline', 'the first run has nothing to compare with');
    await setIoWait('400ms');

    const second = await run(2);
    const cond2 = regressed(second);
    t.is(cond2?.status, 'True', JSON.stringify(second.status?.conditions));
    t.is(cond2?.reason, 'RegressionDetected');
    t.regex(cond2?.message ?? '', /p99 [\d.]+ ms, previous .+ ms.*\(\+[\d.]+%\)/);
    t.log(`run 2: ${cond2?.message}`);
    const warning = (await events('RegressionDetected'))[0];
    t.is(warning?.type, 'Warning', 'a Warning event alerting can hook onto');
    await setIoWait('1ms');

    const third = await run(3);
    const cond3 = regressed(third);
    t.is(cond3?.status, 'False', JSON.stringify(third.status?.conditions));
    t.is(cond3?.reason, 'RegressionCleared');
    t.log(`run 3: ${cond3?.message}`);
    t.is((await events('RegressionCleared'))[0]?.type, 'Normal');
    t.is(third.status?.history?.length, 3, 'bounded by historyLimit 3');
  },
);
