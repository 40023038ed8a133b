import test from 'ava';
import {
  bearerTokenMatches,
  bearerTokenOf,
  checkBearerToken,
  newBearerToken,
} from '../../operator/telemetry/bearer-token.ts';

const TOKEN = 'Zm9vYmFyYmF6cXV4cXV1eA';

for (const [header, expected] of [
  [`Bearer ${TOKEN}`, true],
  [`bearer ${TOKEN}`, true],
  [`BEARER   ${TOKEN}  `, true],
  [`Bearer ${TOKEN}x`, false],
  [`Bearer ${TOKEN.slice(1)}`, false],
  [`Basic ${TOKEN}`, false],
  [TOKEN, false],
  ['Bearer ', false],
  ['', false],
  [undefined, false],
] as const) {
  test(`bearerTokenMatches(${JSON.stringify(header)}) is ${expected}`, (t) => {
    t.is(bearerTokenMatches(header, TOKEN), expected);
  });
}

test('bearerTokenOf takes the token of a Bearer header only', (t) => {
  t.is(bearerTokenOf(`Bearer ${TOKEN}`), TOKEN);
  t.is(bearerTokenOf('Bearer two words'), '');
  t.is(bearerTokenOf('Digest x'), '');
});

test('newBearerToken gives distinct 43-character base64url tokens that pass checkBearerToken', (t) => {
  const a = newBearerToken();
  const b = newBearerToken();
  t.not(a, b);
  t.regex(a, /^[A-Za-z0-9_-]{43}$/);
  t.is(checkBearerToken(a, 'test'), a);
});

test('checkBearerToken refuses short tokens and characters a header list cannot carry, naming the fix', (t) => {
  for (const bad of ['short', `${TOKEN} space`, `${TOKEN},comma`, 42, undefined]) {
    t.throws(() => checkBearerToken(bad, 'startTraceReceiver'), {
      message: /^startTraceReceiver: token must be at least 16 characters .*or left out to have one generated$/,
    });
  }
});
