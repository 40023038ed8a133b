import test from 'ava';
import { decodeHistogram, summarize } from '../../operator/contracts/histogram.ts';
import { SpanAggregator } from '../../operator/telemetry/aggregator.ts';
import type { AttributeValue, DecodedSpan } from '../../operator/telemetry/span.ts';

const SECOND = 1_700_000_000;

function span(
  attributes: Record<string, AttributeValue>,
  options: {
    resource?: Record<string, AttributeValue>;
    durationMillis?: number;
    error?: boolean;
    second?: number;
  } = {},
): DecodedSpan {
  const end = (options.second ?? SECOND) * 1e9 + 5e8;
  const durationNanos = (options.durationMillis ?? 10) * 1e6;
  return {
    traceId: '',
    spanId: '',
    name: 'GET /',
    kind: 2,
    startTimeUnixNano: end - durationNanos,
    endTimeUnixNano: end,
    durationNanos,
    statusCode: options.error ? 2 : 0,
    attributes,
    resource: options.resource ?? {},
  };
}

const base = { 'conclab.experiment': 'e1', 'conclab.trial': '0', 'conclab.variant': 'process' };

test('groups spans per experiment, trial, variant and worker and counts errors', (t) => {
  const agg = new SpanAggregator();
  agg.add(span({ ...base, 'conclab.worker': 'w0' }));
  agg.add(span({ ...base, 'conclab.worker': 'w0' }, { error: true }));
  agg.add(span({ ...base, 'conclab.worker': 'w1' }));
  const out = agg.aggregates();
  t.deepEqual(
    out.map((a) => [a.key.worker, a.spans, a.errors]),
    [
      ['w0', 2, 1],
      ['w1', 1, 0],
    ],
  );
});

test('takes key parts, pid and thread id from the resource when the span lacks them', (t) => {
  const agg = new SpanAggregator();
  agg.add(span({ 'thread.id': 7 }, { resource: { ...base, 'conclab.worker': 3, 'process.pid': 1234 } }));
  const [a] = agg.aggregates();
  t.deepEqual(a!.key, {
    experiment: 'e1',
    run: 'unknown',
    trial: '0',
    variant: 'process',
    replica: 'unknown',
    worker: '3',
  });
  t.deepEqual(a!.pids, [1234]);
  t.deepEqual(a!.threadIds, [7]);
});

test('span attributes win over resource attributes', (t) => {
  const agg = new SpanAggregator();
  agg.add(span({ ...base, 'conclab.worker': 'span' }, { resource: { 'conclab.worker': 'resource' } }));
  t.is(agg.aggregates()[0]!.key.worker, 'span');
});

test('missing attributes give the key part "unknown"', (t) => {
  const agg = new SpanAggregator();
  agg.add(span({}));
  t.deepEqual(agg.aggregates()[0]!.key, {
    experiment: 'unknown',
    run: 'unknown',
    trial: 'unknown',
    variant: 'unknown',
    replica: 'unknown',
    worker: 'unknown',
  });
});

test('records durations and queue times in histograms', (t) => {
  const agg = new SpanAggregator();
  for (let i = 1; i <= 100; i++) agg.add(span({ ...base, 'conclab.queue_time_ms': i / 10 }, { durationMillis: i }));
  agg.add(span({ ...base })); // no queue time: counted in duration only
  const [a] = agg.aggregates();
  const d = summarize(decodeHistogram(a!.durationHistogram));
  const q = summarize(decodeHistogram(a!.queueHistogram));
  t.is(d.count, 101);
  t.true(Math.abs(d.p50Millis - 50) < 0.5, `p50 ${d.p50Millis}`);
  t.true(Math.abs(d.maxMillis - 100) < 0.1, `max ${d.maxMillis}`);
  t.is(q.count, 100);
  t.true(Math.abs(q.maxMillis - 10) < 0.01, `queue max ${q.maxMillis}`);
});

test('counts spans and errors per second of end time, sorted', (t) => {
  const agg = new SpanAggregator();
  agg.add(span(base, { second: SECOND + 1 }));
  agg.add(span(base, { second: SECOND }));
  agg.add(span(base, { second: SECOND, error: true }));
  t.deepEqual(agg.aggregates()[0]!.perSecond, [
    [SECOND, 2, 1],
    [SECOND + 1, 1, 0],
  ]);
});

test('a replaced worker shows every pid it had', (t) => {
  const agg = new SpanAggregator();
  agg.add(span({ ...base, 'process.pid': 20 }));
  agg.add(span({ ...base, 'process.pid': 10 }));
  agg.add(span({ ...base, 'process.pid': 20 }));
  t.deepEqual(agg.aggregates()[0]!.pids, [10, 20]);
});

