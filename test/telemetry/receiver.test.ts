import { connect, createServer } from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan, TracerProvider } from '@opentelemetry/sdk-trace';
import test from 'ava';
import { request } from 'undici';
import { decodeHistogram, summarize } from '../../operator/contracts/histogram.ts';
import { startTraceReceiver, type TraceReceiverOptions } from '../../operator/telemetry/receiver.ts';
import type { TraceReceiver } from '../../operator/telemetry/types.ts';
import { sdkSpans } from './sdk-spans.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Compression = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>['compression'];

async function receiver(t: { teardown(fn: () => Promise<void>): void }, options: TraceReceiverOptions = {}) {
  const r = await startTraceReceiver(options);
  t.teardown(() => r.close());
  return r;
}

/** Every request presents the receiver's token unless the test says otherwise. */
async function post(r: TraceReceiver, body: Uint8Array | string, headers: Record<string, string>, method = 'POST') {
  const res = await request(`${r.url}/v1/traces`, {
    method: method as 'POST',
    body,
    headers: { authorization: `Bearer ${r.token}`, ...headers },
  });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body: bytes };
}

const PROTOBUF = { 'content-type': 'application/x-protobuf' };
const auth = (r: TraceReceiver) => ({ authorization: `Bearer ${r.token}` });
const JSON_TYPE = { 'content-type': 'application/json' };

async function someSpans(experiment = 'exp-a', count = 3): Promise<ReadableSpan[]> {
  const start = Date.now();
  return sdkSpans(
    { 'conclab.experiment': experiment, 'process.pid': 555 },
    Array.from({ length: count }, (_, i) => ({
      startMillis: start + i,
      durationMillis: 5,
      attributes: { 'conclab.trial': '1', 'conclab.variant': 'thread', 'conclab.worker': 'w0', 'thread.id': 1 },
    })),
  );
}

function exportWith(exporter: OTLPTraceExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

test('aggregates spans the OpenTelemetry SDK exports through a batch processor', async (t) => {
  const r = await receiver(t);
  const exporter = new OTLPTraceExporter({ url: `${r.url}/v1/traces`, headers: auth(r) });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'conclab.experiment': 'sdk-e2e', 'conclab.trial': '2', 'process.pid': 4321 }),
    spanProcessors: [new BatchSpanProcessor({ exporter, maxExportBatchSize: 64, scheduledDelayMillis: 50 })],
  });
  t.teardown(() => provider.shutdown());
  const tracer = provider.getTracer('receiver-test');
  const start = Date.now() - 1000;
  for (let i = 0; i < 200; i++) {
    const span = tracer.startSpan('GET /work', {
      kind: SpanKind.SERVER,
      startTime: start + i,
      attributes: {
        'conclab.variant': i % 2 === 0 ? 'process' : 'thread',
        'conclab.worker': `w${i % 4}`,
        'thread.id': i % 4,
        'conclab.queue_time_ms': 2,
      },
    });
    if (i % 10 === 0) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(start + i + 20);
  }
  await provider.forceFlush();

  const aggregates = r.aggregates({ experiment: 'sdk-e2e' });
  t.deepEqual(
    aggregates.map((a) => `${a.key.trial}/${a.key.variant}/${a.key.worker}`),
    ['2/process/w0', '2/process/w2', '2/thread/w1', '2/thread/w3'],
  );
  t.is(
    aggregates.reduce((n, a) => n + a.spans, 0),
    200,
  );
  // i % 10 === 0 -> even i with i % 4 in {0, 2}: errors fall on w0 (i = 0, 20, 40...) and w2 (i = 10, 30...).
  t.deepEqual(
    aggregates.map((a) => a.errors),
    [10, 10, 0, 0],
  );
  for (const a of aggregates) {
    t.is(a.spans, 50);
    t.deepEqual(a.pids, [4321]);
    t.deepEqual(a.threadIds, [Number(a.key.worker.slice(1))]);
    const d = summarize(decodeHistogram(a.durationHistogram));
    t.is(d.count, 50);
    t.true(Math.abs(d.p50Millis - 20) < 0.05, `duration p50 ${d.p50Millis}`);
    const q = summarize(decodeHistogram(a.queueHistogram));
    t.true(Math.abs(q.p99Millis - 2) < 0.01, `queue p99 ${q.p99Millis}`);
    t.is(
      a.perSecond.reduce((n, [, count]) => n + count, 0),
      50,
    );
  }
  t.is(r.stats().spansAccepted, 200);
  t.is(r.stats().requestsRejected, 0);
});

