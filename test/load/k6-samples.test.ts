// The k6 per-request parser on sample files generated in k6's documented JSON output format
// (see k6SampleLines in k6-fixtures.ts: no k6 binary exists here, and its code is AGPL).
import test from 'ava';
import { decodeHistogram, newHistogram, recordMillis } from '../../operator/contracts/histogram.ts';
import { K6SamplesError, k6ErrorKind, k6TimeMillis, parseK6Samples } from '../../operator/load/k6-samples.ts';
import { generateK6Script } from '../../operator/load/k6-script.ts';
import { mergeLoadParts } from '../../operator/load/merge.ts';
import { assertConsistent } from './consistency.ts';
import { type FixtureRequest, k6SampleLines, k6Time } from './k6-fixtures.ts';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 250);
const targets = ['http://10.0.0.1:8080/work', 'http://10.0.0.2:8080/work'];
const context = { targets, timeoutMillis: 2000, durationMillis: 3000 };

/** 300 measured requests over 3 s (every 10 ms), round-robin over 2 targets, with failures. */
function requests(): FixtureRequest[] {
  const out: FixtureRequest[] = [];
  for (let i = 0; i < 20; i++) {
    out.push({
      scenario: 'warmup',
      sentAtMillis: T0 - 200 + i * 10,
      durationMillis: 1,
      status: 200,
      errorCode: 0,
      target: i % 2,
    });
  }
  for (let i = 0; i < 300; i++) {
    const failure = i % 50 === 7 ? 'http5xx' : i % 50 === 9 ? 'timeout' : i % 100 === 11 ? 'refused' : undefined;
    out.push({
      scenario: 'measure',
      sentAtMillis: T0 + i * 10,
      durationMillis: failure === 'timeout' ? 2000.4 : 1 + (i % 17) * 0.37 + (i === 150 ? 400 : 0),
      status: failure === 'http5xx' ? 503 : failure === undefined ? 200 : 0,
      errorCode: failure === 'timeout' ? 1050 : failure === 'refused' ? 1212 : 0,
      target: i % 2,
    });
  }
  return out;
}
const drops: [string, number][] = [
  ['measure', T0 + 1500],
  ['measure', T0 + 2500.5],
  ['warmup', T0 - 50],
];

test('k6 times with nanoseconds and an offset become epoch milliseconds', (t) => {
  t.is(k6TimeMillis('2017-05-09T14:34:45.239531499+02:00'), Date.UTC(2017, 4, 9, 12, 34, 45, 239) + 0.531);
  t.is(k6TimeMillis(k6Time(T0 + 0.25)), T0 + 0.25);
  t.true(Number.isNaN(k6TimeMillis('yesterday')));
});

test('per-request samples become an exact result of the measured scenario', (t) => {
  const all = requests();
  const { result, perSecondLatency } = parseK6Samples(k6SampleLines(all, drops).join('\n'), context);
  assertConsistent(t, result);
  const measured = all.filter((r) => r.scenario === 'measure');
  const ok = measured.filter((r) => r.status === 200);
  t.is(result.driver, 'k6');
  t.is(result.sent, 300, 'warm-up samples are not measured');
  t.is(result.dropped, 2);
  t.is(result.scheduled, 302);
  t.is(result.completed, ok.length);
  t.deepEqual(result.errors, { refused: 3, reset: 0, timeout: 6, http4xx: 0, http5xx: 6, other: 0 });
  t.false('latencyHistogramSynthesized' in result, 'exact, not rebuilt from percentiles');
  t.is(result.startedAtMillis, T0, 'the window opens with the first measured send');
  t.is(result.endedAtMillis, T0 + 3000);

  // The histogram is the histogram of the successes' durations, value for value.
  const expected = newHistogram();
  for (const r of ok) recordMillis(expected, r.durationMillis);
  const h = decodeHistogram(result.latencyHistogram);
  for (const q of [0, 50, 90, 99, 99.9, 100])
    t.is(h.getValueAtPercentile(q), expected.getValueAtPercentile(q), `p${q}`);
  // Every scheduled request in the honest one: timeouts at 2000 ms and drops at the timeout.
  const honest = decodeHistogram(result.latencyHistogramAll ?? '');
  t.is(honest.totalCount, 302);
  t.true(honest.getValueAtPercentile(97) >= 1990, 'the 8 of 302 at ~2 s show at the top');

  t.deepEqual(
    result.perTarget?.map((x) => [x.replica, x.url, x.sent]),
    [
      [0, targets[0], 150],
      [1, targets[1], 150],
    ],
  );
  t.deepEqual(
    result.perSecond.map((s) => s.sent),
    [100, 100, 100, 0, 0],
    'the series runs on past the window while late answers (timeouts at 2 s) arrive',
  );
  t.deepEqual(
    result.perSecond.map((s) => s.dropped),
    [0, 1, 1, 0, 0],
  );
  // The slow request (sent at 1.5 s, 400 ms) lands in second 1, and its p99 shows it.
  const second1 = decodeHistogram(perSecondLatency?.[1] ?? '');
  t.is(result.perSecond[1]?.p99Millis, second1.getValueAtPercentile(99) / 1000);
  t.true((result.perSecond[1]?.p99Millis ?? 0) < 10 || second1.totalCount < 100);
});

