// Tracing is optional for the Python workload: with the OpenTelemetry SDK and OTLP/HTTP exporter
// importable it exports SERVER spans with the Node workload's attributes to a real OTLP receiver;
// without them it serves untraced and says so in one log line. Which case runs depends on the
// interpreter (CONCLAB_TEST_PYTHON may name a venv that has the packages); the other is skipped.
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { OtlpReceiver } from '../node/otlp-receiver.ts';
import { PYTHON, request, startPython } from './harness.ts';

const hasOtel =
  spawnSync(PYTHON, ['-c', 'import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter'], {
    stdio: 'ignore',
  }).status === 0;

const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

(hasOtel ? test.skip : test)('without OpenTelemetry installed it serves untraced and logs one line why', async (t) => {
  const receiver = await new OtlpReceiver().start();
  t.teardown(() => receiver.close());
  const workload = await startPython(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '1',
    CONCLAB_TRACING: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  });
  const lines = workload.events.filter((e) => e.event === 'tracing');
  t.is(lines.length, 1);
  t.like(lines[0], { enabled: false });
  t.regex(String(lines[0]!['reason']), /opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http/);
  t.is((await request(workload.ready.port, '/work', 5000)).status, 200);
});

for (const model of ['process', 'thread', 'offload'] as const) {
  (hasOtel ? test : test.skip)(`${model} model exports SERVER spans with the Node workload's attributes`, async (t) => {
    const receiver = await new OtlpReceiver().start();
    t.teardown(() => receiver.close());
    const workload = await startPython(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      CONCLAB_TRACE_SAMPLE_RATIO: '1',
      CONCLAB_EXPERIMENT: 'exp-1',
      CONCLAB_VARIANT: `v-${model}`,
      CONCLAB_TRIAL: '3',
    });
    t.false(
      workload.events.some((e) => e.event === 'tracing'),
      'no "untraced" line',
    );
    for (let i = 0; i < 6; i++) t.is((await request(workload.ready.port, '/work', 5000)).status, 200);
    const traced = await request(workload.ready.port, '/work', 5000, 'GET', {
      traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01`,
    });
    t.is(traced.status, 200);
    const stats = await workload.stats();
    workload.killGroup('SIGTERM');
    t.deepEqual(await workload.exited, { code: 0, signal: null }, 'spans flushed on SIGTERM, then exit 0');
    t.true(await workload.until(async () => receiver.spans.length >= 7, 3000), `${receiver.spans.length} spans`);
    t.is(receiver.spans.length, 7, 'one span per work request');
    for (const span of receiver.spans) {
      t.is(span.kind, 2, 'SERVER');
      t.like(span.attributes, {
        'conclab.experiment': 'exp-1',
        'conclab.variant': `v-${model}`,
        'conclab.trial': '3',
        'conclab.model': model,
      });
      const identity = stats.workers[span.attributes['conclab.worker'] as number]!;
      t.is(span.attributes['process.pid'], identity.pid);
      t.is(span.attributes['thread.id'], identity.threadId);
      t.true((span.attributes['conclab.queue_time_ms'] as number) >= 0);
      t.is(span.attributes['http.response.status_code'], 200);
      t.is(span.resource['service.name'], 'conclab-workload-python');
    }
    t.is(receiver.spans.filter((s) => s.traceId === PARENT_TRACE).length, 1, 'the incoming traceparent is honoured');
  });
}
