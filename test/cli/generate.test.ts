// `conclab generate` as a real process on 127.0.0.1, driven by the coordinator's client
// (operator/load/remote-generator.ts) the way a load pod drives a generator pod: it runs its
// share of a real plan against a real server, from the common start, and the coordinator's
// merge of its part and the local part is the single schedule. A wrong token is refused before
// any load is sent; a generator that dies mid-part fails the plan naming it.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import anyTest, { type ExecutionContext } from 'ava';
import { decodeHistogram, newHistogram } from '../../operator/contracts/histogram.ts';
import { runLoadPart, runParts } from '../../operator/load/parts.ts';
import { GENERATOR_PATHS, remoteGenerator } from '../../operator/load/remote-generator.ts';
import type { LoadPlan } from '../../operator/load/types.ts';
import { ROOT } from '../controller/helpers.ts';
import { assertConsistent } from '../load/consistency.ts';
import { startServer } from '../load/servers.ts';

const test = anyTest.serial;
const BIN = join(ROOT, 'operator', 'cli', 'conclab.js');
const TOKEN = 'generator-test-token-0123456789';

interface Generator {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `conclab generate` on a free loopback port and waits for its "serving on" line. */
async function startGenerate(t: ExecutionContext, env: NodeJS.ProcessEnv = { CONCLAB_TOKEN: TOKEN }) {
  const child = spawn(process.execPath, [BIN, 'generate', '--host', '127.0.0.1', '--port', '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, CONCLAB_TOKEN: '', ...env },
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const url = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 30_000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /serving on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(() => resolve(undefined));
  });
  return { child, url: url ?? '', stderr: () => stderr, exited } satisfies Generator;
}

const planFor = (url: string, rate: number, durationMillis: number): LoadPlan => ({
  targets: [url],
  rate,
  durationMillis,
  warmUpMillis: 200,
  maxInFlight: 64,
  timeoutMillis: 2000,
});

test('a generator process runs its share of a real plan and the merge is the single schedule', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const g = await startGenerate(t);
  t.truthy(g.url, g.stderr());
  const ready = await fetch(`${g.url}${GENERATOR_PATHS.ready}`);
  t.is(ready.status, 200, 'the readiness probe answers without a token');
  await ready.text();

  const plan = planFor(server.url, 200, 1000);
  const local = (p: LoadPlan, part: Parameters<typeof runLoadPart>[2]) => runLoadPart(p, 'builtin', part);
  const remote = remoteGenerator(g.url, { driver: 'builtin', token: TOKEN });
  const { result, parts } = await runParts(plan, [local, remote], 500);

  assertConsistent(t, result);
  t.is(result.generators, 2);
  t.is(result.scheduled, 200, 'the two shares make exactly the plan: 200 req/s for 1 s');
  t.deepEqual(
    parts.map((p) => p.result.scheduled),
    [100, 100],
    'each generator sent its half',
  );
  t.deepEqual(
    result.parts?.map((p) => [p.generator, p.sent]),
    [
      [0, parts[0]?.result.sent],
      [1, parts[1]?.result.sent],
    ],
    'the merged result keeps each generator’s counts',
  );
  t.is(server.arrivals.length, 240, 'warm-up (40) and measured (200) requests, each sent once');
  const sum = newHistogram();
  for (const p of parts) sum.add(decodeHistogram(p.result.latencyHistogram));
  t.is(decodeHistogram(result.latencyHistogram).totalCount, sum.totalCount, 'the histograms were added');
  t.is(decodeHistogram(result.latencyHistogram).getValueAtPercentile(99), sum.getValueAtPercentile(99));
  t.true(
    Math.abs((parts[0]?.result.startedAtMillis ?? 0) - (parts[1]?.result.startedAtMillis ?? 0)) < 1,
    'both parts count their window from the common start',
  );
  t.true(
    (parts[1]?.perSecondLatency?.length ?? 0) > 0,
    'the remote part brings its per-second histograms for the exact merge',
  );
  t.regex(g.stderr(), /part 1 of 2: builtin/);

  g.child.kill('SIGTERM');
  t.is(await g.exited, 0, 'SIGTERM stops it cleanly');
});