test('two k6 runners that each ran half merge to exactly the run of one', (t) => {
  const all = requests();
  const whole = parseK6Samples(k6SampleLines(all, drops).join('\n'), context).result;
  const halves = [0, 1].map((k) =>
    parseK6Samples(
      k6SampleLines(
        all.filter((_, i) => i % 2 === k),
        drops.filter((_, i) => i % 2 === k),
      ).join('\n'),
      // Runners share time 0, so their seconds line up.
      { ...context, startedAtMillis: T0 },
    ),
  );
  const merged = mergeLoadParts(halves).result;
  t.is(merged.scheduled, whole.scheduled);
  t.deepEqual(merged.errors, whole.errors);
  t.deepEqual(merged.perTarget, whole.perTarget);
  const [a, b] = [decodeHistogram(merged.latencyHistogram), decodeHistogram(whole.latencyHistogram)];
  for (const q of [1, 50, 99, 99.9, 100]) t.is(a.getValueAtPercentile(q), b.getValueAtPercentile(q));
  t.deepEqual(
    merged.perSecond.map((s) => [s.sent, s.completed, s.p99Millis]),
    whole.perSecond.map((s) => [s.sent, s.completed, s.p99Millis]),
    'per-second p99 from merged histograms equals that of the single run',
  );
});

test('bad sample files are refused with the line and what to check', (t) => {
  t.throws(() => parseK6Samples('{"type":"Point","metric":"http_req_duration",', context), {
    instanceOf: K6SamplesError,
    message: /line 1 .* not JSON/,
  });
  const warmOnly = k6SampleLines(requests().filter((r) => r.scenario === 'warmup')).join('\n');
  t.throws(() => parseK6Samples(warmOnly, context), { instanceOf: K6SamplesError, message: /no measured request/ });
});

test("the parser classifies errors exactly as the generated script's errorKind does", (t) => {
  const script = generateK6Script(
    {
      targets,
      rate: 10,
      durationMillis: 1000,
      warmUpMillis: 0,
      maxInFlight: 8,
      timeoutMillis: 1000,
    },
    { slo: { errorRate: 0.01, latencyMillis: {} }, summaryPath: '/s' },
  );
  const source = /function errorKind\(res\) \{[\s\S]*?\n\}/.exec(script)?.[0];
  t.truthy(source);
  const scriptKind = new Function(`${source}; return errorKind;`)() as (r: object) => string | undefined;
  for (const status of [0, 101, 200, 302, 404, 499, 500, 503, 600]) {
    for (const code of [0, 1050, 1201, 1211, 1212, 1220, 1000]) {
      t.is(
        k6ErrorKind(status, code) as string | undefined,
        scriptKind({ status, error_code: code }),
        `status ${status} code ${code}`,
      );
    }
  }
});
