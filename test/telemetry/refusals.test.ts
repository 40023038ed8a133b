import test from 'ava';
import { describeRefusal, printable, RefusalCounter } from '../../operator/telemetry/refusals.ts';

test('describes request, span and connection refusals in words for the report', (t) => {
  t.is(
    describeRefusal('unauthenticated', { requests: 1, spans: 0 }),
    '1 export request refused (unauthenticated: no or wrong bearer token)',
  );
  t.is(
    describeRefusal('keyLimit', { requests: 6, spans: 10_976, lastMessage: 'x' }),
    '10,976 spans in 6 requests refused (key limit reached); last: x',
  );
  t.is(
    describeRefusal('connectionLimit', { requests: 2, spans: 0 }),
    '2 connections refused (too many connections open)',
  );
  t.is(
    describeRefusal('malformed', { requests: 1, spans: 3 }),
    '3 spans in 1 request refused (malformed)',
    'malformed spans count as spans',
  );
});

test('a counter starts clean and reports only the reasons that occurred', (t) => {
  const c = new RefusalCounter();
  t.deepEqual(c.health(), { clean: true, refused: {}, problems: [] });
  c.count('timeout', 'first');
  c.count('timeout', 'second');
  c.count('unexpected', 'junk', 500);
  const health = c.health();
  t.false(health.clean);
  t.deepEqual(health.refused, {
    unexpected: { requests: 1, spans: 500, lastMessage: 'junk' },
    timeout: { requests: 2, spans: 0, lastMessage: 'second' },
  });
  t.is(health.problems.length, 2);
  t.is(c.snapshot().busy.requests, 0, 'the snapshot has every reason');
});

test('printable() keeps client text from steering a terminal', (t) => {
  t.is(printable('ok \u001b[31mred\u0007\n'), 'ok ?[31mred??');
  t.is(printable('x'.repeat(80), 10), 'xxxxxxxxxx...');
});
