import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { assertLoadDriverAvailable, type LoadDriverName, runLoad, trialRunner } from '../../operator/load/index.ts';
import { K6NotFoundError } from '../../operator/load/k6-runner.ts';
import { startServer } from './servers.ts';

test('runLoad with builtin drives the target with the built-in driver', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const r = await runLoad(
    { targets: [server.url], rate: 40, durationMillis: 500, warmUpMillis: 0, maxInFlight: 512, timeoutMillis: 5000 },
    'builtin',
  );
  t.is(r.driver, 'builtin');
  t.is(r.completed, 20, JSON.stringify({ errors: r.errors, dropped: r.dropped, end: r.inFlightAtEnd }));
  t.is(server.arrivals.length, 20);
});

test('runLoad with k6 and no k6 on PATH fails before sending anything, naming the fix', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'conclab-no-k6-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const plan = {
    targets: [server.url],
    rate: 40,
    durationMillis: 500,
    warmUpMillis: 0,
    maxInFlight: 8,
    timeoutMillis: 1000,
  };
  await t.throwsAsync(runLoad(plan, 'k6', { k6: { pathEnv: empty } }), {
    instanceOf: K6NotFoundError,
    message: /use load\.driver: builtin/,
  });
  t.is(server.arrivals.length, 0);
  await t.throwsAsync(assertLoadDriverAvailable('k6', empty), { instanceOf: K6NotFoundError });
  await t.notThrowsAsync(assertLoadDriverAvailable('builtin', empty));
});

test('runLoad refuses an unknown driver with the allowed names', async (t) => {
  const plan = {
    targets: ['http://127.0.0.1:9/'],
    rate: 1,
    durationMillis: 1,
    warmUpMillis: 0,
    maxInFlight: 1,
    timeoutMillis: 1,
  };
  await t.throwsAsync(runLoad(plan, 'jmeter' as LoadDriverName), { message: /builtin.*k6/ });
});

test('trialRunner runs the base plan at the given constant rate on the named driver', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const run = trialRunner(
    {
      targets: [server.url],
      stages: [{ durationMillis: 500, targetRate: 1 }],
      durationMillis: 500,
      warmUpMillis: 0,
      maxInFlight: 8,
      timeoutMillis: 5000,
    },
    'builtin',
  );
  const r = await run(60);
  t.is(r.scheduled, 30);
});