test('accepts gzip bodies from the exporter', async (t) => {
  const r = await receiver(t);
  const exporter = new OTLPTraceExporter({
    url: `${r.url}/v1/traces`,
    headers: auth(r),
    compression: 'gzip' as Compression,
  });
  t.teardown(() => exporter.shutdown());
  const result = await exportWith(exporter, await someSpans('gz', 7));
  t.is(result.code, 0, String(result.error));
  t.is(r.aggregates({ experiment: 'gz' })[0]?.spans, 7);
});

test('answers a protobuf request with an empty protobuf ExportTraceServiceResponse', async (t) => {
  const r = await receiver(t);
  const body = ProtobufTraceSerializer.serializeRequest(await someSpans())!;
  const res = await post(r, body, PROTOBUF);
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'application/x-protobuf');
  t.is(res.body.length, 0, 'full success leaves partial_success unset');
});

test('accepts OTLP/JSON bodies, plain and gzip, and answers in JSON', async (t) => {
  const r = await receiver(t);
  const body = JsonTraceSerializer.serializeRequest(await someSpans('json', 4))!;
  const plain = await post(r, body, JSON_TYPE);
  t.is(plain.status, 200);
  t.is(plain.headers['content-type'], 'application/json');
  t.deepEqual(JSON.parse(plain.body.toString()), {});
  const zipped = await post(r, gzipSync(body), { ...JSON_TYPE, 'content-encoding': 'gzip' });
  t.is(zipped.status, 200);
  t.is(r.aggregates({ experiment: 'json' })[0]?.spans, 8);
});

test('accepts a hand-written OTLP/JSON body', async (t) => {
  const r = await receiver(t);
  const body = JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'conclab.experiment', value: { stringValue: 'by-hand' } }] },
        scopeSpans: [
          {
            scope: { name: 'x' },
            spans: [
              {
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'eee19b7ec3c1b174',
                name: 'GET /',
                kind: 2,
                startTimeUnixNano: '1544712660000000000',
                endTimeUnixNano: '1544712660300000000',
                attributes: [
                  { key: 'conclab.worker', value: { intValue: '3' } },
                  { key: 'process.pid', value: { intValue: '77' } },
                ],
                status: { code: 2 },
              },
            ],
          },
        ],
      },
    ],
  });
  t.is((await post(r, body, JSON_TYPE)).status, 200);
  const [a] = r.aggregates({ experiment: 'by-hand' });
  t.is(a?.key.worker, '3');
  t.is(a?.errors, 1);
  t.deepEqual(a?.pids, [77]);
  t.deepEqual(a?.perSecond, [[1544712660, 1, 1]]);
  t.true(Math.abs(summarize(decodeHistogram(a!.durationHistogram)).maxMillis - 300) < 0.5);
});

test('refuses a body over maxBodyBytes with 413 and keeps serving', async (t) => {
  const r = await receiver(t, { maxBodyBytes: 1024 });
  const big = Buffer.alloc(64 * 1024, 1);
  const res = await post(r, big, PROTOBUF);
  t.is(res.status, 413);
  t.regex(res.body.toString(), /exceeds the limit of 1024 bytes/);
  // Without Content-Length (chunked), the limit is enforced while streaming.
  const chunked = await request(`${r.url}/v1/traces`, {
    method: 'POST',
    headers: { ...PROTOBUF, ...auth(r) },
    body: Readable.from(
      (async function* () {
        for (let i = 0; i < 8; i++) yield Buffer.alloc(512, 1);
      })(),
    ),
  });
  t.is(chunked.statusCode, 413);
  await chunked.body.dump();
  const ok = await post(r, ProtobufTraceSerializer.serializeRequest(await someSpans())!, PROTOBUF);
  t.is(ok.status, 200);
  t.is(r.stats().requestsRejected, 2);
});

test('refuses a gzip bomb by its decompressed size', async (t) => {
  const r = await receiver(t, { maxBodyBytes: 64 * 1024, maxDecompressedBytes: 1024 * 1024 });
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  t.true(bomb.length < 64 * 1024, `bomb is ${bomb.length} bytes on the wire`);
  const res = await post(r, bomb, { ...PROTOBUF, 'content-encoding': 'gzip' });
  t.is(res.status, 413);
  t.regex(res.body.toString(), /decompressed body exceeds/);
  t.is((await post(r, ProtobufTraceSerializer.serializeRequest(await someSpans())!, PROTOBUF)).status, 200);
});

