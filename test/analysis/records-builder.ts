// Builds synthetic TrialRecords and ExperimentRuns for analysis and report tests: shapes of
// per-second series that a real run produces (a flat line, a dip and recovery, an outage and
// a restart), with every field filled the way the engine fills it.

import type { Environment, ExperimentRun } from '../../operator/analysis/run.ts';
import type { ConcurrencyExperiment, FaultKind } from '../../operator/api/schema.ts';
import { sweepPoints } from '../../operator/api/sweep.ts';
import { encodeHistogram, newHistogram } from '../../operator/contracts/histogram.ts';
import type {
  CapacitySearch,
  InjectedFault,
  ProcessMemory,
  ReplicaFacts,
  ResourceUsage,
  TrialRecord,
  WorkloadEvent,
} from '../../operator/contracts/records.ts';
import type { ErrorKind, LoadResult, SecondSample } from '../../operator/load/types.ts';
import type { SpanAggregate } from '../../operator/telemetry/types.ts';

export const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

export interface TrialShape {
  variant?: string;
  trial?: number;
  seconds?: number;
  /** Offered rate, requests per second. */
  rate?: number;
  /** Completed requests in a second; defaults to the rate. */
  completed?: (second: number) => number;
  errors?: (second: number) => number;
  dropped?: (second: number) => number;
  /** Per-second p99 in ms; defaults to 20 ms. */
  p99Millis?: (second: number) => number;
  /** Typical latency (p50) in ms; defaults to 5 ms. */
  p50Millis?: number;
  errorKinds?: Partial<Record<ErrorKind, number>>;
  inFlightAtEnd?: number;
  startedAtMillis?: number;
  fault?: { atSeconds: number; kind?: FaultKind; worker?: number; restartedAtSeconds?: number };
  events?: {
    atSeconds: number;
    kind: WorkloadEvent['kind'];
    worker?: number;
    detail?: string;
    coldStartMillis?: number;
    downMillis?: number;
  }[];
  workers?: number;
  /** Workers that serve nothing from this second on (the broken one, or all after an abort). */
  deadWorkersFrom?: { second: number; workers: number[] };
  /** Share of requests that produce spans. */
  sampleRatio?: number;
  usage?: Partial<ResourceUsage> | null;
  /** A max-throughput search the trial ran (the record keeps it). */
  search?: CapacitySearch;
  unreliable?: boolean;
  failure?: string;
  /** Replica facts as the trial runner fills them (requests counted, limits, lost updates). */
  replicas?: ReplicaFacts[];
  /** shared-state: every span group carries update costs around this many microseconds. */
  sharedStateCostMicros?: number;
}

function latencyHistogram(completedTotal: number, p50Millis: number, p99Millis: number): string {
  const h = newHistogram();
  if (completedTotal > 0) {
    const fast = Math.round(completedTotal * 0.98);
    const slow = completedTotal - fast;
    h.recordValueWithCount(Math.round(p50Millis * 1000), fast);
    if (slow > 0) h.recordValueWithCount(Math.round(p99Millis * 1000), slow);
  }
  return encodeHistogram(h);
}

