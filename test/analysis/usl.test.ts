// The USL fit against published worked examples. Reference figures come from the R package
// `usl` by Stefan Möding (github.com/smoeding/usl, CRAN "usl"): its data sets `specsdm91` and
// `raytracer` (data/*.rda, read back here as plain numbers), its vignette "Analyze System
// Scalability in R with the Universal Scalability Law" (inst/doc/usl.pdf of version 3.0.x)
// and the saved outputs of its tests (tests/*.Rout.save). The tests need no R.
import test from 'ava';
import { studentTQuantile } from '../../operator/analysis/stats.ts';
import {
  describeUsl,
  fitUsl,
  formatWithUncertainty,
  linearizedUsl,
  type UslFit,
  type UslPoint,
  type UslResult,
  uslThroughput,
} from '../../operator/analysis/usl.ts';

/**
 * SPEC SDM91 on a Sun SPARCcenter 2000 (16 CPUs, October 1994): simulated users against
 * script executions per hour. `usl` data set `specsdm91`; also Gunther, Guerrilla Capacity
 * Planning (2007), ch. 5.
 */
const SPECSDM91 = {
  load: [1, 18, 36, 72, 108, 144, 216],
  throughput: [64.9, 995.9, 1652.4, 1853.2, 1828.9, 1775.0, 1702.2],
};
/** BRL-CAD ray tracer on an SGI Origin 2000 (64 R12000 CPUs): processors against ray-geometry intersections/s. `usl` data set `raytracer`. */
const RAYTRACER = {
  processors: [1, 4, 8, 12, 16, 20, 24, 28, 32, 48, 64],
  throughput: [20, 78, 130, 170, 190, 200, 210, 230, 260, 280, 310],
};

const points = (n: readonly number[], x: readonly number[], count = n.length): UslPoint[] =>
  n.slice(0, count).map((v, i) => ({ n: v, throughput: x[i] as number }));

const close = (actual: number, expected: number, relative: number) =>
  Math.abs(actual - expected) <= relative * Math.abs(expected);

function fitted(r: UslResult): UslFit {
  if (!r.fittable) throw new Error(`expected a fit, got ${r.reason}: ${r.message}`);
  return r;
}

test('SPEC SDM91 (R usl specsdm91): α, β, γ and their standard errors match the published fit', (t) => {
  // usl vignette, method "nls": alpha 0.0277285 (SE 0.0091217), beta 0.0001044 (0.0000199),
  // gamma 89.9952384 (14.2134906); tests/summary.Rout.save: 82.85 on 4 degrees of freedom.
  const f = fitted(fitUsl(points(SPECSDM91.load, SPECSDM91.throughput)));
  t.true(close(f.alpha.value, 0.0277285, 2e-6), `α ${f.alpha.value}`);
  t.true(close(f.alpha.standardError, 0.0091217, 1e-5), `SE α ${f.alpha.standardError}`);
  t.true(close(f.beta.value, 0.0001044, 5e-4), `β ${f.beta.value}`);
  t.true(close(f.beta.standardError, 0.0000199, 2e-3), `SE β ${f.beta.standardError}`);
  t.true(close(f.gamma.value, 89.9952384, 1e-6), `γ ${f.gamma.value}`);
  t.true(close(f.gamma.standardError, 14.2134906, 1e-6), `SE γ ${f.gamma.standardError}`);
  t.is(f.degreesOfFreedom, 4);
  t.true(close(f.residualStandardError, 82.85, 1e-4));
  t.true(close(f.rSquared, 0.9896, 1e-4), `R² ${f.rSquared}`);
  t.is(f.alpha.atBound, undefined);
  t.is(f.beta.atBound, undefined);
  t.deepEqual(f.pinned, []);
});

