import test from 'ava';
import { blastRadiusOfTrial, measureBlastRadius } from '../../operator/analysis/blast-radius.ts';
import { buildTrial, type TrialShape } from './records-builder.ts';

interface Case {
  name: string;
  shape: TrialShape;
  expect: {
    baseline: number;
    peakPercent: number;
    requestsLost: number;
    detectSeconds: number | undefined;
    recoverySeconds: number | undefined;
    restarted: boolean;
    coldStartSeconds?: number | undefined;
    downSeconds?: number | undefined;
    workersReplaced?: number;
    survivorsChangePercent?: number;
    brokenSharePercent?: number;
  };
}

const cases: Case[] = [
  {
    name: 'a fault that costs nothing shows no dip and immediate recovery',
    shape: { fault: { atSeconds: 10, kind: 'throw' } },
    expect: {
      baseline: 100,
      peakPercent: 0,
      requestsLost: 0,
      detectSeconds: undefined,
      recoverySeconds: 0,
      restarted: false,
    },
  },
  {
    name: 'one of four process workers exiting costs a quarter until it is replaced',
    shape: {
      fault: { atSeconds: 10, kind: 'exit', worker: 1 },
      completed: (s) => (s >= 10 && s < 15 ? 75 : 100),
      errors: (s) => (s === 10 ? 5 : 0),
      events: [
        { atSeconds: 10.05, kind: 'worker-exit', worker: 1 },
        { atSeconds: 15, kind: 'worker-replaced', worker: 1 },
      ],
      deadWorkersFrom: { second: 10, workers: [1] },
    },
    expect: {
      baseline: 100,
      peakPercent: 25,
      requestsLost: 125,
      detectSeconds: 0,
      recoverySeconds: 5,
      restarted: false,
      coldStartSeconds: undefined,
      workersReplaced: 1,
      // The three survivors served the same 75/s before and after: their rate is unchanged.
      survivorsChangePercent: 0,
      brokenSharePercent: 25,
    },
  },
  {
    name: 'a native abort under threads loses all capacity until the process restarts',
    shape: {
      variant: 'thread',
      fault: { atSeconds: 10, kind: 'abort' },
      completed: (s) => (s >= 10 && s < 13 ? 0 : s === 13 ? 50 : 100),
      errors: (s) => (s >= 10 && s < 13 ? 100 : 0),
      // As the runtime reports it: down at once, back up with its own timings.
      events: [
        { atSeconds: 10.1, kind: 'not-ready', detail: 'workload process was killed by SIGABRT' },
        { atSeconds: 12.6, kind: 'ready' },
        { atSeconds: 12.6, kind: 'process-restart', coldStartMillis: 2300, downMillis: 2500 },
      ],
      deadWorkersFrom: { second: 10, workers: [0, 1, 2, 3] },
      seconds: 30,
    },
    expect: {
      baseline: 100,
      peakPercent: 100,
      requestsLost: 350,
      detectSeconds: 0,
      recoverySeconds: 4,
      restarted: true,
      coldStartSeconds: 2.3,
      downSeconds: 2.5,
      survivorsChangePercent: -100,
    },
  },
  {
    name: 'a throughput that never comes back is reported as never recovered',
    shape: {
      fault: { atSeconds: 10, kind: 'hang' },
      completed: (s) => (s >= 10 ? 60 : 100),
      errors: (s) => (s >= 15 ? 40 : 0),
      errorKinds: { timeout: 600 },
      inFlightAtEnd: 40,
    },
    expect: {
      baseline: 100,
      peakPercent: 40,
      requestsLost: 800,
      detectSeconds: 5,
      recoverySeconds: undefined,
      restarted: false,
    },
  },
  {
    name: 'a recovery must hold for three seconds: a two-second blip does not count',
    shape: {
      fault: { atSeconds: 10.5 },
      completed: (s) => (s >= 10 && s < 20 && s !== 13 && s !== 14 ? 50 : 100),
      errors: (s) => (s === 11 ? 3 : 0),
    },
    expect: {
      baseline: 100,
      peakPercent: 50,
      // Seconds 10, 11, 12 and 15..19 at half rate; 13 and 14 back at full. Times count in
      // whole seconds from the fault's second (10), as the series resolves them.
      requestsLost: 8 * 50,
      detectSeconds: 1,
      recoverySeconds: 10,
      restarted: false,
    },
  },
];

