// The one bounded body reader every posting endpoint uses (the OTLP receiver, the operator's
// results endpoint), on a plain node:http server over loopback, as an endpoint uses it.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { request } from 'undici';
import { bearerTokenMatches } from '../../operator/telemetry/bearer-token.ts';
import { ByteBudget } from '../../operator/telemetry/byte-budget.ts';
import { type BodyLimits, readBoundedBody, readRequestBody, respond } from '../../operator/telemetry/request-body.ts';
import { postHead, RawClient } from './raw-client.ts';

type T = { teardown(fn: () => unknown): void };

/** A server whose handler reads with readBoundedBody and answers 200 with the body's length. */
async function endpoint(
  t: T,
  limits: (req: IncomingMessage) => BodyLimits,
  before?: (req: IncomingMessage, res: ServerResponse) => boolean,
) {
  const server = createServer(async (req, res) => {
    if (before && !before(req, res)) return;
    const body = await readBoundedBody(req, res, limits(req));
    if (body !== undefined) res.writeHead(200, { 'content-type': 'text/plain' }).end(`got ${body.length} bytes`);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}/`;
}

/** A body streamed in 64 KiB chunks, as a client uploading something large. */
function streamOf(bytes: number): Readable {
  return Readable.from(
    (async function* () {
      for (let sent = 0; sent < bytes; sent += 65536) yield Buffer.alloc(Math.min(65536, bytes - sent), 7);
    })(),
  );
}

test('a declared Content-Length over maxBytes is answered 413 before a byte is read; an uploading client sees it', async (t) => {
  let wireBytes = 0;
  const url = await endpoint(t, () => ({
    maxBytes: 1 << 20,
    onWireBytes: (n) => {
      wireBytes += n;
    },
  }));
  const size = 64 << 20;
  const res = await request(url, { method: 'POST', body: streamOf(size), headers: { 'content-length': String(size) } });
  t.is(res.statusCode, 413);
  t.is(res.headers['connection'], 'close');
  t.is(await res.body.text(), `body of ${size} bytes exceeds the limit of 1048576 bytes\n`);
  t.is(wireBytes, 0, 'nothing of the body was read');
  // node:http, the transport of the OpenTelemetry JS exporters, sees it too.
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-length': size } }, (answer) => {
      answer.resume();
      resolve(answer.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(Buffer.alloc(size));
  });
  t.is(status, 413);
});

test('a body without Content-Length is cut at maxBytes while streaming and answered 413', async (t) => {
  let wireBytes = 0;
  const url = await endpoint(t, () => ({
    maxBytes: 100_000,
    onWireBytes: (n) => {
      wireBytes += n;
    },
  }));
  const res = await request(url, { method: 'POST', body: streamOf(8 << 20) });
  t.is(res.statusCode, 413);
  t.is(await res.body.text(), 'body exceeds the limit of 100000 bytes\n');
  t.true(wireBytes <= 100_000 + 65_536, `read ${wireBytes} bytes`);
});

test('gzip is inflated up to maxDecompressedBytes and refused 413 beyond', async (t) => {
  const url = await endpoint(t, () => ({ maxBytes: 64 * 1024, maxDecompressedBytes: 1 << 20 }));
  const gzip = { 'content-encoding': 'gzip' };
  const ok = await request(url, { method: 'POST', headers: gzip, body: gzipSync(Buffer.alloc(500_000, 1)) });
  t.is(await ok.body.text(), 'got 500000 bytes', 'the body comes back decompressed');
  const bomb = gzipSync(Buffer.alloc(64 << 20));
  t.true(bomb.length < 64 * 1024, `the bomb is ${bomb.length} bytes on the wire`);
  const res = await request(url, { method: 'POST', headers: gzip, body: bomb });
  t.is(res.statusCode, 413);
  t.is(await res.body.text(), 'decompressed body exceeds the limit of 1048576 bytes\n');
  const broken = await request(url, { method: 'POST', headers: gzip, body: 'not gzip' });
  t.is(broken.statusCode, 400);
  t.regex(await broken.body.text(), /invalid gzip body/);
  const br = await request(url, { method: 'POST', headers: { 'content-encoding': 'br' }, body: 'x' });
  t.is(br.statusCode, 415);
  await br.body.dump();
});

test('a body slower than minBytesPerSecond is answered 408', async (t) => {
  const url = await endpoint(t, () => ({ maxBytes: 1 << 20, minBytesPerSecond: 1000, minRateWindowMillis: 300 }));
  const c = await RawClient.open(url);
  t.teardown(() => c.destroy());
  c.write(postHead({ contentLength: 10_000, path: '/' }));
  c.trickle('x', 50);
  t.true(await c.until((x) => x.status !== undefined, 5_000));
  t.is(c.status, 408);
  t.regex(c.text, /arrived too slowly: \d+ bytes in 300 ms, below the minimum of 1000 bytes\/s/);
});

test('a body not complete by deadlineMillis is answered 408', async (t) => {
  const url = await endpoint(t, () => ({ maxBytes: 1 << 20, deadlineMillis: 500, minBytesPerSecond: 0 }));
  const c = await RawClient.open(url);
  t.teardown(() => c.destroy());
  c.write(postHead({ contentLength: 10_000, path: '/' }));
  c.trickle('x', 50);
  t.true(await c.until((x) => x.status !== undefined, 5_000));
  t.is(c.status, 408);
  t.regex(c.text, /did not arrive within 500 ms/);
});

test('bytes kept are taken from a ByteBudget: 503 with Retry-After when it runs out, given back on release', async (t) => {
  const budget = new ByteBudget(1_000);
  const leases: ReturnType<ByteBudget['lease']>[] = [];
  const url = await endpoint(t, () => {
    const lease = budget.lease();
    leases.push(lease);
    return { maxBytes: 4_096, budget: lease };
  });
  const small = await request(url, { method: 'POST', body: Buffer.alloc(600) });
  t.is(await small.body.text(), 'got 600 bytes');
  t.is(budget.used, 600, 'held until the endpoint releases it');
  const res = await request(url, { method: 'POST', body: Buffer.alloc(600) });
  t.is(res.statusCode, 503);
  t.is(res.headers['retry-after'], '1');
  await res.body.dump();
  for (const lease of leases) lease.release();
  t.is(budget.used, 0);
  const again = await request(url, { method: 'POST', body: Buffer.alloc(600) });
  t.is(await again.body.text(), 'got 600 bytes');
});

test('token first: a 401 sent before reading reaches a client in the middle of its upload', async (t) => {
  const token = 'results-token-of-this-experiment';
  const url = await endpoint(
    t,
    () => ({ maxBytes: 16 << 20 }),
    (req, res) => {
      if (bearerTokenMatches(req.headers.authorization, token)) return true;
      respond(req, res, 401, { 'content-type': 'text/plain' }, 'missing or wrong bearer token\n');
      return false;
    },
  );
  const size = 8 << 20;
  const refused = await request(url, {
    method: 'POST',
    body: streamOf(size),
    headers: { 'content-length': String(size) },
  });
  t.is(refused.statusCode, 401);
  t.is(await refused.body.text(), 'missing or wrong bearer token\n');
  const accepted = await request(url, {
    method: 'POST',
    body: streamOf(size),
    headers: { 'content-length': String(size), authorization: `Bearer ${token}` },
  });
  t.is(await accepted.body.text(), `got ${size} bytes`);
});

test('a refusal after the whole body was read keeps the connection alive', async (t) => {
  const server = createServer(async (req, res) => {
    await readRequestBody(req, { maxBytes: 1024 });
    respond(req, res, 409, { 'content-type': 'text/plain' }, 'conflict\n');
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address() as { port: number };
  const res = await request(`http://127.0.0.1:${address.port}/`, { method: 'POST', body: 'all of it' });
  t.is(res.statusCode, 409);
  t.not(res.headers['connection'], 'close');
  await res.body.dump();
});

test('readRequestBody rejects limits that are not positive integers, naming the limit', async (t) => {
  const req = new (await import('node:http')).IncomingMessage(new Socket());
  await t.throwsAsync(() => readRequestBody(req, { maxBytes: 0 }), { message: /maxBytes must be a positive integer/ });
  await t.throwsAsync(() => readRequestBody(req, { maxBytes: 10, deadlineMillis: 1.5 }), {
    message: /deadlineMillis must be a positive integer, got 1.5/,
  });
  await t.throwsAsync(() => readRequestBody(req, { maxBytes: 10, minBytesPerSecond: -1 }), {
    message: /minBytesPerSecond must be a non-negative integer/,
  });
});