export function buildTrial(shape: TrialShape = {}): TrialRecord {
  const seconds = shape.seconds ?? 30;
  const rate = shape.rate ?? 100;
  const startedAtMillis = shape.startedAtMillis ?? T0;
  const completedAt = shape.completed ?? (() => rate);
  const errorsAt = shape.errors ?? (() => 0);
  const droppedAt = shape.dropped ?? (() => 0);
  const p99At = shape.p99Millis ?? (() => 20);
  const perSecond: SecondSample[] = [];
  for (let s = 0; s < seconds; s++) {
    const dropped = droppedAt(s);
    perSecond.push({
      second: s,
      sent: rate - dropped,
      completed: completedAt(s),
      errors: errorsAt(s),
      dropped,
      p99Millis: completedAt(s) > 0 ? p99At(s) : 0,
    });
  }
  const completed = perSecond.reduce((n, s) => n + s.completed, 0);
  const errorsTotal = perSecond.reduce((n, s) => n + s.errors, 0);
  const dropped = perSecond.reduce((n, s) => n + s.dropped, 0);
  const errors: Record<ErrorKind, number> = { refused: 0, reset: 0, timeout: 0, http4xx: 0, http5xx: 0, other: 0 };
  if (shape.errorKinds) Object.assign(errors, shape.errorKinds);
  else errors.reset = errorsTotal;
  const p99s = perSecond.filter((s) => s.completed > 0).map((s) => s.p99Millis);
  const load: LoadResult = {
    driver: 'builtin',
    startedAtMillis,
    endedAtMillis: startedAtMillis + seconds * 1000,
    scheduled: rate * seconds,
    sent: rate * seconds - dropped,
    completed,
    dropped,
    errors,
    inFlightAtEnd: shape.inFlightAtEnd ?? 0,
    latencyHistogram: latencyHistogram(completed, shape.p50Millis ?? 5, p99s.length ? Math.max(...p99s) : 20),
    perSecond,
    saturation: {
      unreliable: shape.unreliable ?? false,
      sendSlipP99Millis: shape.unreliable ? 80 : 0.4,
      eventLoopLagMaxMillis: shape.unreliable ? 120 : 3,
      ...(shape.unreliable ? { reason: 'send-time slip p99 80 ms over the 50 ms threshold' } : {}),
    },
    partial: false,
  };

  const variant = shape.variant ?? 'process';
  const trial = shape.trial ?? 1;
  const workers = shape.workers ?? 4;
  const sampleRatio = shape.sampleRatio ?? 1;
  const startEpoch = Math.floor(startedAtMillis / 1000);
  const spans: SpanAggregate[] = [];
  for (let w = 0; w < workers; w++) {
    const series: [number, number, number][] = [];
    let total = 0;
    for (const s of perSecond) {
      const dead = shape.deadWorkersFrom;
      const deadNow = dead !== undefined && s.second >= dead.second;
      const deadSet = deadNow ? new Set(dead.workers) : new Set<number>();
      const alive = workers - deadSet.size;
      const count = deadSet.has(w) || alive === 0 ? 0 : Math.round((s.completed / alive) * sampleRatio);
      total += count;
      series.push([startEpoch + s.second, count, 0]);
    }
    const dur = newHistogram();
    dur.recordValueWithCount(4000, Math.max(1, Math.round(total * 0.99)));
    dur.recordValueWithCount(15000, Math.max(1, Math.round(total * 0.01)));
    const queue = newHistogram();
    queue.recordValueWithCount(200, Math.max(1, total));
    let sharedState: SpanAggregate['sharedState'];
    if (shape.sharedStateCostMicros !== undefined && total > 0) {
      const cost = newHistogram();
      const typical = Math.max(1, Math.round(shape.sharedStateCostMicros));
      cost.recordValueWithCount(typical, Math.max(1, Math.round(total * 0.95)));
      cost.recordValueWithCount(typical * 8, Math.max(1, Math.round(total * 0.05)));
      sharedState = { updates: total, costHistogram: encodeHistogram(cost) };
    }
    spans.push({
      key: { experiment: 'quickstart', trial: String(trial), variant, worker: String(w) },
      spans: total,
      errors: 0,
      durationHistogram: encodeHistogram(dur),
      queueHistogram: encodeHistogram(queue),
      pids: [4000 + w],
      threadIds: variant === 'thread' ? [w + 1] : [0],
      perSecond: series,
      ...(sharedState ? { sharedState } : {}),
    });
  }

  const faults: InjectedFault[] = [];
  if (shape.fault) {
    faults.push({
      kind: shape.fault.kind ?? 'exit',
      worker: shape.fault.worker ?? 0,
      atMillis: startedAtMillis + shape.fault.atSeconds * 1000,
      ...(shape.fault.restartedAtSeconds === undefined
        ? {}
        : { restartedAtMillis: startedAtMillis + shape.fault.restartedAtSeconds * 1000 }),
    });
  }
  const events: WorkloadEvent[] = (shape.events ?? []).map((e) => ({
    atMillis: startedAtMillis + e.atSeconds * 1000,
    kind: e.kind,
    ...(e.worker === undefined ? {} : { worker: e.worker }),
    ...(e.detail === undefined ? {} : { detail: e.detail }),
    ...(e.coldStartMillis === undefined ? {} : { coldStartMillis: e.coldStartMillis }),
    ...(e.downMillis === undefined ? {} : { downMillis: e.downMillis }),
  }));

  const usage: ResourceUsage | undefined =
    shape.usage === null
      ? undefined
      : {
          source: 'cgroup v2 cpu.stat, memory.peak',
          cpuSeconds: 30,
          throttledPeriods: 12,
          throttledSeconds: 0.4,
          peakMemoryBytes: 120 * 1024 * 1024,
          limits: { cpuCores: 1, memoryBytes: 512 * 1024 * 1024, source: 'cgroup v2 cpu.max / memory.max' },
          restarts: 0,
          ...shape.usage,
        };

  return {
    variant,
    trial,
    load,
    ...(usage ? { usage } : {}),
    ...(shape.search ? { search: shape.search } : {}),
    spans,
    faults,
    events,
    ...(shape.replicas ? { replicas: shape.replicas } : {}),
    ...(shape.failure === undefined ? {} : { failure: shape.failure }),
  };
}