for (const c of cases) {
  test(`blast radius: ${c.name}`, (t) => {
    const record = buildTrial(c.shape);
    const [br] = blastRadiusOfTrial(record);
    t.truthy(br);
    if (!br) return;
    t.true(br.measurable, br.reason);
    t.is(br.baselineThroughput, c.expect.baseline);
    t.true(Math.abs(br.peakCapacityLostPercent - c.expect.peakPercent) < 1e-9, `peak ${br.peakCapacityLostPercent}`);
    t.is(br.requestsLost, c.expect.requestsLost);
    t.is(br.capacityLostSeconds, c.expect.requestsLost / c.expect.baseline);
    t.is(br.detectSeconds, c.expect.detectSeconds);
    t.is(br.recoverySeconds, c.expect.recoverySeconds);
    t.is(br.recovered, c.expect.recoverySeconds !== undefined);
    t.is(br.restarted, c.expect.restarted);
    if ('coldStartSeconds' in c.expect) t.is(br.coldStartSeconds, c.expect.coldStartSeconds);
    if ('downSeconds' in c.expect) t.is(br.downSeconds, c.expect.downSeconds);
    if (c.expect.workersReplaced !== undefined) t.is(br.workersReplaced, c.expect.workersReplaced);
    if (c.expect.survivorsChangePercent !== undefined) {
      t.truthy(br.spans);
      t.true(
        Math.abs((br.spans?.survivorsChangePercent ?? Number.NaN) - c.expect.survivorsChangePercent) < 1,
        `survivors ${br.spans?.survivorsChangePercent}`,
      );
    }
    if (c.expect.brokenSharePercent !== undefined) {
      t.true(Math.abs((br.spans?.brokenWorkerShareBeforePercent ?? 0) - c.expect.brokenSharePercent) < 1);
    }
    // The timeline is centred on the fault's second.
    t.true(br.timeline.some((p) => p.offsetSeconds === 0));
    t.is(br.timeline[0]?.offsetSeconds, -5);
  });
}

test('blast radius: requests lost in flight count resets and requests stuck at the end', (t) => {
  const record = buildTrial({
    fault: { atSeconds: 10, kind: 'hang' },
    completed: (s) => (s >= 10 ? 75 : 100),
    errors: (s) => (s === 10 ? 6 : 0),
    errorKinds: { reset: 4, timeout: 2 },
    inFlightAtEnd: 3,
  });
  const [br] = blastRadiusOfTrial(record);
  t.is(br?.inFlightLost, 7);
  t.deepEqual(br?.failedByKind, { reset: 4, timeout: 2 });
  t.false(br?.failedByKindIncludesPreFault);
  t.is(br?.failedAfterFault, 6);
});

test('blast radius: error kinds are flagged when errors happened before the fault too', (t) => {
  const record = buildTrial({ fault: { atSeconds: 10 }, errors: (s) => (s === 3 || s === 12 ? 1 : 0) });
  const [br] = blastRadiusOfTrial(record);
  t.true(br?.failedByKindIncludesPreFault);
  t.is(br?.detectSeconds, 2);
});

test('blast radius: the first measured second is left out of the baseline', (t) => {
  const record = buildTrial({ fault: { atSeconds: 10 }, completed: (s) => (s === 0 ? 10 : 100) });
  const [br] = blastRadiusOfTrial(record);
  t.is(br?.baselineThroughput, 100);
  t.is(br?.baselineSeconds, 9);
});

