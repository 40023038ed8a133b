// The driver's response parser, fed every response whole and split at every byte, since a
// TCP read may end anywhere.
import test from 'ava';
import { MAX_HEAD_BYTES, ResponseParser } from '../../operator/load/http1-response.ts';

const bytes = (s: string) => Buffer.from(s, 'latin1');

/** Feeds `input` in pieces cut at `cuts`; returns [status, closeAfter, end index] per response. */
function parseAll(input: Buffer, cuts: number[]): { responses: [number, boolean][]; error?: string; rest: number } {
  const p = new ResponseParser();
  const responses: [number, boolean][] = [];
  const bounds = [0, ...cuts, input.length];
  let rest = 0;
  for (let k = 0; k + 1 < bounds.length; k++) {
    // Each piece arrives as its own read, in a buffer of its own (as from the socket).
    const piece = Buffer.from(input.subarray(bounds[k], bounds[k + 1]));
    let at = 0;
    while (at < piece.length) {
      const end = p.feed(piece, at, piece.length);
      if (end === -2) return { responses, error: p.error ?? '?', rest };
      if (end === -1) break;
      responses.push([p.status, p.closeAfter]);
      at = end;
    }
    rest = piece.length - at;
  }
  return { responses, rest };
}

const cases: [string, string, [number, boolean][]][] = [
  [
    'content-length body',
    'HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok',
    [[200, false]],
  ],
  ['header names in any case', 'HTTP/1.1 503 Busy\r\ncOnTeNt-LeNgTh: 4\r\n\r\nbusy', [[503, false]]],
  [
    'chunked with extensions and trailers',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n',
    [[200, false]],
  ],
  ['chunked, empty', 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n', [[200, false]]],
  ['204 has no body', 'HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n', [[204, false]]],
  [
    'a 100 Continue before the final response',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n',
    [[404, false]],
  ],
  ['connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx', [[200, true]]],
  ['HTTP/1.0 closes by default', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx', [[200, true]]],
  [
    'connection tokens in any case',
    'HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 1\r\n\r\nx',
    [[200, true]],
  ],
  [
    'HTTP/1.0 with keep-alive stays open',
    'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx',
    [[200, false]],
  ],
  [
    'chunked in any case, blanks after it',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked \t\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    [[200, false]],
  ],
  [
    'two responses back to back',
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 500 E\r\nContent-Length: 3\r\n\r\nabc',
    [
      [200, false],
      [500, false],
    ],
  ],
];

for (const [name, text, expected] of cases) {
  test(`parses ${name}, whole and split at every byte`, (t) => {
    const input = bytes(text);
    t.deepEqual(parseAll(input, []), { responses: expected, rest: 0 });
    for (let cut = 1; cut < input.length; cut++) {
      t.deepEqual(parseAll(input, [cut]).responses, expected, `split at ${cut}`);
    }
    const everyByte = Array.from({ length: input.length - 1 }, (_, i) => i + 1);
    t.deepEqual(parseAll(input, everyByte).responses, expected, 'one byte per read');
  });
}

test('a body without length or chunking runs until the connection closes', (t) => {
  const p = new ResponseParser();
  const input = bytes('HTTP/1.1 200 OK\r\n\r\nsome body');
  t.is(p.feed(input, 0, input.length), -1);
  t.true(p.untilClose);
  t.true(p.finishAtClose());
  t.is(p.status, 200);
  t.true(p.closeAfter);
  const cut = new ResponseParser();
  cut.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'), 0, 39);
  t.false(cut.finishAtClose(), 'a response cut short is no success');
});

test('what is not HTTP/1.x is an error, never a response', (t) => {
  const bad: [string, RegExp][] = [
    ['SSH-2.0-OpenSSH\r\n\r\n', /not an HTTP/],
    ['HTTP/1.1 2x0 OK\r\n\r\n', /status/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n', /Content-Length/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /Content-Length/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n', /CRLF/],
  ];
  for (const [text, message] of bad) {
    const r = parseAll(bytes(text), []);
    t.regex(r.error ?? '', message, text);
    t.deepEqual(r.responses, []);
  }
  const huge = bytes(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`);
  t.regex(parseAll(huge, [100]).error ?? '', /head above/);
});