test('beyond maxKeys new keys are dropped and counted while existing keys keep aggregating', (t) => {
  const agg = new SpanAggregator({ maxKeys: 2 });
  t.is(agg.add(span({ ...base, 'conclab.worker': 'a' })), 'accepted');
  t.is(agg.add(span({ ...base, 'conclab.worker': 'b' })), 'accepted');
  t.is(agg.add(span({ ...base, 'conclab.worker': 'c' })), 'keyLimit');
  t.is(agg.add(span({ ...base, 'conclab.worker': 'a' })), 'accepted');
  t.is(agg.keyCount, 2);
  t.is(agg.dropped, 1);
  t.deepEqual(
    agg.aggregates().map((a) => [a.key.worker, a.spans]),
    [
      ['a', 2],
      ['b', 1],
    ],
  );
});

test('per-second buckets and ids are bounded per key, totals still count', (t) => {
  const agg = new SpanAggregator({ maxSecondsPerKey: 3, maxIdsPerKey: 2 });
  for (let i = 0; i < 10; i++) agg.add(span({ ...base, 'process.pid': i, 'thread.id': i }, { second: SECOND + i }));
  const [a] = agg.aggregates();
  t.is(a!.spans, 10);
  t.is(a!.perSecond.length, 3);
  t.true(a!.perSecondTruncated);
  t.is(a!.pids.length, 2);
  t.is(a!.threadIds.length, 2);
});

test('filters and clears by any part of the key', (t) => {
  const agg = new SpanAggregator();
  agg.add(span({ ...base, 'conclab.experiment': 'e1' }));
  agg.add(span({ ...base, 'conclab.experiment': 'e2', 'conclab.variant': 'thread' }));
  agg.add(span({ ...base, 'conclab.experiment': 'e2', 'conclab.variant': 'process' }));
  t.is(agg.aggregates({ experiment: 'e2' }).length, 2);
  t.is(agg.aggregates({ experiment: 'e2', variant: 'thread' }).length, 1);
  t.is(agg.aggregates({ experiment: 'nope' }).length, 0);
  agg.clear({ experiment: 'e2' });
  t.deepEqual(
    agg.aggregates().map((a) => a.key.experiment),
    ['e1'],
  );
});

test('rejects a non-positive maxKeys with the option named', (t) => {
  t.throws(() => new SpanAggregator({ maxKeys: 0 }), { message: /maxKeys must be a positive integer/ });
});

test('negative durations from a jumping clock are recorded as the minimum, not lost', (t) => {
  const agg = new SpanAggregator();
  agg.add(span(base, { durationMillis: -5 }));
  t.is(summarize(decodeHistogram(agg.aggregates()[0]!.durationHistogram)).count, 1);
});

test('the per-second bucket budget is shared by all keys and freed by clear()', (t) => {
  const agg = new SpanAggregator({ maxSecondBuckets: 4 });
  for (let i = 0; i < 3; i++) agg.add(span({ ...base, 'conclab.worker': 'a' }, { second: SECOND + i }));
  for (let i = 0; i < 3; i++) agg.add(span({ ...base, 'conclab.worker': 'b' }, { second: SECOND + i }));
  const [a, b] = agg.aggregates();
  t.is(a!.perSecond.length, 3);
  t.is(a!.perSecondTruncated, undefined);
  t.is(b!.perSecond.length, 1);
  t.true(b!.perSecondTruncated);
  t.is(b!.spans, 3);
  agg.clear({ worker: 'a' });
  agg.add(span({ ...base, 'conclab.worker': 'b' }, { second: SECOND + 9 }));
  t.is(agg.aggregates()[0]!.perSecond.length, 2);
});

test('keys by the full SpanKey: the same worker of another run or replica is another key', (t) => {
  const agg = new SpanAggregator();
  const worker = { ...base, 'conclab.worker': '0' };
  agg.add(span({ ...worker, 'conclab.run': 'r1', 'conclab.replica': '0' }));
  agg.add(span({ ...worker, 'conclab.run': 'r1', 'conclab.replica': '1' }));
  agg.add(span({ ...worker, 'conclab.run': 'r2' }, { resource: { 'conclab.replica': 0 } }));
  t.deepEqual(
    agg.aggregates().map((a) => [a.key.run, a.key.replica, a.spans]),
    [
      ['r1', '0', 1],
      ['r1', '1', 1],
      ['r2', '0', 1],
    ],
  );
  t.is(agg.aggregates({ run: 'r1', replica: '1' }).length, 1);
  agg.clear({ run: 'r1' });
  t.deepEqual(
    agg.aggregates().map((a) => a.key.run),
    ['r2'],
  );
});

