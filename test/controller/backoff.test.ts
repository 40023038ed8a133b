import test from 'ava';
import { backoffDelayMillis, DEFAULT_BACKOFF } from '../../operator/controller/backoff.ts';

const table: [attempt: number, random: number, expected: number][] = [
  [0, 0, 400],
  [0, 0.999999, 800],
  [1, 1 - 1e-9, 1600],
  [3, 0, 3200],
  [5, 1 - 1e-9, 25600],
  [6, 1 - 1e-9, 30000],
  [6, 0, 15000],
  [50, 0.5, 22500],
];

for (const [attempt, random, expected] of table) {
  test(`attempt ${attempt} with random ${random.toFixed(2)} waits ${expected} ms (800 ms doubling to 30 s, half jittered)`, (t) => {
    t.is(
      backoffDelayMillis(attempt, DEFAULT_BACKOFF, () => random),
      expected,
    );
  });
}

test('never exceeds the cap and never goes below half of the exponential step', (t) => {
  for (let attempt = 0; attempt < 40; attempt++) {
    const d = backoffDelayMillis(attempt);
    const exp = Math.min(30_000, 800 * 2 ** attempt);
    t.true(d >= exp / 2 && d <= exp, `attempt ${attempt}: ${d}`);
  }
});
