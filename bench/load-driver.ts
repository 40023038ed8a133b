// Benchmark: the built-in open-model driver against its peers, wrk and autocannon, on the same
// pinned server in the same run, and how its generators scale.
//
//   npx node bench/load-driver.ts [--rounds 2] [--seconds 3] [--generators 2] [--unit 0.4]
//                                 [--max-in-flight 2048] [--server node-http|canned] [--verbose]
//
// The target is a plain node:http server (one process; `--server canned`: a cheaper one that
// answers every request with the same bytes) pinned to the last CPU; every client
// is pinned to the CPUs before it (on 2 cores: server on CPU 1, clients on CPU 0).
//
// One core, per round, interleaved so that drift of a shared machine hits all alike:
//   - wrk -t1 -c64, closed loop: the server's rate with a client that costs next to nothing;
//   - autocannon -c64, closed loop (Node, like the driver);
//   - the driver (one generator process pinned by taskset): its highest open-model rate with
//     no drop, no error, no request left unanswered and no saturation flag, found by
//     bisection. Latency still counts from the intended send times.
// Printed: driver / wrk and driver / autocannon (target: driver >= 0.9 x wrk).
//
// Across cores: N generators against 1. The server takes one of the machine's CPUs, so on a
// small machine there are not N whole cores left for generators; the CPU a generator may use
// is therefore a CPU share (`--unit` cores, a CFS quota on a cgroup holding the generators,
// pinned to the client CPUs): 1 generator with 1 unit against N generators with N units. The
// server must not be the limit: N x unit is kept well below what wrk gets. Printed: the
// N-generator rate over the 1-generator rate (target >= 0.8 x N).
//
// `--trial JSON` is internal: the bench runs each driver trial in a child process this way,
// so the trial (and the generator processes it starts) can be put in a cgroup.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { runGeneratorParts } from '../operator/load/generators.ts';
import { findOnPath } from '../operator/load/k6-runner.ts';
import type { LoadPlan } from '../operator/load/types.ts';
import { readCgroupLayout } from '../operator/runtime/local/cgroup-detect.ts';
import {
  type CgroupGroup,
  createGroup,
  procsFiles,
  removeGroup,
  writeLimits,
} from '../operator/runtime/local/cgroup-group.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '3' },
    generators: { type: 'string', default: '2' },
    unit: { type: 'string', default: '0.4' },
    'max-in-flight': { type: 'string', default: '2048' },
    server: { type: 'string', default: 'node-http' },
    trial: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

interface TrialInput {
  plan: Omit<LoadPlan, 'onProgress' | 'signal'>;
  cpus: number[];
}
interface TrialOutput {
  scheduled: number;
  completed: number;
  dropped: number;
  failed: number;
  inFlightAtEnd: number;
  unreliable: boolean;
  reason?: string;
  /** CPU time of the generator processes during the run (start-up excluded), s. */
  generatorCpuSeconds: number;
  /** The p99 latency of the worst second of the window, ms. */
  worstSecondP99Millis: number;
  /** Requests answered within the measured window (the rest answered after it). */
  completedInWindow: number;
  /** The generators' own lateness (p99 of send slip) and longest event-loop stall, ms. */
  sendSlipP99Millis: number;
  eventLoopLagMaxMillis: number;
  /** Set by the parent: the server's CPU time per request of the trial (warm-up included), µs. */
  serverMicrosPerRequest?: number;
}

