// The trial runner both placements share, run here against the real Node workload deployed
// by the local runtime (real processes in real cgroups, real HTTP, real OTLP): a
// max-throughput search over two replicas with a `throw` fault, the shape the parity test
// also runs in a cluster. Every field the record promises must be filled from measurement.
import { randomBytes } from 'node:crypto';
import test from 'ava';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import { parseDurationMillis } from '../../operator/api/units.ts';
import { runTrial } from '../../operator/engine/trial-runner.ts';
import { runBuiltinLoad } from '../../operator/load/builtin.ts';
import { createLocalRuntime } from '../../operator/runtime/local/index.ts';
import { startTraceReceiver } from '../../operator/telemetry/receiver.ts';

function experiment(): ConcurrencyExperiment {
  return {
    apiVersion: 'conclab.dev/v1alpha1',
    kind: 'ConcurrencyExperiment',
    metadata: { name: 'runner' },
    spec: {
      workload: {
        runtime: 'node',
        profile: 'cpu',
        cpuTime: '4ms',
        ioWait: '0ms',
        responseBytes: 64,
        replaceWorkers: true,
        racyUpdates: false,
      },
      resources: { cpu: '500m', memory: '256Mi' },
      variants: [{ name: 'processes', model: 'process', workers: 2, replicas: 2 }],
      load: {
        driver: 'builtin',
        pattern: 'max-throughput',
        rate: 20,
        duration: '1500ms',
        warmUp: '500ms',
        maxInFlight: 256,
        timeout: '2s',
      },
      faults: [{ kind: 'throw', at: '500ms', target: { worker: 1 } }],
      slo: { latency: { p99: '1s' }, errorRate: 0.05 },
      tracing: { enabled: true, sampleRatio: 1 },
      trials: 1,
      historyLimit: 5,
    },
  };
}

test('one trial: a search of several steps, usage from the kernel, the fault and its replacement, load on every replica, spans per replica', async (t) => {
  const exp = experiment();
  const variant = exp.spec.variants[0];
  if (!variant) throw new Error('no variant');
  const token = randomBytes(16).toString('hex');
  const receiver = await startTraceReceiver({ token });
  const runtime = createLocalRuntime();
  try {
    const deployed = await runtime.start({
      experiment: exp,
      variant,
      trial: 1,
      run: 'r1',
      tracing: { tracesEndpoint: `${receiver.url}/v1/traces`, token },
    });
    const record = await runTrial(
      {
        experiment: exp,
        variant,
        trial: 1,
        run: 'r1',
        targets: deployed.workUrls.map((workUrl, i) => ({ workUrl, adminUrl: deployed.adminUrls[i] ?? '' })),
      },
      {
        // This test is about the record, not the generator's health: on a shared 2-core machine
        // a generator late by tens of ms must not end the search (a run would flag it, rightly).
        drive: (plan) => runBuiltinLoad(plan, { maxSendSlipP99Millis: 2000, maxEventLoopLagMillis: 5000 }),
        receiver,
        placementEvents: () => runtime.events(deployed),
        parseMillis: parseDurationMillis,
      },
    );
    await runtime.stop(deployed);

    // The search: several steps, each with its rate and outcome, and a capacity.
    t.truthy(record.search, 'max-throughput keeps the search');
    t.true((record.search?.steps.length ?? 0) > 1, `steps: ${JSON.stringify(record.search?.steps.map((s) => s.rate))}`);
    t.true((record.search?.capacity ?? 0) > 0, JSON.stringify(record.search));
    t.true(record.search?.steps.every((s) => typeof s.startedAtMillis === 'number') ?? false);

    // Usage from the replicas' cgroups, over the measured window.
    t.truthy(record.usage, record.usageMissing);
    t.true((record.usage?.cpuSeconds ?? 0) > 0);
    t.true((record.usage?.peakMemoryBytes ?? 0) > 0);
    t.like(record.usage?.limits, { cpuCores: 0.5, memoryBytes: 256 * 1024 * 1024 });
    t.true((record.usage?.contextSwitches?.voluntary ?? 0) + (record.usage?.contextSwitches?.involuntary ?? 0) > 0);
    t.true((record.usage?.processes?.length ?? 0) >= 2 * 3, 'supervisor + 2 workers per replica');

    // The fault hit replica 0, worker 1; the supervisor replaced it and says how fast.
    t.is(record.faults.length, 1);
    t.like(record.faults[0], { kind: 'throw', replica: 0, worker: 1 });
    const replaced = record.events.find((e) => e.kind === 'worker-replaced' && e.replica === 0 && e.worker === 1);
    t.truthy(replaced, JSON.stringify(record.events));
    t.true((replaced?.coldStartMillis ?? 0) > 0);

    // Every replica received load, as the workloads themselves counted it.
    t.is(record.replicas?.length, 2);
    for (const r of record.replicas ?? []) t.true((r.requestsReceived ?? 0) > 0, `replica ${r.replica} got no load`);
    t.is(record.load.perTarget?.length, 2);

    // Spans of this run, keyed per replica, released from the receiver afterwards.
    t.true(record.spans.length > 0, record.spansMissing);
    t.deepEqual([...new Set(record.spans.map((s) => s.key.replica))].sort(), ['0', '1']);
    t.true(record.spans.every((s) => s.key.run === 'r1'));
    t.deepEqual(receiver.aggregates({ experiment: 'runner' }), []);
  } finally {
    await runtime.cleanup();
    await receiver.close();
  }
});
