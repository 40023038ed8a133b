import test from 'ava';
import {
  detectRegression,
  EVENT_MESSAGE_LIMIT,
  type RegressionStatus,
  type RunFigure,
  type RunFigures,
} from '../../operator/analysis/regression.ts';
import { meanWithCI } from '../../operator/analysis/stats.ts';

/** A figure over 3 trials with a 95% t interval of ± half. */
const fig = (mean: number, half: number, n = 3): RunFigure => ({
  mean,
  n,
  ci: { lower: mean - half, upper: mean + half, level: 0.95 },
});

let clock = 0;
/** A run of the thread variant; newest runs get later names. */
function run(capacity: RunFigure | undefined, extra: Partial<RunFigures> & { p99?: RunFigure } = {}): RunFigures {
  clock += 1;
  const { p99, ...rest } = extra;
  return {
    run: `2026-01-${String(clock).padStart(2, '0')}T03:00:00Z`,
    variants: [{ name: 'threads', capacity, ...(p99 ? { p99Millis: p99 } : {}) }],
    ...rest,
  };
}

const good = () => run(fig(530, 25));

const table: {
  name: string;
  /** Oldest first. */
  history: () => RunFigures[];
  current: () => RunFigures;
  status: RegressionStatus;
  message: string | RegExp;
}[] = [
  {
    name: 'no history: nothing to compare with',
    history: () => [],
    current: () => run(fig(412, 10)),
    status: 'no-history',
    message: 'no previous run to compare with',
  },
  {
    name: 'one previous run: a drop beyond both intervals regresses, with the numbers',
    history: () => [good()],
    current: () => run(fig(412, 10)),
    status: 'regressed',
    message: 'variant threads: capacity 412 req/s, previous 530 ± 25 req/s (-22%)',
  },
  {
    name: 'within noise: the new interval overlaps the previous one',
    history: () => [good()],
    current: () => run(fig(515, 20)),
    status: 'ok',
    message: 'within the range of the previous 1 run(s)',
  },
  {
    name: 'a mean outside the pooled interval whose own interval overlaps it is noise',
    history: () => [run(fig(530, 8)), run(fig(531, 8)), run(fig(529, 8)), run(fig(530, 8))],
    current: () => run(fig(505, 30)),
    status: 'ok',
    message: 'within the range of the previous 4 run(s)',
  },
  {
    name: 'drift between runs widens the range: falling where an earlier run did is no alert',
    history: () => [run(fig(480, 5)), run(fig(520, 5)), run(fig(460, 5)), run(fig(540, 5)), run(fig(500, 5))],
    current: () => run(fig(462, 5)),
    status: 'ok',
    message: 'within the range of the previous 5 run(s)',
  },
  {
    name: 'below every earlier run, drift or not, regresses; the message shows the range',
    history: () => [run(fig(480, 5)), run(fig(520, 5)), run(fig(460, 5)), run(fig(540, 5)), run(fig(500, 5))],
    current: () => run(fig(420, 5)),
    status: 'regressed',
    message: /^variant threads: capacity 420 req\/s, previous 500 ± 1\d req\/s \(runs reached 455–545\) \(-16%\)$/,
  },
  {
    name: 'a separated change smaller than 5% is not an alert',
    history: () => [run(fig(1000, 2))],
    current: () => run(fig(980, 3)),
    status: 'ok',
    message: 'within the range of the previous 1 run(s)',
  },
  {
    name: 'an improvement raises nothing',
    history: () => [good()],
    current: () => run(fig(700, 10)),
    status: 'ok',
    message: 'within the range of the previous 1 run(s)',
  },
  {
    name: 'p99 going up is the worse direction',
    history: () => [run(undefined, { p99: fig(120, 10) })],
    current: () => run(undefined, { p99: fig(180, 12) }),
    status: 'regressed',
    message: 'variant threads: p99 180 ms, previous 120 ± 10 ms (+50%)',
  },
  {
    name: 'p99 going down is an improvement',
    history: () => [run(undefined, { p99: fig(120, 10) })],
    current: () => run(undefined, { p99: fig(60, 5) }),
    status: 'ok',
    message: 'within the range of the previous 1 run(s)',
  },
  {
    name: 'flipped verdict: a different significant winner regresses',
    history: () => [run(fig(530, 25), { winner: 'processes' })],
    current: () => run(fig(525, 25), { winner: 'threads' }),
    status: 'regressed',
    message: 'winner flipped: threads, previously processes',
  },
  {
    name: 'losing significance is not a flip',
    history: () => [run(fig(530, 25), { winner: 'processes' })],
    current: () => run(fig(525, 25)),
    status: 'ok',
    message: 'within the range of the previous 1 run(s)',
  },
  {
    name: 'back in range after a regressed run: cleared, naming what came back',
    history: () => [good(), good(), run(fig(412, 10))],
    current: () => run(fig(528, 20)),
    status: 'cleared',
    message:
      'back in range: variant threads: capacity 528 req/s, previous 530.0 ± 9.4 req/s (runs reached 505–555) (-0.4%)',
  },
  {
    name: 'still low after a regressed run: the bad run is not in the baseline, so it stays regressed',
    history: () => [good(), good(), run(fig(412, 10))],
    current: () => run(fig(415, 10)),
    status: 'regressed',
    message: 'variant threads: capacity 415 req/s, previous 530.0 ± 9.4 req/s (runs reached 505–555) (-22%)',
  },
  {
    name: 'one trial has no interval: not judged, never an alert, and not called within range',
    history: () => [good()],
    current: () => run({ mean: 300, n: 1 }),
    status: 'not-judged',
    message:
      'not judged against the previous 1 run(s): variant threads: capacity 300 req/s, previous 530 ± 25 req/s (-43%): one trial has no interval, so it is not judged',
  },
  {
    name: 'a figure judged beside one that is not: within range, naming the unjudged',
    history: () => [run(fig(530, 25), { p99: fig(20, 2) })],
    current: () => run(fig(525, 20), { p99: { mean: 90, n: 1 } }),
    status: 'ok',
    message:
      'within the range of the previous 1 run(s); not judged: variant threads: p99 90 ms, previous 20.0 ± 2.0 ms (+350%): one trial has no interval, so it is not judged',
  },
  {
    name: 'a run with nothing judged after a regressed one does not clear it',
    history: () => [good(), good(), run(fig(412, 10))],
    current: () =>
      run(undefined, { note: 'throughput and p99 not judged: the load generator was saturated in 3 trial(s)' }),
    status: 'not-judged',
    message:
      'not judged against the previous 2 run(s): no figure of this run has a counterpart in them; throughput and p99 not judged: the load generator was saturated in 3 trial(s)',
  },
  {
    name: 'back in range after a regressed run and a not-judged one: cleared',
    history: () => [good(), good(), run(fig(412, 10)), run(undefined)],
    current: () => run(fig(528, 20)),
    status: 'cleared',
    message: 'back in range: no figure is beyond the previous runs',
  },
  {
    name: 'still low after a regressed run and a not-judged one: the bad run stays out of the baseline',
    history: () => [good(), good(), run(fig(412, 10)), run(undefined)],
    current: () => run(fig(415, 10)),
    status: 'regressed',
    message: 'variant threads: capacity 415 req/s, previous 530.0 ± 9.4 req/s (runs reached 505–555) (-22%)',
  },
];