/**
 * Usage as the local runtime measures it on Node (figures of a real quickstart run, scaled):
 * context switches of every thread, and smaps_rollup memory per process at the end of the
 * window: a supervisor and one process per worker under `process`, one process under threads.
 */
export function realisticUsage(options: {
  model: 'process' | 'thread' | 'offload';
  workers: number;
  requests: number;
  /** Extra involuntary switches per request (a CPU quota far below the threads that want it). */
  preemptionPerRequest?: number;
  cpuCores?: number;
  memoryBytes?: number;
}): Partial<ResourceUsage> {
  const mib = 1024 * 1024;
  const { model, workers, requests } = options;
  const processModel = model === 'process';
  // One runtime per process: every worker process holds its own heap and code.
  const processes: ProcessMemory[] = processModel
    ? [
        { replica: 0, pid: 3000, role: 'supervisor', rssBytes: 100 * mib, pssBytes: 46 * mib, ussBytes: 44 * mib },
        ...Array.from({ length: workers }, (_, w) => ({
          replica: 0,
          pid: 3001 + w,
          role: 'worker' as const,
          worker: w,
          rssBytes: (130 + (w % 3)) * mib,
          pssBytes: (74 + (w % 3)) * mib,
          ussBytes: (72 + (w % 3)) * mib,
        })),
      ]
    : [
        {
          replica: 0,
          pid: 3000,
          role: 'process',
          rssBytes: (130 + 25 * workers) * mib,
          pssBytes: (72 + 25 * workers) * mib,
          ussBytes: (70 + 25 * workers) * mib,
        },
      ];
  const threads = processModel ? (workers + 1) * 7 : 7 + workers;
  const involuntaryPerRequest = (processModel ? 6 : 4) + (options.preemptionPerRequest ?? 0) * (threads / 10);
  return {
    peakMemoryBytes: processes.reduce((n, p) => n + p.rssBytes, 0) * 0.7,
    limits: {
      cpuCores: options.cpuCores ?? 1,
      memoryBytes: options.memoryBytes ?? 512 * mib,
      source: 'cgroup v2 cpu.max / memory.max',
    },
    contextSwitches: {
      voluntary: Math.round(requests * (processModel ? 7.5 : 2.6)),
      involuntary: Math.round(requests * involuntaryPerRequest),
      runQueueWaitSeconds: requests * (processModel ? 0.004 : 0.0025) * (1 + (options.preemptionPerRequest ?? 0)),
    },
    processes,
  };
}

