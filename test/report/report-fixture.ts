// A report built from synthetic records: two variants, three trials, one fault per trial
// (process loses a quarter and recovers when the worker is replaced; thread loses
// everything until the process restarts), thread faster at capacity.
import { buildReport, type ReportModel } from '../../operator/report/model.ts';
import { buildExperiment, buildRun } from '../analysis/records-builder.ts';

export const GENERATED_AT = new Date(Date.UTC(2026, 10, 25, 13, 0, 0));

export function crashReport(): ReportModel {
  const run = buildRun(
    {
      process: (trial) => ({
        rate: 300,
        completed: (s) => (s >= 10 && s < 14 ? 120 : ([160, 163, 158][trial - 1] ?? 160)),
        errors: (s) => (s === 10 ? 4 : 0),
        p99Millis: (s) => (s >= 10 && s < 14 ? 90 : 40 + trial),
        fault: { atSeconds: 10, kind: 'abort', worker: 1 },
        events: [
          { atSeconds: 10.05, kind: 'worker-exit', worker: 1 },
          { atSeconds: 13.5, kind: 'worker-replaced', worker: 1 },
        ],
        deadWorkersFrom: { second: 10, workers: [1] },
        usage: { peakMemoryBytes: (180 + trial) * 1024 * 1024 },
      }),
      thread: (trial) => ({
        rate: 300,
        completed: (s) => (s >= 10 && s < 13 ? 0 : s === 13 ? 100 : ([196, 201, 198][trial - 1] ?? 198)),
        errors: (s) => (s >= 10 && s < 13 ? 300 : 0),
        p99Millis: (s) => (s === 13 ? 400 : 25 + trial),
        fault: { atSeconds: 10, kind: 'abort', worker: 1 },
        // As the runtime reports it: down at once, back up with its own timings.
        events: [
          { atSeconds: 10.1, kind: 'not-ready', detail: 'workload process was killed by SIGABRT' },
          { atSeconds: 12.4, kind: 'ready' },
          { atSeconds: 12.4, kind: 'process-restart', coldStartMillis: 2100, downMillis: 2300 },
        ],
        deadWorkersFrom: { second: 10, workers: [0, 1, 2, 3] },
        usage: { peakMemoryBytes: (70 + trial) * 1024 * 1024, restarts: 1 },
      }),
    },
    {
      experiment: buildExperiment({
        load: {
          driver: 'builtin',
          pattern: 'constant-arrival-rate',
          rate: 300,
          duration: '30s',
          warmUp: '5s',
          maxInFlight: 512,
          timeout: '5s',
        },
        faults: [{ kind: 'abort', at: '10s', target: { worker: 1 } }],
        tracing: { enabled: true, sampleRatio: 0.1 },
      }),
    },
  );
  return buildReport(run, { generatedAt: GENERATED_AT });
}

/** A run without faults where both variants serve the offered rate. */
export function quickstartReport(trials = 3): ReportModel {
  const run = buildRun(
    { process: () => ({ rate: 100 }), thread: () => ({ rate: 100, p99Millis: () => 18 }) },
    { trials },
  );
  return buildReport(run, { generatedAt: GENERATED_AT });
}