test('refuses spans of another experiment, run or variant than expected, before they take a key', (t) => {
  const agg = new SpanAggregator({ expect: { experiment: 'e1', run: 'r1', variants: ['process', 'thread'] } });
  const ours = { ...base, 'conclab.run': 'r1' };
  t.is(agg.add(span(ours)), 'accepted');
  t.is(agg.add(span({ ...ours, 'conclab.experiment': 'e2' })), 'unexpected');
  t.is(agg.add(span({ ...ours, 'conclab.run': 'r0' })), 'unexpected');
  t.is(agg.add(span(base)), 'unexpected', 'a span without conclab.run is not of run r1');
  t.is(agg.add(span({ ...ours, 'conclab.variant': 'offload' })), 'unexpected');
  t.is(agg.keyCount, 1);
  t.is(agg.dropped, 4);
  agg.expect(undefined);
  t.is(agg.add(span({ ...ours, 'conclab.experiment': 'e2' })), 'accepted', 'expect(undefined) accepts any');
});

test('junk keys in one variant cannot starve another: keys are bounded per (experiment, run, variant)', (t) => {
  const agg = new SpanAggregator({ maxKeysPerVariant: 4, maxKeys: 100 });
  const junk = Array.from({ length: 10 }, (_, i) => span({ ...base, 'conclab.worker': `junk-${i}` }));
  const result = agg.addAll(junk);
  t.is(result.accepted, 4);
  t.is(result.refused.keyLimit, 6);
  t.regex(result.messages.keyLimit!, /variant "process" already has 4 keys \(maxKeysPerVariant\)/);
  t.is(agg.add(span({ ...base, 'conclab.variant': 'thread', 'conclab.worker': '0' })), 'accepted');
  t.is(agg.add(span({ ...base, 'conclab.run': 'r2', 'conclab.worker': '0' })), 'accepted', 'another run');
  t.is(agg.add(span({ ...base, 'conclab.worker': 'junk-0' })), 'accepted', 'existing keys keep aggregating');
  agg.clear({ variant: 'process' });
  t.is(agg.add(span({ ...base, 'conclab.worker': 'real' })), 'accepted', 'clear() gives the variant its budget back');
});

test('refuses key parts longer than maxKeyPartLength as malformed, so junk cannot hold big strings', (t) => {
  const agg = new SpanAggregator({ maxKeyPartLength: 16 });
  const result = agg.addAll([span({ ...base, 'conclab.worker': 'w'.repeat(17) }), span(base)]);
  t.deepEqual(result.refused, { unexpected: 0, keyLimit: 0, malformed: 1 });
  t.regex(result.messages.malformed!, /longer than 16 characters/);
  t.is(agg.keyCount, 1);
});

test('messages quote what the client sent, made printable', (t) => {
  const agg = new SpanAggregator({ expect: { experiment: 'e1' } });
  const result = agg.addAll([span({ ...base, 'conclab.experiment': 'evil\u001b[2J\nforged line' })]);
  t.is(result.refused.unexpected, 1);
  t.is(
    result.messages.unexpected,
    'spans of experiment "evil?[2J?forged line" run "unknown" variant "process"; this receiver serves experiment "e1"',
  );
});

test('aggregates conclab.shared_state_cost_ms into sharedState; absent when no span carries it', (t) => {
  const agg = new SpanAggregator();
  for (let i = 1; i <= 50; i++) {
    agg.add(span({ ...base, 'conclab.worker': 'shared', 'conclab.shared_state_cost_ms': i / 100 }));
  }
  agg.add(span({ ...base, 'conclab.worker': 'shared' })); // no cost: not an update
  agg.add(span({ ...base, 'conclab.worker': 'plain' }));
  const [plain, shared] = agg.aggregates();
  t.is(plain!.sharedState, undefined);
  t.is(shared!.spans, 51);
  t.is(shared!.sharedState?.updates, 50);
  const cost = summarize(decodeHistogram(shared!.sharedState!.costHistogram));
  t.is(cost.count, 50);
  t.true(Math.abs(cost.maxMillis - 0.5) < 0.001, `max ${cost.maxMillis}`);
});

test('rejects an expectation without an experiment', (t) => {
  t.throws(() => new SpanAggregator({ expect: { experiment: '' } }), { message: /expect must name the experiment/ });
  t.throws(() => new SpanAggregator({ maxKeysPerVariant: 0 }), { message: /maxKeysPerVariant must be a positive/ });
});
