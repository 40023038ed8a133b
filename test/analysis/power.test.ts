import test from 'ava';
import { describeTrialsNeeded, noncentralTCdf, trialsNeeded, welchPower } from '../../operator/analysis/power.ts';
import { seededRandom, studentTCdf, welchTTest } from '../../operator/analysis/stats.ts';

test('the noncentral t with no noncentrality is Student t', (t) => {
  for (const df of [1, 2, 3.5, 10, 60]) {
    for (const x of [-3, -1, 0, 0.7, 2.5]) {
      t.true(Math.abs(noncentralTCdf(x, df, 0) - studentTCdf(x, df)) < 1e-6, `df ${df} t ${x}`);
    }
  }
  // Shifted: P(T' <= delta) is near one half, and the CDF falls as delta grows.
  t.true(noncentralTCdf(1, 30, 2) < noncentralTCdf(1, 30, 1));
});

test('power of the two-sample t-test matches the textbook values (equal sds, equal n)', (t) => {
  // Cohen's d = 1: 17 per group give 0.807, 16 give 0.781 (pwr.t.test in R).
  t.true(Math.abs(welchPower(1, 1, 1, 17) - 0.807) < 0.002);
  t.true(Math.abs(welchPower(1, 1, 1, 16) - 0.7814) < 0.002);
  // d = 0.5 needs 64 per group for 80%.
  t.true(Math.abs(welchPower(0.5, 1, 1, 64) - 0.8015) < 0.002);
  // No difference: the test rejects at its level.
  t.true(Math.abs(welchPower(0, 1, 1, 10) - 0.05) < 0.002);
});

test('power with unequal variances agrees with a simulation of Welch tests', (t) => {
  const random = seededRandom(42);
  const normal = () => {
    // Box-Muller from the seeded stream.
    const u = Math.max(1e-12, random());
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const [difference, sd1, sd2, n, runs] = [3, 1, 4, 6, 4000];
  let rejected = 0;
  for (let r = 0; r < runs; r++) {
    const a = Array.from({ length: n }, () => difference + sd1 * normal());
    const b = Array.from({ length: n }, () => sd2 * normal());
    if (welchTTest(a, b).pValue < 0.05) rejected++;
  }
  const simulated = rejected / runs;
  const computed = welchPower(difference, sd1, sd2, n);
  // The binomial standard error of 4000 runs is under 0.008.
  t.true(Math.abs(simulated - computed) < 0.025, `simulated ${simulated}, computed ${computed}`);
});

test('trials needed: the smallest equal count per variant that reaches 80% power', (t) => {
  // Two trials each with means 1 apart and sd 1 (d = 1): 17 per variant.
  const a = [0.5 - Math.SQRT1_2, 0.5 + Math.SQRT1_2];
  const b = [-0.5 - Math.SQRT1_2, -0.5 + Math.SQRT1_2];
  const needed = trialsNeeded(a, b);
  t.is(needed?.trials, 17);
  t.is(needed?.power, 0.8);
  t.is(needed?.alpha, 0.05);
  // A larger difference needs fewer, a stricter alpha more.
  t.true((trialsNeeded([10, 12, 11], [8, 9, 7])?.trials ?? 99) < 17);
  t.true((trialsNeeded(a, b, { alpha: 0.01 })?.trials ?? 0) > 17);
  t.is(describeTrialsNeeded(needed ?? { trials: 0, limit: 0, power: 0, alpha: 0 }).split(' ')[1], '17');
});

test('trials needed is not estimated without two trials, a difference or any variance', (t) => {
  t.is(trialsNeeded([1], [2, 3]), undefined);
  t.is(trialsNeeded([1, 3], [3, 1]), undefined);
  t.is(trialsNeeded([2, 2], [2, 2]), undefined);
});

test('a difference lost in the noise is reported as beyond the limit, not as a number', (t) => {
  const needed = trialsNeeded([100, 130, 70], [101, 131, 71], { limit: 200 });
  t.deepEqual(needed, { trials: undefined, limit: 200, power: 0.8, alpha: 0.05 });
  t.regex(describeTrialsNeeded(needed as NonNullable<typeof needed>), /more than 200 trials per variant/);
});

test('bad arguments are refused with the reason', (t) => {
  t.throws(() => welchPower(1, 1, 1, 1), { message: /at least 2 trials/ });
  t.throws(() => trialsNeeded([1, 2], [3, 4], { power: 1.2 }), { message: /power must be within/ });
});
