// Benchmark: how many spans per second the trace receiver ingests on one core.
//
//   npx node bench/otlp-ingest.ts [--seconds 3]
//
// Requests are real OTLP protobuf built by the OpenTelemetry SDK's own serializer
// (ProtobufTraceSerializer) from real SDK spans: 512 spans per request, with the conclab
// attributes plus the HTTP attributes and resource a real workload sends. Measured:
//   1. in-process, one thread: decode + aggregate (and each alone), protobuf and JSON;
//   2. end to end over loopback HTTP: the receiver in a child process, this process posting
//      with a few requests in flight; spans/s by wall clock and per CPU-second of the receiver
//      (the receiver is single-threaded, so spans per CPU-second is its capacity on one core).
// Both as a run configures it: every request presents the bearer token, and the receiver
// expects the run's experiment and run id (the check every span passes).
// Baseline measured in the same run: how fast the SDK serializer encodes the same spans, so the
// figures can be compared across machines. Target: 50,000 spans/s on one core.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { gzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { Agent, request } from 'undici';
import { AGGREGATED_ATTRIBUTES, SpanAggregator } from '../operator/telemetry/aggregator.ts';
import { decodeTraceRequestJson } from '../operator/telemetry/otlp-json.ts';
import { decodeTraceRequestProtobuf } from '../operator/telemetry/otlp-protobuf.ts';
import { startTraceReceiver } from '../operator/telemetry/receiver.ts';

const TARGET_SPANS_PER_SECOND = 50_000;
const SPANS_PER_REQUEST = 512;
const REQUESTS = 8;
const IN_FLIGHT = 4;
const EXPECT = { experiment: 'bench', run: 'bench-run' };

// --- child mode: a receiver alone in its process ------------------------------------------------
if (process.argv.includes('--receiver')) {
  const r = await startTraceReceiver({ host: '127.0.0.1', port: 0, expect: EXPECT });
  console.log(`url ${r.url} ${r.token}`);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line === 'stats') {
      const cpu = process.cpuUsage();
      console.log(`stats ${JSON.stringify({ ...r.stats(), cpuMicros: cpu.user + cpu.system })}`);
    } else if (line === 'quit') break;
  }
  await r.close();
  process.exit(0);
}

const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 3;
if (!(SECONDS > 0 && SECONDS <= 60)) throw new Error('--seconds must be a number of seconds between 0 and 60');

async function realisticSpans(batch: number): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        'service.name': 'conclab-workload-node',
        'process.pid': 10_000 + batch,
        'process.runtime.name': 'nodejs',
        'process.runtime.version': '24.21.0',
        'host.name': 'bench-host',
        'conclab.experiment': 'bench',
        'conclab.run': 'bench-run',
        'conclab.replica': String(batch % 2),
        'conclab.variant': batch % 2 === 0 ? 'process' : 'thread',
        'conclab.model': batch % 2 === 0 ? 'process' : 'thread',
      }),
    ),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('conclab-workload', '0.1.0');
  const start = Date.now() - 60_000;
  for (let i = 0; i < SPANS_PER_REQUEST; i++) {
    const span = tracer.startSpan('GET /work', {
      kind: SpanKind.SERVER,
      startTime: start + i * 3,
      attributes: {
        'conclab.trial': String(batch % 3),
        'conclab.worker': `w${i % 4}`,
        'thread.id': i % 4,
        'conclab.queue_time_ms': (i % 17) * 0.25,
        'http.request.method': 'GET',
        'http.route': '/work',
        'url.path': '/work',
        'url.query': `cpuMillis=5&n=${i}`,
        'http.response.status_code': i % 50 === 0 ? 500 : 200,
        'server.address': '127.0.0.1',
        'server.port': 8080,
        'network.protocol.version': '1.1',
        'user_agent.original': 'conclab-load/0.1',
      },
    });
    if (i % 50 === 0) span.setStatus({ code: SpanStatusCode.ERROR, message: 'injected' });
    span.end(start + i * 3 + 5 + (i % 29) * 0.1);
  }
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

/** Runs fn repeatedly for about `seconds` and returns how many times per second it ran. */
function rate(seconds: number, fn: (i: number) => void): number {
  for (let i = 0; i < 20; i++) fn(i); // warm-up: let the JIT settle
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let n = 0;
  while (performance.now() < deadline && n < 10_000_000) {
    fn(n);
    n++;
  }
  return n / ((performance.now() - started) / 1000);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ratio = (n: number) => `${(n / TARGET_SPANS_PER_SECOND).toFixed(1)}x target`;

const batches = await Promise.all(Array.from({ length: REQUESTS }, (_, b) => realisticSpans(b)));
const protobufBodies = batches.map((spans) => Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!));
const jsonBodies = batches.map((spans) => Buffer.from(JsonTraceSerializer.serializeRequest(spans)!));
const gzipBodies = protobufBodies.map((b) => gzipSync(b));
const avg = (bodies: Buffer[]) => Math.round(bodies.reduce((n, b) => n + b.length, 0) / bodies.length);
console.log(
  `requests: ${SPANS_PER_REQUEST} spans each, ${REQUESTS} distinct; protobuf ${fmt(avg(protobufBodies))} B, ` +
    `gzip ${fmt(avg(gzipBodies))} B, JSON ${fmt(avg(jsonBodies))} B; ${SECONDS} s per measurement; node ${process.version}`,
);

