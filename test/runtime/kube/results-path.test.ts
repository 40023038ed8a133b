// The documented results path, for real: `conclab load` (what the load pod runs) drives a
// loopback HTTP server with the built-in driver and POSTs its LoadResult to the operator's
// results endpoint with the token the load pod gets from the Secret; the operator stores it
// in the result ConfigMap and the experiment moves on. Only the kubelet is played by the test
// (pod status), and the target is a local server instead of the pod IP (no pod network here).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type ControlPlane, startControlPlane } from '../../cluster/control-plane.ts';
import {
  Api,
  apply,
  createNamespace,
  experiment,
  installCrd,
  ROOT,
  runOperator,
  waitFor,
} from '../../controller/helpers.ts';
import { handleSummaryData } from '../../load/k6-fixtures.ts';

let cp: ControlPlane | undefined;
test.before(async () => {
  cp = await startControlPlane();
  await installCrd(cp);
});
test.after.always(async () => {
  await cp?.stop();
});

function runLoadCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const script = `import { loadCommand } from ${JSON.stringify(join(ROOT, 'operator/cli/load.ts'))};
process.exitCode = await loadCommand(process.argv.slice(1));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, '--', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    }),
  );
}

test('a load pod’s `conclab load` posts its result and the operator stores it and moves on', async (t) => {
  if (!cp) throw new Error('control plane did not start');
  const ns = 'results';
  await createNamespace(cp, ns);
  const op = await runOperator(cp.kubeConfig(), [ns]);
  t.teardown(() => op.stop());
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/work`;

  const api = new Api(cp.kubeConfig());
  await apply(cp, experiment('real', ns, { load: { rate: 40, duration: '1s', warmUp: '0s' } }));
  await waitFor('pod', () => api.pod(ns, 'cx-real-procs-t1'));
  await api.markReady(ns, 'cx-real-procs-t1', '10.0.2.1');
  const loadPod = await waitFor('load pod', () => api.pod(ns, 'cx-real-procs-t1-load'));

  // Run exactly what the load pod's container would, with its env resolved.
  const container = loadPod.spec?.containers[0];
  const args = [...(container?.args ?? [])].slice(1); // drop the 'load' command name
  args[args.indexOf('--targets') + 1] = target;
  const resultsUrl = container?.env?.find((e) => e.name === 'CONCLAB_RESULTS_URL')?.value ?? '';
  t.is(resultsUrl, `${op.url}/results/v1/${ns}/real/procs/1`);
  const token = await api.token(ns, 'real');
  const { code, stderr } = await runLoadCli(args, { CONCLAB_RESULTS_URL: resultsUrl, CONCLAB_RESULTS_TOKEN: token });
  t.is(code, 0, stderr);
  t.regex(stderr, /result posted/);

  const cm = await waitFor('result ConfigMap', async () => {
    try {
      return await api.core.readNamespacedConfigMap({ namespace: ns, name: 'cx-real-procs-t1-result' });
    } catch {
      return undefined;
    }
  });
  const stored = JSON.parse(cm.data?.['result.json'] ?? '{}');
  t.is(stored.scheduled, 40, '40/s for 1 s');
  t.true(stored.completed > 0, `completed ${stored.completed}`);
  t.is(cm.metadata?.ownerReferences?.[0]?.name, 'real');
  await waitFor('next variant starts', () => api.pod(ns, 'cx-real-threads-t1'));
  t.is(op.metrics.value('conclab_results_received_total'), 1);
});

test('`conclab load` with a wrong token fails, says why, and does not retry forever', async (t) => {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(401).end('missing or wrong bearer token for this experiment');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const plan = { rate: 5, durationMillis: 200, warmUpMillis: 0, maxInFlight: 10, timeoutMillis: 1000 };
  const { code, stderr } = await runLoadCli(
    ['--targets', `http://127.0.0.1:${port}/work`, '--plan-json', JSON.stringify(plan), '--post-results'],
    { CONCLAB_RESULTS_URL: `http://127.0.0.1:${port}/results/v1/a/b/c/1`, CONCLAB_RESULTS_TOKEN: 'nope' },
  );
  t.is(code, 1);
  t.regex(stderr, /could not post the result .*401 missing or wrong bearer token/);
  t.false(existsSync('/dev/termination-log'), 'outside a pod nothing is written into the host /dev');
});

