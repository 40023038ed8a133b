// Generator processes of the built-in driver against real servers on 127.0.0.1: the schedule
// is shared, the parts merge exactly, pinning is real (read back from /proc), and nothing is
// left running.
import { readdirSync, readFileSync } from 'node:fs';
import anyTest from 'ava';
import { decodeHistogram, newHistogram } from '../../operator/contracts/histogram.ts';
import { runBuiltinLoad } from '../../operator/load/builtin.ts';
import { runGeneratorParts } from '../../operator/load/generators.ts';
import { p99Millis } from '../../operator/load/merge.ts';
import { LoadPlanError } from '../../operator/load/plan-validation.ts';
import type { LoadPlan } from '../../operator/load/types.ts';
import { assertConsistent } from './consistency.ts';
import { startServer } from './servers.ts';

const test = anyTest.serial;
const base = { warmUpMillis: 200, maxInFlight: 512, timeoutMillis: 5000 };

/** pids of this process's children that are alive, with their allowed CPUs. */
function children(): { pid: number; cpus: string }[] {
  const out: { pid: number; cpus: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      out.push({ pid: Number(name), cpus: /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? '?' });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('two generators each send every other request, and the merge equals the sum of their parts', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const plan: LoadPlan = { ...base, targets: [server.url], rate: 400, durationMillis: 1000, generators: 2 };
  const { result, parts } = await runGeneratorParts(plan);
  assertConsistent(t, result);
  t.is(result.generators, 2);
  t.is(result.scheduled, 400, 'the union is the single schedule');
  t.deepEqual(
    parts.map((p) => p.result.scheduled),
    [200, 200],
    'the rate was shared evenly',
  );
  t.is(server.arrivals.length, 480, 'warm-up and measured requests, each sent once');
  for (const p of parts) assertConsistent(t, p.result);
  t.true(
    parts.every((p) => (p.cpuSeconds ?? 0) > 0),
    'each generator reports its own CPU time',
  );

  // Latency: the merged histogram is the sum of the parts', value for value.
  const sum = newHistogram();
  for (const p of parts) sum.add(decodeHistogram(p.result.latencyHistogram));
  const merged = decodeHistogram(result.latencyHistogram);
  t.is(merged.totalCount, sum.totalCount);
  for (const q of [1, 10, 50, 90, 99, 99.9, 100]) t.is(merged.getValueAtPercentile(q), sum.getValueAtPercentile(q));
  // Per second: rows add, and each second's p99 is that of the summed per-second histograms.
  result.perSecond.forEach((row, second) => {
    const h = newHistogram();
    let sent = 0;
    for (const p of parts) {
      const encoded = p.perSecondLatency?.[second];
      if (encoded) h.add(decodeHistogram(encoded));
      sent += p.result.perSecond[second]?.sent ?? 0;
    }
    t.is(row.sent, sent, `second ${second} sent`);
    t.is(row.p99Millis, p99Millis(h), `second ${second} p99 from the merged histogram`);
  });
  t.deepEqual(children(), [], 'no generator process left');
});

test('generators pinned to CPUs run under that affinity, read back from /proc', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const seen = new Set<string>();
  const r = await runBuiltinLoad(
    {
      ...base,
      targets: [server.url],
      rate: 100,
      durationMillis: 1500,
      generators: 2,
      onProgress: () => {
        for (const c of children()) seen.add(c.cpus);
      },
    },
    { cpus: [1, 0] },
  );
  t.is(r.completed, 150);
  t.deepEqual([...seen].sort(), ['0', '1'], 'one generator on each given CPU');
});

test('two generators over two targets fill perTarget for both', async (t) => {
  const a = await startServer(t, (_req, res) => res.end('a'));
  const b = await startServer(t, (_req, res) => res.end('b'));
  const r = await runBuiltinLoad({ ...base, targets: [a.url, b.url], rate: 200, durationMillis: 1000, generators: 2 });
  assertConsistent(t, r);
  t.deepEqual(
    r.perTarget?.map((x) => [x.replica, x.url, x.sent, x.completed]),
    [
      [0, a.url, 100, 100],
      [1, b.url, 100, 100],
    ],
  );
  t.is(a.arrivals.length, 120);
  t.is(b.arrivals.length, 120);
});

test('an abort reaches every generator: a prompt, partial, merged result', async (t) => {
  const server = await startServer(t, (_req, res) => setTimeout(() => res.end('ok'), 3000));
  const controller = new AbortController();
  let abortedAt = 0;
  const r = await runBuiltinLoad({
    ...base,
    targets: [server.url],
    rate: 50,
    durationMillis: 10_000,
    generators: 2,
    signal: controller.signal,
    // Abort once measured requests are outstanding (the server holds each for 3 s).
    onProgress: (p) => {
      if (p.measuring && p.sent > 0 && abortedAt === 0) {
        abortedAt = Date.now();
        controller.abort();
      }
    },
  });
  t.true(abortedAt > 0, 'aborted during the measured window');
  t.true(Date.now() - abortedAt < 2000, `returned ${Date.now() - abortedAt} ms after the abort`);
  t.true(r.partial);
  t.true(r.inFlightAtEnd > 0, `inFlightAtEnd ${r.inFlightAtEnd}`);
  assertConsistent(t, r);
  t.deepEqual(children(), []);
});

test('a CPU that does not exist fails the run naming the generator, and leaves no process', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  await t.throwsAsync(
    runBuiltinLoad({ ...base, targets: [server.url], rate: 10, durationMillis: 500, generators: 2 }, { cpus: [4095] }),
    { message: /load generator 0 exited with code 1 before it started: .*taskset/s },
  );
  t.is(server.arrivals.length, 0);
  t.deepEqual(children(), []);
  await t.throwsAsync(
    runBuiltinLoad({ ...base, targets: [server.url], rate: 10, durationMillis: 500, generators: 2 }, { cpus: [-1] }),
    { instanceOf: LoadPlanError, message: /cpus holds -1/ },
  );
  await t.throwsAsync(
    runBuiltinLoad({ ...base, targets: [server.url], rate: 10, durationMillis: 500, generators: 4, maxInFlight: 2 }),
    { instanceOf: LoadPlanError, message: /maxInFlight 2 is below generators 4/ },
  );
});