for (const row of table) {
  test(`regression: ${row.name}`, (t) => {
    // history as status.history keeps it: newest first
    const history = row.history().reverse();
    const r = detectRegression(history, row.current());
    t.is(r.status, row.status);
    t.is(r.regressed, row.status === 'regressed');
    t.is(r.cleared, row.status === 'cleared');
    if (typeof row.message === 'string') t.is(r.message, row.message);
    else t.regex(r.message, row.message);
  });
}

test('the findings carry the numbers the message states', (t) => {
  const r = detectRegression([good()], run(fig(412, 10)));
  const f = r.findings[0];
  t.is(f?.verdict, 'regressed');
  t.is(f?.baseline?.mean, 530);
  t.true(Math.abs((f?.baseline?.upper ?? 0) - 555) < 1e-9);
  t.true(Math.abs((f?.changePercent ?? 0) - ((412 - 530) / 530) * 100) < 1e-12);
  t.deepEqual(r.baselineRuns.length, 1);
});

test('a regressed run is left out of later baselines and named', (t) => {
  const runs = [good(), good(), run(fig(412, 10))];
  const history = [...runs].reverse();
  const r = detectRegression(history, run(fig(528, 20)));
  t.deepEqual(r.excludedRuns, [runs[2]?.run]);
  t.deepEqual(r.baselineRuns, [runs[1]?.run, runs[0]?.run]);
});

