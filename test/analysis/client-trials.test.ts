import test from 'ava';
import { type ClientMode, clientTrials, valuesOfTrials } from '../../operator/analysis/client-trials.ts';

// Each row: per variant [counted trials, saturated trials], then the mode, the saturated count
// and the trials client-side figures use per variant.
const table: [string, [number[], number[]][], ClientMode, number, number[][]][] = [
  [
    'no saturated trial: client-side figures use every counted trial',
    [
      [[1, 2, 3], []],
      [[1, 2], []],
    ],
    'all',
    0,
    [
      [1, 2, 3],
      [1, 2],
    ],
  ],
  [
    'saturated trials are left out while every variant keeps two sound ones',
    [
      [[1, 2, 3, 4], [2]],
      [[1, 2, 3, 4], [2]],
    ],
    'sound-only',
    2,
    [
      [1, 3, 4],
      [1, 3, 4],
    ],
  ],
  [
    'a variant left with fewer than two sound trials withholds client-side figures for all',
    [
      [
        [1, 2, 3],
        [2, 3],
      ],
      [[1, 2, 3], []],
    ],
    'withheld',
    2,
    [
      [1, 2, 3],
      [1, 2, 3],
    ],
  ],
  ['a saturated trial that is not counted (partial) does not count as saturated', [[[1, 2], [3]]], 'all', 0, [[1, 2]]],
];

for (const [name, variants, mode, saturated, trials] of table) {
  test(name, (t) => {
    const health = variants.map(([counted, unreliable]) => ({ counted, unreliable }));
    t.deepEqual(clientTrials(health), { mode, saturated, trials });
  });
}

test('per-trial values are picked by trial number, in counted order', (t) => {
  t.deepEqual(valuesOfTrials([10, 20, 30, 40], [1, 2, 4, 5], [1, 4, 5]), [10, 30, 40]);
  t.deepEqual(valuesOfTrials([10, 20], [1, 2], []), []);
});
