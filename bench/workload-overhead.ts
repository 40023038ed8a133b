// Benchmark: the Node workload's own overhead, and the cost of tracing.
//
//   npx node bench/workload-overhead.ts [--seconds 2] [--rounds 8] [--connections 16] [--node-sdk DIR]
//                                       [--memory-seconds 10] [--main PATH] [--model process]
//
// Five servers run side by side on loopback under load from this process (undici, a fixed number
// of keep-alive connections, one request in flight on each). Each round has two phases:
//   interleaved: every connection lane cycles through all four servers, so they get the same
//     requests at the same moments and share the machine's noise; the figure is each server's CPU
//     time per request (all threads of all its processes, from /proc schedstat);
//   closed loop: each server alone, for maximum throughput, in short slices alternating between
//     the servers.
// Ratios are paired within a round and summarised by the median over rounds. The servers:
//   baseline   a plain node:http hello-world sending the same body size;
//   workload   this server, trivial handler: process model (--model), 1 worker, CONCLAB_CPU_MILLIS=0, no tracing;
//   A/A        a second, identical untraced workload: its ratio to the first is the noise of a ratio;
//   trace 1.0  the same with tracing, sample ratio 1.0, exporting OTLP to a local sink process;
//   trace 0.1  the same at sample ratio 0.1 (configured as the launcher does: OTEL_* variables only);
//   NodeSDK    with --node-sdk DIR: trace 1.0 with the spans made in the serving isolate by the
//              tracer of a NodeSDK from @opentelemetry/sdk-node installed under DIR (not a
//              dependency; see bench/README.md), instead of the workload's span-export thread.
// Then the memory phase: a 4-worker workload of each model (process, thread, offload), untraced and
// traced at ratio 1.0, started together and given the same interleaved load for --memory-seconds;
// the resident memory of each (every process of its group) after it, and traced minus untraced per
// model, which is the memory the instrumentation costs that model.
// Targets: the workload within 10% of the baseline; tracing at ratio 0.1 within 10% and at 1.0
// within 30% of the untraced workload's CPU per request. --main runs another copy of the workload
// (e.g. an older commit's workloads/node/main.ts) to measure a change. On two shared cores the one-thread load
// generator saturates before the server does, so closed-loop throughput mostly measures the
// generator and the machine's noise; CPU per request under interleaved load is the figure to trust.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Dispatcher, Pool } from 'undici';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
    'node-sdk': { type: 'string' },
    'memory-seconds': { type: 'string', default: '10' },
    main: { type: 'string' },
    model: { type: 'string', default: 'process' },
  },
});
const NODE_SDK_DIR = values['node-sdk'];
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const WARMUP_MILLIS = 1500;
/** Closed-loop phase of a round, split into this many slices alternating between the servers. */
const SLICES = 4;
const BODY_BYTES = 256;
const TARGET_OVERHEAD = 0.1;
/** Targets for tracing, CPU per request against the untraced workload. */
const TRACE_TARGETS: Record<string, number> = { 'workload, trace 0.1': 0.1, 'workload, trace 1.0': 0.3 };
const MAIN = values.main ?? fileURLToPath(new URL('../workloads/node/main.ts', import.meta.url));
const MEMORY_SECONDS = Number(values['memory-seconds']);
const MEMORY_WORKERS = 4;
/** Model of the CPU phase's workloads (1 worker). */
const MODEL = values.model;

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

/** Spawn to ready line of each server, ms (includes the supervisor's start and its worker's). */
const startMillis = new Map<string, number>();

async function startWorkload(
  name: string,
  extra: Record<string, string>,
): Promise<{ name: string; port: number; pgid: number }> {
  const started = performance.now();
  const ready = await startChild([MAIN], {
    CONCLAB_MODEL: MODEL,
    CONCLAB_WORKERS: '1',
    CONCLAB_HOST: '127.0.0.1',
    CONCLAB_PORT: '0',
    CONCLAB_ADMIN_PORT: '0',
    CONCLAB_PROFILE: 'cpu',
    CONCLAB_CPU_MILLIS: '0',
    CONCLAB_RESPONSE_BYTES: String(BODY_BYTES),
    ...extra,
  });
  startMillis.set(name, performance.now() - started);
  return { name, port: ready['port'] as number, pgid: ready.pgid };
}

/**
 * Memory of every process of a process group, MB, from smaps_rollup: Rss, and USS (Private_Clean +
 * Private_Dirty: what the group alone holds; pages of the node binary shared between a process
 * model's N processes count in each one's Rss but in no USS).
 */
