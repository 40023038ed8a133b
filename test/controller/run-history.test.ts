import test from 'ava';
import { type RunRecord, recordRun, reportsToDelete, sameRun } from '../../operator/controller/run-history.ts';

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

// Run ids as the operator names them (the tick, YYYYMMDDtHHMMSS) and start times with the
// seconds precision of metav1.Time: runs 20 and 23 below started in the same second (a run
// is started in the second the previous one is recorded, or two started on one stale read).
const at = (runId: string, startTime: string, phase: RunRecord['phase'] = 'Succeeded'): RunRecord => ({
  startTime,
  completionTime: startTime,
  phase,
  ...(phase === 'Succeeded' ? { reportRef: `cx-hourly-report-${runId}` } : {}),
});
const T = '2026-12-01T20:20:28Z';
const r19 = at('20261201t190000', '2026-12-01T20:19:50Z');
const r20 = at('20261201t200000', T);
const r23 = at('20261201t230000', T);
const failedAtT = at('x', T, 'Failed');

const table: [string, RunRecord[], RunRecord, number, (string | undefined)[]][] = [
  [
    'a newer run that started in the same second as the previous one does not replace it',
    [r20, r19],
    r23,
    2,
    [r23.reportRef, r20.reportRef],
  ],
  [
    'the same run recorded again replaces itself',
    [r20, r19],
    { ...r20, completionTime: '2026-12-01T20:30:00Z' },
    2,
    [r20.reportRef, r19.reportRef],
  ],
  [
    'a failed run in the same second as a succeeded one is another run',
    [r20],
    failedAtT,
    5,
    [undefined, r20.reportRef],
  ],
  [
    'the oldest falls out at the limit',
    [r23, r20],
    at('20261202t000000', '2026-12-01T20:21:00Z'),
    2,
    ['cx-hourly-report-20261202t000000', r23.reportRef],
  ],
];

for (const [name, history, record, limit, expected] of table) {
  test(`recordRun: ${name}`, (t) => {
    const next = recordRun(history, record, limit);
    t.deepEqual(
      next.map((r) => r.reportRef),
      expected,
    );
    t.is(next.length, expected.length);
  });
}

test('sameRun tells runs apart by start, report and outcome', (t) => {
  t.true(sameRun(r20, { ...r20, completionTime: 'later' }));
  t.false(sameRun(r20, r23), 'same second, different reports');
  t.false(sameRun(r20, failedAtT));
  t.false(sameRun(r19, r20));
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
