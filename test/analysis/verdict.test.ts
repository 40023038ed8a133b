import test from 'ava';
import type { ExperimentRun } from '../../operator/analysis/run.ts';
import { summarizeVariants } from '../../operator/analysis/variant-summary.ts';
import { decideVerdict, formatDelta, formatP } from '../../operator/analysis/verdict.ts';
import { buildExperiment, buildRun, type TrialShape } from './records-builder.ts';

function verdictOf(run: ExperimentRun) {
  return decideVerdict(summarizeVariants(run.experiment, run.trials));
}

// Offered 300 req/s against a 1-core budget: both variants run at their capacity.
const atCapacity =
  (throughputs: number[], p99s: number[] = [30, 30, 30, 30, 30]) =>
  (trial: number): TrialShape => ({
    rate: 300,
    completed: () => throughputs[trial - 1] ?? 0,
    p99Millis: () => p99s[trial - 1] ?? 30,
  });

test('a clear throughput difference over three trials names a winner with the delta', (t) => {
  const run = buildRun({ process: atCapacity([160, 162, 158]), thread: atCapacity([196, 200, 198]) });
  const v = verdictOf(run);
  t.is(v.verdict.winner, 'thread');
  t.is(v.verdict.throughputDelta, '+24%');
  const tp = v.dimensions.find((d) => d.dimension === 'throughput');
  t.true(tp?.significant);
  t.true((tp?.pValue ?? 1) < 0.001);
  t.regex(v.verdict.summary, /^Thread delivered 24% more throughput than process \(p<0\.001\)/);
});

test('overlapping trials name no winner and say the difference is not significant, with p', (t) => {
  const run = buildRun({ process: atCapacity([180, 200, 190]), thread: atCapacity([185, 205, 178]) });
  const v = verdictOf(run);
  t.is(v.verdict.winner, undefined);
  t.regex(v.verdict.throughputDelta ?? '', /\(n\.s\.\)$/);
  const tp = v.dimensions.find((d) => d.dimension === 'throughput');
  t.false(tp?.significant);
  t.regex(tp?.statement ?? '', /no significant difference \(p=0\.\d\d\)/);
  t.regex(v.verdict.summary, /No significant throughput difference/);
});

test('with one trial per variant the verdict says significance cannot be assessed', (t) => {
  const run = buildRun({ process: atCapacity([160]), thread: atCapacity([200]) }, { trials: 1 });
  const v = verdictOf(run);
  t.is(v.verdict.winner, undefined);
  t.is(v.verdict.throughputDelta, '+25% (1 trial)');
  t.regex(v.verdict.summary, /significance cannot be assessed/);
  t.false(v.dimensions.find((d) => d.dimension === 'throughput')?.assessable);
});

test('when every variant serves the offered rate, throughput names no winner and latency decides the sentence', (t) => {
  const run = buildRun({
    process: () => ({ rate: 100, p99Millis: () => 40 }),
    thread: (trial) => ({ rate: 100, p99Millis: () => [20, 21, 19][trial - 1] ?? 20 }),
  });
  const v = verdictOf(run);
  t.true(v.throughputBoundByOfferedLoad);
  t.is(v.verdict.winner, undefined);
  t.regex(v.verdict.summary, /^Every variant served the offered 100 req\/s/);
  const p99 = v.dimensions.find((d) => d.dimension === 'p99');
  t.is(p99?.winner, 'thread');
  t.regex(v.verdict.summary, /thread had 50% lower p99 latency than process/);
});

test('the p99 delta of the winner is signed against the runner-up', (t) => {
  const run = buildRun({
    process: atCapacity([160, 162, 158], [100, 104, 96]),
    thread: atCapacity([196, 200, 198], [60, 62, 58]),
  });
  t.is(verdictOf(run).verdict.p99Delta, '-40%');
});

test('error rates are compared with Fisher exact test', (t) => {
  const run = buildRun({
    process: () => ({ rate: 100, errors: (s) => (s % 3 === 0 ? 2 : 0), errorKinds: { http5xx: 20 } }),
    thread: () => ({ rate: 100 }),
  });
  const v = verdictOf(run);
  const e = v.dimensions.find((d) => d.dimension === 'errorRate');
  t.is(e?.test, 'fisher-exact');
  t.is(e?.winner, 'thread');
  t.true((e?.pValue ?? 1) < 1e-6);
});

test('no failed requests in either variant is said plainly', (t) => {
  const run = buildRun({ process: () => ({}), thread: () => ({}) });
  const e = verdictOf(run).dimensions.find((d) => d.dimension === 'errorRate');
  t.is(e?.statement, 'error rate: no failed requests in either variant');
});

