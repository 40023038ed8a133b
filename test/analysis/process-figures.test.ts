// The figures of the process-vs-thread question, from the records' raw counters: context
// switches per request, memory by process, the shared-state cost and the lost updates.
import test from 'ava';
import { summarizeTrial, summarizeVariants } from '../../operator/analysis/variant-summary.ts';
import { encodeHistogram, newHistogram } from '../../operator/contracts/histogram.ts';
import { buildExperiment, buildRun, buildTrial, realisticUsage } from './records-builder.ts';

const MIB = 1024 * 1024;

test('context switches are divided by the requests the workloads counted over the same window', (t) => {
  const record = buildTrial({
    usage: { contextSwitches: { voluntary: 3000, involuntary: 1200, runQueueWaitSeconds: 0.6 } },
    replicas: [
      { replica: 0, requestsReceived: 1000 },
      { replica: 1, requestsReceived: 500 },
    ],
  });
  const c = summarizeTrial(record).contextSwitchesPerRequest;
  t.deepEqual(c, { voluntary: 2, involuntary: 0.8, runQueueWaitMillis: 0.4, requests: 1500, requestsFrom: 'server' });
});

test('without a server count the client count of the window is the denominator, and says so', (t) => {
  const record = buildTrial({
    rate: 100,
    seconds: 10,
    usage: { contextSwitches: { voluntary: 2000, involuntary: 0 } },
  });
  const c = summarizeTrial(record).contextSwitchesPerRequest;
  t.is(c?.requestsFrom, 'client');
  t.is(c?.requests, 1000);
  t.is(c?.voluntary, 2);
  t.is(c?.runQueueWaitMillis, undefined);
});

test('a search without a server count has no per-request figure: the counters span every step', (t) => {
  const record = buildTrial({
    usage: { contextSwitches: { voluntary: 2000, involuntary: 10 } },
    search: { capacity: 100, end: 'converged', steps: [] },
  });
  t.is(summarizeTrial(record).contextSwitchesPerRequest, undefined);
});

test('memory by process: sums over processes, the supervisor apart, per worker over the workers', (t) => {
  const run = buildRun({
    process: () => ({ usage: realisticUsage({ model: 'process', workers: 4, requests: 1000 }) }),
    thread: () => ({ usage: realisticUsage({ model: 'thread', workers: 4, requests: 1000 }) }),
  });
  const [processes, threads] = summarizeVariants(run.experiment, run.trials);
  const p = processes?.processMemory;
  const th = threads?.processMemory;
  t.is(p?.processes, 5);
  t.is(p?.servingProcesses, 4);
  t.is(th?.processes, 1);
  t.is(th?.servingProcesses, 1);
  // Supervisor 44 MiB + workers 72, 73, 74, 72 MiB private.
  t.is(p?.ussBytes.mean, (44 + 72 + 73 + 74 + 72) * MIB);
  t.is(p?.supervisorPssBytes.mean, 46 * MIB);
  t.is(th?.supervisorPssBytes.mean, 0);
  t.is(p?.perWorkerUssBytes.mean, ((44 + 72 + 73 + 74 + 72) * MIB) / 4);
  t.is(p?.sharedBytes.mean, (p?.pssBytes.mean ?? 0) - (p?.ussBytes.mean ?? 0));
  t.true((p?.ussBytes.mean ?? 0) > (th?.ussBytes.mean ?? Number.POSITIVE_INFINITY));
});

test('shared state: costs merged from spans, lost updates summed over replicas and trials', (t) => {
  const experiment = buildExperiment({
    workload: {
      runtime: 'node',
      profile: 'shared-state',
      cpuTime: '2ms',
      ioWait: '0ms',
      responseBytes: 256,
      replaceWorkers: true,
      racyUpdates: true,
    },
  });
  const run = buildRun(
    {
      process: (trial) => ({
        sharedStateCostMicros: 80,
        replicas: [
          { replica: 0, lostUpdates: 100 * trial, sharedStateAttempts: 3000 },
          { replica: 1, lostUpdates: 1, sharedStateAttempts: 3000 },
        ],
      }),
      thread: () => ({
        sharedStateCostMicros: 2,
        replicas: [{ replica: 0, lostUpdates: 0, sharedStateAttempts: 3000 }],
      }),
    },
    { experiment },
  );
  const [processes, threads] = summarizeVariants(run.experiment, run.trials);
  t.true(processes?.sharedState?.racy ?? false);
  t.deepEqual(processes?.sharedState?.lostPerTrial, [101, 201, 301]);
  t.is(processes?.sharedState?.lostUpdates, 603);
  t.is(processes?.sharedState?.attempts, 18000);
  t.is(threads?.sharedState?.lostUpdates, 0);
  // 95% of updates at the typical cost: the median is it, per model.
  t.is(processes?.sharedState?.cost?.p50Millis, 0.08);
  t.is(threads?.sharedState?.cost?.p50Millis, 0.002);
  t.true((processes?.sharedState?.updates ?? 0) > 0);
});

test('profiles other than shared-state have no shared-state summary, even with a cost in a span', (t) => {
  const record = buildTrial({});
  const h = newHistogram();
  h.recordValue(5);
  const first = record.spans[0];
  if (first) first.sharedState = { updates: 1, costHistogram: encodeHistogram(h) };
  const [summary] = summarizeVariants(buildExperiment(), [record]);
  t.is(summary?.sharedState, undefined);
});
