// One span exporter per workload, in the supervisor's process: worker processes hand their
// spans to it over IPC, so what a worker process recorded survives that process's crash; the
// resource still names the process that served each span; and POST /flush says when the
// exporter could not deliver.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { exporterPlacement } from '../../../workloads/node/span-export.ts';
import { burst, type Response, sleep, startWorkload } from './harness.ts';
import { OtlpReceiver } from './otlp-receiver.ts';

test('the supervisor runs the SDK in its own isolate unless its main thread serves (offload: one export thread)', (t) => {
  t.is(exporterPlacement('process'), 'supervisor-isolate');
  t.is(exporterPlacement('thread'), 'supervisor-isolate');
  t.is(exporterPlacement('offload'), 'export-thread');
});

test('process model: the spans a worker process recorded survive its abort, in the supervisor', async (t) => {
  const receiver = await new OtlpReceiver().start();
  t.teardown(() => receiver.close());
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '2',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    // Nothing is exported on its own: a span is either in the supervisor's queue or lost.
    OTEL_BSP_SCHEDULE_DELAY: '60000',
  });
  const before = (await workload.stats()).workers;
  const results = await burst(workload.ready.port, 40, 4);
  const ok = results.filter((r): r is Response => !(r instanceof Error) && r.status === 200);
  t.is(ok.length, 40);
  const servedBy1 = ok.filter((r) => r.headers['x-conclab-worker'] === '1').length;
  t.true(servedBy1 > 0, 'worker 1 served some of them');
  // A worker hands over within 200 ms of a span's end; wait well past that before it dies.
  await sleep(1500);
  t.is(await workload.fault('abort', 1), 202);
  await workload.waitForEvent((e) => e.event === 'worker-exit' && e['worker'] === 1, 15_000, 'worker-exit');
  t.is(receiver.spans.length, 0, 'held by the batch delay until the flush');
  const flush = await workload.admin('POST', '/flush?timeoutMillis=5000');
  t.is(flush.status, 200, flush.body);
  t.is(receiver.spans.length, 40, 'every span, the dead worker’s included');
  const ofWorker1 = receiver.spans.filter((s) => s.attributes['conclab.worker'] === 1);
  t.is(ofWorker1.length, servedBy1);
  t.true(ofWorker1.every((s) => s.attributes['process.pid'] === before[1]!.pid));
});

for (const model of ['process', 'thread'] as const) {
  test(`${model} model: the resource's process.pid is the process that served the span, as before the exporter moved`, async (t) => {
    const receiver = await new OtlpReceiver().start();
    t.teardown(() => receiver.close());
    const workload = await startWorkload(t, {
      CONCLAB_MODEL: model,
      CONCLAB_WORKERS: '2',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    t.is((await burst(workload.ready.port, 30, 4)).length, 30);
    t.is((await workload.admin('POST', '/flush')).status, 200);
    t.is(receiver.spans.length, 30);
    const pids = new Set(receiver.spans.map((s) => s.resource['process.pid']));
    for (const span of receiver.spans) t.is(span.resource['process.pid'], span.attributes['process.pid']);
    if (model === 'process') {
      t.is(pids.size, 2, 'one resource per worker process');
      t.false(pids.has(workload.pid), 'not the supervisor');
    } else {
      t.deepEqual([...pids], [workload.pid]);
    }
  });
}

test('POST /flush answers 504 naming the exporter when the receiver refuses the spans', async (t) => {
  const refusing = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(400, { 'content-type': 'text/plain' }).end('no'));
  });
  await new Promise<void>((resolve) => refusing.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => {
    refusing.closeAllConnections();
    refusing.close();
  });
  const workload = await startWorkload(t, {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '2',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`,
  });
  t.is((await burst(workload.ready.port, 10, 2)).length, 10);
  const flush = await workload.admin('POST', '/flush?timeoutMillis=3000');
  t.is(flush.status, 504);
  const body = JSON.parse(flush.body) as Record<string, unknown>;
  t.like(body, { flushed: false, workers: 2, pending: [] });
  t.deepEqual((body['done'] as number[]).sort(), [0, 1], 'both handed over; the export failed');
  t.regex(String(body['error']), /span exporter did not export every span/);
});
