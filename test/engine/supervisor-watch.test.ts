// What successive /stats polls of a supervisor say happened (engine/supervisor-watch.ts): the
// one reading of events, restarts and usage that both placements share.
import test from 'ava';
import type { CgroupUsage, SupervisorEvent, SupervisorStats } from '../../operator/contracts/supervisor.ts';
import {
  initialState,
  observe,
  type Poll,
  replacementPending,
  requestsDuring,
  restartPending,
  usageDuring,
  windowStart,
} from '../../operator/engine/supervisor-watch.ts';

function usage(cgroupId: string, cpuSeconds: number, extra: Partial<CgroupUsage> = {}): CgroupUsage {
  return {
    source: `cgroup v1 cpuacct.usage, cpu.stat at /sys/fs/cgroup/cpu/${cgroupId}`,
    cgroupId,
    cpuSeconds,
    throttledPeriods: 0,
    throttledSeconds: 0,
    peakMemoryBytes: 100,
    oomKills: 0,
    limits: { cpuCores: 1, memoryBytes: 512, source: 'cgroup v1: test' },
    ...extra,
  };
}

function stats(
  pid: number,
  o: Partial<Omit<SupervisorStats, 'events'>> & { events?: SupervisorEvent[]; requests?: number } = {},
): Poll {
  const { events = [], requests = 0, ...rest } = o;
  return {
    stats: {
      model: 'thread',
      pid,
      port: 1,
      adminPort: 2,
      ready: true,
      startedAtMillis: 1000,
      readyAtMillis: 1500,
      restarts: 0,
      lostUpdates: 0,
      sharedState: null,
      cpuIterationsPerMilli: 1,
      workers: [
        {
          worker: 0,
          pid,
          threadId: 1,
          requests,
          errors: 0,
          alive: true,
          serving: true,
          startedAt: 1000,
          replacedCount: 0,
        },
      ],
      events: { nextSeq: events.length ? Math.max(...events.map((e) => e.seq)) + 1 : 0, items: events },
      usage: usage(`g-${pid}`, 0),
      contextSwitches: { voluntary: 0, involuntary: 0, tasks: 1 },
      host: { hostname: 'h', cores: 2, cpuModel: 'cpu', kernel: 'k', cgroupVersion: 'v1', runtime: 'node 24' },
      tracing: { enabled: true },
      ...rest,
    },
  };
}

test('supervisor events become workload events of the replica; a not-ready from a live supervisor always names a worker', (t) => {
  const state = initialState(1);
  observe(state, stats(10), 2000);
  const events = observe(
    state,
    stats(10, {
      events: [
        { seq: 0, atMillis: 2100, kind: 'worker-exit', worker: 2, pid: 10, exit: 'code 70' },
        { seq: 1, atMillis: 2100, kind: 'not-ready' },
        { seq: 2, atMillis: 2300, kind: 'worker-replaced', worker: 2, pid: 11, coldStartMillis: 180 },
        { seq: 3, atMillis: 2100, kind: 'fault', worker: 2, faultKind: 'exit' },
      ],
    }),
    2400,
  );
  t.deepEqual(
    events.map((e) => [e.kind, e.replica, e.worker, e.exit ?? e.coldStartMillis]),
    [
      ['worker-exit', 1, 2, 'code 70'],
      ['not-ready', 1, -1, undefined],
      ['worker-replaced', 1, 2, 180],
    ],
  );
  // The same events polled again (since= lagging) are not counted twice.
  t.deepEqual(
    observe(state, stats(10, { events: [{ seq: 2, atMillis: 2300, kind: 'worker-replaced', worker: 2 }] }), 2600),
    [],
  );
});

test('a process gone (connection refused) then back with a new pid is a restart with its cold start and downtime', (t) => {
  const state = initialState(0);
  observe(state, stats(10), 1000);
  observe(state, stats(10), 1250);
  const down = observe(state, { down: 'refused', error: 'ECONNREFUSED' }, 1500);
  t.deepEqual(
    down.map((e) => [e.kind, e.worker]),
    [['not-ready', undefined]],
  );
  t.true(restartPending(state));
  // The new process answers before it is ready: no restart yet.
  t.deepEqual(observe(state, stats(20, { startedAtMillis: 3000, readyAtMillis: null }), 3100), []);
  t.true(restartPending(state));
  const back = observe(state, stats(20, { startedAtMillis: 3000, readyAtMillis: 3700 }), 3800);
  const restart = back.find((e) => e.kind === 'process-restart');
  t.is(restart?.coldStartMillis, 700);
  t.is(restart?.downMillis, 3700 - 1250, 'from the last poll that found the old process alive');
  t.is(restart?.pid, 20);
  t.false(restartPending(state));
});