test('answers malformed protobuf with 400 and a protobuf Status, and keeps serving', async (t) => {
  const r = await receiver(t);
  const valid = Buffer.from(ProtobufTraceSerializer.serializeRequest(await someSpans('trunc'))!);
  const res = await post(r, valid.subarray(0, valid.length - 5), PROTOBUF);
  t.is(res.status, 400);
  t.is(res.headers['content-type'], 'application/x-protobuf');
  // google.rpc.Status: code = 1 (3, INVALID_ARGUMENT), message = 2.
  t.is(res.body[0], 0x08);
  t.is(res.body[1], 3);
  t.regex(res.body.toString('latin1'), /truncated protobuf/);
  t.deepEqual(r.aggregates({ experiment: 'trunc' }), [], 'a rejected request is not half-applied');
  t.is((await post(r, valid, PROTOBUF)).status, 200);
});

test('answers malformed JSON and broken gzip with 400 and a short reason', async (t) => {
  const r = await receiver(t);
  const json = await post(r, '{"resourceSpans": [{', JSON_TYPE);
  t.is(json.status, 400);
  t.regex(JSON.parse(json.body.toString()).message, /invalid OTLP\/JSON/);
  const gz = await post(r, Buffer.from('not gzip at all'), { ...PROTOBUF, 'content-encoding': 'gzip' });
  t.is(gz.status, 400);
  t.regex(gz.body.toString('latin1'), /invalid gzip body/);
  t.is((await post(r, '{}', JSON_TYPE)).status, 200);
});

test('answers wrong method 405, unknown content type 415, unknown encoding 415, other paths 404', async (t) => {
  const r = await receiver(t);
  const get = await request(`${r.url}/v1/traces`, { method: 'GET', headers: auth(r) });
  await get.body.dump();
  t.is(get.statusCode, 405);
  t.is(get.headers['allow'], 'POST');
  t.is((await post(r, 'x', { 'content-type': 'text/plain' })).status, 415);
  t.is((await post(r, 'x', { ...PROTOBUF, 'content-encoding': 'br' })).status, 415);
  const other = await request(`${r.url}/v1/metrics`, {
    method: 'POST',
    headers: { ...PROTOBUF, ...auth(r) },
    body: 'x',
  });
  await other.body.dump();
  t.is(other.statusCode, 404);
  t.is(r.stats().requestsRejected, 4);
  t.is(r.stats().refused.unsupported.requests, 4);
});

test('answers 503 with Retry-After while bodies in memory are at maxBufferedBytes, then serves again', async (t) => {
  // Changed with the byte budget: memory is bounded by the bytes bodies hold, no longer by a
  // number of request slots (which a trickling client could hold; see hostile.test.ts).
  const r = await receiver(t, {
    maxBodyBytes: 64 * 1024,
    maxDecompressedBytes: 64 * 1024,
    maxBufferedBytes: 64 * 1024,
    minBodyBytesPerSecond: 0,
  });
  const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(await someSpans('slow', 300))!);
  t.true(body.length > 32 * 1024 && body.length < 64 * 1024, `body is ${body.length} bytes`);
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  // A slow upload holds most of the budget until released.
  const slow = request(`${r.url}/v1/traces`, {
    method: 'POST',
    headers: { ...PROTOBUF, ...auth(r), 'content-length': String(body.length) },
    body: Readable.from(
      (async function* () {
        yield body.subarray(0, body.length - 10);
        await released;
        yield body.subarray(body.length - 10);
      })(),
    ),
  });
  const deadline = Date.now() + 10_000;
  while (r.stats().bufferedBytes < body.length - 10 && Date.now() < deadline) await sleep(20);
  const busy = await post(r, body, PROTOBUF);
  t.is(busy.status, 503);
  t.is(busy.headers['retry-after'], '1');
  t.is(r.stats().refused.busy.requests, 1);
  release();
  const done = await slow;
  await done.body.dump();
  t.is(done.statusCode, 200);
  t.is(r.stats().bufferedBytes, 0, 'a finished request gives its bytes back');
  t.is((await post(r, body, PROTOBUF)).status, 200);
});

