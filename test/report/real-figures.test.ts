// The figures of the process-vs-thread question from REAL processes: one short trial of the
// real Node workload per model through the trial runner with the local runtime (real cgroups,
// real HTTP, real OTLP spans), shared-state in racy mode, then the report built from the two
// records. The assertions are the physically certain ones, not timings:
// - a process model has a supervisor and one OS process per worker, the thread model one;
// - each worker process holds a whole runtime privately, so the process model's summed USS
//   exceeds the one thread-model process's USS;
// - racy updates split into a get and a set over IPC lose updates under concurrent load;
// - an IPC round trip to the state owner costs more than a lock in shared memory;
// - every figure in the report is the one computed from its own variant's record.
import { randomBytes } from 'node:crypto';
import test from 'ava';
import type { ConcurrencyExperiment, Variant } from '../../operator/api/schema.ts';
import { parseDurationMillis } from '../../operator/api/units.ts';
import type { TrialRecord } from '../../operator/contracts/records.ts';
import { runTrial } from '../../operator/engine/trial-runner.ts';
import { runBuiltinLoad } from '../../operator/load/builtin.ts';
import { renderHtml } from '../../operator/report/html.ts';
import { toJsonReport, validateJsonReport } from '../../operator/report/json.ts';
import { buildReport } from '../../operator/report/model.ts';
import { createLocalRuntime } from '../../operator/runtime/local/index.ts';
import { startTraceReceiver } from '../../operator/telemetry/receiver.ts';
import { buildEnvironment } from '../analysis/records-builder.ts';

const WORKERS = 3;

function experiment(): ConcurrencyExperiment {
  return {
    apiVersion: 'conclab.dev/v1alpha1',
    kind: 'ConcurrencyExperiment',
    metadata: { name: 'real-figures' },
    spec: {
      workload: {
        runtime: 'node',
        profile: 'shared-state',
        cpuTime: '1ms',
        ioWait: '0ms',
        responseBytes: 64,
        replaceWorkers: true,
        racyUpdates: true,
      },
      resources: { cpu: '1', memory: '512Mi' },
      variants: [
        { name: 'processes', model: 'process', workers: WORKERS, replicas: 1 },
        { name: 'threads', model: 'thread', workers: WORKERS, replicas: 1 },
      ],
      load: {
        driver: 'builtin',
        pattern: 'constant-arrival-rate',
        rate: 150,
        duration: '3s',
        warmUp: '1s',
        maxInFlight: 256,
        timeout: '3s',
      },
      tracing: { enabled: true, sampleRatio: 1 },
      trials: 1,
      historyLimit: 5,
    },
  };
}

async function trialOf(exp: ConcurrencyExperiment, variant: Variant): Promise<TrialRecord> {
  const token = randomBytes(16).toString('hex');
  const receiver = await startTraceReceiver({ token });
  const runtime = createLocalRuntime();
  try {
    const deployed = await runtime.start({
      experiment: exp,
      variant,
      trial: 1,
      run: 'figures',
      tracing: { tracesEndpoint: `${receiver.url}/v1/traces`, token },
    });
    const record = await runTrial(
      {
        experiment: exp,
        variant,
        trial: 1,
        run: 'figures',
        targets: deployed.workUrls.map((workUrl, i) => ({ workUrl, adminUrl: deployed.adminUrls[i] ?? '' })),
      },
      {
        // The figures are the subject, not the generator's health on a shared 2-core machine.
        drive: (plan) => runBuiltinLoad(plan, { maxSendSlipP99Millis: 5000, maxEventLoopLagMillis: 10_000 }),
        receiver,
        placementEvents: () => runtime.events(deployed),
        parseMillis: parseDurationMillis,
      },
    );
    await runtime.stop(deployed);
    return record;
  } finally {
    await runtime.cleanup();
    await receiver.close();
  }
}