test('SPEC SDM91: peak, Amdahl limit and residuals match R usl', (t) => {
  const f = fitted(fitUsl(points(SPECSDM91.load, SPECSDM91.throughput)));
  // tests/peak-scalability.R: all.equal(peak.scalability(u), 96.51956, 0.0001); limit 3245.589;
  // summary: "peak: throughput 1884 at load 96.52".
  t.is(f.peak.kind, 'finite');
  if (f.peak.kind !== 'finite') return;
  t.true(close(f.peak.n, 96.51956, 1e-6), `N* ${f.peak.n}`);
  t.is(Math.round(f.peak.throughput), 1884);
  t.false(f.peak.beyondMeasured);
  t.true(close(f.limit, 3245.589, 1e-6), `limit ${f.limit}`);
  // tests/residuals.Rout.save
  const expected = [-25.1, -81.66, 111.09, 3.05, -49.99, -46.6, 56.0];
  f.residuals.forEach((r, i) => {
    t.true(Math.abs(r.residual - (expected[i] as number)) < 0.006, `residual at N=${r.n}: ${r.residual}`);
  });
  // tests/fitted.Rout.save: 90 1078 1541 1850 1879 1822 1646
  t.deepEqual(
    f.residuals.map((r) => Math.round(r.predicted)),
    [90, 1078, 1541, 1850, 1879, 1822, 1646],
  );
});

test('ray tracer (R usl raytracer): β ends at its bound 0, so there is no peak, only the γ/α asymptote', (t) => {
  // usl 3.0 vignette: alpha 0.057771 (SE 0.013293), beta 0.000000 (0.000118), gamma 21.848843
  // (2.196165), 9.34 on 8 degrees of freedom; "limit: throughput 378", "peak: none (beta=0)",
  // "opt: throughput 195 at processors 17.3"; predict at 96 and 128 processors: 323.3, 335.5.
  const f = fitted(fitUsl(points(RAYTRACER.processors, RAYTRACER.throughput)));
  t.true(close(f.alpha.value, 0.057771, 1e-5), `α ${f.alpha.value}`);
  t.is(f.beta.value, 0);
  t.is(f.beta.atBound, 'lower');
  t.true(close(f.gamma.value, 21.848843, 1e-6), `γ ${f.gamma.value}`);
  t.is(f.degreesOfFreedom, 8);
  t.true(close(f.residualStandardError, 9.34, 1e-3));
  // usl's standard errors treat β as free: covarianceIfFree; β's own SE is reported that way.
  const seIfFree = (k: number) => Math.sqrt((f.covarianceIfFree[k] as number[])[k] as number);
  t.true(close(seIfFree(0), 0.013293, 1e-4), `SE α ${seIfFree(0)}`);
  t.true(close(seIfFree(1), 0.000118, 2e-3), `SE β ${seIfFree(1)}`);
  t.true(close(seIfFree(2), 2.196165, 1e-6), `SE γ ${seIfFree(2)}`);
  t.true(close(f.beta.standardError, 0.000118, 2e-3));
  // With β held at its bound, α and γ are those of Amdahl's law: tighter than usl's.
  t.true(f.alpha.standardError < seIfFree(0));
  t.is(f.peak.kind, 'none');
  if (f.peak.kind === 'none') t.is(Math.round(f.peak.asymptote), 378);
  t.is(Math.round(f.limit), 378);
  t.is(Math.round(uslThroughput(1 / f.alpha.value, coeffs(f))), 195);
  t.is((1 / f.alpha.value).toFixed(1), '17.3');
  t.is(uslThroughput(96, coeffs(f)).toFixed(1), '323.3');
  t.is(uslThroughput(128, coeffs(f)).toFixed(1), '335.5');
});

function coeffs(f: UslFit) {
  return { alpha: f.alpha.value, beta: f.beta.value, gamma: f.gamma.value };
}

