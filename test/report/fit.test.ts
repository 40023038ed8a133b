import test from 'ava';
import { fitJsonReport } from '../../operator/report/fit.ts';
import { toJsonReport, validateJsonReport } from '../../operator/report/json.ts';
import { renderMarkdown } from '../../operator/report/markdown.ts';
import { crashReport } from './report-fixture.ts';

const doc = toJsonReport(crashReport());
const bytes = (d: unknown) => Buffer.byteLength(JSON.stringify(d), 'utf8');

test('a report that fits is returned as it is', (t) => {
  t.is(fitJsonReport(doc, bytes(doc)), doc);
});

test('a report over the budget leaves out bulky data first and says so', (t) => {
  const full = bytes(doc);
  const fitted = fitJsonReport(doc, full - 100);
  t.true(bytes(fitted) <= full - 100);
  t.deepEqual(fitted.omitted, ['per-trial latency histograms (trials.latencyHistogram)']);
  t.true(fitted.trials.every((tr) => tr.latencyHistogram === ''));
  t.true(fitted.trials.every((tr) => tr.perSecond.length === 30));
  t.deepEqual(validateJsonReport(JSON.parse(JSON.stringify(fitted))), []);
  // The original is untouched.
  t.true(doc.trials.every((tr) => tr.latencyHistogram.length > 0));
});

test('a tight budget keeps the verdict and summaries and still renders', (t) => {
  const fitted = fitJsonReport(doc, 30 * 1024);
  t.true((fitted.omitted?.length ?? 0) >= 3);
  t.is(fitted.verdict.summary, doc.verdict.summary);
  t.deepEqual(fitted.variants, doc.variants);
  t.deepEqual(validateJsonReport(JSON.parse(JSON.stringify(fitted))), []);
  t.regex(renderMarkdown(fitted), /\*\*Verdict:\*\*/);
  t.regex(renderMarkdown(fitted), /Left out of this stored report to fit its size limit: per-trial latency histograms/);
});
