// Reference values were computed with scipy 1.17 (scipy.stats / scipy.special); the tests
// themselves need no Python.
import test from 'ava';
import {
  bootstrapCI,
  coefficientOfVariation,
  erf,
  fisherExact,
  incompleteBeta,
  logGamma,
  mannWhitneyU,
  mean,
  meanWithCI,
  normalCdf,
  quantile,
  sampleSd,
  seededRandom,
  studentTCdf,
  studentTQuantile,
  type TestResult,
  welchTTest,
} from '../../operator/analysis/stats.ts';

const close = (actual: number, expected: number, relative = 1e-9) =>
  Math.abs(actual - expected) <= relative * Math.max(1e-300, Math.abs(expected)) || actual === expected;

test('mean and sample standard deviation match textbook values', (t) => {
  t.is(mean([2, 4, 4, 4, 5, 5, 7, 9]), 5);
  t.true(close(sampleSd([2, 4, 4, 4, 5, 5, 7, 9]), Math.sqrt(32 / 7)));
  t.true(Number.isNaN(mean([])));
  t.true(Number.isNaN(sampleSd([3])));
});

test('quantile interpolates linearly between order statistics like numpy', (t) => {
  t.is(quantile([1, 2, 3, 4], 0.5), 2.5);
  t.is(quantile([4, 1, 3, 2], 0.25), 1.75);
  t.is(quantile([7], 0.99), 7);
});

test('coefficient of variation describes spread of a complete set', (t) => {
  t.is(coefficientOfVariation([100, 100, 100, 100]), 0);
  t.true(close(coefficientOfVariation([50, 150]), 0.5));
});

const specialCases: [string, () => number, number][] = [
  ['logGamma(0.5)', () => logGamma(0.5), 0.5723649429247],
  ['logGamma(100.5)', () => logGamma(100.5), 361.43554046777757],
  ['logGamma(3)', () => logGamma(3), Math.LN2],
  ['I_0.3(2.5, 0.5)', () => incompleteBeta(0.3, 2.5, 0.5), 0.018927124071945658],
  ['I_0.9(10, 3)', () => incompleteBeta(0.9, 10, 3), 0.889130022255],
  ['erf(0.5)', () => erf(0.5), 0.5204998778130465],
  ['erf(2.9)', () => erf(2.9), 0.9999589021219005],
  ['erf(3.5)', () => erf(3.5), 0.9999992569016276],
  ['Phi(1.96)', () => normalCdf(1.96), 0.9750021048517795],
  ['Phi(-5)', () => normalCdf(-5), 2.866515718791933e-7],
  ['Phi(0.3)', () => normalCdf(0.3), 0.6179114221889526],
  ['t cdf(1.5, df 3)', () => studentTCdf(1.5, 3), 0.8847080673775886],
  ['t cdf(-2.2, df 7.3)', () => studentTCdf(-2.2, 7.3), 0.0310845827000118],
];
for (const [name, fn, expected] of specialCases) {
  test(`special function ${name} matches scipy`, (t) => {
    const actual = fn();
    t.true(close(actual, expected, 1e-9), `${actual} vs ${expected}`);
  });
}

const tQuantiles: [number, number][] = [
  [1, 12.706204736174694],
  [2, 4.302652729749462],
  [3, 3.1824463052837078],
  [4, 2.7764451051977934],
  [9, 2.262157162798205],
  [29, 2.045229642132703],
  [100, 1.9839715185235518],
  [2.5, 3.5746548420036817],
];
for (const [df, expected] of tQuantiles) {
  test(`t quantile 0.975 with ${df} degrees of freedom is computed, not tabulated`, (t) => {
    const q = studentTQuantile(0.975, df);
    t.true(close(q, expected, 1e-9), `${q} vs ${expected}`);
    t.true(close(studentTQuantile(0.025, df), -expected, 1e-9));
  });
}

test('a 95% confidence interval of the mean uses t with n - 1 degrees of freedom', (t) => {
  const e = meanWithCI([1020.5, 1003.2, 998.7]);
  t.is(e.n, 3);
  const sd = sampleSd([1020.5, 1003.2, 998.7]);
  t.true(close(e.ci?.halfWidth ?? 0, (4.302652729749462 * sd) / Math.sqrt(3), 1e-9));
  t.true(close(e.ci?.lower ?? 0, e.mean - (e.ci?.halfWidth ?? 0)));
});

test('one trial gives a mean but no confidence interval', (t) => {
  const e = meanWithCI([42]);
  t.is(e.mean, 42);
  t.is(e.ci, undefined);
  t.is(e.sd, undefined);
});

