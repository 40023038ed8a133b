// The Python workload is traced out of the box: under the interpreter of the tracing environment
// conclab prepares (built for real on first use), it exports SERVER spans over OTLP/HTTP to a real
// receiver, configured only by the standard OTEL_* variables the SDK reads itself. Without the
// SDK importable (python3 -S hides site-packages) it serves untraced and says why.
import { createServer, type Socket } from 'node:net';
import test from 'ava';
import {
  burst,
  contractStats,
  PythonWorkload,
  request,
  startPython,
  startTracedPython,
  tracingPython,
  type Workload,
} from './harness.ts';
import { OtlpSink } from './otlp-sink.ts';

// The first run on a machine builds the tracing environment (pip, tens of seconds): not in a test's time.
test.before(async (t) => {
  t.timeout(600_000);
  await tracingPython();
});

const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

async function sink(t: { teardown: (f: () => Promise<void>) => void }): Promise<OtlpSink> {
  const s = await new OtlpSink().start();
  t.teardown(() => s.close());
  return s;
}

async function flush(workload: Workload, timeoutMillis = 5000) {
  const response = await workload.admin('POST', `/flush?timeoutMillis=${timeoutMillis}`, timeoutMillis + 5000);
  return { status: response.status, body: JSON.parse(response.body) as Record<string, unknown> };
}

test('without the OpenTelemetry SDK importable it serves untraced, logs one line why, and /stats says so', async (t) => {
  const receiver = await sink(t);
  const workload = await startPython(
    t,
    { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '1', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
    'ignore',
    ['python3', '-S'],
  );
  const lines = workload.events.filter((e) => e.event === 'tracing');
  t.is(lines.length, 1);
  t.like(lines[0], { enabled: false });
  t.regex(String(lines[0]!['reason']), /OpenTelemetry SDK not installed.*requirements\.txt/);
  const stats = await contractStats(workload);
  t.false(stats.tracing.enabled);
  t.regex(stats.tracing.detail ?? '', /OpenTelemetry SDK not installed/);
  t.is((await request(workload.ready.port, '/work', 5000)).status, 200);
  t.deepEqual((await flush(workload)).body, { flushed: true, workers: 0 });
  t.is(receiver.spans.length, 0);
});

for (const model of ['process', 'thread', 'offload'] as const) {
  test(`${model} model exports one SERVER span per request with conclab's attributes, flushed on SIGTERM`, async (t) => {
    const receiver = await sink(t);
    // The base endpoint (plus /v1/traces) for one model, the traces endpoint for the others.
    const endpoint: Record<string, string> =
      model === 'process'
        ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }
        : { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` };
    const workload = await startTracedPython(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      ...endpoint,
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=Bearer s3cret',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      CONCLAB_EXPERIMENT: 'exp-1',
      CONCLAB_VARIANT: `v-${model}`,
      CONCLAB_TRIAL: '3',
      CONCLAB_RUN: 'run-7',
      CONCLAB_REPLICA: '2',
    });
    t.false(
      workload.events.some((e) => e.event === 'tracing'),
      'no "untraced" line',
    );
    t.deepEqual((await contractStats(workload)).tracing, { enabled: true, sampleRatio: 1 });
    for (let i = 0; i < 6; i++) t.is((await request(workload.ready.port, '/work', 5000)).status, 200);
    const traced = await request(workload.ready.port, '/work', 5000, 'GET', {
      traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01`,
    });
    t.is(traced.status, 200);
    const stats = await contractStats(workload);
    workload.killGroup('SIGTERM');
    t.deepEqual(await workload.exited, { code: 0, signal: null }, 'spans flushed on SIGTERM, then exit 0');
    t.is(receiver.spans.length, 7, 'one span per work request');
    t.true(receiver.paths.every((p) => p === 'POST /v1/traces'));
    t.true(receiver.headers.every((h) => h['authorization'] === 'Bearer s3cret'));
    for (const span of receiver.spans) {
      t.is(span.kind, 2, 'SERVER');
      t.is(span.name, 'GET /work');
      t.like(span.attributes, {
        'conclab.experiment': 'exp-1',
        'conclab.variant': `v-${model}`,
        'conclab.trial': '3',
        'conclab.model': model,
        'conclab.run': 'run-7',
        'conclab.replica': 2,
        'http.response.status_code': 200,
      });
      const identity = stats.workers[span.attributes['conclab.worker'] as number]!;
      t.is(span.attributes['process.pid'], identity.pid);
      t.is(span.attributes['thread.id'], identity.threadId);
      t.true((span.attributes['conclab.queue_time_ms'] as number) >= 0);
      t.is(span.attributes['conclab.shared_state_cost_ms'], undefined, 'only under the shared-state profile');
      t.is(span.resource['service.name'], 'conclab-workload-python');
      t.is(span.resource['process.pid'], identity.pid);
    }
    const child = receiver.spans.filter((s) => s.traceId === PARENT_TRACE);
    t.is(child.length, 1, 'the incoming traceparent is honoured');
    t.is(child[0]!.parentSpanId, PARENT_SPAN);
  });
}