test('a client that disconnects mid-upload gives back its memory and is counted as aborted', async (t) => {
  const r = await receiver(t);
  const { port } = new URL(r.url);
  const socket = connect({ host: '127.0.0.1', port: Number(port) });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n' +
      `Authorization: Bearer ${r.token}\r\nContent-Length: 1000\r\n\r\nabc`,
  );
  const deadline = Date.now() + 10_000;
  while (r.stats().bufferedBytes !== 3 && Date.now() < deadline) await sleep(20);
  t.is(r.stats().requestsInProgress, 1, 'the half-sent request is being read');
  t.is(r.stats().bufferedBytes, 3);
  socket.destroy();
  while (r.stats().requestsInProgress !== 0 && Date.now() < deadline) await sleep(20);
  t.is(r.stats().bufferedBytes, 0);
  t.is(r.stats().refused.aborted.requests, 1);
  const body = ProtobufTraceSerializer.serializeRequest(await someSpans('after-abort', 2))!;
  t.is((await post(r, body, PROTOBUF)).status, 200);
});

test('refuses spans beyond the key limit through OTLP partial_success', async (t) => {
  const r = await receiver(t, { aggregation: { maxKeys: 1 } });
  t.is((await post(r, ProtobufTraceSerializer.serializeRequest(await someSpans('first', 2))!, PROTOBUF)).status, 200);
  const res = await post(r, ProtobufTraceSerializer.serializeRequest(await someSpans('second', 3))!, PROTOBUF);
  t.is(res.status, 200);
  const response = ProtobufTraceSerializer.deserializeResponse(res.body);
  t.is(Number(response.partialSuccess?.rejectedSpans), 3);
  t.regex(String(response.partialSuccess?.errorMessage), /maximum of 1 keys \(maxKeys\)/);
  t.is(r.stats().spansDropped, 3);
  t.is(r.stats().spansAccepted, 2);
  t.deepEqual(r.stats().refused.keyLimit, {
    requests: 1,
    spans: 3,
    lastMessage: 'the receiver holds its maximum of 1 keys (maxKeys); clear() finished trials',
  });
});

test('filters aggregates by experiment and clears them', async (t) => {
  const r = await receiver(t);
  for (const e of ['e1', 'e2', 'e2']) {
    await post(r, ProtobufTraceSerializer.serializeRequest(await someSpans(e, 2))!, PROTOBUF);
  }
  t.is(r.aggregates({ experiment: 'e1' })[0]?.spans, 2);
  t.is(r.aggregates({ experiment: 'e2' })[0]?.spans, 4);
  t.is(r.aggregates().length, 2);
  r.clear({ experiment: 'e2' });
  t.deepEqual(
    r.aggregates().map((a) => a.key.experiment),
    ['e1'],
  );
});

test('binds loopback by default and reports its URL', async (t) => {
  const r = await receiver(t);
  t.regex(r.url, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test('close() frees the port, even with a keep-alive connection open', async (t) => {
  const r = await startTraceReceiver();
  t.teardown(() => r.close());
  const exporter = new OTLPTraceExporter({ url: `${r.url}/v1/traces`, headers: auth(r), keepAlive: true });
  t.is((await exportWith(exporter, await someSpans())).code, 0);
  await r.close();
  const port = Number(new URL(r.url).port);
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port }, resolve);
  });
  await new Promise((resolve) => probe.close(resolve));
  await exporter.shutdown();
  t.pass();
});

test('rejects bad options with the option named', async (t) => {
  await t.throwsAsync(() => startTraceReceiver({ maxBodyBytes: 0 }), {
    message: /maxBodyBytes must be a positive integer/,
  });
  await t.throwsAsync(() => startTraceReceiver({ port: 70000 }), { message: /port must be an integer/ });
  await t.throwsAsync(() => startTraceReceiver({ token: 'short' }), {
    message: /token must be at least 16 characters/,
  });
  await t.throwsAsync(() => startTraceReceiver({ maxBodyBytes: 1024, maxBufferedBytes: 100 }), {
    message: /maxBufferedBytes \(100\) must be at least maxBodyBytes/,
  });
  await t.throwsAsync(() => startTraceReceiver({ expect: { experiment: '' } }), {
    message: /expect must name the experiment/,
  });
});

test('generates a token when given none, and uses the one it is given', async (t) => {
  const generated = await receiver(t);
  t.regex(generated.token, /^[A-Za-z0-9_-]{43}$/);
  const given = await receiver(t, { token: 'a-token-for-this-run-only' });
  t.is(given.token, 'a-token-for-this-run-only');
  const spans = ProtobufTraceSerializer.serializeRequest(await someSpans('given', 1))!;
  t.is((await post(given, spans, PROTOBUF)).status, 200);
});
