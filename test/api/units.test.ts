import test from 'ava';
import {
  formatValue,
  parseCpuCores,
  parseDurationMillis,
  parseMemoryBytes,
  parseQuantity,
  UnitError,
} from '../../operator/api/units.ts';

const durations: Array<[string, number]> = [
  ['0ms', 0],
  ['5ms', 5],
  ['250ms', 250],
  ['1.5ms', 1.5],
  ['30s', 30_000],
  ['0.5s', 500],
  ['2m', 120_000],
  ['1.5m', 90_000],
  ['1h', 3_600_000],
];
for (const [text, millis] of durations) {
  test(`duration "${text}" is ${millis} ms`, (t) => {
    t.is(parseDurationMillis(text), millis);
  });
}

// Forms `ms` alone would accept but the API server's pattern (and Go's duration) would not,
// and plain garbage: all rejected, naming the value and what is allowed.
const badDurations: unknown[] = ['30', '30 s', '-1s', '2d', '1y', '30S', '1.s', 'soon', '', ' 5ms', 30, null, true];
for (const value of badDurations) {
  test(`duration ${JSON.stringify(value)} is rejected with the value and the allowed form`, (t) => {
    const error = t.throws(() => parseDurationMillis(value), { instanceOf: UnitError });
    t.true(error.message.startsWith(formatValue(value)), error.message);
    t.regex(error.message, /allowed: a duration: a number followed by ms, s, m or h/);
  });
}

const quantities: Array<[string, number]> = [
  ['1', 1],
  ['2', 2],
  ['500m', 0.5],
  ['10m', 0.01],
  ['0.5', 0.5],
  ['.5', 0.5],
  ['+1', 1],
  ['1k', 1000],
  ['1M', 1e6],
  ['1G', 1e9],
  ['1Ki', 1024],
  ['512Mi', 512 * 1024 ** 2],
  ['1Gi', 1024 ** 3],
  ['1.5Gi', 1.5 * 1024 ** 3],
  ['0.5Ki', 512],
  ['1e3', 1000],
  ['2E', 2e18],
  ['100u', 0.0001],
];
for (const [text, value] of quantities) {
  test(`quantity "${text}" is ${value}`, (t) => {
    t.is(parseQuantity(text), value);
  });
}

const badQuantities: unknown[] = ['1 core', '1x', '1GB', '1gi', 'Gi', '1..2', '1.2.3', '', '1Gim', '--1', 'one'];
for (const value of badQuantities) {
  test(`quantity ${JSON.stringify(value)} is rejected with the value and the allowed form`, (t) => {
    const error = t.throws(() => parseQuantity(value), { instanceOf: UnitError });
    t.is(error.value, value);
    t.regex(error.message, /is not a Kubernetes quantity; allowed: a Kubernetes quantity as a string/);
  });
}

test('a number where a quantity string belongs says to quote it', (t) => {
  const error = t.throws(() => parseQuantity(2), { instanceOf: UnitError });
  t.is(error.message.split(';')[0], '2 is an integer, not a string (write it quoted: "2")');
});

test('cpu quantities read as cores and memory quantities as whole bytes', (t) => {
  t.is(parseCpuCores('250m'), 0.25);
  t.is(parseMemoryBytes('1Gi'), 1073741824);
  t.is(parseMemoryBytes('1500m'), 2, 'fractional bytes round up as Kubernetes does');
});
