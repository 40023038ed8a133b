// Seeded fuzzing: the decoders either decode or throw OtlpDecodeError, and the receiver answers
// every mangled body with 200 or 400 and keeps serving. Seeds are fixed so a failure reproduces.

import { connect } from 'node:net';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import test from 'ava';
import { request } from 'undici';
import { decodeTraceRequestJson } from '../../operator/telemetry/otlp-json.ts';
import { decodeTraceRequestProtobuf } from '../../operator/telemetry/otlp-protobuf.ts';
import { startTraceReceiver } from '../../operator/telemetry/receiver.ts';
import { OtlpDecodeError } from '../../operator/telemetry/span.ts';
import { sdkSpans } from './sdk-spans.ts';

/** mulberry32: small, fast, good enough to pick mutations reproducibly. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** One of: random bytes, a truncation, flipped bytes, spliced-in bytes, a duplicated slice. */
function mutate(valid: Buffer, rnd: () => number): Buffer {
  const pick = Math.floor(rnd() * 5);
  const at = Math.floor(rnd() * valid.length);
  switch (pick) {
    case 0:
      return Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
    case 1:
      return valid.subarray(0, at);
    case 2: {
      const copy = Buffer.from(valid);
      const flips = 1 + Math.floor(rnd() * 8);
      for (let i = 0; i < flips; i++) copy[Math.floor(rnd() * copy.length)] = Math.floor(rnd() * 256);
      return copy;
    }
    case 3: {
      const junk = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 16) }, () => Math.floor(rnd() * 256)));
      return Buffer.concat([valid.subarray(0, at), junk, valid.subarray(at)]);
    }
    default: {
      const end = at + Math.floor(rnd() * (valid.length - at));
      return Buffer.concat([valid.subarray(0, end), valid.subarray(at)]);
    }
  }
}

async function validBodies() {
  const start = Date.now();
  const spans = await sdkSpans(
    { 'conclab.experiment': 'fuzz', 'process.pid': 1, 'service.name': 'fuzz' },
    Array.from({ length: 6 }, (_, i) => ({
      startMillis: start + i,
      durationMillis: 3,
      error: i === 2,
      attributes: { 'conclab.worker': `w${i}`, 'thread.id': i, 'conclab.queue_time_ms': 0.5, other: 'x', n: -1 },
    })),
  );
  return {
    protobuf: Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!),
    json: Buffer.from(JsonTraceSerializer.serializeRequest(spans)!),
  };
}

function decodesOrRejects(decode: () => unknown): string | undefined {
  try {
    decode();
    return undefined;
  } catch (error) {
    return error instanceof OtlpDecodeError ? undefined : `${(error as Error).name}: ${(error as Error).message}`;
  }
}

test('the decoders only ever decode or throw OtlpDecodeError on mangled input', async (t) => {
  const { protobuf, json } = await validBodies();
  const rnd = random(0xc0c1ab);
  const deadline = Date.now() + 20_000;
  let runs = 0;
  for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
    const pb = mutate(protobuf, rnd);
    const problem = decodesOrRejects(() => decodeTraceRequestProtobuf(pb));
    if (problem) return t.fail(`protobuf input ${pb.toString('hex')} -> ${problem}`);
    const filtered = decodesOrRejects(() => decodeTraceRequestProtobuf(pb, { attributeKeys: ['conclab.worker'] }));
    if (filtered) return t.fail(`protobuf input ${pb.toString('hex')} with a key filter -> ${filtered}`);
    const js = mutate(json, rnd);
    const jsonProblem = decodesOrRejects(() => decodeTraceRequestJson(js));
    if (jsonProblem) return t.fail(`JSON input ${js.toString('latin1')} -> ${jsonProblem}`);
    runs++;
  }
  t.true(runs >= 1000, `only ${runs} runs in the time allowed`);
});

test('groups nested past the depth limit are refused, not a stack overflow', (t) => {
  // An unknown field (2) opening a group (tag 0x13), nested 100 000 deep.
  const body = Buffer.alloc(100_000, 0x13);
  t.throws(() => decodeTraceRequestProtobuf(body), { instanceOf: OtlpDecodeError, message: /nested too deeply/ });
});

test('the receiver answers every mangled body with 200 or 400 and keeps serving', async (t) => {
  const r = await startTraceReceiver();
  t.teardown(() => r.close());
  const { protobuf, json } = await validBodies();
  const rnd = random(42);
  const deadline = Date.now() + 30_000;
  const seen = new Map<number, number>();
  let sent = 0;
  for (let i = 0; i < 300 && Date.now() < deadline; i++) {
    const asJson = i % 3 === 0;
    const body = mutate(asJson ? json : protobuf, rnd);
    const res = await request(`${r.url}/v1/traces`, {
      method: 'POST',
      headers: {
        'content-type': asJson ? 'application/json' : 'application/x-protobuf',
        authorization: `Bearer ${r.token}`,
      },
      body,
    });
    await res.body.dump();
    seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1);
    if (res.statusCode !== 200 && res.statusCode !== 400) {
      return t.fail(`status ${res.statusCode} for ${body.toString('hex')}`);
    }
    sent++;
  }
  t.true(sent >= 50, `only ${sent} requests in the time allowed`);
  t.true((seen.get(400) ?? 0) > 0, 'some mangled bodies must be refused');
  const ok = await request(`${r.url}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${r.token}` },
    body: protobuf,
  });
  await ok.body.dump();
  t.is(ok.statusCode, 200);
  t.is(r.stats().requestsRejected, seen.get(400) ?? 0);
});

test('the receiver survives garbage that is not even HTTP', async (t) => {
  const r = await startTraceReceiver({ requestTimeoutMillis: 2_000 });
  t.teardown(() => r.close());
  const port = Number(new URL(r.url).port);
  const rnd = random(7);
  const deadline = Date.now() + 20_000;
  const prefixes = [
    '',
    'POST /v1/traces HTTP/1.1\r\n',
    'POST /v1/traces HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n',
  ];
  for (let i = 0; i < 60 && Date.now() < deadline; i++) {
    const junk = Buffer.from(Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)));
    const payload = Buffer.concat([Buffer.from(prefixes[i % prefixes.length]!), junk, Buffer.from('\r\n\r\n')]);
    await new Promise<void>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => socket.destroy(), 1_000);
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on('data', () => socket.destroy());
      socket.end(payload);
    });
  }
  const { protobuf } = await validBodies();
  const ok = await request(`${r.url}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${r.token}` },
    body: protobuf,
  });
  await ok.body.dump();
  t.is(ok.statusCode, 200);
});