test('`conclab load` injects the planned fault through the admin endpoint and keeps it with the result', async (t) => {
  const faults: { path: string; atMillis: number }[] = [];
  // FAKE supervisor admin endpoint (the real supervisor is tested with the workload): records
  // the fault, and its /stats shows worker 1 replaced once the fault came.
  const admin = createServer((req, res) => {
    if (req.url === '/stats') {
      const replaced = faults.length > 0 ? 1 : 0;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          pid: 100,
          ready: true,
          workers: [
            { worker: 0, pid: 101, alive: true, replacedCount: 0 },
            { worker: 1, pid: 102 + replaced, alive: true, replacedCount: replaced },
          ],
        }),
      );
      return;
    }
    faults.push({ path: req.url ?? '', atMillis: Date.now() });
    res.writeHead(202).end();
  });
  const work = createServer((_req, res) => res.end('ok'));
  await Promise.all([admin, work].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  t.teardown(() => {
    admin.close();
    work.close();
  });
  const plan = { rate: 20, durationMillis: 1500, warmUpMillis: 200, maxInFlight: 10, timeoutMillis: 1000 };
  const started = Date.now();
  const { code, stderr, stdout } = await runLoadCli(
    [
      '--targets',
      `http://127.0.0.1:${(work.address() as AddressInfo).port}/work`,
      '--plan-json',
      JSON.stringify(plan),
      '--faults-json',
      JSON.stringify([{ kind: 'throw', worker: 1, atMillis: 700 }]),
      '--stats-interval-millis',
      '100',
      '--admin-urls',
      `http://127.0.0.1:${(admin.address() as AddressInfo).port}`,
    ],
    {},
  );
  t.is(code, 0, stderr);
  t.deepEqual(
    faults.map((f) => f.path),
    ['/fault?kind=throw&worker=1'],
  );
  t.true((faults[0]?.atMillis ?? 0) - started >= 700);
  const result = JSON.parse(stdout);
  t.like(result.injectedFaults[0], { kind: 'throw', worker: 1 });
  t.like(
    result.workloadEvents.find((e: { kind: string }) => e.kind === 'worker-replaced'),
    { worker: 1, detail: 'replica 0: now pid 103' },
  );
});

test('with k6, `conclab load --post-k6-summary` converts the summary k6 wrote and posts a LoadResult', async (t) => {
  // FAKE results endpoint (the real one is exercised above): records what arrives.
  const received: { auth: string | undefined; body: string }[] = [];
  const endpoint = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ auth: req.headers.authorization, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
  t.teardown(() => endpoint.close());
  const dir = await mkdtemp(join(tmpdir(), 'conclab-k6-summary-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const summary = join(dir, 'summary.json');
  await writeFile(summary, JSON.stringify(handleSummaryData));
  const plan = { rate: 50, durationMillis: 10_000, warmUpMillis: 1000, maxInFlight: 10, timeoutMillis: 1000 };
  const { code, stderr } = await runLoadCli(['--post-k6-summary', summary, '--plan-json', JSON.stringify(plan)], {
    CONCLAB_RESULTS_URL: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/results/v1/ns/e/a/1`,
    CONCLAB_RESULTS_TOKEN: 'secret-token',
  });
  t.is(code, 0, stderr);
  t.is(received.length, 1);
  t.is(received[0]?.auth, 'Bearer secret-token');
  const posted = JSON.parse(received[0]?.body ?? '{}');
  t.is(posted.driver, 'k6');
  t.is(posted.endedAtMillis - posted.startedAtMillis, 10_000);
  t.true(posted.completed > 0);
});
