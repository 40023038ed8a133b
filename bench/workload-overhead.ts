// Benchmark: the Node workload's own overhead, and the cost of tracing.
//
//   npx node bench/workload-overhead.ts [--seconds 3] [--rounds 5] [--connections 16] [--rate 2000]
//
// Four servers run side by side on loopback, each measured in turn under the same load from this
// process (undici, a fixed number of keep-alive connections, one request in flight on each), in
// rounds interleaved A B C D A B C D so machine drift hits all alike. Per server and round: a
// fixed offered rate, where the figure is the server's CPU time per request (from /proc, all its
// processes), then a closed loop for maximum throughput. The servers:
//   baseline   a plain node:http hello-world sending the same body size;
//   workload   this server, trivial handler: process model, 1 worker, CONCLAB_CPU_MILLIS=0, no tracing;
//   trace 1.0  the same with tracing, sample ratio 1.0, exporting OTLP to a local sink process;
//   trace 0.1  the same at sample ratio 0.1.
// Target: the workload within 10% of the baseline, in CPU per request and in throughput. On two
// shared cores the one-thread load generator saturates before the server does, so the closed-loop
// figure mostly measures the generator; CPU per request is the trustworthy overhead figure.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    rate: { type: 'string', default: '2000' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const RATE = Number(values.rate);
const WARMUP_MILLIS = 1500;
const BODY_BYTES = 256;
const TARGET_OVERHEAD = 0.1;
const MAIN = fileURLToPath(new URL('../workloads/node/main.ts', import.meta.url));

const children: ChildProcess[] = [];
function cleanup(): void {
  for (const child of children) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

/** Starts a child in its own process group and resolves with the first JSON line it prints. */
async function startChild(
  args: string[],
  env: Record<string, string>,
): Promise<Record<string, unknown> & { pgid: number }> {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const timeout = setTimeout(() => {
    console.error(`child ${args.join(' ')} did not start within 30 s`);
    process.exit(1);
  }, 30_000);
  const [line] = (await once(lines, 'line')) as [string];
  clearTimeout(timeout);
  lines.on('line', () => undefined); // keep draining
  return { ...(JSON.parse(line) as Record<string, unknown>), pgid: child.pid! };
}

const HELLO = `
const http = require('node:http');
const body = Buffer.alloc(${BODY_BYTES}, 'x');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen({ host: '127.0.0.1', port: 0 }, () => console.log(JSON.stringify({ port: server.address().port })));
process.on('disconnect', () => process.exit(0));
`;

// A sink that accepts OTLP posts and counts bytes; it runs in its own process.
const SINK = `
const http = require('node:http');
let requests = 0, bytes = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/count') { res.end(JSON.stringify({ requests, bytes })); return; }
  req.on('data', (c) => { bytes += c.length; });
  req.on('end', () => { requests++; res.writeHead(200, { 'content-type': 'application/x-protobuf' }); res.end(); });
});
server.listen({ host: '127.0.0.1', port: 0 }, () => console.log(JSON.stringify({ port: server.address().port })));
`;

async function startWorkload(extra: Record<string, string>): Promise<{ port: number; pgid: number }> {
  const ready = await startChild([MAIN], {
    CONCLAB_MODEL: 'process',
    CONCLAB_WORKERS: '1',
    CONCLAB_HOST: '127.0.0.1',
    CONCLAB_PORT: '0',
    CONCLAB_ADMIN_PORT: '0',
    CONCLAB_PROFILE: 'cpu',
    CONCLAB_CPU_MILLIS: '0',
    CONCLAB_RESPONSE_BYTES: String(BODY_BYTES),
    ...extra,
  });
  return { port: ready['port'] as number, pgid: ready.pgid };
}

/**
 * CPU milliseconds used so far by every thread of every process of a process group (the server,
 * its workers, libuv and V8 helper threads), from the nanosecond run times in
 * /proc/<pid>/task/<tid>/schedstat. Less noisy than req/s on a shared machine: it does not care
 * who else got the cores, only what the requests cost the server.
 */
function groupCpuMillis(pgid: number): number {
  let nanos = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // After "(command) ": state ppid pgrp ...
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        nanos += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      }
    } catch {
      // the process or thread ended meanwhile
    }
  }
  return nanos / 1e6;
}

interface Measurement {
  /** Server CPU time per request, microseconds. */
  cpuMicrosPerRequest: number;
  requestsPerSecond: number;
  p50Millis: number;
  p99Millis: number;
  errors: number;
}

/** Closed loop: CONNECTIONS lanes, each sending its next request when the previous one ended. */
/**
 * Drives CONNECTIONS lanes. rate = 0: closed loop, each lane sends its next request when the
 * previous one ended (maximum throughput). rate > 0: lanes send at intended times spread evenly
 * (a fixed offered rate), and latency counts from the intended time.
 */
async function load(port: number, pgid: number, millis: number, rate: number): Promise<Measurement> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const begin = performance.now();
  const end = begin + millis;
  async function lane(index: number): Promise<void> {
    for (let i = 0; ; i++) {
      let start = performance.now();
      if (rate > 0) {
        const intended = begin + ((i * CONNECTIONS + index) / rate) * 1000;
        if (intended >= end) break;
        if (intended > start) await new Promise((resolve) => setTimeout(resolve, intended - start));
        start = intended;
      } else if (start >= end) break;
      try {
        const response = await pool.request({ path: '/work', method: 'GET' });
        await response.body.dump();
        if (response.statusCode !== 200) errors++;
        latencies.push(performance.now() - start);
      } catch {
        errors++;
      }
    }
  }
  const started = performance.now();
  const cpuBefore = groupCpuMillis(pgid);
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, index) => lane(index)));
  const elapsed = performance.now() - started;
  const cpuMillis = groupCpuMillis(pgid) - cpuBefore;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    cpuMicrosPerRequest: (cpuMillis * 1000) / Math.max(1, latencies.length),
    requestsPerSecond: (latencies.length / elapsed) * 1000,
    p50Millis: at(0.5),
    p99Millis: at(0.99),
    errors,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const sink = (await startChild(['-e', SINK], {}))['port'] as number;
