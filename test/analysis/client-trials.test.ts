import test from 'ava';
import { clientTrials, valuesOfTrials } from '../../operator/analysis/client-trials.ts';

test('no saturated trial: client-side figures use every counted trial', (t) => {
  const s = clientTrials([
    { counted: [1, 2, 3], unreliable: [] },
    { counted: [1, 2], unreliable: [] },
  ]);
  t.deepEqual(s, {
    mode: 'all',
    saturated: 0,
    trials: [
      [1, 2, 3],
      [1, 2],
    ],
  });
});

test('saturated trials are left out while every variant keeps two sound ones', (t) => {
  const s = clientTrials([
    { counted: [1, 2, 3, 4], unreliable: [2] },
    { counted: [1, 2, 3, 4], unreliable: [2] },
  ]);
  t.is(s.mode, 'sound-only');
  t.is(s.saturated, 2);
  t.deepEqual(s.trials, [
    [1, 3, 4],
    [1, 3, 4],
  ]);
});

test('a variant left with fewer than two sound trials withholds client-side figures for all', (t) => {
  const s = clientTrials([
    { counted: [1, 2, 3], unreliable: [2, 3] },
    { counted: [1, 2, 3], unreliable: [] },
  ]);
  t.is(s.mode, 'withheld');
  t.is(s.saturated, 2);
  t.deepEqual(s.trials, [
    [1, 2, 3],
    [1, 2, 3],
  ]);
});

test('a saturated trial that is not counted (partial) does not count as saturated', (t) => {
  const s = clientTrials([{ counted: [1, 2], unreliable: [3] }]);
  t.is(s.mode, 'all');
  t.is(s.saturated, 0);
});

test('per-trial values are picked by trial number, in counted order', (t) => {
  t.deepEqual(valuesOfTrials([10, 20, 30, 40], [1, 2, 4, 5], [1, 4, 5]), [10, 30, 40]);
  t.deepEqual(valuesOfTrials([10, 20], [1, 2], []), []);
});