test('OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are on the resource of every span, the user first', async (t) => {
  const receiver = await sink(t);
  const named = await startTracedPython(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: 'checkout-py',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=lab,conclab.experiment=exp%2C9,service.name=not-this',
  });
  t.is((await request(named.ready.port, '/work', 5000)).status, 200);
  t.is((await flush(named)).status, 200);
  t.is(receiver.spans.length, 1);
  t.like(receiver.spans[0]!.resource, {
    'service.name': 'checkout-py',
    'deployment.environment': 'lab',
    'conclab.experiment': 'exp,9',
    'process.pid': named.pid,
  });
  const fromAttributes = await startTracedPython(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '1',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_RESOURCE_ATTRIBUTES: 'service.name=billing,team=perf',
  });
  t.is((await request(fromAttributes.ready.port, '/work', 5000)).status, 200);
  t.is((await flush(fromAttributes)).status, 200);
  t.is(receiver.spans.length, 2);
  t.like(receiver.spans[1]!.resource, { 'service.name': 'billing', team: 'perf' });
});

test('OTEL_TRACES_SAMPLER_ARG is the share of new traces traced; an incoming traceparent decides for its trace', async (t) => {
  const receiver = await sink(t);
  const workload = await startTracedPython(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '2',
    CONCLAB_CPU_MILLIS: '0',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
  });
  t.deepEqual((await contractStats(workload)).tracing, { enabled: true, sampleRatio: 0.25 });
  const results = await burst(workload.ready.port, 400, 4, 10_000);
  t.is(results.filter((r) => !(r instanceof Error) && r.status === 200).length, 400);
  const sampledParents = new Set<string>();
  const unsampledParents = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const sampled = `${String(i).padStart(2, '0')}${'a'.repeat(30)}`;
    const unsampled = `${String(i).padStart(2, '0')}${'b'.repeat(30)}`;
    sampledParents.add(sampled);
    unsampledParents.add(unsampled);
    await request(workload.ready.port, '/work', 5000, 'GET', { traceparent: `00-${sampled}-${PARENT_SPAN}-01` });
    await request(workload.ready.port, '/work', 5000, 'GET', { traceparent: `00-${unsampled}-${PARENT_SPAN}-00` });
  }
  t.is((await flush(workload)).status, 200);
  const fresh = receiver.spans.filter((s) => !sampledParents.has(s.traceId) && !unsampledParents.has(s.traceId));
  // Binomial(400, 0.25): mean 100, sd 8.7; the bounds are 4.6 sd away.
  t.true(fresh.length >= 60 && fresh.length <= 140, `${fresh.length} of 400 new traces sampled`);
  t.is(new Set(fresh.map((s) => s.traceId)).size, fresh.length, 'every sampled request is its own trace');
  t.is(receiver.spans.filter((s) => sampledParents.has(s.traceId)).length, 10, 'sampled parents: always');
  t.is(receiver.spans.filter((s) => unsampledParents.has(s.traceId)).length, 0, 'unsampled parents: never');
});

for (const model of ['process', 'thread'] as const) {
  test(`${model} model: POST /flush returns once every worker exported its spans, long before the batch delay`, async (t) => {
    const receiver = await sink(t);
    const workload = await startTracedPython(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '60000',
    });
    t.is((await burst(workload.ready.port, 30, 4)).length, 30);
    t.is(receiver.spans.length, 0, 'the batch delay holds them');
    const response = await flush(workload);
    t.is(response.status, 200);
    t.deepEqual(response.body, { flushed: true, workers: 2 });
    t.is(receiver.spans.length, 30, 'every span arrived before the answer');
  });
}