test('blast radius appears in the verdict as capacity lost per variant', (t) => {
  const run = buildRun({
    process: () => ({ fault: { atSeconds: 10, worker: 0 }, completed: (s) => (s >= 10 && s < 14 ? 75 : 100) }),
    thread: () => ({
      fault: { atSeconds: 10, kind: 'abort' },
      completed: (s) => (s >= 10 && s < 14 ? 0 : 100),
      errors: (s) => (s >= 10 && s < 14 ? 100 : 0),
      events: [{ atSeconds: 10.1, kind: 'process-restart' }],
    }),
  });
  const v = verdictOf(run);
  t.is(v.verdict.blastRadius, 'process 25% / thread 100%');
  const br = v.dimensions.find((d) => d.dimension === 'blastRadius');
  t.is(br?.winner, 'process');
  // Shares of capacity are compared as they are, not as a percentage of a percentage.
  t.regex(br?.statement ?? '', /process 25% vs 100% for thread \(p<0\.001\)/);
  t.regex(v.verdict.summary, /one broken worker cost process 25% and thread 100% of capacity/);
  // Whether the fault stayed in its worker is stated as measured (restarts), not assumed.
  t.regex(
    v.verdict.summary,
    /at the worst second \(it took the whole process down: thread in 3\/3 trial\(s\); process lost only that worker\)/,
  );
  const rows = v.results;
  t.is(rows.find((r) => r.name === 'thread')?.capacityLostPercent, 100);
  t.is(rows.find((r) => r.name === 'thread')?.restarts, 3);
});

test('status rows carry throughput with its CI, latency, errors and resources', (t) => {
  const run = buildRun({ process: atCapacity([160, 162, 158]), thread: atCapacity([196, 200, 198]) });
  const [row] = verdictOf(run).results;
  t.is(row?.name, 'process');
  t.is(row?.throughput, 160);
  t.true((row?.throughputCI ?? 0) > 0);
  t.true((row?.p99Millis ?? 0) > 0);
  t.is(row?.errorRate, 0);
  t.is(row?.peakMemoryBytes, 120 * 1024 * 1024);
  t.false('capacityLostPercent' in (row ?? {}));
});

test('with too few sound trials a saturated load generator withholds client-side winners', (t) => {
  const run = buildRun({
    process: (trial) => ({ ...atCapacity([160, 162, 158])(trial), unreliable: trial !== 1 }),
    thread: atCapacity([196, 200, 198]),
  });
  const v = verdictOf(run);
  t.is(v.verdict.winner, undefined);
  t.is(v.verdict.throughputDelta, '+24% (unreliable)');
  t.regex(
    v.verdict.summary,
    /^The load generator was saturated in 2 trial\(s\), so throughput, latency and errors are not judged/,
  );
  const tp = v.dimensions.find((d) => d.dimension === 'throughput');
  t.regex(tp?.statement ?? '', /not judged/);
  // Server-side dimensions are still judged.
  t.is(
    v.dimensions.find((d) => d.dimension === 'memory')?.statement,
    'peak memory: no significant difference (p=1.00)',
  );
});

test('saturated trials are left out when enough sound trials remain', (t) => {
  const run = buildRun(
    {
      // Trial 4 of process was saturated and shows a collapsed throughput: it must not count.
      process: (trial) => ({ ...atCapacity([160, 162, 158, 40])(trial), unreliable: trial === 4 }),
      thread: atCapacity([196, 200, 198, 197]),
    },
    { trials: 4 },
  );
  const v = verdictOf(run);
  t.is(v.verdict.winner, 'thread');
  const tp = v.dimensions.find((d) => d.dimension === 'throughput');
  t.deepEqual(
    tp?.values.map((x) => x.n),
    [3, 4],
  );
  t.regex(tp?.statement ?? '', /1 trial\(s\) with a saturated load generator left out/);
  t.regex(v.verdict.summary, /1 trial\(s\) with a saturated load generator were left out/);
});

test('p-values and deltas are formatted for a one-line verdict', (t) => {
  t.is(formatP(0.0004), 'p<0.001');
  t.is(formatP(0.0042), 'p=0.004');
  t.is(formatP(0.412), 'p=0.41');
  t.is(formatDelta(23.4), '+23%');
  t.is(formatDelta(-40), '-40%');
  t.is(formatDelta(0.3), '+0.3%');
  t.is(formatDelta(0), '0%');
});

test("under max-throughput the trials run at each variant's capacity, so throughput does decide", (t) => {
  const run = buildRun(
    {
      process: (trial) => ({ rate: [150, 152, 148][trial - 1] ?? 150 }),
      thread: (trial) => ({ rate: [190, 192, 188][trial - 1] ?? 190 }),
    },
    {
      experiment: buildExperiment({
        load: {
          driver: 'builtin',
          pattern: 'max-throughput',
          rate: 50,
          duration: '10s',
          warmUp: '2s',
          maxInFlight: 512,
          timeout: '5s',
        },
      }),
    },
  );
  const v = verdictOf(run);
  t.false(v.throughputBoundByOfferedLoad);
  t.is(v.verdict.winner, 'thread');
});