function groupMemoryMb(pgid: number): { rss: number; uss: number } {
  let rss = 0;
  let uss = 0;
  const field = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      rss += field(rollup, 'Rss');
      uss += field(rollup, 'Private_Clean') + field(rollup, 'Private_Dirty');
    } catch {
      // gone meanwhile
    }
  }
  return { rss: rss / 1024, uss: uss / 1024 };
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

interface Target {
  name: string;
  port: number;
  pgid: number;
}

interface Measurement {
  requestsPerSecond: number;
  p50Millis: number;
  p99Millis: number;
  errors: number;
}

/** Closed loop: CONNECTIONS lanes, each sending its next request when the previous one ended. */
/**
 * One GET /work as a bare undici dispatch handler (no body stream, no AbortController): keeps
 * the one-thread load generator cheap, so that it saturates as late as possible. Resolves with the
 * status code, 0 on a transport error.
 */
function getWork(pool: Pool): Promise<number> {
  return new Promise((resolve) => {
    let status = 0;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: () => {},
      onResponseStart: (_controller, statusCode) => {
        status = statusCode;
      },
      onResponseData: () => {},
      onResponseEnd: () => resolve(status),
      onResponseError: () => resolve(0),
    };
    pool.dispatch({ path: '/work', method: 'GET' }, handler);
  });
}

interface Slice {
  requests: number;
  elapsedMillis: number;
  latencies: number[];
  errors: number;
}

/** Closed loop on one server: CONNECTIONS lanes, each sending its next request when the last ended. */
async function closedLoop(pool: Pool, millis: number): Promise<Slice> {
  const latencies: number[] = [];
  let errors = 0;
  const begin = performance.now();
  const end = begin + millis;
  async function lane(): Promise<void> {
    while (performance.now() < end) {
      const start = performance.now();
      if ((await getWork(pool)) === 200) latencies.push(performance.now() - start);
      else errors++;
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, lane));
  return { requests: latencies.length, elapsedMillis: performance.now() - begin, latencies, errors };
}

function measurement(slices: Slice[]): Measurement {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  const requests = slices.reduce((sum, s) => sum + s.requests, 0);
  const elapsed = slices.reduce((sum, s) => sum + s.elapsedMillis, 0);
  return {
    requestsPerSecond: (requests / elapsed) * 1000,
    p50Millis: at(0.5),
    p99Millis: at(0.99),
    errors: slices.reduce((sum, s) => sum + s.errors, 0),
  };
}

/**
 * Interleaved load: CONNECTIONS lanes, each cycling through all servers in turn (closed loop), so
 * every server gets the same requests at the same moments and shares every bit of the machine's
 * noise. Returns each server's CPU time per request over the window.
 */
async function interleaved(servers: Target[], millis: number): Promise<number[]> {
  const pools = servers.map((t) => new Pool(`http://127.0.0.1:${t.port}`, { connections: CONNECTIONS, pipelining: 1 }));
  const counts = servers.map(() => 0);
  const end = performance.now() + millis;
  async function lane(index: number): Promise<void> {
    for (let i = index; performance.now() < end; i++) {
      const k = i % pools.length;
      // A failed request is simply not counted; errors show in the closed-loop phase.
      if ((await getWork(pools[k]!)) === 200) counts[k]!++;
    }
  }
  const before = servers.map((t) => groupCpuMillis(t.pgid));
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, index) => lane(index)));
  const after = servers.map((t) => groupCpuMillis(t.pgid));
  await Promise.all(pools.map((pool) => pool.close()));
  return servers.map((_, k) => ((after[k]! - before[k]!) * 1000) / Math.max(1, counts[k]!));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const sink = (await startChild(['-e', SINK], {}))['port'] as number;