const welchCases: [number[], number[], number, number, number][] = [
  [[1020.5, 1003.2, 998.7], [1105.1, 1122.4, 1098.3], -10.342487356292438, 0.0005082111330003675, 3.976764325644079],
  [[10, 12, 11, 15, 9], [14, 13, 16, 18], -2.5446146478123044, 0.039943091909626485, 6.679631809266908],
];
for (const [a, b, stat, p, df] of welchCases) {
  test(`Welch t-test of ${a.length} vs ${b.length} trials matches scipy`, (t) => {
    const r = welchTTest(a, b);
    t.true(close(r.statistic, stat, 1e-9), `t ${r.statistic}`);
    t.true(close(r.pValue, p, 1e-7), `p ${r.pValue}`);
    t.true(close(r.df ?? 0, df, 1e-9), `df ${r.df}`);
  });
}

test('Welch t-test of constant groups is certain about a difference and about none', (t) => {
  t.is(welchTTest([5, 5], [5, 5, 5]).pValue, 1);
  t.is(welchTTest([5, 5], [6, 6]).pValue, 0);
  t.throws(() => welchTTest([1], [2, 3]), { message: /at least 2 values/ });
});

const mwCases: [string, number[], number[], number, number, TestResult['test']][] = [
  ['4 vs 4 fully separated', [1.1, 2.2, 3.3, 4.4], [5.5, 6.6, 7.7, 8.8], 0, 0.02857142857142857, 'mann-whitney-exact'],
  ['5 vs 6 interleaved', [3, 1, 4, 1.5, 5], [9, 2, 6, 5.5, 3.5, 8], 5, 0.08225108225108226, 'mann-whitney-exact'],
  ['3 vs 3 can never reach 0.05', [1, 2, 3], [4, 5, 6], 0, 0.1, 'mann-whitney-exact'],
  [
    '4 vs 5 with ties (exact permutation)',
    [1, 2, 2, 3],
    [2, 3, 4, 4, 5],
    // U from mid-ranks; p from scipy.stats.permutation_test over all splits.
    2.5,
    0.1111111111111111,
    'mann-whitney-exact',
  ],
  [
    '30 vs 25 by normal approximation',
    Array.from({ length: 30 }, (_, i) => i),
    Array.from({ length: 25 }, (_, i) => i + 5.5),
    300,
    0.20792927248164417,
    'mann-whitney-normal',
  ],
  [
    '26 vs 24 with many ties by normal approximation',
    [...[1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7], ...[1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7]],
    [...[3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8], ...[3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8]],
    164,
    0.003825620976300801,
    'mann-whitney-normal',
  ],
];
for (const [name, a, b, u, p, kind] of mwCases) {
  test(`Mann-Whitney U ${name} matches scipy`, (t) => {
    const r = mannWhitneyU(a, b);
    t.is(r.test, kind);
    t.true(close(r.statistic, u), `U ${r.statistic}`);
    t.true(close(r.pValue, p, 1e-7), `p ${r.pValue}`);
  });
}

const fisherCases: [number, number, number, number, number][] = [
  [8, 2, 1, 5, 0.034965034965034975],
  [3, 1, 1, 3, 0.48571428571428565],
  [0, 10, 5, 5, 0.032507739938080496],
  [10, 990, 25, 975, 0.015749705522146405],
  [0, 1000, 0, 1000, 1],
  [120, 9880, 60, 9940, 8.341002964036076e-6],
];
for (const [a, b, c, d, p] of fisherCases) {
  test(`Fisher exact test on [[${a}, ${b}], [${c}, ${d}]] matches scipy`, (t) => {
    const r = fisherExact(a, b, c, d);
    t.true(close(r.pValue, p, 1e-7), `p ${r.pValue}`);
  });
}

test('Fisher exact test rejects counts that are not counts', (t) => {
  t.throws(() => fisherExact(-1, 2, 3, 4), { message: /a must be a count/ });
  t.throws(() => fisherExact(1.5, 2, 3, 4), { message: /a must be a count/ });
});

test('the seeded PRNG repeats its stream and stays in [0, 1)', (t) => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  const xs = Array.from({ length: 1000 }, () => a());
  t.deepEqual(
    xs,
    Array.from({ length: 1000 }, () => b()),
  );
  t.true(xs.every((x) => x >= 0 && x < 1));
  t.true(Math.abs(mean(xs) - 0.5) < 0.05);
  t.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, seededRandom(8)));
});

test('a bootstrap interval is reproducible and brackets the estimate', (t) => {
  const p99s = [41.2, 44.9, 39.8, 47.1, 43.3, 40.6];
  const one = bootstrapCI(p99s, mean, { seed: 3 });
  const two = bootstrapCI(p99s, mean, { seed: 3 });
  t.deepEqual(one, two);
  t.truthy(one);
  if (!one) return;
  t.true(one.lower <= one.estimate && one.estimate <= one.upper);
  t.true(one.lower >= Math.min(...p99s) && one.upper <= Math.max(...p99s));
  // The bootstrap of a mean should be close to the t interval for well-behaved data.
  const tci = meanWithCI(p99s).ci;
  t.true(tci !== undefined && Math.abs(one.upper - one.lower) < (tci.upper - tci.lower) * 1.2);
});

test('a bootstrap interval needs two values', (t) => {
  t.is(bootstrapCI([5], mean), undefined);
});
