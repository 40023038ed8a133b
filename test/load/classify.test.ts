import test from 'ava';
import { classifyError, classifyStatus } from '../../operator/load/classify.ts';
import type { ErrorKind } from '../../operator/load/types.ts';

const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

const errorCases: [string, unknown, ErrorKind][] = [
  ['a refused connection', withCode('ECONNREFUSED'), 'refused'],
  [
    'a refusal wrapped as the cause',
    Object.assign(new Error('fetch failed'), { cause: withCode('ECONNREFUSED') }),
    'refused',
  ],
  ['a refusal inside an AggregateError', new AggregateError([withCode('ECONNREFUSED')]), 'refused'],
  ['a reset by the peer', withCode('ECONNRESET'), 'reset'],
  ['undici: other side closed', withCode('UND_ERR_SOCKET', 'other side closed'), 'reset'],
  ['a broken pipe', withCode('EPIPE'), 'reset'],
  ['undici headers timeout', withCode('UND_ERR_HEADERS_TIMEOUT'), 'timeout'],
  ['a connect timeout', withCode('UND_ERR_CONNECT_TIMEOUT'), 'timeout'],
  ['an unknown error', new Error('boom'), 'other'],
  ['a thrown string', 'boom', 'other'],
];
for (const [name, err, kind] of errorCases) {
  test(`classifyError: ${name} is ${kind}`, (t) => {
    t.is(classifyError(err), kind);
  });
}

test('classifyError: a cause cycle does not loop forever', (t) => {
  const a: Error & { cause?: unknown } = new Error('a');
  const b: Error & { cause?: unknown } = new Error('b');
  a.cause = b;
  b.cause = a;
  t.is(classifyError(a), 'other');
});

const statusCases: [number, ErrorKind | undefined][] = [
  [200, undefined],
  [204, undefined],
  [302, undefined],
  [400, 'http4xx'],
  [429, 'http4xx'],
  [500, 'http5xx'],
  [503, 'http5xx'],
  [600, 'other'],
];
for (const [status, kind] of statusCases) {
  test(`classifyStatus: ${status} is ${kind ?? 'success'}`, (t) => {
    t.is(classifyStatus(status), kind);
  });
}