test('the caller may say the previous run was regressed (its recorded condition)', (t) => {
  const r = detectRegression([good()], run(fig(525, 20)), { previouslyRegressed: true });
  t.is(r.status, 'cleared');
  t.is(r.message, 'back in range: no figure is beyond the previous runs');
});

test('a run sd recovered from its t interval pools like the sd itself', (t) => {
  const trials = [512, 531, 547];
  const est = meanWithCI(trials);
  const withCi: RunFigure = {
    mean: est.mean,
    n: 3,
    ci: { lower: est.ci?.lower ?? 0, upper: est.ci?.upper ?? 0, level: 0.95 },
  };
  const withSd: RunFigure = { mean: est.mean, n: 3, sd: est.sd };
  const a = detectRegression([run(withCi)], run(fig(400, 10))).findings[0]?.baseline;
  const b = detectRegression([run(withSd)], run(fig(400, 10))).findings[0]?.baseline;
  t.true(Math.abs((a?.upper ?? 0) - (b?.upper ?? 1)) < 1e-9);
  t.true(Math.abs((a?.upper ?? 0) - (est.ci?.upper ?? 0)) < 1e-9);
});

test('the baseline pools the trials of several runs, counting the spread between them', (t) => {
  const r = detectRegression([run({ mean: 500, n: 3, sd: 10 }), run({ mean: 520, n: 3, sd: 10 })], run(fig(400, 5)));
  const b = r.findings[0]?.baseline;
  // 6 trials: mean 510; s² = (2·100 + 2·100 + 3·100 + 3·100) / 5 = 200; half = t(5) · √200 / √6
  t.is(b?.mean, 510);
  t.is(b?.trials, 6);
  t.true(Math.abs((b?.upper ?? 0) - (510 + (2.570581835636314 * Math.sqrt(200)) / Math.sqrt(6))) < 1e-6);
});

test('a variant new in this run is not judged; one that left is not missed', (t) => {
  const current: RunFigures = { run: 'now', variants: [{ name: 'offload', capacity: fig(100, 5) }] };
  const r = detectRegression([good()], current);
  t.is(r.status, 'not-judged');
  t.false(r.regressed);
  t.false(r.cleared);
  t.deepEqual(r.findings, []);
});

test('the Event message is capped at 1 kB', (t) => {
  const variants = Array.from({ length: 40 }, (_, i) => ({
    name: `variant-with-a-long-name-${i}`,
    capacity: fig(530, 25),
  }));
  const before: RunFigures = { run: 'a', variants };
  const after: RunFigures = { run: 'b', variants: variants.map((v) => ({ ...v, capacity: fig(300, 5) })) };
  const r = detectRegression([before], after);
  t.true(r.regressed);
  t.is(r.message.length, EVENT_MESSAGE_LIMIT);
  t.true(r.message.endsWith('…'));
  t.is(r.reasons.length, 40);
});

test('bad figures are refused with their path', (t) => {
  t.throws(() => detectRegression([], { run: 'x', variants: [{ name: 'a', capacity: { mean: 1, n: 0 } }] }), {
    message: 'detectRegression: current.variants[0].capacity.n must be the number of trials (>= 1), got 0',
  });
  t.throws(() => detectRegression([{ run: '', variants: [] }], { run: 'x', variants: [] }), {
    message: /history\[0\]\.run must name the run/,
  });
  t.throws(() => detectRegression([], { run: 'x', variants: [] }, { baselineRuns: 0 }), {
    message: /baselineRuns must be a whole number >= 1/,
  });
});

test('a regression followed by a run back in range rejoins the baseline as observed variation', (t) => {
  const runs = [good(), run(fig(412, 10)), good()];
  const r = detectRegression([...runs].reverse(), run(fig(529, 20)));
  t.is(r.status, 'ok', 'the run before this one was back in range: nothing to clear');
  t.deepEqual(r.excludedRuns, []);
  t.deepEqual(r.baselineRuns, [runs[2]?.run, runs[1]?.run, runs[0]?.run]);
});