test('real processes: memory by process, switches per request, lost updates and update cost per model', async (t) => {
  t.timeout(300_000);
  const exp = experiment();
  const [processVariant, threadVariant] = exp.spec.variants as [Variant, Variant];
  const processes = await trialOf(exp, processVariant);
  const threads = await trialOf(exp, threadVariant);

  // What the kernel holds: a supervisor and one process per worker, or one process in all.
  const pm = processes.usage?.processes ?? [];
  const tm = threads.usage?.processes ?? [];
  t.is(pm.filter((p) => p.role === 'supervisor').length, 1, JSON.stringify(pm));
  t.deepEqual(
    pm
      .filter((p) => p.role === 'worker')
      .map((p) => p.worker)
      .sort(),
    [0, 1, 2],
  );
  t.is(new Set(pm.map((p) => p.pid)).size, WORKERS + 1);
  t.is(tm.length, 1, JSON.stringify(tm));
  t.is(tm[0]?.role, 'process');
  for (const p of [...pm, ...tm]) t.true(p.ussBytes > 0 && p.ussBytes <= p.pssBytes && p.pssBytes <= p.rssBytes);

  // Racy get + set over IPC under concurrent load: updates are lost.
  const lost = processes.replicas?.[0]?.lostUpdates;
  t.true((lost ?? 0) > 0, `lost updates under processes: ${lost}`);
  t.true((processes.replicas?.[0]?.sharedStateAttempts ?? 0) > (lost ?? 0));
  t.not(threads.replicas?.[0]?.lostUpdates, undefined);

  const report = toJsonReport(
    buildReport({
      experiment: exp,
      environment: buildEnvironment(),
      startedAt: new Date(processes.load.startedAtMillis).toISOString(),
      endedAt: new Date(threads.load.endedAtMillis).toISOString(),
      trials: [processes, threads],
      partial: false,
    }),
  );
  t.deepEqual(validateJsonReport(JSON.parse(JSON.stringify(report))), []);
  const pv = report.variants.find((v) => v.name === 'processes');
  const tv = report.variants.find((v) => v.name === 'threads');

  // Every worker process pays the runtime again: its summed USS exceeds the one process's.
  const pUss = pv?.processMemory?.ussBytes.mean ?? 0;
  const tUss = tv?.processMemory?.ussBytes.mean ?? Number.POSITIVE_INFINITY;
  t.true(pUss > tUss, `USS: processes ${pUss}, threads ${tUss}`);
  t.is(
    pUss,
    pm.reduce((n, p) => n + p.ussBytes, 0),
  );
  t.is(tUss, tm[0]?.ussBytes ?? -1);
  t.is(pv?.processMemory?.processes, WORKERS + 1);
  t.is(tv?.processMemory?.processes, 1);

  // Switches per request: nonzero, and each variant's own counters over its own server count.
  for (const [v, record] of [
    [pv, processes],
    [tv, threads],
  ] as const) {
    const switches = record.usage?.contextSwitches;
    const served = (record.replicas ?? []).reduce((n, r) => n + (r.requestsReceived ?? 0), 0);
    t.true((switches?.voluntary ?? 0) + (switches?.involuntary ?? 0) > 0, v?.name);
    t.true(served > 0, v?.name);
    t.is(v?.contextSwitches?.requestsFrom, 'server');
    t.is(v?.contextSwitches?.voluntaryPerRequest.mean, (switches?.voluntary ?? 0) / served);
    t.is(v?.contextSwitches?.involuntaryPerRequest.mean, (switches?.involuntary ?? 0) / served);
    t.true((v?.contextSwitches?.voluntaryPerRequest.mean ?? 0) > 0, v?.name);
  }

  // An IPC round trip (two pipe messages and the owner's event loop) costs more than a few
  // writes to shared memory: the median update cost orders the models.
  const pCost = pv?.sharedState?.costMicros?.p50Micros ?? 0;
  const tCost = tv?.sharedState?.costMicros?.p50Micros ?? Number.POSITIVE_INFINITY;
  t.true(pCost > tCost, `update cost p50: processes ${pCost} us, threads ${tCost} us`);
  t.is(pv?.sharedState?.lostUpdates, lost);

  // The page shows them.
  const html = renderHtml(report);
  for (const id of ['memory', 'context-switches', 'shared-state']) t.true(html.includes(`data-chart="${id}"`), id);
  t.log(
    `processes: USS ${pUss} B, ${pv?.contextSwitches?.voluntaryPerRequest.mean?.toFixed(2)} vol + ${pv?.contextSwitches?.involuntaryPerRequest.mean?.toFixed(2)} invol switches/request, update p50 ${pCost} us, lost ${lost}`,
  );
  t.log(
    `threads: USS ${tUss} B, ${tv?.contextSwitches?.voluntaryPerRequest.mean?.toFixed(2)} vol + ${tv?.contextSwitches?.involuntaryPerRequest.mean?.toFixed(2)} invol switches/request, update p50 ${tCost} us, lost ${tv?.sharedState?.lostUpdates}`,
  );
});
