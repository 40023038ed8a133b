import test from 'ava';
import { decodeHistogram, summarize } from '../../operator/contracts/histogram.ts';
import { histogramFromPercentiles, K6SummaryError, parseK6Summary } from '../../operator/load/k6-summary.ts';
import { handleSummaryData } from './k6-fixtures.ts';

const timing = { startedAtMillis: 1000, endedAtMillis: 31_000 };

test('a handleSummary object becomes a LoadResult of the measured scenario only', (t) => {
  const r = parseK6Summary(handleSummaryData, timing);
  t.is(r.driver, 'k6');
  t.is(r.sent, 9000, 'the measure submetric, not the warm-up-inclusive total');
  t.is(r.dropped, 12);
  t.is(r.scheduled, 9012);
  t.is(r.completed, 8910);
  t.deepEqual(r.errors, { refused: 0, reset: 0, timeout: 10, http4xx: 0, http5xx: 80, other: 0 });
  t.is(r.startedAtMillis, 1000);
  t.is(r.endedAtMillis, 31_000);
  t.true(r.latencyHistogramSynthesized, 'says the histogram is rebuilt from percentiles');
  t.deepEqual(r.perSecond, []);
  t.false(r.partial);
});

test('the synthesized histogram reproduces k6 percentiles within HDR precision', (t) => {
  const s = summarize(decodeHistogram(parseK6Summary(handleSummaryData, timing).latencyHistogram));
  t.is(s.count, 8910);
  const close = (a: number, b: number) => Math.abs(a - b) <= b * 0.002;
  t.true(close(s.p50Millis, 4.5), `p50 ${s.p50Millis}`);
  t.true(close(s.p90Millis, 8.1), `p90 ${s.p90Millis}`);
  t.true(close(s.p99Millis, 40.5), `p99 ${s.p99Millis}`);
  t.true(close(s.p999Millis, 120.7), `p99.9 ${s.p999Millis}`);
  t.true(close(s.maxMillis, 250.3), `max ${s.maxMillis}`);
  t.true(close(s.minMillis, 1.2), `min ${s.minMillis}`);
});

test('a --summary-export file (flattened values, no submetrics or counters) is read too', (t) => {
  const exported = {
    metrics: {
      http_reqs: { count: 600, rate: 20 },
      http_req_failed: { passes: 6, fails: 594, value: 0.01 },
      http_req_duration: { avg: 3, min: 1, med: 2, max: 30, 'p(90)': 5, 'p(95)': 7 },
      dropped_iterations: { count: 4, rate: 0.1 },
    },
  };
  const r = parseK6Summary(exported, timing);
  t.is(r.sent, 600);
  t.is(r.dropped, 4);
  t.is(r.completed, 594);
  t.is(r.errors.other, 6, 'failures without our counters count as other');
  t.is(decodeHistogram(r.latencyHistogram).totalCount, 594);
});

test('a summary without metrics is refused with a clear message', (t) => {
  t.throws(() => parseK6Summary({}, timing), { instanceOf: K6SummaryError, message: /no "metrics" object/ });
  t.throws(() => parseK6Summary({ metrics: {} }, timing), { instanceOf: K6SummaryError, message: /http_reqs/ });
});

test('histogramFromPercentiles keeps the count and places nothing below a given point', (t) => {
  const h = histogramFromPercentiles(100, [
    [0, 1],
    [50, 10],
    [99, 100],
    [100, 500],
  ]);
  t.is(h.totalCount, 100);
  t.true(Math.abs(h.getValueAtPercentile(50) - 10_000) < 20);
  t.true(Math.abs(h.getValueAtPercentile(99) - 100_000) < 100);
  t.is(histogramFromPercentiles(0, [[50, 3]]).totalCount, 0);
});
