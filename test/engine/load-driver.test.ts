// The manifest's load driver in both placements, against real servers on 127.0.0.1:
// spec.load.generators locally (generator processes on the CPUs the placement kept for the load
// generator) and in a cluster's coordinator (this process is generator 0, a real `conclab
// generate` process the other), each offering exactly the plan's rate.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import anyTest, { type ExecutionContext } from 'ava';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import { parseDurationMillis } from '../../operator/api/units.ts';
import { checkObject } from '../../operator/api/validate.ts';
import { loadDriverFor, REMOTE_START_LEAD_MILLIS } from '../../operator/engine/load-driver.ts';
import { runTrial } from '../../operator/engine/trial-runner.ts';
import type { LoadPlan } from '../../operator/load/types.ts';
import { createLocalRuntime } from '../../operator/runtime/local/index.ts';
import { ROOT } from '../controller/helpers.ts';
import { assertConsistent } from '../load/consistency.ts';
import { startServer } from '../load/servers.ts';

const test = anyTest.serial;
const TOKEN = 'load-driver-test-token-0123456789';

function experiment(load: Record<string, unknown>): ConcurrencyExperiment {
  const out = checkObject(
    {
      apiVersion: 'conclab.dev/v1alpha1',
      kind: 'ConcurrencyExperiment',
      metadata: { name: 'drv' },
      spec: {
        workload: { runtime: 'node', profile: 'io', ioWait: '1ms' },
        resources: { cpu: '500m', memory: '256Mi' },
        variants: [
          { name: 'a', model: 'process', workers: 1 },
          { name: 'b', model: 'thread', workers: 1 },
        ],
        load: { rate: 100, duration: '1s', warmUp: '200ms', ...load },
        tracing: { enabled: false },
      },
    },
    (s, m) => {
      throw new Error(`${s.join('.')}: ${m}`);
    },
  );
  if (!out) throw new Error('invalid test experiment');
  return out;
}

const planFor = (url: string, rate: number): LoadPlan => ({
  targets: [url],
  rate,
  durationMillis: 1000,
  warmUpMillis: 200,
  maxInFlight: 64,
  timeoutMillis: 2000,
});

/** Allowed CPUs of this process's live children. */
function childCpus(): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
      out.push(/Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1] ?? '?');
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('locally, spec.load.generators 2 runs two generator processes on the CPU kept for the load', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const drive = loadDriverFor(experiment({ generators: 2 }), parseDurationMillis, { cpus: [0] });
  const seen = new Set<string>();
  let generators = 0;
  const r = await drive({
    ...planFor(server.url, 200),
    onProgress: () => {
      const cpus = childCpus();
      generators = Math.max(generators, cpus.length);
      for (const c of cpus) seen.add(c);
    },
  });
  assertConsistent(t, r);
  t.is(r.generators, 2);
  t.is(r.scheduled, 200, 'exactly the plan’s rate');
  t.deepEqual(
    r.parts?.map((p) => p.scheduled),
    [100, 100],
  );
  t.is(generators, 2, 'two generator processes ran');
  t.deepEqual([...seen], ['0'], 'both on the CPU kept outside the workloads’ budget');
});

test('locally, one generator is this process: no generator process, CPUs or not', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const drive = loadDriverFor(experiment({}), parseDurationMillis, { cpus: [0] });
  let children = 0;
  const r = await drive({ ...planFor(server.url, 100), onProgress: () => (children += childCpus().length) });
  t.is(r.scheduled, 100);
  t.is(r.generators, undefined);
  t.is(children, 0);
});

async function startGenerate(t: ExecutionContext): Promise<string> {
  const child: ChildProcess = spawn(
    process.execPath,
    [join(ROOT, 'operator', 'cli', 'conclab.js'), 'generate', '--host', '127.0.0.1', '--port', '0'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CONCLAB_TOKEN: TOKEN } },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  return await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`conclab generate did not start: ${stderr}`)), 30_000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /serving on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
}

