import test from 'ava';
import { type RunRecord, recordRun, reportsToDelete } from '../../operator/controller/run-history.ts';

const run = (n: number): RunRecord => ({
  startTime: `2026-01-01T0${n}:00:00Z`,
  completionTime: `2026-01-01T0${n}:05:00Z`,
  phase: 'Succeeded',
  reportRef: `cx-demo-report-${n}`,
});

test('a finished run goes to the head of history, newest first', (t) => {
  t.deepEqual(
    recordRun([run(2), run(1)], run(3), 5).map((r) => r.reportRef),
    ['cx-demo-report-3', 'cx-demo-report-2', 'cx-demo-report-1'],
  );
});

test('history is trimmed to historyLimit, dropping the oldest', (t) => {
  t.deepEqual(
    recordRun([run(2), run(1)], run(3), 2).map((r) => r.reportRef),
    ['cx-demo-report-3', 'cx-demo-report-2'],
  );
  t.deepEqual(recordRun([run(1)], run(2), 0), [], 'historyLimit 0 keeps no history');
});

test('recording the same run twice (a retried status write) does not duplicate it', (t) => {
  t.deepEqual(recordRun([run(1)], run(1), 5), [run(1)]);
});

test('reports that fell out of history are deleted; the latest and the current run are kept', (t) => {
  const history = [run(3), run(2)];
  t.deepEqual(
    reportsToDelete(['cx-demo-report-1', 'cx-demo-report-2', 'cx-demo-report-3', 'cx-demo-report-4'], history, [
      'cx-demo-report-3',
      'cx-demo-report-4',
    ]),
    ['cx-demo-report-1'],
  );
  t.deepEqual(reportsToDelete(['cx-demo-report-1'], [], ['cx-demo-report-1']), [], 'historyLimit 0 keeps the latest');
});