test('a wrong or missing token is refused with 401 and no load is sent', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const g = await startGenerate(t);
  const body = JSON.stringify({
    driver: 'builtin',
    plan: planFor(server.url, 50, 1000),
    share: { index: 1, count: 2 },
    startAtEpochMillis: Date.now() + 200,
  });
  for (const headers of [{ authorization: 'Bearer not-the-experiment-token' }, {}] as Record<string, string>[]) {
    const res = await fetch(`${g.url}${GENERATOR_PATHS.part}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
    });
    t.is(res.status, 401);
    t.regex(await res.text(), /missing or wrong bearer token/);
  }
  const wrong = remoteGenerator(g.url, { driver: 'builtin', token: 'not-the-experiment-token' });
  const err = await t.throwsAsync(
    wrong(planFor(server.url, 50, 1000), { share: { index: 1, count: 2 }, startAtEpochMillis: Date.now() + 200 }),
  );
  t.regex(err?.message ?? '', /load generator at http:\/\/127\.0\.0\.1:\d+ refused the part: HTTP 401/);
  await new Promise((r) => setTimeout(r, 400));
  t.is(server.arrivals.length, 0, 'the workload got nothing');
});

test('conclab generate without a token refuses to start, naming CONCLAB_TOKEN', async (t) => {
  const g = await startGenerate(t, {});
  t.is(g.url, '');
  t.is(await g.exited, 2);
  t.regex(g.stderr(), /CONCLAB_TOKEN must hold the experiment's token/);
});

test('a start time the clocks cannot agree on is refused, naming the clocks', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const g = await startGenerate(t);
  const remote = remoteGenerator(g.url, { driver: 'builtin', token: TOKEN });
  const err = await t.throwsAsync(
    remote(planFor(server.url, 50, 1000), { share: { index: 1, count: 2 }, startAtEpochMillis: Date.now() - 5000 }),
  );
  t.regex(err?.message ?? '', /HTTP 400 the start time lies \d+ ms in the past here: .*clock/);
});

test('a generator killed mid-part fails the plan naming it, and the local part stops early', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const g = await startGenerate(t);
  const plan = planFor(server.url, 100, 20_000);
  const local = (p: LoadPlan, part: Parameters<typeof runLoadPart>[2]) => runLoadPart(p, 'builtin', part);
  const remote = remoteGenerator(g.url, { driver: 'builtin', token: TOKEN });
  const started = Date.now();
  setTimeout(() => g.child.kill('SIGKILL'), 1500);
  const err = await t.throwsAsync(runParts(plan, [local, remote], 300));
  t.regex(err?.message ?? '', /generator 1: load generator at http:\/\/127\.0\.0\.1:\d+ broke off the part/);
  t.true(Date.now() - started < 10_000, `stopped after ${Date.now() - started} ms of a 20 s plan`);
});

test('an abort reaches the generator, which answers with its partial part', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const g = await startGenerate(t);
  const controller = new AbortController();
  const plan = { ...planFor(server.url, 100, 20_000), signal: controller.signal };
  const local = (p: LoadPlan, part: Parameters<typeof runLoadPart>[2]) => runLoadPart(p, 'builtin', part);
  const remote = remoteGenerator(g.url, { driver: 'builtin', token: TOKEN });
  setTimeout(() => controller.abort(), 1500);
  const { result, parts } = await runParts(plan, [local, remote], 300);
  t.true(result.partial);
  t.true(
    parts.every((p) => p.result.partial && p.result.sent > 0),
    'both parts stopped early, having sent',
  );
  t.true(result.sent < 2000, `${result.sent} of 2000 requests before the abort`);
  assertConsistent(t, result);
});
