import test from 'ava';
import {
  decodeHistogram,
  encodeHistogram,
  mergeHistograms,
  newHistogram,
  recordMillis,
  summarize,
} from '../../operator/contracts/histogram.ts';

test('merging histograms gives the percentiles of the combined samples', (t) => {
  const fast = newHistogram();
  const slow = newHistogram();
  for (let i = 0; i < 990; i++) recordMillis(fast, 1);
  for (let i = 0; i < 10; i++) recordMillis(slow, 1000);
  const merged = mergeHistograms([fast, slow]);
  const s = summarize(merged);
  t.is(s.count, 1000);
  t.true(Math.abs(s.p50Millis - 1) < 0.01);
  t.true(s.p999Millis >= 999, `p99.9 ${s.p999Millis}`);
  t.true(s.p99Millis <= 1.01, `p99 ${s.p99Millis}`);
});

test('a histogram survives encoding for transport', (t) => {
  const h = newHistogram();
  for (let i = 1; i <= 100; i++) recordMillis(h, i);
  const back = decodeHistogram(encodeHistogram(h));
  t.deepEqual(summarize(back), summarize(h));
});

test('an empty histogram summarizes to zeros, not NaN', (t) => {
  const s = summarize(newHistogram());
  t.true(Object.values(s).every((v) => v === 0));
});
