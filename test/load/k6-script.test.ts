// Generated k6 scripts are checked against @types/k6 with the TypeScript compiler (k6 itself
// is not installed here and is never imported), and their executor settings are asserted.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { generateK6Script, k6Options, METRIC, rateScale } from '../../operator/load/k6-script.ts';
import type { LoadSlo } from '../../operator/load/slo.ts';
import type { LoadPlan } from '../../operator/load/types.ts';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');

const slo: LoadSlo = { errorRate: 0.01, latencyMillis: { p99: 250, p50: 20 } };
const constant: LoadPlan = {
  targets: ['http://127.0.0.1:8080/work?x=1'],
  rate: 300,
  durationMillis: 30_000,
  warmUpMillis: 5000,
  maxInFlight: 512,
  timeoutMillis: 5000,
  headers: { 'x-conclab-variant': 'threads' },
};
const ramping: LoadPlan = {
  targets: ['http://127.0.0.1:8080/work', 'http://127.0.0.2:8080/work'],
  stages: [
    { durationMillis: 10_000, targetRate: 100 },
    { durationMillis: 20_000, targetRate: 2.5 },
  ],
  startRate: 10,
  durationMillis: 30_000,
  warmUpMillis: 0,
  maxInFlight: 64,
  timeoutMillis: 2000,
};

test('constant rate: warm-up then a constant-arrival-rate measure scenario, VUs capped at maxInFlight', (t) => {
  const o = k6Options(constant, slo);
  t.deepEqual(o.scenarios.warmup, {
    executor: 'constant-arrival-rate',
    rate: 300,
    timeUnit: '1s',
    duration: '5000ms',
    preAllocatedVUs: 30,
    maxVUs: 512,
    exec: 'warmup',
    gracefulStop: '5000ms',
  });
  t.deepEqual(o.scenarios.measure, {
    executor: 'constant-arrival-rate',
    rate: 300,
    timeUnit: '1s',
    duration: '30000ms',
    preAllocatedVUs: 30,
    maxVUs: 512,
    startTime: '5000ms',
    exec: 'measure',
    gracefulStop: '5000ms',
  });
  t.deepEqual(o.thresholds[METRIC.duration], ['p(50)<20', 'p(99)<250']);
  t.deepEqual(o.thresholds[METRIC.failed], ['rate<=0.01']);
  t.truthy(o.thresholds[METRIC.dropped]);
});

test('ramping rate: ramping-arrival-rate with startRate and stages, a longer timeUnit for fractional rates', (t) => {
  const o = k6Options(ramping, { errorRate: 0.05, latencyMillis: {} });
  t.false('warmup' in o.scenarios);
  t.deepEqual(o.scenarios.measure, {
    executor: 'ramping-arrival-rate',
    startRate: 100,
    timeUnit: '10s',
    stages: [
      { duration: '10000ms', target: 1000 },
      { duration: '20000ms', target: 25 },
    ],
    preAllocatedVUs: 10,
    maxVUs: 64,
    startTime: '0ms',
    exec: 'measure',
    gracefulStop: '2000ms',
  });
  t.deepEqual(o.thresholds[METRIC.duration], ['max>=0'], 'the latency submetric exists even without a bound');
});

test('rateScale picks the smallest unit that keeps rates whole', (t) => {
  t.is(rateScale([1, 200]), 1);
  t.is(rateScale([2.5]), 10);
  t.is(rateScale([0.25, 3]), 100);
  t.is(rateScale([1 / 3]), 1000);
});

test('the script sets a W3C traceparent per request and writes its summary to the given path', (t) => {
  const script = generateK6Script(constant, { slo, summaryPath: '/tmp/x/summary.json' });
  t.regex(script, /traceparent: traceparent\(\)/);
  t.regex(script, /'00-' \+ traceId \+ '-' \+ spanId \+ \(Math\.random\(\) < SAMPLE_RATIO \? '-01' : '-00'\)/);
  t.regex(script, /const SAMPLE_RATIO = 0\.1;/, 'the API default sample ratio');
  t.regex(generateK6Script(constant, { slo, summaryPath: '/s', sampleRatio: 1 }), /const SAMPLE_RATIO = 1;/);
  t.throws(() => generateK6Script(constant, { slo, summaryPath: '/s', sampleRatio: 2 }), { message: /sampleRatio 2/ });
  t.regex(script, /const SUMMARY_PATH = "\/tmp\/x\/summary\.json";/);
  t.regex(script, /export function handleSummary\(data\)/);
  t.regex(script, /new Counter\("conclab_errors_refused"\)/);
  t.notRegex(script, /require\(|from 'k6\/experimental/);
});

test('the script spreads iterations over every target round-robin and tags each request with its index', (t) => {
  const script = generateK6Script(ramping, { slo, summaryPath: '/s' });
  t.regex(script, /const TARGETS = \["http:\/\/127\.0\.0\.1:8080\/work","http:\/\/127\.0\.0\.2:8080\/work"\];/);
  t.regex(script, /const index = exec\.scenario\.iterationInTest % TARGETS\.length;/);
  t.regex(script, /tags: \{ target: String\(index\) \}/);
  t.regex(script, /import exec from 'k6\/execution';/);
});

test('generated scripts type-check against @types/k6 with the TypeScript compiler', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conclab-k6-typecheck-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Resolve k6/* imports the way a project would: through node_modules/@types/k6.
  await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  await writeFile(join(dir, 'constant.js'), generateK6Script(constant, { slo, summaryPath: join(dir, 's1.json') }));
  await writeFile(join(dir, 'ramping.js'), generateK6Script(ramping, { slo, summaryPath: join(dir, 's2.json') }));
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        allowJs: true,
        checkJs: true,
        noEmit: true,
        strict: true,
        target: 'es2020',
        lib: ['es2020'],
        module: 'esnext',
        moduleResolution: 'bundler',
        types: ['k6'],
        skipLibCheck: true,
      },
      include: ['*.js'],
    }),
  );
  const tsc = join(repo, 'node_modules/typescript/bin/tsc');
  const listed = await run(process.execPath, [tsc, '-p', dir, '--listFilesOnly'], { cwd: dir });
  for (const f of ['constant.js', 'ramping.js', '@types/k6/http/index.d.ts', '@types/k6/options/index.d.ts']) {
    t.true(listed.stdout.includes(f), `${f} is part of the check`);
  }
  const result = await run(process.execPath, [tsc, '-p', dir], { cwd: dir }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }),
  );
  t.is(result.out.trim(), '', 'no type errors');
  t.is(result.code, 0);

  await writeFile(
    join(dir, 'wrong.js'),
    "// @ts-check\nimport http from 'k6/http';\n/** @type {import('k6/options').Options} */\nexport const options = { scenarios: { a: { executor: 'constant-arrival-rate', rate: 'fast' } } };\nexport default function () { http.get(42); }\n",
  );
  const wrong = await run(process.execPath, [tsc, '-p', dir], { cwd: dir }).then(
    () => ({ code: 0, out: '' }),
    (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
  );
  t.not(wrong.code, 0, 'a wrong script is rejected, so the check has teeth');
  t.regex(wrong.out, /wrong\.js/);
  t.notRegex(wrong.out, /constant\.js|ramping\.js/);
});