test("ray tracer: usl's printed confidence intervals follow from these standard errors and its qt(level, n - 1)", (t) => {
  // usl's confint is estimate ± qt(0.95, n − 1) × SE (R/confint.R); reproducing its printed
  // bounds checks the SEs to every printed digit. Our own intervals are two-sided t(n − p).
  const f = fitted(fitUsl(points(RAYTRACER.processors, RAYTRACER.throughput)));
  const q = studentTQuantile(0.95, 10);
  const se = (k: number) => Math.sqrt((f.covarianceIfFree[k] as number[])[k] as number);
  const published: [number, number, number, number][] = [
    [f.alpha.value, se(0), 0.0336773, 0.0818642],
    [f.beta.value, se(1), -0.0002137, 0.0002137],
    [f.gamma.value, se(2), 17.8683796, 25.8293061],
  ];
  for (const [value, s, lower, upper] of published) {
    t.true(Math.abs(value - q * s - lower) < 6e-8 * Math.max(1, Math.abs(lower)), `${value - q * s} vs ${lower}`);
    t.true(Math.abs(value + q * s - upper) < 6e-8 * Math.max(1, Math.abs(upper)), `${value + q * s} vs ${upper}`);
  }
  const t8 = studentTQuantile(0.975, 8);
  t.true(close(f.gamma.ci.upper - f.gamma.value, t8 * f.gamma.standardError, 1e-12));
});

test('ray tracer, first six points (usl tests/confint.R): a finite peak and usl intervals reproduced', (t) => {
  // coef: alpha 0.02444, beta 0.00163, gamma 20.85605; confint (qt(0.95, 5)): alpha 0.00754 ..
  // 0.04135, beta 0.00110 .. 0.00215, gamma 19.26717 .. 22.44492.
  const f = fitted(fitUsl(points(RAYTRACER.processors, RAYTRACER.throughput, 6)));
  t.true(close(f.alpha.value, 0.02444, 2e-4));
  t.true(close(f.beta.value, 0.00163, 3e-3));
  t.true(close(f.gamma.value, 20.85605, 1e-6));
  const q = studentTQuantile(0.95, 5);
  t.is((f.alpha.value - q * f.alpha.standardError).toFixed(5), '0.00754');
  t.is((f.alpha.value + q * f.alpha.standardError).toFixed(5), '0.04135');
  t.is((f.beta.value - q * f.beta.standardError).toFixed(5), '0.00110');
  t.is((f.beta.value + q * f.beta.standardError).toFixed(5), '0.00215');
  t.is((f.gamma.value - q * f.gamma.standardError).toFixed(5), '19.26717');
  t.is((f.gamma.value + q * f.gamma.standardError).toFixed(5), '22.44492');
  t.is(f.peak.kind, 'finite');
  if (f.peak.kind === 'finite') {
    t.true(close(f.peak.n, Math.sqrt((1 - f.alpha.value) / f.beta.value), 1e-12));
    t.true(f.peak.beyondMeasured, 'N* ≈ 24.5 lies beyond the largest N measured here (20)');
  }
});

test('a synthetic curve built with α = β = 0.02, γ = 1 (usl tests/coef.R) is recovered', (t) => {
  const f = fitted(fitUsl(points([1, 2, 4, 6, 8, 10], [1, 1.8868, 3.0769, 3.5294, 3.5398, 3.3557])));
  t.is(Number(f.alpha.value.toPrecision(3)), 0.02);
  t.is(Number(f.beta.value.toPrecision(3)), 0.02);
  t.is(Number(f.gamma.value.toPrecision(3)), 1);
  if (f.peak.kind === 'finite') t.is(Math.round(f.peak.n), 7);
  else t.fail('a peak at N* = 7 was expected');
});

test("Gunther's linearised fit reproduces usl 1.x's default method (tests t08 and t05)", (t) => {
  // usl before 2.0 normalised at X(1) and fitted N/C − 1 = σx + κx(x+1): specsdm91 gave
  // sigma 1.705e-02, kappa 7.892e-05; raytracer sigma 0.05002394, kappa 0.00000471.
  const s = linearizedUsl(points(SPECSDM91.load, SPECSDM91.throughput), 64.9);
  t.is(s.alpha.toPrecision(4), '0.01705');
  t.is(s.beta.toPrecision(4), '0.00007892');
  const r = linearizedUsl(points(RAYTRACER.processors, RAYTRACER.throughput), 20);
  t.is(r.alpha.toFixed(8), '0.05002394');
  t.is(r.beta.toPrecision(3), '0.00000471');
});

