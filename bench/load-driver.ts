// Benchmark: how high an arrival rate the built-in open-model driver keeps on this machine.
//
//   npx node bench/load-driver.ts [--seconds 3]
//
// The target is a minimal node:http server in a child process (so it does not share the
// driver's event loop). Baseline, measured in the same run: a closed loop of plain undici
// requests with 64 in flight, as fast as it goes — what client and server manage with no
// schedule at all. Then the driver runs open-model trials at fractions of that baseline and
// reports, per rate: completions/s, its own send slip p99 and event-loop lag, whether it
// flagged itself unreliable, the latency p99, and the driver's CPU time per request.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { decodeHistogram, summarize } from '../operator/analysis/histogram.ts';
import { runBuiltinLoad } from '../operator/load/builtin.ts';

const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 3;
if (!(SECONDS > 0 && SECONDS <= 60)) throw new Error('--seconds must be a number of seconds between 0 and 60');

const serverSource = `
  const http = require('node:http');
  const server = http.createServer((req, res) => res.end('ok'));
  server.keepAliveTimeout = 30000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
  process.stdin.on('end', () => process.exit(0)).resume();
`;
const child = spawn(process.execPath, ['-e', serverSource], { stdio: ['pipe', 'pipe', 'inherit'] });
const cleanup = () => {
  if (child.exitCode === null) child.kill('SIGKILL');
};
process.on('exit', cleanup);
const port = await new Promise<string>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('server did not start in 10 s')), 10_000);
  child.stdout.once('data', (d: Buffer) => {
    clearTimeout(timer);
    resolve(d.toString().trim());
  });
});
const url = `http://127.0.0.1:${port}/work`;

function cpuMillis(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// Baseline: closed loop, 64 in flight, no schedule.
async function closedLoop(seconds: number): Promise<{ perSecond: number; cpuMicrosPerRequest: number }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, pipelining: 1 });
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const cpu0 = cpuMillis();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (performance.now() < end) {
        const res = await pool.request({ path: '/work', method: 'GET' });
        await res.body.dump();
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuMillis() - cpu0;
  await pool.destroy();
  return { perSecond: done / elapsed, cpuMicrosPerRequest: (cpu * 1000) / done };
}

await closedLoop(1); // warm the JIT and the server
const baseline = await closedLoop(SECONDS);
console.log(
  `baseline closed loop (64 in flight): ${baseline.perSecond.toFixed(0)} req/s, ${baseline.cpuMicrosPerRequest.toFixed(1)} µs CPU/request in this process`,
);

const rows: string[] = [];
let highestReliable = 0;
for (const fraction of [0.25, 0.5, 0.75, 0.9, 1.0]) {
  const rate = Math.round((baseline.perSecond * fraction) / 50) * 50;
  const cpu0 = cpuMillis();
  const r = await runBuiltinLoad({
    targets: [url],
    rate,
    durationMillis: SECONDS * 1000,
    warmUpMillis: 500,
    maxInFlight: 512,
    timeoutMillis: 5000,
  });
  const cpu = cpuMillis() - cpu0;
  const s = summarize(decodeHistogram(r.latencyHistogram));
  const achieved = r.completed / SECONDS;
  if (!r.saturation.unreliable && achieved >= rate * 0.98) highestReliable = Math.max(highestReliable, rate);
  const requests = Math.max(1, r.sent + Math.round((rate * 500) / 1000));
  rows.push(
    [
      `${(fraction * 100).toFixed(0)}%`.padStart(5),
      String(rate).padStart(6),
      achieved.toFixed(0).padStart(8),
      r.dropped.toString().padStart(7),
      r.saturation.sendSlipP99Millis.toFixed(2).padStart(9),
      r.saturation.eventLoopLagMaxMillis.toFixed(1).padStart(8),
      (r.saturation.unreliable ? 'yes' : 'no').padStart(10),
      s.p99Millis.toFixed(2).padStart(8),
      ((cpu * 1000) / requests).toFixed(1).padStart(10),
    ].join(' '),
  );
}
console.log('share   rate  done/s dropped slipP99ms lagMaxMs unreliable  p99 ms µsCPU/req');
for (const row of rows) console.log(row);
console.log(
  `highest reliable open-model rate: ${highestReliable} req/s = ${((highestReliable / baseline.perSecond) * 100).toFixed(0)}% of the closed-loop baseline`,
);
child.stdin.end();
cleanup();
