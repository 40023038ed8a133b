import test from 'ava';
import { eventsFromStats, type Poll } from '../../../operator/runtime/kube/stats-events.ts';

const up = (pid: number, workers: [number, boolean, number][], ready = true): Poll => ({
  pid,
  ready,
  workers: workers.map(([worker, alive, replacedCount]) => ({ worker, pid: pid + worker + 1, alive, replacedCount })),
});

const table: [string, Poll | undefined, Poll, string[]][] = [
  ['first poll: nothing to compare', undefined, up(1, [[0, true, 0]]), []],
  ['no change', up(1, [[0, true, 0]]), up(1, [[0, true, 0]]), []],
  ['a worker exits', up(1, [[0, true, 0]]), up(1, [[0, false, 0]]), ['worker-exit:0']],
  ['a worker is replaced', up(1, [[1, true, 0]]), up(1, [[1, true, 1]]), ['worker-replaced:1']],
  ['the container goes away', up(1, [[0, true, 0]]), 'down', ['not-ready:-']],
  ['still away', 'down', 'down', []],
  ['the container is back (restarted)', 'down', up(7, [[0, true, 0]]), ['process-restart:-', 'ready:-']],
  ['a new pid between two polls is a restart', up(1, [[0, true, 0]]), up(9, [[0, true, 0]]), ['process-restart:-']],
  // The supervisor answers, so the process is up: never a worker-less not-ready (that would be
  // read as the whole container going down, i.e. a restart).
  ['readiness lost with every worker alive', up(1, [[0, true, 0]]), up(1, [[0, true, 0]], false), ['not-ready:-1']],
  [
    'readiness lost because a worker died names that worker',
    up(1, [
      [0, true, 0],
      [1, true, 0],
    ]),
    up(
      1,
      [
        [0, true, 0],
        [1, false, 0],
      ],
      false,
    ),
    ['worker-exit:1', 'not-ready:1'],
  ],
];

for (const [name, before, after, expected] of table) {
  test(name, (t) => {
    const events = eventsFromStats(before, after, 1000, 0);
    t.deepEqual(
      events.map((e) => `${e.kind}:${e.worker ?? '-'}`),
      expected,
    );
    for (const e of events) t.is(e.atMillis, 1000);
  });
}