const options = { attributeKeys: AGGREGATED_ATTRIBUTES };
const results: [string, number][] = [];
const report = (name: string, spansPerSecond: number, extra = '') => {
  results.push([name, spansPerSecond]);
  console.log(`${name.padEnd(56)} ${fmt(spansPerSecond).padStart(12)} spans/s  ${ratio(spansPerSecond)}${extra}`);
};

const encodeRate =
  rate(SECONDS, (i) => ProtobufTraceSerializer.serializeRequest(batches[i % REQUESTS]!)) * SPANS_PER_REQUEST;
report('baseline: SDK protobuf encode (same spans)', encodeRate);

const decodeRate =
  rate(SECONDS, (i) => decodeTraceRequestProtobuf(protobufBodies[i % REQUESTS]!, options)) * SPANS_PER_REQUEST;
report('in-process: protobuf decode', decodeRate);

const decoded = protobufBodies.map((b) => decodeTraceRequestProtobuf(b, options));
const aggregateOnly = new SpanAggregator({ expect: EXPECT });
report('in-process: aggregate', rate(SECONDS, (i) => aggregateOnly.addAll(decoded[i % REQUESTS]!)) * SPANS_PER_REQUEST);

const aggregator = new SpanAggregator({ expect: EXPECT });
const ingestRate =
  rate(SECONDS, (i) => aggregator.addAll(decodeTraceRequestProtobuf(protobufBodies[i % REQUESTS]!, options))) *
  SPANS_PER_REQUEST;
report(
  'in-process: protobuf decode + aggregate',
  ingestRate,
  `  (${(ingestRate / encodeRate).toFixed(2)}x SDK encode)`,
);

const jsonAggregator = new SpanAggregator({ expect: EXPECT });
report(
  'in-process: JSON decode + aggregate',
  rate(SECONDS, (i) => jsonAggregator.addAll(decodeTraceRequestJson(jsonBodies[i % REQUESTS]!, options))) *
    SPANS_PER_REQUEST,
);
console.log(`aggregator: ${aggregator.keyCount} keys, heap ${fmt(process.memoryUsage().heapUsed / 1048576)} MiB`);

// --- end to end over loopback -------------------------------------------------------------------
const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--receiver'], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const childLines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
const nextLine = async (prefix: string): Promise<string> => {
  for (;;) {
    const { value, done } = await childLines.next();
    if (done) throw new Error('the receiver process exited early');
    if (value.startsWith(prefix)) return value.slice(prefix.length);
  }
};
const childStats = async () => {
  child.stdin!.write('stats\n');
  return JSON.parse(await nextLine('stats ')) as { spansAccepted: number; cpuMicros: number };
};

try {
  const [base, token] = (await nextLine('url ')).trim().split(' ');
  const url = `${base}/v1/traces`;
  const authorization = `Bearer ${token}`;
  const agent = new Agent({ connections: IN_FLIGHT });
  for (const [label, bodies, headers] of [
    ['loopback HTTP: protobuf', protobufBodies, { 'content-type': 'application/x-protobuf', authorization }],
    [
      'loopback HTTP: protobuf + gzip',
      gzipBodies,
      { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip', authorization },
    ],
  ] as const) {
    const post = async (i: number) => {
      const res = await request(url, { method: 'POST', body: bodies[i % REQUESTS]!, headers, dispatcher: agent });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`receiver answered ${res.statusCode}`);
    };
    for (let i = 0; i < 20; i++) await post(i); // warm-up
    const before = await childStats();
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    let sent = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() < deadline && sent < 1_000_000) await post(sent++);
      }),
    );
    const wallSeconds = (performance.now() - started) / 1000;
    const after = await childStats();
    const spans = after.spansAccepted - before.spansAccepted;
    if (spans !== sent * SPANS_PER_REQUEST)
      throw new Error(`sent ${sent * SPANS_PER_REQUEST} spans, accepted ${spans}`);
    const cpuSeconds = (after.cpuMicros - before.cpuMicros) / 1e6;
    report(`${label} (wall)`, spans / wallSeconds);
    report(
      `${label} (per receiver CPU-second)`,
      spans / cpuSeconds,
      `  (receiver CPU ${((cpuSeconds / wallSeconds) * 100).toFixed(0)}%)`,
    );
  }
  await agent.close();
} finally {
  child.stdin!.write('quit\n');
  await new Promise((resolve) => child.once('exit', resolve));
}

const oneCore = results.find(([name]) => name === 'in-process: protobuf decode + aggregate')![1];
console.log(
  `\nresult: ${fmt(oneCore)} spans/s decoded + aggregated on one core = ${ratio(oneCore)} ` +
    `(target ${fmt(TARGET_SPANS_PER_SECOND)} spans/s): ${oneCore >= TARGET_SPANS_PER_SECOND ? 'MET' : 'NOT MET'}`,
);