test('a supervisor that stops answering in time (stalled, not gone) is no restart and comes back as ready', (t) => {
  const state = initialState(0);
  observe(state, stats(10), 1000);
  t.deepEqual(observe(state, { down: 'unresponsive', error: 'timeout' }, 1500), []);
  t.false(restartPending(state), 'a stall is not waited on as a restart');
  t.deepEqual(
    observe(state, stats(10), 2500).map((e) => e.kind),
    ['ready'],
  );
});

test('usage over a window: counters of the same cgroup as differences, a new container cgroup counted from 0', (t) => {
  const same = initialState(0);
  observe(same, stats(10, { usage: usage('g', 5) }), 1000);
  const startSame = windowStart(same);
  // A local restart re-enters the same group: counters continue across the new pid.
  observe(same, { down: 'refused', error: 'x' }, 1100);
  observe(same, stats(11, { usage: usage('g', 9, { peakMemoryBytes: 300 }) }), 2000);

  const fresh = initialState(1);
  observe(fresh, stats(30, { usage: usage('c1', 50) }), 1000);
  const startFresh = windowStart(fresh);
  observe(fresh, stats(30, { usage: usage('c1', 52) }), 1500);
  // The kubelet restarted the container: a new cgroup whose counters start at 0.
  observe(fresh, stats(31, { usage: usage('c2', 3, { peakMemoryBytes: 400 }) }), 2000);

  const u = usageDuring(
    [
      { start: startSame, state: same },
      { start: startFresh, state: fresh },
    ],
    1,
  );
  t.truthy(u);
  t.is(u?.cpuSeconds, 4 + 2 + 3);
  t.is(u?.peakMemoryBytes, 300 + 400, 'the largest peak per replica, summed over replicas');
  t.is(u?.restarts, 1);
  t.regex(u?.approximate ?? '', /replica 1: a restarted container/);
  t.notRegex(u?.approximate ?? '', /replica 0/, 'the same cgroup across a restart is exact');
  t.is(u?.source, 'cgroup v1 cpuacct.usage, cpu.stat', 'the kind of counters, without per-replica paths');
});

test('requests received count from the window start, and from 0 after the supervisor restarted', (t) => {
  const state = initialState(0);
  observe(state, stats(10, { requests: 100 }), 1000);
  const start = windowStart(state);
  observe(state, stats(10, { requests: 160 }), 2000);
  t.is(requestsDuring(start, state), 60);
  observe(state, stats(11, { requests: 25 }), 3000);
  t.is(requestsDuring(start, state), 25);
});

test('no replica reporting usage gives undefined, never zeros', (t) => {
  const state = initialState(0);
  observe(state, stats(10, { usage: null }), 1000);
  t.is(usageDuring([{ start: windowStart(state), state }], 0), undefined);
});

test('a worker that exited is awaited until replaced, unless the supervisor does not replace workers', (t) => {
  const exit = { atMillis: 1, kind: 'worker-exit' as const, replica: 0, worker: 1 };
  t.true(replacementPending([exit], true));
  t.false(replacementPending([exit], false), 'replaceWorkers: false: nothing will come');
  t.false(replacementPending([exit, { atMillis: 2, kind: 'worker-replaced', replica: 0, worker: 1 }], true));
  t.true(
    replacementPending([exit, { atMillis: 2, kind: 'worker-replaced', replica: 1, worker: 1 }], true),
    'another replica',
  );
  t.false(
    replacementPending([exit, { atMillis: 3, kind: 'process-restart', replica: 0 }], true),
    'a restart brings all back',
  );
});

test('a restarted container is a restart although its supervisor is PID 1 again: the start time tells them apart', (t) => {
  const state = initialState(0);
  observe(state, stats(1, { startedAtMillis: 1000, readyAtMillis: 1500, requests: 80 }), 2000);
  const start = windowStart(state);
  observe(state, { down: 'refused', error: 'ECONNREFUSED' }, 3000);
  const back = observe(state, stats(1, { startedAtMillis: 3500, readyAtMillis: 4100, requests: 5 }), 4200);
  const restart = back.find((e) => e.kind === 'process-restart');
  t.truthy(restart, JSON.stringify(back));
  t.is(restart?.coldStartMillis, 600);
  t.false(
    back.some((e) => e.kind === 'ready' && /answering again/.test(e.detail ?? '')),
    'not mistaken for a stall',
  );
  t.is(requestsDuring(start, state), 5, 'the new process counts from 0');
});
