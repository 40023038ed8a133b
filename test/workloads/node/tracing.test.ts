// Spans reach a real OTLP/HTTP receiver from every model, with every attribute the analysis needs,
// honour an incoming traceparent, and are flushed on SIGTERM (the batch delay is longer than the
// time between the last request and the signal).
import test from 'ava';
import { burst, request, sleep, startWorkload, Workload } from './harness.ts';
import { OtlpReceiver } from './otlp-receiver.ts';

const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

for (const model of ['process', 'thread', 'offload'] as const) {
  test(`${model} model exports SERVER spans with all conclab attributes and flushes them on SIGTERM`, async (t) => {
    const receiver = await new OtlpReceiver().start();
    t.teardown(() => receiver.close());
    const workload = await startWorkload(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '1',
      CONCLAB_EXPERIMENT: 'exp-1',
      CONCLAB_VARIANT: `v-${model}`,
      CONCLAB_TRIAL: '3',
    });
    const results = await burst(workload.ready.port, 20, 4);
    t.true(results.every((r) => !(r instanceof Error) && r.status === 200));
    const traced = await request(workload.ready.port, '/work', 3000, 'GET', {
      traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01`,
    });
    t.is(traced.status, 200);
    const stats = await workload.stats();
    workload.killGroup('SIGTERM');
    const exit = await Promise.race([workload.exited, sleep(15_000).then(() => 'timeout')]);
    t.deepEqual(exit, { code: 0, signal: null });

    t.true(await workload.until(async () => receiver.spans.length >= 21, 3000), `${receiver.spans.length} spans`);
    t.is(receiver.spans.length, 21, 'one span per request, none for admin calls');
    t.deepEqual([...receiver.contentTypes], ['application/x-protobuf']);
    const workerIds = new Set<string>();
    for (const span of receiver.spans) {
      t.is(span.kind, 2, 'SERVER');
      t.like(span.attributes, {
        'conclab.experiment': 'exp-1',
        'conclab.variant': `v-${model}`,
        'conclab.trial': '3',
        'conclab.model': model,
      });
      const worker = span.attributes['conclab.worker'] as number;
      const identity = stats.workers[worker]!;
      t.is(span.attributes['process.pid'], identity.pid);
      t.is(span.attributes['thread.id'], identity.threadId);
      t.is(typeof span.attributes['conclab.queue_time_ms'], 'number');
      t.true((span.attributes['conclab.queue_time_ms'] as number) >= 0);
      t.true(span.endNanos >= span.startNanos);
      t.is(span.resource['service.name'], 'conclab-workload-node');
      workerIds.add(`${worker}`);
    }
    t.is(workerIds.size, 2, 'spans from both workers');
    const child = receiver.spans.filter((s) => s.traceId === PARENT_TRACE);
    t.is(child.length, 1, 'the incoming traceparent is honoured');
    t.is(child[0]!.parentSpanId, PARENT_SPAN);
  });
}

test('sample ratio 0 records no new traces but still honours a sampled incoming traceparent', async (t) => {
  const receiver = await new OtlpReceiver().start();
  t.teardown(() => receiver.close());
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0',
  });
  await burst(workload.ready.port, 10, 2);
  await request(workload.ready.port, '/work', 3000, 'GET', { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01` });
  workload.killGroup('SIGTERM');
  await Promise.race([workload.exited, sleep(15_000)]);
  t.true(await workload.until(async () => receiver.spans.length >= 1, 3000));
  await sleep(200);
  t.is(receiver.spans.length, 1);
  t.is(receiver.spans[0]!.traceId, PARENT_TRACE);
});

test('OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES land on the resource; replica and run on every span', async (t) => {
  const receiver = await new OtlpReceiver().start();
  t.teardown(() => receiver.close());
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '1',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
    OTEL_SERVICE_NAME: 'checkout',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=lab,team=perf%20eng,service.name=ignored',
    CONCLAB_REPLICA: '2',
    CONCLAB_RUN: 'run-42',
  });
  t.is((await burst(workload.ready.port, 5, 1)).length, 5);
  t.is((await workload.admin('POST', '/flush')).status, 200);
  t.is(receiver.spans.length, 5);
  for (const span of receiver.spans) {
    t.like(span.resource, {
      'service.name': 'checkout',
      'deployment.environment': 'lab',
      team: 'perf eng',
      'telemetry.sdk.language': 'nodejs',
    });
    t.like(span.attributes, { 'conclab.replica': 2, 'conclab.run': 'run-42' });
  }
});

test('OTEL_TRACES_SAMPLER_ARG=0.25 traces about a quarter of new traces, and every sampled incoming traceparent', async (t) => {
  const receiver = await new OtlpReceiver().start();
  t.teardown(() => receiver.close());
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '2',
    CONCLAB_CPU_MILLIS: '0',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
  });
  const n = 800;
  t.is((await burst(workload.ready.port, n, 8)).length, n);
  const parents = Array.from({ length: 10 }, (_, i) => `${String(i).padStart(2, '0')}${PARENT_TRACE.slice(2)}`);
  for (const trace of parents) {
    await request(workload.ready.port, '/work', 3000, 'GET', { traceparent: `00-${trace}-${PARENT_SPAN}-01` });
    await request(workload.ready.port, '/work', 3000, 'GET', { traceparent: `00-${trace}-${PARENT_SPAN}-00` });
  }
  t.is((await workload.admin('POST', '/flush')).status, 200);
  const roots = receiver.spans.filter((s) => s.parentSpanId === '');
  // Binomial(800, 0.25): sd ~ 12.2; 5 sd either side is a bound a correct sampler essentially never crosses.
  const sd = Math.sqrt(n * 0.25 * 0.75);
  t.true(Math.abs(roots.length - n * 0.25) < 5 * sd, `${roots.length} of ${n} new traces sampled`);
  const children = receiver.spans.filter((s) => s.parentSpanId === PARENT_SPAN);
  t.deepEqual(children.map((s) => s.traceId).sort(), [...parents].sort(), 'every sampled parent, no unsampled one');
  const stats = (await workload.statsJson()) as { tracing: { enabled: boolean; sampleRatio: number } };
  t.deepEqual(stats.tracing, { enabled: true, sampleRatio: 0.25 });
});

for (const model of ['process', 'thread'] as const) {
  test(`${model} model: shared-state spans carry the cost of their update`, async (t) => {
    const receiver = await new OtlpReceiver().start();
    t.teardown(() => receiver.close());
    const workload = await startWorkload(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      CONCLAB_PROFILE: 'shared-state',
      CONCLAB_CPU_MILLIS: '0.1',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    t.is((await burst(workload.ready.port, 40, 4)).length, 40);
    t.is((await workload.admin('POST', '/flush')).status, 200);
    t.is(receiver.spans.length, 40);
    for (const span of receiver.spans) {
      const cost = span.attributes['conclab.shared_state_cost_ms'];
      t.is(typeof cost, 'number');
      t.true((cost as number) >= 0 && (cost as number) < 5000);
    }
    if (model === 'process') {
      // An IPC round trip to the supervisor is never free.
      t.true(receiver.spans.every((s) => (s.attributes['conclab.shared_state_cost_ms'] as number) > 0));
    }
  });
}

test('a protocol other than http/protobuf stops the workload at once, saying so', async (t) => {
  const workload = new Workload({
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317',
  });
  t.teardown(() => workload.killGroup());
  t.is((await workload.exited).code, 2);
  t.regex(workload.stderr, /OTEL_EXPORTER_OTLP_PROTOCOL="grpc" is not supported: .*http\/protobuf only/);
});
