// The engine waits after the load for a process a fault took down, until the runtime reports
// it restarted; restartPending decides from the events whether such a restart is under way.
import test from 'ava';
import type { WorkloadEvent } from '../../operator/engine/records.ts';
import { restartPending } from '../../operator/engine/run-experiment.ts';

const at = (atMillis: number, kind: WorkloadEvent['kind'], extra: Partial<WorkloadEvent> = {}): WorkloadEvent => ({
  atMillis,
  kind,
  ...extra,
});

const cases: [string, WorkloadEvent[], boolean][] = [
  ['no events', [], false],
  ['only the first ready line', [at(0, 'ready')], false],
  [
    'a worker exit and replacement inside a running process',
    [at(1, 'worker-exit', { worker: 1 }), at(2, 'worker-replaced', { worker: 1 })],
    false,
  ],
  [
    'the process went down',
    [at(0, 'ready'), at(1, 'not-ready', { detail: 'workload process was killed by SIGABRT' })],
    true,
  ],
  ['the process went down and was restarted', [at(1, 'not-ready'), at(5, 'ready'), at(5, 'process-restart')], false],
  ['down, restarted, down again', [at(1, 'not-ready'), at(5, 'process-restart'), at(7, 'not-ready')], true],
  [
    'the runtime gave up restarting',
    [at(1, 'not-ready'), at(9, 'not-ready', { detail: 'gave up after 5 restarts' })],
    false,
  ],
  ['a worker that is not ready alone is no process restart', [at(1, 'not-ready', { worker: 2 })], false],
];

for (const [name, events, expected] of cases) {
  test(`restartPending: ${name} -> ${expected}`, (t) => {
    t.is(restartPending(events), expected);
  });
}