test('blast radius: a backlog drained after a slow start does not raise the baseline above the offered rate', (t) => {
  // 40/s offered; the first measured seconds complete 22 then 58 (a stall, then its backlog).
  const record = buildTrial({
    rate: 40,
    seconds: 9,
    fault: { atSeconds: 3 },
    completed: (s) => [22, 58, 37, 38, 41, 40, 40, 40, 40][s] ?? 40,
  });
  const [br] = blastRadiusOfTrial(record);
  t.is(br?.baselineThroughput, 40);
  t.true(br?.recovered);
});

test('blast radius: survivors latency during the dip is compared with before', (t) => {
  const record = buildTrial({
    fault: { atSeconds: 10 },
    completed: (s) => (s >= 10 && s < 14 ? 75 : 100),
    p99Millis: (s) => (s >= 10 && s < 14 ? 80 : 20),
  });
  const [br] = blastRadiusOfTrial(record);
  t.is(br?.p99BeforeMillis, 20);
  t.is(br?.p99DuringMillis, 80);
  t.is(br?.p99PeakDuringMillis, 80);
});

test('blast radius: a fault outside the measured window is not measurable, with the reason', (t) => {
  const record = buildTrial({ seconds: 10 });
  const br = measureBlastRadius(record, { kind: 'exit', worker: 0, atMillis: record.load.startedAtMillis + 20_000 });
  t.false(br.measurable);
  t.regex(br.reason ?? '', /outside the measured window/);
  const early = measureBlastRadius(record, { kind: 'exit', worker: 0, atMillis: record.load.startedAtMillis });
  t.false(early.measurable);
  t.regex(early.reason ?? '', /baseline/);
});

test('blast radius: a trial without faults has none', (t) => {
  t.deepEqual(blastRadiusOfTrial(buildTrial()), []);
});

test('blast radius: seconds after the measured window (draining only) do not count as a dip', (t) => {
  const record = buildTrial({
    seconds: 25,
    fault: { atSeconds: 10 },
    completed: (s) => (s >= 10 && s < 12 ? 75 : s >= 20 ? 0 : 100),
    errors: (s) => (s >= 20 ? 30 : 0),
  });
  // The driver reports 5 drain seconds past a 20 s window.
  record.load.endedAtMillis = record.load.startedAtMillis + 20_000;
  const [br] = blastRadiusOfTrial(record);
  t.true(br?.recovered);
  t.is(br?.recoverySeconds, 2);
  t.is(br?.requestsLost, 50);
  t.is(br?.failedAfterFault, 0);
});

test('blast radius: a process that went down and was not back within the trial still counts as restarted', (t) => {
  const record = buildTrial({
    variant: 'thread',
    fault: { atSeconds: 10, kind: 'abort' },
    completed: (s) => (s >= 10 ? 0 : 100),
    errors: (s) => (s >= 10 ? 100 : 0),
    events: [{ atSeconds: 10.2, kind: 'not-ready', detail: 'workload process was killed by SIGABRT' }],
  });
  const [br] = blastRadiusOfTrial(record);
  t.true(br?.restarted);
  t.false(br?.recovered);
  t.is(br?.coldStartSeconds, undefined);
  t.is(br?.downSeconds, undefined);
});

test('blast radius: without the runtime timings, down time runs from not-ready to ready', (t) => {
  const record = buildTrial({
    variant: 'thread',
    fault: { atSeconds: 10, kind: 'abort' },
    completed: (s) => (s >= 10 && s < 14 ? 0 : 100),
    events: [
      { atSeconds: 10.5, kind: 'not-ready' },
      { atSeconds: 13.5, kind: 'ready' },
      { atSeconds: 13.5, kind: 'process-restart', detail: 'not json' },
    ],
  });
  const [br] = blastRadiusOfTrial(record);
  t.is(br?.downSeconds, 3);
  t.is(br?.coldStartSeconds, 3);
});

test('blast radius: a worker that goes not-ready alone is not a process restart', (t) => {
  const record = buildTrial({
    fault: { atSeconds: 10, kind: 'hang', worker: 2 },
    events: [{ atSeconds: 11, kind: 'not-ready', worker: 2 }],
  });
  t.false(blastRadiusOfTrial(record)[0]?.restarted);
});