test('γ taken from N = 1 fits only α and β, and needs N = 1 among at least 3 distinct N', (t) => {
  const f = fitted(fitUsl(points(SPECSDM91.load, SPECSDM91.throughput), { gamma: 'from-n1' }));
  t.is(f.method, 'gamma-from-n1');
  t.is(f.gamma.value, 64.9);
  t.true(f.gamma.fixed);
  t.is(f.degreesOfFreedom, 5);
  // Least squares in X: not the linearised fit (that minimises in the transformed space).
  t.true(f.rss < fitRss(SPECSDM91, { alpha: 0.01705, beta: 0.00007892, gamma: 64.9 }));
  const three = fitUsl(
    [1, 1, 2, 2, 4, 4].map((n, i) => ({
      n,
      throughput: uslThroughput(n, { alpha: 0.1, beta: 0.01, gamma: 50 }) * (i % 2 ? 1.01 : 0.99),
    })),
    { gamma: 'from-n1' },
  );
  t.true(three.fittable, three.fittable ? '' : three.message);
  const noOne = fitUsl(points([2, 4, 8, 16], [10, 18, 30, 40]), { gamma: 'from-n1' });
  t.false(noOne.fittable);
  if (!noOne.fittable) {
    t.is(noOne.reason, 'too-few-points');
    t.regex(noOne.message, /needs measurements at N = 1/);
  }
});

function fitRss(d: typeof SPECSDM91, c: { alpha: number; beta: number; gamma: number }) {
  return d.load.reduce((s, n, i) => s + ((d.throughput[i] as number) - uslThroughput(n, c)) ** 2, 0);
}

test('three distinct N cannot carry three parameters: too-few-points, whatever the trials', (t) => {
  const data = [1, 2, 4].flatMap((n) => [0.98, 1, 1.02].map((f) => ({ n, throughput: f * 100 * n ** 0.8 })));
  const r = fitUsl(data);
  t.false(r.fittable);
  if (r.fittable) return;
  t.is(r.reason, 'too-few-points');
  t.deepEqual(r.distinctN, [1, 2, 4]);
  t.regex(r.message, /3 distinct N \(1, 2, 4\) for 3 fitted parameters: the USL needs at least 4/);
});

test('flat throughput (a GIL-bound thread model) is not fitted: no scaling signal, said with the F test', (t) => {
  const r = fitUsl(
    [1, 2, 4, 8].flatMap((n) => [498, 500, 503].map((x, i) => ({ n, throughput: x + ((n * 7 + i) % 3) }))),
  );
  t.false(r.fittable);
  if (r.fittable) return;
  t.is(r.reason, 'flat');
  t.regex(r.message, /better than a constant would \(F test, p = (0\.\d+|1) with 9 residual degree\(s\) of freedom\)/);
  t.regex(r.message, /throughput does not change with N$/);
});

test('a clear decline with N is fitted, not called flat: coherency shows', (t) => {
  const c = { alpha: 0.9, beta: 0.05, gamma: 500 };
  const f = fitted(
    fitUsl([1, 2, 4, 8].flatMap((n) => [0.99, 1, 1.01].map((k) => ({ n, throughput: k * uslThroughput(n, c) })))),
  );
  t.true(f.flatnessPValue < 0.001);
  t.true(Math.abs(f.alpha.value - 0.9) < 0.05, `α ${f.alpha.value}`);
  t.true(Math.abs(f.beta.value - 0.05) < 0.01, `β ${f.beta.value}`);
});