test('in a cluster coordinator, this process is generator 0 and the generator pod the other', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const url = await startGenerate(t);
  const drive = loadDriverFor(experiment({ generators: 2 }), parseDurationMillis, {
    remote: { urls: [url], token: TOKEN },
  });
  // Two plans in a row, as the steps of a search: each shared afresh.
  for (const rate of [100, 300]) {
    const r = await drive(planFor(server.url, rate));
    assertConsistent(t, r);
    t.is(r.generators, 2);
    t.is(r.scheduled, rate, `${rate} req/s offered exactly`);
    t.deepEqual(
      r.parts?.map((p) => p.scheduled),
      [rate / 2, rate / 2],
    );
  }
  t.is(server.arrivals.length, 480, 'warm-up and measured requests of both plans, each once');
});

test('the caller learns the shared time 0, a lead ahead of the call, and the window starts from it', async (t) => {
  const server = await startServer(t, (_req, res) => res.end('ok'));
  const url = await startGenerate(t);
  const drive = loadDriverFor(experiment({ generators: 2 }), parseDurationMillis, {
    remote: { urls: [url], token: TOKEN },
  });
  const called = Date.now();
  let timeZero = 0;
  const r = await drive({ ...planFor(server.url, 100), onTimeZero: (at) => (timeZero = at) });
  t.true(Math.abs(timeZero - called - REMOTE_START_LEAD_MILLIS) < 50, `time 0 ${timeZero - called} ms after the call`);
  t.is(r.startedAtMillis, timeZero + 200, 'the measured window opens after the warm-up from time 0');
});

test('with generator pods the trial runner injects a fault at warm-up + at of the shared time 0', async (t) => {
  t.timeout(120_000);
  const exp = experiment({ generators: 2, rate: 50, duration: '3s', warmUp: '500ms' });
  exp.spec.faults = [{ kind: 'throw', at: '1s', target: { worker: 0 } }];
  const variant = exp.spec.variants[0];
  if (!variant) throw new Error('no variant');
  const url = await startGenerate(t);
  const runtime = createLocalRuntime();
  try {
    const deployed = await runtime.start({ experiment: exp, variant, trial: 1, run: 'r1', tracing: undefined });
    const record = await runTrial(
      {
        experiment: exp,
        variant,
        trial: 1,
        targets: deployed.workUrls.map((workUrl, i) => ({ workUrl, adminUrl: deployed.adminUrls[i] ?? '' })),
      },
      {
        drive: loadDriverFor(exp, parseDurationMillis, { remote: { urls: [url], token: TOKEN } }),
        placementEvents: () => runtime.events(deployed),
        parseMillis: parseDurationMillis,
        restartWaitMillis: 5000,
      },
    );
    await runtime.stop(deployed);
    t.is(record.load.generators, 2);
    t.is(record.load.scheduled, 150, '50 req/s for 3 s from both');
    const fault = record.faults[0];
    t.truthy(fault, JSON.stringify(record.warnings));
    // The load's measured window opens at time 0 + warm-up; the fault is due 1 s into it, not
    // 1 s early (time 0 lies a lead after the call).
    const intoWindow = (fault?.atMillis ?? 0) - record.load.startedAtMillis;
    t.true(Math.abs(intoWindow - 1000) < 250, `fault ${intoWindow} ms into the measured window`);
  } finally {
    await runtime.cleanup();
  }
});

test('a coordinator told of the wrong number of generator pods refuses to drive, naming both counts', (t) => {
  t.throws(
    () =>
      loadDriverFor(experiment({ generators: 3 }), parseDurationMillis, {
        remote: { urls: ['http://10.0.0.9:8090'], token: TOKEN },
      }),
    { message: /spec\.load\.generators is 3 but the assignment names 1 generator pod\(s\).*\(2 expected\)/ },
  );
});
