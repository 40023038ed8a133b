// One realistic run per example manifest (examples/*.yaml), built from the manifest itself
// with the records builder: every variant of the file, its load, its faults, and records
// filled as the engine fills them (usage with context switches and per-process memory,
// replicas with their counts and limits, search steps, shared-state costs and lost updates).
// The figures follow what real runs on this machine measured; they are shapes, not results.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConcurrencyExperiment, Variant } from '../../operator/api/schema.ts';
import { sweepPoints } from '../../operator/api/sweep.ts';
import { parseCpuCores, parseDurationMillis, parseMemoryBytes } from '../../operator/api/units.ts';
import { parseExperiment } from '../../operator/api/validate.ts';
import type { CapacitySearch, ThroughputStep } from '../../operator/contracts/records.ts';
import { buildReport, type ReportModel } from '../../operator/report/model.ts';
import { buildRunOf, realisticUsage, type TrialShape } from '../analysis/records-builder.ts';
import { GENERATED_AT } from './report-fixture.ts';

export const EXAMPLES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');

export function exampleFiles(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

export function readExample(file: string): ConcurrencyExperiment {
  const full = path.join(EXAMPLES_DIR, file);
  return parseExperiment(readFileSync(full, 'utf8'), full);
}

interface Behaviour {
  /** Served per second; defaults to the offered rate. */
  completed?: (second: number, trial: number) => number;
  errors?: (second: number) => number;
  p99Millis?: (second: number, trial: number) => number;
  p50Millis?: number;
  events?: TrialShape['events'];
  deadWorkersFrom?: TrialShape['deadWorkersFrom'];
  restarts?: number;
  preemptionPerRequest?: number;
  sharedStateCostMicros?: number;
  lostUpdatesPerTrial?: number;
  search?: (trial: number) => CapacitySearch;
  rate?: number;
}

function shapeFor(experiment: ConcurrencyExperiment, variant: Variant, b: Behaviour) {
  const spec = experiment.spec;
  const seconds = Math.round(parseDurationMillis(spec.load.duration) / 1000);
  const warmUp = parseDurationMillis(spec.load.warmUp) / 1000;
  const cpuCores = parseCpuCores(spec.resources.cpu);
  const memoryBytes = parseMemoryBytes(spec.resources.memory);
  return (trial: number): TrialShape => {
    const search = b.search?.(trial);
    const rate = search ? Math.round(search.capacity) : (b.rate ?? spec.load.rate ?? 100);
    const served = (s: number) => (b.completed ? b.completed(s, trial) : rate);
    const requests = Math.round(rate * (seconds + warmUp));
    const limits = {
      cpuCores,
      memoryBytes,
      source: `cgroup v2: cpu.max=${Math.round(cpuCores * 100000)} 100000 memory.max=${memoryBytes}`,
    };
    const fault = spec.faults?.find((f) => !f.variants || f.variants.includes(variant.name));
    return {
      seconds,
      rate,
      completed: (s) => served(s),
      ...(b.errors ? { errors: b.errors } : {}),
      p99Millis: (s) => (b.p99Millis ? b.p99Millis(s, trial) : 20 + trial),
      p50Millis: b.p50Millis ?? 6,
      workers: variant.workers,
      ...(fault
        ? {
            fault: {
              atSeconds: parseDurationMillis(fault.at) / 1000,
              kind: fault.kind,
              worker: (fault.target?.worker ?? 0) % variant.workers,
            },
          }
        : {}),
      ...(b.events ? { events: b.events } : {}),
      ...(b.deadWorkersFrom ? { deadWorkersFrom: b.deadWorkersFrom } : {}),
      ...(search ? { search } : {}),
      ...(b.sharedStateCostMicros !== undefined ? { sharedStateCostMicros: b.sharedStateCostMicros } : {}),
      usage: {
        cpuSeconds: (requests * parseDurationMillis(spec.workload.cpuTime ?? '1ms')) / 1000 + 0.8 + trial * 0.05,
        throttledPeriods: Math.round(40 * (b.preemptionPerRequest ?? 0.1)),
        throttledSeconds: 0.2 + (b.preemptionPerRequest ?? 0) * 0.5,
        restarts: b.restarts ?? 0,
        ...realisticUsage({
          model: variant.model,
          workers: variant.workers,
          requests,
          ...(b.preemptionPerRequest === undefined ? {} : { preemptionPerRequest: b.preemptionPerRequest }),
          cpuCores,
          memoryBytes,
        }),
      },
      replicas: [
        {
          replica: 0,
          requestsReceived: requests,
          limits,
          host: {
            hostname: 'testhost',
            cores: 2,
            cpuModel: 'Synthetic CPU @ 2.0GHz',
            kernel: '6.1.0-test',
            cgroupVersion: 'v2',
            runtime: spec.workload.runtime === 'python' ? 'cpython 3.11.2' : 'node 24.21.0',
          },
          traced: true,
          ...(b.lostUpdatesPerTrial !== undefined
            ? {
                lostUpdates: b.lostUpdatesPerTrial === 0 ? 0 : b.lostUpdatesPerTrial + trial,
                sharedStateAttempts: requests,
              }
            : {}),
        },
      ],
    };
  };
}

function searchOf(capacity: number, rates: number[], p99At: (rate: number) => number): CapacitySearch {
  const steps: ThroughputStep[] = rates.map((rate, i) => {
    const passed = rate <= capacity;
    const p99 = p99At(rate);
    return {
      rate,
      passed,
      ...(passed ? {} : { reason: `p99 ${Math.round(p99)} ms over the SLO` }),
      failureRate: passed ? 0 : 0.02,
      completedPerSecond: passed ? rate * 0.998 : capacity * 1.02,
      latencyMillis: { p50: p99 / 4, p90: p99 / 2, p99, p999: p99 * 1.4 },
      unreliable: false,
      startedAtMillis: i * 14_000,
    };
  });
  const lowestFailing = Math.min(...steps.filter((s) => !s.passed).map((s) => s.rate));
  return {
    capacity,
    end: 'converged',
    ...(Number.isFinite(lowestFailing) ? { lowestFailingRate: lowestFailing } : {}),
    steps,
  };
}

/** Behaviour of each variant of an example, by what the manifest asks. */
function behaviours(file: string, experiment: ConcurrencyExperiment): Record<string, Behaviour> {
  const rate = experiment.spec.load.rate ?? 100;
  switch (file) {
    case 'quickstart.yaml':
      return {
        processes: { p99Millis: (_s, t) => 30 + 3 * t },
        threads: { p99Millis: (_s, t) => 21 + 2 * t },
      };
    case 'crash.yaml':
      return {
        processes: {
          completed: (s, t) => (s >= 4 && s < 7 ? Math.round(rate * 0.75) : rate - (t % 2)),
          errors: (s) => (s === 4 ? 3 : 0),
          p99Millis: (s) => (s >= 4 && s < 7 ? 60 : 14),
          events: [
            { atSeconds: 4.05, kind: 'worker-exit', worker: 1 },
            { atSeconds: 6.4, kind: 'worker-replaced', worker: 1, coldStartMillis: 2300 },
          ],
          deadWorkersFrom: { second: 4, workers: [1] },
        },
        threads: {
          completed: (s, t) => (s >= 4 && s < 7 ? 0 : s === 7 ? Math.round(rate * 0.6) : rate - (t % 2)),
          errors: (s) => (s >= 4 && s < 7 ? rate : 0),
          p99Millis: (s) => (s === 7 ? 300 : 12),
          events: [
            { atSeconds: 4.1, kind: 'not-ready', detail: 'workload process was killed by SIGABRT' },
            { atSeconds: 7.2, kind: 'ready' },
            { atSeconds: 7.2, kind: 'process-restart', coldStartMillis: 2900, downMillis: 3100 },
          ],
          deadWorkersFrom: { second: 4, workers: [0, 1, 2, 3] },
          restarts: 1,
        },
      };
    case 'io-bound.yaml':
      return {
        'one-process': { p50Millis: 51, p99Millis: () => 58 },
        processes: { p50Millis: 51, p99Millis: () => 55 },
        threads: { p50Millis: 51, p99Millis: () => 55.5 },
      };
    case 'python-gil.yaml': {
      const rates = [50, 100, 200, 400, 300, 350, 375];
      return {
        processes: {
          search: (t) => searchOf(350 - 10 * (t - 1), rates, (r) => (r <= 350 ? 40 + r / 10 : 900)),
          p99Millis: () => 160,
        },
        threads: {
          search: (t) =>
            searchOf(175 - 5 * (t - 1), [50, 100, 200, 150, 175, 187], (r) => (r <= 175 ? 50 + r / 5 : 1200)),
          p99Millis: () => 180,
        },
      };
    }
    case 'shared-state.yaml':
      return {
        processes: { sharedStateCostMicros: 85, lostUpdatesPerTrial: experiment.spec.workload.racyUpdates ? 400 : 0 },
        threads: { sharedStateCostMicros: 2, lostUpdatesPerTrial: experiment.spec.workload.racyUpdates ? 12 : 0 },
      };
    case 'oversubscribed.yaml':
      return {
        processes: { preemptionPerRequest: 3, p99Millis: (_s, t) => 140 + 10 * t },
        threads: { preemptionPerRequest: 1, p99Millis: (_s, t) => 70 + 5 * t },
      };
    case 'isolation.yaml': {
      const quarterTimeouts = (s: number) => (s >= 6 ? Math.round(rate / 4) : 0);
      return {
        'processes-hang': {
          completed: (s) => (s >= 4 ? Math.round(rate * 0.75) : rate),
          errors: quarterTimeouts,
          p99Millis: (s) => (s >= 4 ? 90 : 14),
          events: [{ atSeconds: 4.6, kind: 'not-ready', worker: 1 }],
          deadWorkersFrom: { second: 4, workers: [1] },
        },
        'threads-hang': {
          completed: (s) => (s >= 4 ? Math.round(rate * 0.74) : rate),
          errors: quarterTimeouts,
          p99Millis: (s) => (s >= 4 ? 95 : 12),
          events: [{ atSeconds: 4.6, kind: 'not-ready', worker: 1 }],
          deadWorkersFrom: { second: 4, workers: [1] },
        },
        'processes-leak': {
          completed: (s) => (s === 5 || s === 6 ? Math.round(rate * 0.75) : rate),
          errors: (s) => (s === 5 ? 2 : 0),
          events: [
            { atSeconds: 5.2, kind: 'worker-exit', worker: 1, detail: 'OOMKilled' },
            { atSeconds: 7.1, kind: 'worker-replaced', worker: 1, coldStartMillis: 1900 },
          ],
          deadWorkersFrom: { second: 5, workers: [1] },
        },
        'threads-leak': {
          completed: (s) => (s >= 5 && s < 8 ? 0 : rate),
          errors: (s) => (s >= 5 && s < 8 ? rate : 0),
          events: [
            { atSeconds: 5.1, kind: 'not-ready', detail: 'workload process was OOM-killed' },
            { atSeconds: 8.2, kind: 'process-restart', coldStartMillis: 2800, downMillis: 3100 },
          ],
          deadWorkersFrom: { second: 5, workers: [0, 1, 2, 3] },
          restarts: 1,
        },
      };
    }
    case 'sweep.yaml': {
      // Per sweep point: 10 ms of CPU per request under 1.5 CPU, so ~100 req/s at one worker and
      // ~145 from two on (the budget), a little less at four (more workers, more switching).
      const capacity: Record<number, number> = { 1: 98, 2: 146, 4: 140 };
      const rates = [80, 160, 120, 140, 150, 145];
      return Object.fromEntries(
        sweepPoints(experiment.spec).map((p) => [
          p.name,
          {
            search: (t: number) =>
              searchOf((capacity[p.workers] ?? 100) - 2 * (t - 1) - (p.model === 'thread' ? 3 : 0), rates, (r) =>
                r <= (capacity[p.workers] ?? 100) ? 60 + r / 4 : 400,
              ),
            p99Millis: () => 90,
          },
        ]),
      );
    }
    default:
      throw new Error(`example-reports: no behaviour for examples/${file}; add one so its report is tested`);
  }
}

/** The report of one example, as a run of its manifest would produce it. */
export function exampleReport(file: string, override?: (e: ConcurrencyExperiment) => void): ReportModel {
  const experiment = readExample(file);
  override?.(experiment);
  const byVariant = behaviours(file, experiment);
  const shapes = Object.fromEntries(
    sweepPoints(experiment.spec).map((v) => {
      const b = byVariant[v.name];
      if (!b) throw new Error(`example-reports: examples/${file} has variant ${v.name} without a behaviour`);
      return [v.name, shapeFor(experiment, v, b)];
    }),
  );
  return buildReport(buildRunOf(experiment, shapes), { generatedAt: GENERATED_AT });
}