test('raytracer first five points: α is undetermined (s.e. 51% of it); strict mode refuses, the default fits without it', (t) => {
  // usl warns here: "'data' has only a few values; the result might not be accurate" and gives
  // alpha 0.028 (tests/warn-accuracy.Rout.save).
  const data = points(RAYTRACER.processors, RAYTRACER.throughput, 5);
  const strict = fitUsl(data, { pinUndetermined: false });
  t.false(strict.fittable);
  if (!strict.fittable) {
    t.is(strict.reason, 'too-uncertain');
    t.regex(strict.message, /^α = 0\.0279 ± 0\.014 \(s\.e\. 51% of it\): above the 50% bound/);
  }
  const f = fitted(fitUsl(data));
  t.is(f.pinned.length, 1);
  t.is(f.pinned[0]?.parameter, 'alpha');
  t.is(Number(f.pinned[0]?.estimate.toFixed(3)), 0.028);
  t.true(f.alpha.pinned);
  t.is(f.alpha.value, 0);
  t.is(f.alpha.standardError, 0);
  t.is(f.degreesOfFreedom, 3, 'the reduced fit has two parameters');
  t.true(f.beta.value > 0);
  t.true(f.peak.kind === 'finite' && f.peak.beyondMeasured);
});

test('an α too small to matter is kept, uncertain as it is: it moves X at the largest N by under 5%', (t) => {
  const c = { alpha: 0.001, beta: 0, gamma: 100 };
  const data = [1, 2, 4, 8].flatMap((n) =>
    [0.99, 1.0, 1.01].map((k, i) => ({
      n,
      throughput: uslThroughput(n, c) * (n % 2 ? k : ([1.01, 0.99, 1.0][i] as number)),
    })),
  );
  const f = fitted(fitUsl(data));
  t.true(f.alpha.standardError > f.alpha.value, 'its s.e. exceeds it');
  t.true(Math.abs(f.alpha.value - 0.001) < 1e-6);
  t.deepEqual(f.pinned, []);
  const strict = fitUsl(data, { negligibleEffect: 0, pinUndetermined: false });
  t.false(strict.fittable);
  if (!strict.fittable) t.regex(strict.message, /^α = 0\.001 ± 0\.0014 \(s\.e\. 136% of it\)/);
  t.regex(describeUsl('processes', f), /contention α = 0\.0010 ± 0\.0031 \(not distinguishable from 0\)/);
  t.regex(describeUsl('processes', f), /throughput grows linearly, 100 req\/s per worker, over the measured N ≤ 8/);
});

test('each trial as its own point and one mean per N with the trial count as weight give the same coefficients', (t) => {
  const c = { alpha: 0.2, beta: 0.002, gamma: 120 };
  const factors = [0.97, 1.0, 1.04];
  const trials = [1, 2, 4, 8, 16].flatMap((n, j) =>
    factors.map((k, i) => ({ n, throughput: uslThroughput(n, c) * (k + 0.01 * ((i + j) % 2)) })),
  );
  const means = [1, 2, 4, 8, 16].map((n) => {
    const mine = trials.filter((p) => p.n === n);
    return { n, throughput: mine.reduce((s, p) => s + p.throughput, 0) / mine.length, weight: mine.length };
  });
  const a = fitted(fitUsl(trials));
  const b = fitted(fitUsl(means));
  for (const k of ['alpha', 'beta', 'gamma'] as const) {
    t.true(close(a[k].value, b[k].value, 1e-7), `${k}: ${a[k].value} vs ${b[k].value}`);
  }
  t.is(a.degreesOfFreedom, 12);
  t.is(b.degreesOfFreedom, 2);
});

test('a weight of 3 counts like the point measured three times', (t) => {
  const base = points(SPECSDM91.load, SPECSDM91.throughput);
  const weighted = base.map((p, i) => (i === 3 ? { ...p, weight: 3 } : p));
  const repeated = [...base, base[3] as UslPoint, base[3] as UslPoint];
  const a = fitted(fitUsl(weighted));
  const b = fitted(fitUsl(repeated));
  t.true(close(a.alpha.value, b.alpha.value, 1e-7));
  t.true(close(a.beta.value, b.beta.value, 1e-7));
  t.true(close(a.rss, b.rss, 1e-7));
  // and it pulls the curve towards that point
  const plain = fitted(fitUsl(base));
  t.true(Math.abs(a.residuals[3]?.residual ?? 0) <= Math.abs(plain.residuals[3]?.residual ?? 0));
});