if (values.trial !== undefined) {
  // Child mode: wait for "go" (the parent first puts this process in its cgroup), run, print.
  const input = JSON.parse(values.trial) as TrialInput;
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const { result: r, parts } = await runGeneratorParts(input.plan, { cpus: input.cpus });
  const out: TrialOutput = {
    scheduled: r.scheduled,
    completed: r.completed,
    dropped: r.dropped,
    failed: Object.values(r.errors).reduce((a, b) => a + b, 0),
    inFlightAtEnd: r.inFlightAtEnd,
    unreliable: r.saturation.unreliable,
    ...(r.saturation.reason ? { reason: r.saturation.reason } : {}),
    generatorCpuSeconds: parts.reduce((a, p) => a + (p.cpuSeconds ?? 0), 0),
    worstSecondP99Millis: Math.max(0, ...r.perSecond.map((s) => s.p99Millis)),
    sendSlipP99Millis: r.saturation.sendSlipP99Millis,
    eventLoopLagMaxMillis: r.saturation.eventLoopLagMaxMillis,
    completedInWindow: r.perSecond
      .slice(0, Math.ceil(input.plan.durationMillis / 1000))
      .reduce((a, s) => a + s.completed, 0),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const GENERATORS = Number(values.generators);
const UNIT = Number(values.unit);
// The cap a user would set at these rates: ~50 ms of requests, so a scheduler stall of a few
// ms on a shared machine shows as latency (counted from the intended times), not as drops.
const MAX_IN_FLIGHT = Number(values['max-in-flight']);
if (!(ROUNDS >= 1 && ROUNDS <= 20)) throw new Error('--rounds must be 1..20');
if (!(SECONDS > 0 && SECONDS <= 60)) throw new Error('--seconds must be a number of seconds between 0 and 60');
if (!(Number.isInteger(GENERATORS) && GENERATORS >= 2)) throw new Error('--generators must be an integer of 2 or more');
if (!(UNIT > 0 && UNIT <= 1)) throw new Error('--unit must be a share of one core, above 0 and at most 1');
if (!(Number.isInteger(MAX_IN_FLIGHT) && MAX_IN_FLIGHT >= 64)) throw new Error('--max-in-flight must be 64 or more');

const cores = availableParallelism();
if (cores < 2) throw new Error('this bench needs 2 CPUs or more: one for the server, one for the clients');
const serverCpu = cores - 1;
const clientCpus = Array.from({ length: cores - 1 }, (_, i) => i);
const taskset = await findOnPath('taskset', process.env.PATH ?? '');
const wrk = await findOnPath('wrk', process.env.PATH ?? '');
if (!taskset) throw new Error('taskset not found: install util-linux');
if (!wrk) {
  console.log('wrk not found (install the Debian package wrk): the driver is compared with autocannon only');
}
const autocannonBin = new URL('../node_modules/autocannon/autocannon.js', import.meta.url).pathname;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Runs a command to its end; resolves with its stdout. */
function run(command: string, args: string[], input?: (c: ChildProcess) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(c);
    let out = '';
    let err = '';
    c.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    c.once('error', reject);
    c.once('exit', (code) => {
      children.delete(c);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${err.trim()}`));
    });
    input?.(c);
  });
}

// The server, one process on its own CPU: plain node:http, or with `--server canned` a net
// server that answers every request head with the same bytes, about a third of node:http's
// CPU per request, so that the clients, not the server, are the limit of the one-core figures.
const SERVERS: Record<string, string> = {
  'node-http': `
    const http = require('node:http');
    const server = http.createServer((req, res) => res.end('ok'));
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
    process.stdin.on('end', () => process.exit(0)).resume();
  `,
  canned: `
    const net = require('node:net');
    const answer = Buffer.from('HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nKeep-Alive: timeout=60\\r\\n\\r\\nok');
    const END = [13, 10, 13, 10];
    const server = net.createServer({ noDelay: true }, (socket) => {
      let matched = 0; // bytes of CRLFCRLF matched so far, across reads
      socket.on('data', (chunk) => {
        for (let i = 0; i < chunk.length; i++) {
          const b = chunk[i];
          matched = b === END[matched] ? matched + 1 : b === 13 ? 1 : 0;
          if (matched === 4) {
            matched = 0;
            socket.write(answer);
          }
        }
      });
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
    process.stdin.on('end', () => process.exit(0)).resume();
  `,
};
const serverSource = SERVERS[values.server];
if (serverSource === undefined) throw new Error(`--server must be one of ${Object.keys(SERVERS).join(', ')}`);
const server = spawn(taskset, ['-c', String(serverCpu), process.execPath, '-e', serverSource], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
children.add(server);
const port = await new Promise<string>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('server did not start in 10 s')), 10_000);
  server.stdout?.once('data', (d: Buffer) => {
    clearTimeout(timer);
    resolve(d.toString().trim());
  });
});
const url = `http://127.0.0.1:${port}/work`;

/** The server's CPU time so far, s (utime + stime from /proc, 10 ms ticks). */
async function serverCpuSeconds(): Promise<number> {
  const stat = await readFile(`/proc/${server.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The server's CPU time per request since `before` (a serverCpuSeconds reading), µs. */
async function serverMicrosSince(before: number, requests: number): Promise<number> {
  return (((await serverCpuSeconds()) - before) * 1e6) / requests;
}

/** A driver trial's warm-up, sent at the trial's rate before its measured window. */
const WARM_UP_MILLIS = 500;

/** Requests a driver trial sent in all, warm-up included, from those it scheduled in its window. */
const withWarmUp = (scheduled: number) => scheduled * (1 + WARM_UP_MILLIS / (SECONDS * 1000));
const client = String(clientCpus[0]);

/** A peer's closed-loop figures: requests/s and its CPU time per request. */
interface Peer {
  perSecond: number;
  cpuMicrosPerRequest: number;
  /** The server's CPU time per request it answered meanwhile, µs. */
  serverMicrosPerRequest: number;
}

/**
 * Runs a pinned command under sh, which prints its own stat after the command ended: the
 * reaped child's CPU time is then in sh's cutime/cstime (no external time program needed).
 */
async function pinnedWithCpu(args: string[]): Promise<{ out: string; cpuSeconds: number }> {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const out = await run('sh', ['-c', `${quoted} && echo && echo "@@stat $(cat /proc/$$/stat)"`]);
  const stat = /@@stat (.*)$/m.exec(out)?.[1] ?? '';
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { out: out.slice(0, out.lastIndexOf('@@stat')), cpuSeconds: (Number(fields[13]) + Number(fields[14])) / 100 };
}

async function wrkRun(seconds: number): Promise<Peer> {
  if (!wrk) return { perSecond: Number.NaN, cpuMicrosPerRequest: Number.NaN, serverMicrosPerRequest: Number.NaN };
  const serverBefore = await serverCpuSeconds();
  const { out, cpuSeconds } = await pinnedWithCpu([
    taskset as string,
    '-c',
    client,
    wrk,
    '-t1',
    '-c64',
    `-d${seconds}s`,
    url,
  ]);
  const rate = /Requests\/sec:\s*([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  if (!rate || !total) throw new Error(`cannot read wrk's output: ${out}`);
  const requests = Number(total[1]);
  return {
    perSecond: Number(rate[1]),
    cpuMicrosPerRequest: (cpuSeconds * 1e6) / requests,
    serverMicrosPerRequest: await serverMicrosSince(serverBefore, requests),
  };
}

async function autocannonRun(seconds: number): Promise<Peer> {
  const serverBefore = await serverCpuSeconds();
  const { out, cpuSeconds } = await pinnedWithCpu([
    taskset as string,
    '-c',
    client,
    process.execPath,
    autocannonBin,
    '-c',
    '64',
    '-d',
    String(seconds),
    '-j',
    url,
  ]);
  const r = JSON.parse(out) as { requests: { total: number }; duration: number };
  // CPU includes autocannon's start-up (~0.1 s), so its per-request figure is an upper bound.
  return {
    perSecond: r.requests.total / r.duration,
    cpuMicrosPerRequest: (cpuSeconds * 1e6) / r.requests.total,
    serverMicrosPerRequest: await serverMicrosSince(serverBefore, r.requests.total),
  };
}

/**
 * A cgroup capped at `cores` (CFS quota) and weighted far above other tasks, so that on a busy
 * machine it still gets its cap: the unit is then a CPU share the generators really have, the
 * same for 1 generator and for N (under group scheduling an unweighted group competes as one
 * task and would get a busy machine's leftovers). The cap keeps it from taking more.
 */
async function cgroupFor(cores: number, units: number): Promise<CgroupGroup> {
  const layout = readCgroupLayout();
  if (layout.version === 'none') throw new Error(`no usable cgroup: ${layout.reason}`);
  const group = await createGroup(layout, `conclab-${process.pid}-b${Date.now().toString(16)}-load-bench`);
  const periodUs = 10_000; // short periods: a throttled generator stalls 6 ms, not 60
  const quotaUs = Math.round(cores * periodUs);
  try {
    await writeLimits(
      group,
      group.version === 'v2'
        ? [
            { controller: 'cpu', file: 'cpu.max', value: `${quotaUs} ${periodUs}` },
            { controller: 'cpu', file: 'cpu.weight', value: String(Math.min(10_000, 2_000 * units)) },
          ]
        : [
            { controller: 'cpu', file: 'cpu.cfs_period_us', value: String(periodUs) },
            { controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(quotaUs) },
            { controller: 'cpu', file: 'cpu.shares', value: String(Math.min(262_144, 50_000 * units)) },
          ],
    );
  } catch (err) {
    await removeGroup(group);
    throw err;
  }
  return group;
}

/** One driver trial at `rate` in a child process (in `group` when given). */
async function driverTrial(rate: number, generators: number, group?: CgroupGroup): Promise<TrialOutput> {
  const input: TrialInput = {
    plan: {
      targets: [url],
      rate,
      durationMillis: SECONDS * 1000,
      warmUpMillis: WARM_UP_MILLIS,
      maxInFlight: MAX_IN_FLIGHT,
      timeoutMillis: 5000,
      generators,
    },
    cpus: clientCpus,
  };
  const serverBefore = await serverCpuSeconds();
  const out = await run(
    process.execPath,
    [new URL(import.meta.url).pathname, '--trial', JSON.stringify(input)],
    (c) => {
      const go = async () => {
        if (group) for (const f of procsFiles(group)) await writeFile(f, String(c.pid));
        c.stdin?.write('go\n');
      };
      go().catch((err: unknown) => {
        c.kill('SIGKILL');
        console.error(`cannot place the trial in its cgroup: ${(err as Error).message}`);
      });
    },
  );
  const t = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as TrialOutput;
  return { ...t, serverMicrosPerRequest: await serverMicrosSince(serverBefore, withWarmUp(t.scheduled)) };
}

const clean = (t: TrialOutput) =>
  !t.unreliable && t.dropped === 0 && t.failed === 0 && t.inFlightAtEnd === 0 && t.completed === t.scheduled;

/**
 * Highest rate (to `step`) with a clean trial, by bisection in [low, high]: low is assumed
 * clean until a trial says otherwise (then the bracket moves down). A flagged trial is retried
 * once.
 */
async function highestClean(
  low: number,
  high: number,
  trial: (rate: number) => Promise<TrialOutput>,
  step: number,
): Promise<{ rate: number; cpuMicrosPerRequest: number; serverMicrosPerRequest: number; trials: string[] }> {
  let lo = 0;
  let hi = high;
  let cpu = Number.NaN;
  let serverCpu = Number.NaN;
  const trials: string[] = [];
  let rate = Math.round(low / step) * step;
  for (let i = 0; i < 9 && hi - lo > step; i++) {
    let t = await trial(rate);
    // A trial the driver flagged as saturated is run once more: on a shared machine a burst of
    // other work starves it for a while, and one such burst should not end the search.
    if (t.unreliable) t = await trial(rate);
    const ok = clean(t);
    if (values.verbose) console.log(`    trial ${rate}/s: ${JSON.stringify(t)}`);
    trials.push(`${rate}${ok ? '' : t.unreliable ? '!' : 'x'}`);
    if (ok) {
      lo = rate;
      cpu = (t.generatorCpuSeconds * 1e6) / withWarmUp(t.scheduled);
      serverCpu = t.serverMicrosPerRequest ?? Number.NaN;
    } else hi = rate;
    rate = Math.round((lo === 0 ? hi / 2 : (lo + hi) / 2) / step) * step;
    if (rate <= lo || rate >= hi) break;
  }
  return { rate: lo, cpuMicrosPerRequest: cpu, serverMicrosPerRequest: serverCpu, trials };
}

const median = (xs: number[]) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

console.log(
  `server: ${values.server} on CPU ${serverCpu}; clients on CPU ${clientCpus.join(',')}; ${ROUNDS} round(s) of ${SECONDS} s per measurement`,
);
await wrkRun(1).catch(() => undefined); // warm the server
await autocannonRun(1);

interface Round {
  wrk: number;
  wrkCpu: number;
  wrkServer: number;
  autocannon: number;
  autocannonCpu: number;
  autocannonServer: number;
  driver: number;
  driverCpu: number;
  driverServer: number;
  one: number;
  many: number;
  trials: string;
}
const rounds: Round[] = [];
let scalingSkipped: string | undefined;
for (let round = 1; round <= ROUNDS; round++) {
  const wr = await wrkRun(SECONDS);
  const ac = await autocannonRun(SECONDS);
  const w = wr.perSecond;
  const a = ac.perSecond;
  const peer = Number.isFinite(w) ? w : a;
  const d = await highestClean(peer * 0.85, peer * 1.1, (rate) => driverTrial(rate, 1), 250);
  let one = Number.NaN;
  let many = Number.NaN;
  let scaleTrials = '';
  if (scalingSkipped === undefined && GENERATORS * UNIT <= clientCpus.length) {
    try {
      // Expected 1-unit rate from the one-core figure; the bracket allows for the quota's cost.
      const perUnit = Math.max(1000, d.rate * UNIT);
      const g1 = await cgroupFor(UNIT, 1);
      try {
        one = (await highestClean(perUnit * 0.8, perUnit * 1.5, (rate) => driverTrial(rate, 1, g1), 100)).rate;
      } finally {
        await removeGroup(g1);
      }
      const gN = await cgroupFor(UNIT * GENERATORS, GENERATORS);
      try {
        const r = await highestClean(
          one * GENERATORS * 0.8,
          one * GENERATORS * 1.25,
          (rate) => driverTrial(rate, GENERATORS, gN),
          100,
        );
        many = r.rate;
        scaleTrials = r.trials.join(' ');
      } finally {
        await removeGroup(gN);
      }
    } catch (err) {
      scalingSkipped = (err as Error).message;
    }
  } else if (scalingSkipped === undefined) {
    scalingSkipped = `${GENERATORS} x ${UNIT} cores exceed the ${clientCpus.length} client CPU(s)`;
  }
  rounds.push({
    wrk: w,
    wrkCpu: wr.cpuMicrosPerRequest,
    wrkServer: wr.serverMicrosPerRequest,
    autocannon: a,
    autocannonCpu: ac.cpuMicrosPerRequest,
    autocannonServer: ac.serverMicrosPerRequest,
    driver: d.rate,
    driverCpu: d.cpuMicrosPerRequest,
    driverServer: d.serverMicrosPerRequest,
    one,
    many,
    trials: `${d.trials.join(' ')} | ${scaleTrials}`,
  });
  console.log(
    `round ${round}: wrk ${w.toFixed(0)}/s (${wr.cpuMicrosPerRequest.toFixed(1)} µs CPU/request, server ${wr.serverMicrosPerRequest.toFixed(1)} µs), autocannon ${a.toFixed(0)}/s (${ac.cpuMicrosPerRequest.toFixed(1)} µs, server ${ac.serverMicrosPerRequest.toFixed(1)} µs), driver ${d.rate}/s (${d.cpuMicrosPerRequest.toFixed(1)} µs CPU/request, server ${d.serverMicrosPerRequest.toFixed(1)} µs; trials ${d.trials.join(' ')})` +
      (Number.isFinite(many)
        ? `; ${UNIT}-core unit: 1 generator ${one}/s, ${GENERATORS} generators ${many}/s (trials ${scaleTrials})`
        : ''),
  );
}

const ratio = (f: (r: Round) => number) => median(rounds.map(f));
console.log(
  '\nmedians over rounds (x = trial not clean, ! = driver flagged itself saturated; CPU per request: client, server):',
);
console.log(
  `  wrk closed loop              ${ratio((r) => r.wrk).toFixed(0)} req/s, ${ratio((r) => r.wrkCpu).toFixed(1)} µs, ${ratio((r) => r.wrkServer).toFixed(1)} µs`,
);
console.log(
  `  autocannon closed loop       ${ratio((r) => r.autocannon).toFixed(0)} req/s, ${ratio((r) => r.autocannonCpu).toFixed(1)} µs, ${ratio((r) => r.autocannonServer).toFixed(1)} µs`,
);
console.log(
  `  driver, open model, clean    ${ratio((r) => r.driver).toFixed(0)} req/s, ${ratio((r) => r.driverCpu).toFixed(1)} µs, ${ratio((r) => r.driverServer).toFixed(1)} µs`,
);
console.log(`  driver / wrk                 ${ratio((r) => r.driver / r.wrk).toFixed(2)} (target >= 0.90)`);
console.log(`  driver / autocannon          ${ratio((r) => r.driver / r.autocannon).toFixed(2)}`);
if (scalingSkipped) console.log(`  scaling                      skipped: ${scalingSkipped}`);
else {
  console.log(
    `  scaling, ${GENERATORS} generators / 1   ${ratio((r) => r.many / r.one).toFixed(2)} (target >= ${(0.8 * GENERATORS).toFixed(1)}; ${UNIT}-core CPU units)`,
  );
}
server.stdin?.end();