const otlp = `http://127.0.0.1:${sink}`;
const hello = await startChild(['-e', HELLO], {});
const targets: Array<{ name: string; port: number; pgid: number }> = [
  { name: 'baseline node:http', port: hello['port'] as number, pgid: hello.pgid },
  { name: 'workload, no tracing', ...(await startWorkload({ CONCLAB_TRACING: 'false' })) },
  {
    name: 'workload, trace 1.0',
    ...(await startWorkload({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp, CONCLAB_TRACE_SAMPLE_RATIO: '1' })),
  },
  {
    name: 'workload, trace 0.1',
    ...(await startWorkload({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp, CONCLAB_TRACE_SAMPLE_RATIO: '0.1' })),
  },
];

console.log(
  `workload overhead: ${ROUNDS} rounds; per server and round ${SECONDS} s at a fixed ${RATE} req/s, then ${SECONDS} s ` +
    `closed loop; ${CONNECTIONS} keep-alive connections, ${BODY_BYTES}-byte bodies, Node ${process.version}, ` +
    `load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
);
const fixed = new Map<string, Measurement[]>(targets.map((t) => [t.name, []]));
const closed = new Map<string, Measurement[]>(targets.map((t) => [t.name, []]));
const show = (m: Measurement) =>
  `${m.requestsPerSecond.toFixed(0).padStart(6)} req/s ${m.cpuMicrosPerRequest.toFixed(1).padStart(6)} us CPU/req ` +
  `p50 ${m.p50Millis.toFixed(2)} p99 ${m.p99Millis.toFixed(2)} ms err ${m.errors}`;
for (let round = 1; round <= ROUNDS; round++) {
  for (const target of targets) {
    await load(target.port, target.pgid, WARMUP_MILLIS, 0);
    const atRate = await load(target.port, target.pgid, SECONDS * 1000, RATE);
    const max = await load(target.port, target.pgid, SECONDS * 1000, 0);
    fixed.get(target.name)!.push(atRate);
    closed.get(target.name)!.push(max);
    console.log(`  round ${round} ${target.name.padEnd(21)} fixed: ${show(atRate)} | closed: ${show(max)}`);
  }
}

// Ratios are paired within a round (servers measured seconds apart), then summarised over rounds:
// a machine shared with other work drifts far more between rounds than within one.
function pairedRatios(
  series: Map<string, Measurement[]>,
  name: string,
  reference: string,
  pick: (m: Measurement) => number,
) {
  const a = series.get(name)!;
  const b = series.get(reference)!;
  return a.map((m, i) => pick(m) / pick(b[i]!));
}
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
function summary(ratios: number[]): string {
  const sorted = [...ratios].sort((x, y) => x - y);
  return `median ${pct(median(ratios) - 1)} (range ${pct(sorted[0]! - 1)} .. ${pct(sorted[sorted.length - 1]! - 1)})`;
}
const cpuOf = (m: Measurement) => m.cpuMicrosPerRequest;
const rpsOf = (m: Measurement) => m.requestsPerSecond;
const BASE = 'baseline node:http';
const UNTRACED = 'workload, no tracing';
console.log('\nserver CPU per request at the fixed rate, paired per round:');
for (const target of targets.slice(1)) {
  console.log(`  ${target.name.padEnd(21)} vs baseline: ${summary(pairedRatios(fixed, target.name, BASE, cpuOf))}`);
}
console.log('closed-loop throughput (limited by this one-thread load generator when the server is not saturated):');
for (const target of targets.slice(1)) {
  console.log(`  ${target.name.padEnd(21)} vs baseline: ${summary(pairedRatios(closed, target.name, BASE, rpsOf))}`);
}
const cpuOverhead = median(pairedRatios(fixed, UNTRACED, BASE, cpuOf)) - 1;
const rpsOverhead = 1 - median(pairedRatios(closed, UNTRACED, BASE, rpsOf));
const verdict = (x: number) => (x < TARGET_OVERHEAD ? 'PASS' : 'FAIL');
console.log(
  `\nworkload overhead vs node:http (target < ${TARGET_OVERHEAD * 100}%): ` +
    `CPU per request ${pct(cpuOverhead)} ${verdict(cpuOverhead)}; throughput ${pct(-rpsOverhead)} ${verdict(rpsOverhead)}`,
);
for (const name of ['workload, trace 1.0', 'workload, trace 0.1']) {
  console.log(
    `tracing cost at ratio ${name.slice(-3)} vs untraced: CPU per request ${summary(pairedRatios(fixed, name, UNTRACED, cpuOf))}; ` +
      `throughput ${summary(pairedRatios(closed, name, UNTRACED, rpsOf))}`,
  );
}
const sinkCount = await fetch(`${otlp}/count`).then((r) => r.json() as Promise<{ requests: number; bytes: number }>);
console.log(`OTLP sink received ${sinkCount.requests} export requests, ${(sinkCount.bytes / 1e6).toFixed(1)} MB`);
cleanup();
process.exit(0);