test('the predicted curve runs from N = 1 to twice the largest N, its band at N = 1 is γ ± t × SE(γ)', (t) => {
  const f = fitted(fitUsl(points(RAYTRACER.processors, RAYTRACER.throughput)));
  t.is(f.curve[0]?.n, 1);
  t.is(f.curve[f.curve.length - 1]?.n, 128);
  t.is(f.curve.length, 65);
  for (const p of f.curve) {
    t.true(close(p.throughput, uslThroughput(p.n, coeffs(f)), 1e-12));
    t.true(p.lower <= p.throughput && p.throughput <= p.upper);
  }
  const first = f.curve[0] as { throughput: number; upper: number };
  t.true(close(first.upper - first.throughput, studentTQuantile(0.975, 8) * f.gamma.standardError, 1e-9));
  const small = fitted(fitUsl(points(SPECSDM91.load, SPECSDM91.throughput), { curve: { maxN: 20 } }));
  t.deepEqual(
    small.curve.map((p) => p.n),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
});

test('bad points are refused with the field and the fix', (t) => {
  t.throws(() => fitUsl([{ n: 0, throughput: 1 }]), {
    message: /points\[0\]\.n must be a finite concurrency above 0, got 0/,
  });
  t.throws(() => fitUsl([{ n: 1, throughput: Number.NaN }]), {
    message: /points\[0\]\.throughput must be finite and >= 0/,
  });
  t.throws(() => fitUsl([{ n: 1, throughput: 1, weight: 0 }]), {
    message: /points\[0\]\.weight must be finite and above 0 \(omit it for 1\)/,
  });
  t.throws(() => fitUsl([], { level: 1 }), { message: /level must be within \(0, 1\)/ });
});

test('the words for a thread model with contention and no coherency come from the fitted numbers', (t) => {
  const c = { alpha: 0.31, beta: 0, gamma: 500 };
  const f = fitUsl(
    [1, 2, 4, 8].flatMap((n) => [0.98, 1, 1.02].map((k) => ({ n, throughput: k * uslThroughput(n, c) }))),
  );
  const text = describeUsl('threads', f, { model: 'thread' });
  t.regex(text, /^threads: contention α = 0\.3\d\d ± 0\.0\d\d \(3\d% of the work serialises, as under a GIL/);
  t.regex(text, /coherency β ≈ 0 \(at its bound: no measurable crosstalk\)/);
  t.regex(text, /no peak \(β = 0, N\* = ∞\): adding workers only approaches γ\/α = 1\d\d\d req\/s/);
});

test('the words for SPEC SDM91 give the peak with its interval, inside the measured range', (t) => {
  const text = describeUsl('specsdm91', fitUsl(points(SPECSDM91.load, SPECSDM91.throughput)), { unit: 'scripts/h' });
  t.regex(text, /contention α = 0\.028 ± 0\.025 \(2\.8% of the work serialises/);
  t.regex(text, /coherency β = 0\.000104 ± 0\.000055 \(crosstalk/);
  t.regex(text, /throughput peaks at N\* ≈ 97 ± 25 \(X ≈ 1880 scripts\/h\)/);
  t.notRegex(text, /extrapolation/);
});

test('the words for an unfittable model carry its reason', (t) => {
  const text = describeUsl('threads', fitUsl(points([1, 2], [10, 11])));
  t.regex(text, /^threads: no USL fit \(too-few-points\): 2 distinct N/);
});

test('uncertainties are shown to two significant figures, the value to the same decimals', (t) => {
  t.is(formatWithUncertainty(0.0277285, 0.0253), '0.028 ± 0.025');
  t.is(formatWithUncertainty(89.995, 39.46), '90 ± 39');
  t.is(formatWithUncertainty(0.00010437, 0.0000552), '0.000104 ± 0.000055');
  t.is(formatWithUncertainty(5, Number.NaN), '5');
});