const otlp = `http://127.0.0.1:${sink}`;
const hello = await startChild(['-e', HELLO], {});
// Tracing as the launcher configures it (operator/runtime/workload-env.ts): OTEL_* variables only.
const traced = (ratio: string) => ({
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${otlp}/v1/traces`,
  OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
  OTEL_TRACES_SAMPLER_ARG: ratio,
  OTEL_RESOURCE_ATTRIBUTES: 'conclab.experiment=bench,conclab.variant=overhead',
  // Explicit, so NodeSDK (whose default is the spec's 2,048) gets the same queue as the workload.
  OTEL_BSP_MAX_QUEUE_SIZE: '16384',
});
const targets: Target[] = [
  { name: 'baseline node:http', port: hello['port'] as number, pgid: hello.pgid },
  await startWorkload('workload, no tracing', { OTEL_SDK_DISABLED: 'true' }),
  await startWorkload('workload, A/A', { OTEL_SDK_DISABLED: 'true' }),
  await startWorkload('workload, trace 1.0', traced('1')),
  await startWorkload('workload, trace 0.1', traced('0.1')),
];
if (NODE_SDK_DIR !== undefined) {
  // NodeSDK configured from the environment; logs and metrics off, as a traces-only user sets them.
  targets.push(
    await startWorkload('trace 1.0, NodeSDK', {
      ...traced('1'),
      CONCLAB_INTERNAL_NODE_SDK_DIR: NODE_SDK_DIR,
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'none',
    }),
  );
}

console.log(
  `workload overhead: ${ROUNDS} rounds of ${SECONDS} s interleaved load over all servers, then ${SECONDS} s closed loop ` +
    `on each in ${SLICES} alternating slices; ${CONNECTIONS} keep-alive connections, ${BODY_BYTES}-byte bodies, Node ${process.version}, ` +
    `workload ${MAIN} (${MODEL} model), ` +
    `load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
);
const cpuPerRequest = new Map<string, number[]>(targets.map((t) => [t.name, []]));
const closed = new Map<string, Measurement[]>(targets.map((t) => [t.name, []]));
const pools = targets.map((t) => new Pool(`http://127.0.0.1:${t.port}`, { connections: CONNECTIONS, pipelining: 1 }));
for (const pool of pools) await closedLoop(pool, WARMUP_MILLIS);
for (let round = 1; round <= ROUNDS; round++) {
  const cpu = await interleaved(targets, SECONDS * 1000);
  for (const [k, t] of targets.entries()) cpuPerRequest.get(t.name)!.push(cpu[k]!);
  const line = targets.map((t, k) => `${t.name} ${cpu[k]!.toFixed(1)}`).join(', ');
  console.log(`  round ${round} interleaved, server CPU us/request: ${line}`);
  // Closed loop in short slices alternating between servers, so drift hits all of them alike.
  const slices: Slice[][] = targets.map(() => []);
  for (let slice = 0; slice < SLICES; slice++) {
    for (const [k, pool] of pools.entries()) slices[k]!.push(await closedLoop(pool, (SECONDS * 1000) / SLICES));
  }
  for (const [k, target] of targets.entries()) {
    const m = measurement(slices[k]!);
    closed.get(target.name)!.push(m);
    console.log(
      `  round ${round} closed loop ${target.name.padEnd(21)} ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s ` +
        `p50 ${m.p50Millis.toFixed(2)} p99 ${m.p99Millis.toFixed(2)} ms errors ${m.errors}`,
    );
  }
}
await Promise.all(pools.map((pool) => pool.close()));

// Ratios are paired within a round, then summarised over rounds: a machine shared with other
// work drifts far more between rounds than within one.
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
function summary(ratios: number[]): string {
  const sorted = [...ratios].sort((x, y) => x - y);
  return `median ${pct(median(ratios) - 1)} (range ${pct(sorted[0]! - 1)} .. ${pct(sorted[sorted.length - 1]! - 1)})`;
}
const cpuRatios = (name: string, reference: string) =>
  cpuPerRequest.get(name)!.map((x, i) => x / cpuPerRequest.get(reference)![i]!);
const rpsRatios = (name: string, reference: string) =>
  closed.get(name)!.map((m, i) => m.requestsPerSecond / closed.get(reference)![i]!.requestsPerSecond);
const BASE = 'baseline node:http';
const UNTRACED = 'workload, no tracing';
const AA = 'workload, A/A';
console.log('\nmedians over rounds:');
for (const target of targets) {
  console.log(
    `  ${target.name.padEnd(21)} ${median(cpuPerRequest.get(target.name)!).toFixed(1).padStart(6)} us CPU/request ` +
      `${median(closed.get(target.name)!.map((m) => m.requestsPerSecond))
        .toFixed(0)
        .padStart(6)} req/s closed loop`,
  );
}
const cpuOverhead = median(cpuRatios(UNTRACED, BASE)) - 1;
const rpsLoss = 1 - median(rpsRatios(UNTRACED, BASE));
const verdict = (x: number) => (x < TARGET_OVERHEAD ? 'PASS' : 'FAIL');
console.log(`\nworkload vs node:http (target: overhead < ${TARGET_OVERHEAD * 100}%):`);
console.log(`  server CPU per request ${summary(cpuRatios(UNTRACED, BASE))}: ${verdict(cpuOverhead)}`);
console.log(
  `  closed-loop throughput ${summary(rpsRatios(UNTRACED, BASE))}: ${verdict(rpsLoss)} ` +
    '(bounded by this one-thread load generator, so mostly its noise)',
);
console.log(
  `A/A: a second untraced workload vs the first, the noise of every ratio below: CPU per request ` +
    `${summary(cpuRatios(AA, UNTRACED))}; throughput ${summary(rpsRatios(AA, UNTRACED))}`,
);
for (const name of ['workload, trace 1.0', 'workload, trace 0.1']) {
  const target = TRACE_TARGETS[name]!;
  const overhead = median(cpuRatios(name, UNTRACED)) - 1;
  console.log(
    `tracing at ratio ${name.slice(-3)} vs untraced (target < ${target * 100}%): CPU per request ` +
      `${summary(cpuRatios(name, UNTRACED))}: ${overhead < target ? 'PASS' : 'FAIL'}; ` +
      `throughput ${summary(rpsRatios(name, UNTRACED))}`,
  );
}
if (NODE_SDK_DIR !== undefined) {
  const name = 'trace 1.0, NodeSDK';
  console.log(
    `NodeSDK in the serving isolate vs the workload's span-export thread, ratio 1.0: CPU per request ${summary(cpuRatios(name, 'workload, trace 1.0'))}; ` +
      `throughput ${summary(rpsRatios(name, 'workload, trace 1.0'))}`,
  );
}
console.log('\nstart (spawn to ready line) and resident memory of each server after the run:');
for (const target of targets) {
  const start = startMillis.get(target.name);
  const memory = groupMemoryMb(target.pgid);
  console.log(
    `  ${target.name.padEnd(21)} ${start === undefined ? '     -' : start.toFixed(0).padStart(6)} ms start ` +
      `${memory.rss.toFixed(0).padStart(5)} MB RSS ${memory.uss.toFixed(0).padStart(5)} MB USS`,
  );
}
// The CPU phase's workloads make room for the memory phase's.
for (const target of targets) {
  try {
    if (target.name !== BASE) process.kill(-target.pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// Memory phase: what tracing costs each model in memory, N workers, the same load for every server.
const MEMORY_MODELS = ['process', 'thread', 'offload'] as const;
const memoryTargets: Target[] = [];
for (const model of MEMORY_MODELS) {
  for (const [label, env] of [
    ['no tracing', { OTEL_SDK_DISABLED: 'true' }],
    ['trace 1.0', traced('1')],
  ] as const) {
    memoryTargets.push(
      await startWorkload(`${model} x${MEMORY_WORKERS}, ${label}`, {
        ...env,
        CONCLAB_MODEL: model,
        CONCLAB_WORKERS: String(MEMORY_WORKERS),
      }),
    );
  }
}
await new Promise((resolve) => setTimeout(resolve, 1000));
const idle = memoryTargets.map((t) => groupMemoryMb(t.pgid));
await interleaved(memoryTargets, MEMORY_SECONDS * 1000);
const loaded = memoryTargets.map((t) => groupMemoryMb(t.pgid));
console.log(
  `\nmemory of ${MEMORY_WORKERS}-worker workloads, idle after start and after ${MEMORY_SECONDS} s of the same interleaved load ` +
    `(${CONNECTIONS} connections over all ${memoryTargets.length}), every process of each:`,
);
for (const [k, target] of memoryTargets.entries()) {
  console.log(
    `  ${target.name.padEnd(24)} idle ${idle[k]!.rss.toFixed(0).padStart(4)} MB RSS ${idle[k]!.uss.toFixed(0).padStart(4)} MB USS; ` +
      `loaded ${loaded[k]!.rss.toFixed(0).padStart(4)} MB RSS ${loaded[k]!.uss.toFixed(0).padStart(4)} MB USS`,
  );
}
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(0)}`;
for (const [m, model] of MEMORY_MODELS.entries()) {
  const [off, on] = [2 * m, 2 * m + 1];
  console.log(
    `  tracing costs ${model.padEnd(7)} idle ${signed(idle[on]!.rss - idle[off]!.rss)} MB RSS ${signed(idle[on]!.uss - idle[off]!.uss)} MB USS; ` +
      `loaded ${signed(loaded[on]!.rss - loaded[off]!.rss)} MB RSS ${signed(loaded[on]!.uss - loaded[off]!.uss)} MB USS`,
  );
}
const sinkCount = await fetch(`${otlp}/count`).then((r) => r.json() as Promise<{ requests: number; bytes: number }>);
console.log(`OTLP sink received ${sinkCount.requests} export requests, ${(sinkCount.bytes / 1e6).toFixed(1)} MB`);
cleanup();
process.exit(0);