/** A run of any variants of the experiment, trials interleaved as the engine runs them. */
export function buildRunOf(
  experiment: ConcurrencyExperiment,
  shapes: Record<string, (trial: number) => TrialShape>,
  options: { partial?: boolean } = {},
): ExperimentRun {
  const trials = experiment.spec.trials;
  // Every point a run measures: the variants, or each point of a sweep (api/sweep.ts).
  const points = sweepPoints(experiment.spec);
  const names = points.map((v) => v.name);
  const records: TrialRecord[] = [];
  const slotMillis = 40_000;
  for (let i = 1; i <= trials; i++) {
    names.forEach((name, k) => {
      const shape = shapes[name];
      if (!shape) throw new Error(`buildRunOf: no shape for variant ${name}`);
      const base = T0 + ((i - 1) * names.length + k) * slotMillis;
      const variant = points[k];
      records.push(
        buildTrial({ variant: name, trial: i, startedAtMillis: base, workers: variant?.workers, ...shape(i) }),
      );
    });
  }
  return {
    experiment,
    environment: buildEnvironment(),
    startedAt: new Date(T0 - 10_000).toISOString(),
    endedAt: new Date(T0 + trials * names.length * slotMillis).toISOString(),
    trials: records,
    partial: options.partial ?? false,
  };
}

export function buildExperiment(overrides: Partial<ConcurrencyExperiment['spec']> = {}): ConcurrencyExperiment {
  return {
    apiVersion: 'conclab.dev/v1alpha1',
    kind: 'ConcurrencyExperiment',
    metadata: { name: 'quickstart', namespace: 'default' },
    spec: {
      workload: {
        runtime: 'node',
        profile: 'cpu',
        cpuTime: '5ms',
        ioWait: '0ms',
        responseBytes: 256,
        replaceWorkers: true,
        racyUpdates: false,
      },
      resources: { cpu: '1', memory: '512Mi' },
      variants: [
        { name: 'process', model: 'process', workers: 4, replicas: 1 },
        { name: 'thread', model: 'thread', workers: 4, replicas: 1 },
      ],
      load: {
        driver: 'builtin',
        pattern: 'constant-arrival-rate',
        rate: 100,
        duration: '30s',
        warmUp: '5s',
        maxInFlight: 512,
        timeout: '5s',
      },
      trials: 3,
      historyLimit: 5,
      ...overrides,
    },
  };
}

export function buildEnvironment(): Environment {
  return {
    toolVersion: '0.1.0',
    hostname: 'testhost',
    cores: 2,
    cpuModel: 'Synthetic CPU @ 2.0GHz',
    kernel: '6.1.0-test',
    cgroupVersion: 'v2',
    runtimeVersions: { node: 'v24.21.0' },
    runtime: 'local cgroup v2',
    warnings: [],
  };
}

/** A run of the two default variants with `trials` interleaved trials each. */
export function buildRun(
  shapes: { process: (trial: number) => TrialShape; thread: (trial: number) => TrialShape },
  options: { trials?: number; experiment?: ConcurrencyExperiment; partial?: boolean } = {},
): ExperimentRun {
  const trials = options.trials ?? 3;
  const records: TrialRecord[] = [];
  for (let i = 1; i <= trials; i++) {
    const base = T0 + (i - 1) * 80_000;
    records.push(buildTrial({ variant: 'process', trial: i, startedAtMillis: base, ...shapes.process(i) }));
    records.push(buildTrial({ variant: 'thread', trial: i, startedAtMillis: base + 40_000, ...shapes.thread(i) }));
  }
  return {
    experiment: options.experiment ?? buildExperiment({ trials }),
    environment: buildEnvironment(),
    startedAt: new Date(T0 - 10_000).toISOString(),
    endedAt: new Date(T0 + trials * 80_000).toISOString(),
    trials: records,
    partial: options.partial ?? false,
  };
}