test('POST /flush answers 504 at the bound when a worker process is hung, naming it', async (t) => {
  const receiver = await sink(t);
  const workload = await startTracedPython(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  });
  t.is(await workload.fault('hang', 1), 202);
  t.true(await workload.until(async () => (await workload.readyz()) === 503, 8000), 'the hung worker stops beating');
  const started = Date.now();
  const response = await flush(workload, 800);
  const took = Date.now() - started;
  t.is(response.status, 504);
  t.like(response.body, { flushed: false, workers: 2, done: [0], failed: [], pending: [1] });
  t.regex(String(response.body['error']), /workers 1 did not flush within 800 ms/);
  t.true(took >= 700 && took < 5000, `${took} ms`);
});

test('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT is milliseconds: an export to a silent receiver gives up after it', async (t) => {
  // A receiver that accepts connections and never answers. Read as seconds (what the Python
  // exporter would do by itself), 300 would hold the flush for five minutes.
  const held: Socket[] = [];
  const silent = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of held) socket.destroy();
    silent.close();
  });
  const port = (silent.address() as { port: number }).port;
  const workload = await startTracedPython(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '300',
  });
  t.is((await request(workload.ready.port, '/work', 5000)).status, 200);
  const started = Date.now();
  const response = await flush(workload, 20_000);
  const took = Date.now() - started;
  t.is(response.status, 504, 'the export failed: the spans were not delivered');
  t.like(response.body, { flushed: false, workers: 1, done: [], failed: [0], pending: [] });
  t.true(took < 10_000, `gave up after ${took} ms`);
});

for (const model of ['process', 'thread'] as const) {
  test(`${model} model: shared-state spans carry the cost of the update (${model === 'process' ? 'IPC round trip' : 'lock wait and hold'})`, async (t) => {
    const receiver = await sink(t);
    const workload = await startTracedPython(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      CONCLAB_PROFILE: 'shared-state',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    t.is((await burst(workload.ready.port, 20, 4)).length, 20);
    t.is((await flush(workload)).status, 200);
    t.is(receiver.spans.length, 20);
    for (const span of receiver.spans) {
      const cost = span.attributes['conclab.shared_state_cost_ms'];
      t.true(typeof cost === 'number' && cost > 0 && cost < 5000, `cost ${cost}`);
    }
    t.deepEqual((await contractStats(workload)).sharedState, { attempts: 20, value: 20 });
  });
}

test('OTEL_SDK_DISABLED=true: no spans, and /stats and the log say which variable turned tracing off', async (t) => {
  const receiver = await sink(t);
  const workload = await startTracedPython(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SDK_DISABLED: 'true',
  });
  t.like(
    workload.events.find((e) => e.event === 'tracing'),
    { enabled: false, reason: 'OTEL_SDK_DISABLED=true' },
  );
  t.deepEqual((await contractStats(workload)).tracing, { enabled: false, detail: 'OTEL_SDK_DISABLED=true' });
  t.is((await request(workload.ready.port, '/work', 5000)).status, 200);
  t.deepEqual((await flush(workload)).body, { flushed: true, workers: 0 });
  t.is(receiver.spans.length, 0);
});

test('a bad tracing variable stops the workload naming it; the removed CONCLAB_TRACING only warns', async (t) => {
  const bad = new PythonWorkload({
    OTEL_TRACES_SAMPLER: 'sometimes',
    OTEL_TRACES_EXPORTER: 'zipkin',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_TIMEOUT: 'soon',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318',
  });
  t.teardown(() => bad.killGroup());
  t.is((await bad.exited).code, 2);
  t.regex(bad.stderr, /OTEL_TRACES_SAMPLER='sometimes' is not supported: expected one of always_on/);
  t.regex(bad.stderr, /OTEL_TRACES_EXPORTER='zipkin' is not supported/);
  t.regex(bad.stderr, /OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported: .* http\/protobuf/);
  t.regex(bad.stderr, /OTEL_EXPORTER_OTLP_TIMEOUT='soon' is invalid: expected a whole number of milliseconds/);
  t.regex(bad.stderr, /OTEL_EXPORTER_OTLP_ENDPOINT='localhost:4318' is invalid: expected an http\(s\) URL/);
  const old = await startPython(t, { CONCLAB_MODEL: 'thread', CONCLAB_WORKERS: '1', CONCLAB_TRACING: 'true' });
  const warned = /CONCLAB_TRACING is no longer read: .*OTEL_SDK_DISABLED/;
  t.true(await old.until(async () => warned.test(old.stderr), 3000), old.stderr);
  t.false((await contractStats(old)).tracing.enabled);
});
