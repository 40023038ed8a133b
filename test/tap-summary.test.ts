import test from 'ava';
import { summarizeTap } from './tap-summary.ts';

test('counts passed, failed and skipped test points', (t) => {
  const tap = [
    'TAP version 13',
    'ok 1 - a',
    'not ok 2 - b',
    'ok 3 - c # SKIP no k6',
    'ok 4 - d',
    '# ok 5 in a comment',
    '1..4',
  ];
  t.deepEqual(summarizeTap(tap), { passed: 2, failed: 1, skipped: 1 });
});

test('an empty run counts nothing', (t) => {
  t.deepEqual(summarizeTap(['TAP version 13', '1..0']), { passed: 0, failed: 0, skipped: 0 });
});
