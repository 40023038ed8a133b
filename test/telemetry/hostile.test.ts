// The receiver under attack, over real HTTP on loopback: each case is one way a hostile or broken
// client used to silence the report's server-side section (fill the keys, hold every request
// slot, talk without the token), and each must now be refused, counted, and leave real exports
// working. Real protobuf from the OpenTelemetry SDK's serializer, real exporters.
import type { ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import test from 'ava';
import { request } from 'undici';
import { startTraceReceiver, type TraceReceiverOptions } from '../../operator/telemetry/receiver.ts';
import type { TraceReceiver } from '../../operator/telemetry/types.ts';
import { postHead, RawClient } from './raw-client.ts';
import { sdkSpans } from './sdk-spans.ts';

type T = { teardown(fn: () => unknown): void };

async function receiver(t: T, options: TraceReceiverOptions = {}) {
  const r = await startTraceReceiver(options);
  t.teardown(() => r.close());
  return r;
}

async function raw(t: T, r: TraceReceiver): Promise<RawClient> {
  const c = await RawClient.open(r.url);
  t.teardown(() => c.destroy());
  return c;
}

/** Polls a condition of the receiver until it holds or the bounded time is over. */
async function until(condition: () => boolean, timeoutMillis = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMillis;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Real spans of the run the receiver serves: experiment "real", run "r1". */
function realSpans(count: number, variant = 'process'): Promise<ReadableSpan[]> {
  const start = Date.now() - 1_000;
  return sdkSpans(
    { 'conclab.experiment': 'real', 'conclab.run': 'r1', 'conclab.variant': variant, 'process.pid': 4242 },
    Array.from({ length: count }, (_, i) => ({
      startMillis: start + i,
      durationMillis: 5,
      attributes: { 'conclab.trial': '1', 'conclab.replica': '0', 'conclab.worker': String(i % 2) },
    })),
  );
}

/**
 * Exports through the SDK's own exporter, as a workload does, presenting `token` (null: no
 * authorization header at all); bounded by timeoutMillis.
 */
async function exportThrough(t: T, r: TraceReceiver, spans: ReadableSpan[], token: string | null = r.token) {
  const exporter = new OTLPTraceExporter({
    url: `${r.url}/v1/traces`,
    timeoutMillis: 5_000,
    ...(token !== null ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
  t.teardown(() => exporter.shutdown());
  return new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
}

/** `count` spans, each of its own key: what a flood of junk keys looks like. */
function junkSpans(count: number, attributes: (i: number) => Record<string, string>): Promise<ReadableSpan[]> {
  const start = Date.now() - 1_000;
  return sdkSpans(
    {},
    Array.from({ length: count }, (_, i) => ({ startMillis: start, durationMillis: 1, attributes: attributes(i) })),
  );
}

async function postProtobuf(r: TraceReceiver, spans: ReadableSpan[]) {
  const res = await request(`${r.url}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${r.token}` },
    body: ProtobufTraceSerializer.serializeRequest(spans)!,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, response: ProtobufTraceSerializer.deserializeResponse(body) };
}

test('refuses a request without the token with 401 before reading any of its body', async (t) => {
  const r = await receiver(t);
  const c = await raw(t, r);
  // Ten megabytes announced, none sent: an answer can only come before the body is read.
  c.write(postHead({ contentLength: 10_000_000 }));
  t.true(await c.until((x) => x.status !== undefined, 5_000), 'answered without waiting for the body');
  t.is(c.status, 401);
  t.regex(c.text, /www-authenticate: Bearer realm="conclab"/i);
  t.regex(c.text, /connection: close/i);
  t.is(r.stats().bytesReceived, 0);

  const wrong = await exportThrough(t, r, await realSpans(3), 'a-token-that-is-not-this-one');
  t.is(wrong.code, 1, 'the exporter is told: it failed');
  t.regex(String(wrong.error), /Unauthorized/);
  const none = await exportThrough(t, r, await realSpans(3), null);
  t.is(none.code, 1);
  t.deepEqual(r.aggregates(), [], 'nothing of an unauthenticated export is aggregated');
  t.is(r.stats().refused.unauthenticated.requests, 3);

  const right = await exportThrough(t, r, await realSpans(3));
  t.is(right.code, 0, String(right.error));
  t.is(r.aggregates({ experiment: 'real' }).length, 2);
});

test('12,000 junk keys of other experiments fill nothing: real spans still aggregate, and the junk is counted', async (t) => {
  const r = await receiver(t, { expect: { experiment: 'real', run: 'r1' } });
  for (let post = 0; post < 6; post++) {
    const junk = await junkSpans(2_000, (i) => ({ 'conclab.experiment': `junk-${post}-${i}`, 'conclab.run': 'r1' }));
    const { status, response } = await postProtobuf(r, junk);
    t.is(status, 200);
    t.is(Number(response.partialSuccess?.rejectedSpans), 2_000, 'the sender is told its spans were rejected');
  }
  t.is(r.stats().keys, 0, 'no junk key was created');
  const result = await exportThrough(t, r, await realSpans(10));
  t.is(result.code, 0, String(result.error));
  const real = r.aggregates({ experiment: 'real', run: 'r1' });
  t.is(
    real.reduce((n, a) => n + a.spans, 0),
    10,
  );
  t.is(r.stats().refused.unexpected.spans, 12_000);
  t.is(r.stats().refused.unexpected.requests, 6);
  const [problem] = r.health().problems;
  t.regex(problem!, /^12,000 spans in 6 requests refused \(not of the experiment and run this receiver serves\)/);
  t.regex(problem!, /this receiver serves experiment "real" run "r1"/);
});

test('12,000 junk keys claiming the run fill only their own variant: other variants still aggregate', async (t) => {
  const r = await receiver(t, { expect: { experiment: 'real', run: 'r1' } });
  for (let post = 0; post < 6; post++) {
    const junk = await junkSpans(2_000, (i) => ({
      'conclab.experiment': 'real',
      'conclab.run': 'r1',
      'conclab.variant': 'thread',
      'conclab.worker': `junk-${post}-${i}`,
    }));
    t.is((await postProtobuf(r, junk)).status, 200);
  }
  t.is(r.stats().keys, 1_024, 'the junk variant holds its maxKeysPerVariant keys and no more');
  const result = await exportThrough(t, r, await realSpans(10, 'process'));
  t.is(result.code, 0, String(result.error));
  t.is(
    r.aggregates({ experiment: 'real', variant: 'process' }).reduce((n, a) => n + a.spans, 0),
    10,
  );
  t.is(r.stats().refused.keyLimit.spans, 12_000 - 1_024);
  t.regex(r.health().problems.join('\n'), /variant "thread" already has 1024 keys \(maxKeysPerVariant\)/);
  r.clear({ experiment: 'real', variant: 'thread' });
  t.is(r.stats().keys, 2, 'clear() releases the junk with the finished trial');
});

test('sixteen connections trickling bodies do not keep real exports out', async (t) => {
  // The minimum rate is off here so that the tricklers stay for the whole test: the point is
  // that real exports succeed WHILE they are open (the next test shows them being cut off).
  const r = await receiver(t, { minBodyBytesPerSecond: 0, requestTimeoutMillis: 60_000 });
  const tricklers: RawClient[] = [];
  for (let i = 0; i < 16; i++) {
    const c = await raw(t, r);
    c.write(postHead({ token: r.token, contentLength: 100_000 }));
    c.trickle('x', 100);
    tricklers.push(c);
  }
  t.true(await until(() => r.stats().requestsInProgress === 16), 'all sixteen bodies are being read');
  const result = await exportThrough(t, r, await realSpans(20));
  t.is(result.code, 0, String(result.error));
  t.is(
    r.aggregates({ experiment: 'real' }).reduce((n, a) => n + a.spans, 0),
    20,
  );
  t.is(r.stats().requestsInProgress, 16, 'the tricklers were still there');
  t.true(r.stats().bufferedBytes < 16 * 1_000, `tricklers hold ${r.stats().bufferedBytes} bytes, not slots`);
  for (const c of tricklers) t.is(c.status, undefined, 'no trickler was answered yet');
});

test('bodies trickled below the minimum rate are cut off with 408 and counted as timeouts', async (t) => {
  const r = await receiver(t, { minBodyBytesPerSecond: 1_024, minBodyRateWindowMillis: 500 });
  const tricklers: RawClient[] = [];
  for (let i = 0; i < 4; i++) {
    const c = await raw(t, r);
    c.write(postHead({ token: r.token, contentLength: 100_000 }));
    c.trickle('x', 100);
    tricklers.push(c);
  }
  for (const c of tricklers) {
    t.true(await c.until((x) => x.status !== undefined, 5_000), 'answered within a few windows');
    t.is(c.status, 408);
    t.regex(c.text, /arrived too slowly/);
  }
  t.true(await until(() => r.stats().requestsInProgress === 0));
  t.is(r.stats().refused.timeout.requests, 4);
  t.is(r.stats().bufferedBytes, 0);
});

test('a body not complete by requestTimeoutMillis is cut off with 408', async (t) => {
  const r = await receiver(t, { minBodyBytesPerSecond: 0, requestTimeoutMillis: 1_000 });
  const c = await raw(t, r);
  c.write(postHead({ token: r.token, contentLength: 100_000 }));
  c.trickle('x'.repeat(100), 50);
  t.true(await c.until((x) => x.status !== undefined, 5_000));
  t.is(c.status, 408);
  t.regex(c.text, /did not arrive within 1000 ms/);
  t.is(r.stats().refused.timeout.requests, 1);
});

test('headers sent too slowly, or not at all, are cut off after headersTimeoutMillis and counted', async (t) => {
  const r = await receiver(t, { headersTimeoutMillis: 1_000 });
  const slow = await raw(t, r);
  slow.write('POST /v1/traces HTTP/1.1\r\n');
  slow.trickle('X-Padding: x\r\n', 200);
  const idle = await raw(t, r);
  t.true(await slow.until((x) => x.closed, 5_000), 'the slow-header connection is closed');
  t.is(slow.status, 408);
  t.true(await idle.until((x) => x.closed, 5_000), 'a connection that sends nothing is closed too');
  t.is(r.stats().refused.timeout.requests, 2);
  t.regex(r.stats().refused.timeout.lastMessage!, /headers not received within 1000 ms/);
});

test('connections beyond maxConnections are closed at once and counted; exports work once others close', async (t) => {
  const r = await receiver(t, { maxConnections: 4 });
  const held: RawClient[] = [];
  for (let i = 0; i < 4; i++) held.push(await raw(t, r));
  t.true(await until(() => r.stats().connections === 4));
  const fifth = await raw(t, r);
  t.true(await fifth.until((x) => x.closed, 5_000), 'the fifth connection is closed');
  t.is(fifth.received.length, 0);
  t.is(r.stats().refused.connectionLimit.requests, 1);
  for (const c of held) c.destroy();
  t.true(await until(() => r.stats().connections === 0));
  const result = await exportThrough(t, r, await realSpans(2));
  t.is(result.code, 0, String(result.error));
});

for (const [what, head] of [
  ['413 (declared body too large)', (r: TraceReceiver) => postHead({ token: r.token, contentLength: 64 << 20 })],
  ['401 (no token)', () => postHead({ contentLength: 64 << 20 })],
] as const) {
  test(`a client still uploading reads its ${what} and a clean end, not a reset`, async (t) => {
    const r = await receiver(t, { maxBodyBytes: 1 << 20 });
    const c = await raw(t, r);
    c.write(head(r));
    // Upload steadily, as a client that does not look at the answer until it has sent all.
    c.trickle(Buffer.alloc(16 * 1024, 1), 10);
    t.true(await c.until((x) => x.status !== undefined, 5_000));
    t.regex(c.text, /connection: close/i, 'the client is told to close');
    t.true(await c.until((x) => x.ended, 5_000), 'the server half-closes (FIN) after its answer');
    // Go on uploading for a while: the server still reads (and drops) it instead of resetting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.is(c.error, undefined, `no reset while the client went on sending (got ${c.error})`);
    c.stopTrickle();
    c.socket.end();
    t.true(await c.until((x) => x.closed, 5_000));
    t.is(c.error, undefined);
    t.is(c.status, what.startsWith('413') ? 413 : 401);
  });
}

test('health() words every reason once, with counts, for the terminal and the report', async (t) => {
  const r = await receiver(t, { expect: { experiment: 'real', run: 'r1' }, maxBodyBytes: 1024 });
  t.deepEqual(r.health(), { clean: true, refused: {}, problems: [] });
  const unauthenticated = await request(`${r.url}/v1/traces`, { method: 'POST', body: 'x' });
  await unauthenticated.body.dump();
  const big = await request(`${r.url}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${r.token}` },
    body: Buffer.alloc(4096),
  });
  await big.body.dump();
  await postProtobuf(r, await junkSpans(3, () => ({ 'conclab.experiment': 'other' })));
  const health = r.health();
  t.false(health.clean);
  t.deepEqual(Object.keys(health.refused).sort(), ['tooLarge', 'unauthenticated', 'unexpected']);
  t.deepEqual(health.problems, [
    '1 export request refused (unauthenticated: no or wrong bearer token); last: no authorization header: ' +
      "send authorization: Bearer <the token of this run's receiver>",
    '3 spans in 1 request refused (not of the experiment and run this receiver serves); last: spans of ' +
      'experiment "other" run "unknown" variant "unknown"; this receiver serves experiment "real" run "r1"',
    '1 export request refused (too large); last: body of 4096 bytes exceeds the limit of 1024 bytes',
  ]);
});
