// The operator's Prometheus metrics, on prom-client (a well-kept client: exposition format,
// escaping and content type are its job). One Registry per operator instance, never the
// global one: tests start several operators in one process, and each scrape must show only
// its own. Names are defined here once; the chart's dashboard and alerts use them as they are.
//
// Two kinds of series:
// - the controller's own health: reconciles, errors, watches, results, leader, queue depth,
//   experiments by phase (the last three read at scrape time);
// - the experiments' last finished run, for capacity planning: capacity and p99 per variant,
//   completion time, regression state. A figure the run did not measure has no series (never
//   a zero); an experiment that is deleted loses all of its series (forgetExperiment).
import { Counter, Gauge, Registry } from 'prom-client';
import type { ConcurrencyExperiment } from '../api/schema.ts';

export const METRIC = {
  reconciles: 'conclab_reconciles_total',
  reconcileErrors: 'conclab_reconcile_errors_total',
  watchErrors: 'conclab_watch_errors_total',
  resultsReceived: 'conclab_results_received_total',
  experiments: 'conclab_experiments',
  leader: 'conclab_leader',
  workqueueDepth: 'conclab_workqueue_depth',
  capacity: 'conclab_experiment_capacity_requests_per_second',
  p99: 'conclab_experiment_p99_seconds',
  lastCompletion: 'conclab_experiment_last_completion_timestamp_seconds',
  regressed: 'conclab_experiment_regressed',
} as const;

/** What the scrape-time gauges read; each is called once per scrape. */
export interface MetricSources {
  /** Phase of every experiment in the caches (undefined: not yet written, counted as Pending). */
  experimentPhases(): Iterable<string | undefined>;
  /** Every phase that exists, so a phase with no experiment shows 0 instead of vanishing. */
  phases: readonly string[];
  leading(): boolean;
  queueDepth(): number;
}

export interface VariantFigures {
  variant: string;
  /** Capacity the max-throughput search found, requests per second; absent when not searched. */
  capacityRequestsPerSecond?: number;
  /** 99th percentile latency, seconds. */
  p99Seconds?: number;
}

/** The last finished run of one experiment, as the reconcile saw it. */
export interface ExperimentFigures {
  namespace: string;
  experiment: string;
  /** When that run finished, seconds since the epoch. */
  completionTimeSeconds?: number;
  /** Whether that run regressed against the runs before it; absent when not assessable. */
  regressed?: boolean;
  variants: VariantFigures[];
}

type ExperimentLabels = { namespace: string; experiment: string };
type VariantLabels = ExperimentLabels & { variant: string };

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly #reconciles: Counter<'result'>;
  readonly #reconcileErrors: Counter<'type'>;
  readonly #watchErrors: Counter<'resource'>;
  readonly #results: Counter;
  readonly #capacity: Gauge<keyof VariantLabels>;
  readonly #p99: Gauge<keyof VariantLabels>;
  readonly #lastCompletion: Gauge<keyof ExperimentLabels>;
  readonly #regressed: Gauge<keyof ExperimentLabels>;
  /** Variants with series, per experiment key, so a vanished variant's series go too. */
  readonly #variants = new Map<string, Set<string>>();

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    this.#reconciles = new Counter({
      name: METRIC.reconciles,
      help: 'Reconciles finished, by result (success, error).',
      labelNames: ['result'],
      registers,
    });
    this.#reconcileErrors = new Counter({
      name: METRIC.reconcileErrors,
      help: 'Reconcile errors, by error type (InvalidSpec, Conflict, NotFound, Forbidden, ApiUnavailable, ApiRejected, Internal).',
      labelNames: ['type'],
      registers,
    });
    this.#watchErrors = new Counter({
      name: METRIC.watchErrors,
      help: 'Watch and list errors other than 410 Gone, by resource.',
      labelNames: ['resource'],
      registers,
    });
    this.#results = new Counter({
      name: METRIC.resultsReceived,
      help: 'Trial results from load pods, stored.',
      registers,
    });
    // Scrape-time gauges: a failing source costs its own sample, never the scrape.
    new Gauge({
      name: METRIC.experiments,
      help: 'Experiments by phase, as last observed.',
      labelNames: ['phase'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>(sources.phases.map((p) => [p, 0]));
        try {
          for (const phase of sources.experimentPhases()) {
            const p = phase ?? 'Pending';
            counts.set(p, (counts.get(p) ?? 0) + 1);
          }
        } catch {
          return;
        }
        for (const [phase, n] of counts) this.set({ phase }, n);
      },
    });
    new Gauge({
      name: METRIC.leader,
      help: '1 when this replica holds the leader lease (or runs without leader election), else 0.',
      registers,
      collect() {
        this.reset();
        guarded(() => this.set(sources.leading() ? 1 : 0));
      },
    });
    new Gauge({
      name: METRIC.workqueueDepth,
      help: 'Keys waiting in the work queue.',
      registers,
      collect() {
        this.reset();
        guarded(() => this.set(sources.queueDepth()));
      },
    });
    this.#capacity = new Gauge({
      name: METRIC.capacity,
      help: 'Capacity of the variant in the last finished run (max-throughput search), requests per second.',
      labelNames: ['namespace', 'experiment', 'variant'],
      registers,
    });
    this.#p99 = new Gauge({
      name: METRIC.p99,
      help: '99th percentile latency of the variant in the last finished run, seconds.',
      labelNames: ['namespace', 'experiment', 'variant'],
      registers,
    });
    this.#lastCompletion = new Gauge({
      name: METRIC.lastCompletion,
      help: 'When the last run of the experiment finished, seconds since the epoch.',
      labelNames: ['namespace', 'experiment'],
      registers,
    });
    this.#regressed = new Gauge({
      name: METRIC.regressed,
      help: '1 when the last run of the experiment regressed against the runs before it, else 0.',
      labelNames: ['namespace', 'experiment'],
      registers,
    });
  }

  reconciled(result: 'success' | 'error'): void {
    this.#reconciles.inc({ result });
  }

  reconcileError(type: string): void {
    this.#reconcileErrors.inc({ type });
  }

  watchError(resource: string): void {
    this.#watchErrors.inc({ resource });
  }

  resultReceived(): void {
    this.#results.inc();
  }

  /**
   * The experiment's last finished run. Replaces what was recorded for it before: a variant
   * no longer in the run, or a figure it did not measure, has no series afterwards.
   */
  recordExperiment(figures: ExperimentFigures): void {
    const key = experimentKey(figures);
    const base = { namespace: figures.namespace, experiment: figures.experiment };
    const before = this.#variants.get(key) ?? new Set<string>();
    const now = new Set(figures.variants.map((v) => v.variant));
    for (const gone of before) if (!now.has(gone)) this.#removeVariant({ ...base, variant: gone });
    for (const v of figures.variants) {
      const labels = { ...base, variant: v.variant };
      setOrRemove(this.#capacity, labels, v.capacityRequestsPerSecond);
      setOrRemove(this.#p99, labels, v.p99Seconds);
    }
    this.#variants.set(key, now);
    setOrRemove(this.#lastCompletion, base, figures.completionTimeSeconds);
    setOrRemove(this.#regressed, base, figures.regressed === undefined ? undefined : figures.regressed ? 1 : 0);
  }

  /** Removes every series of an experiment (it was deleted). Safe for one never recorded. */
  forgetExperiment(namespace: string, experiment: string): void {
    const base = { namespace, experiment };
    const key = experimentKey(base);
    for (const variant of this.#variants.get(key) ?? []) this.#removeVariant({ ...base, variant });
    this.#variants.delete(key);
    this.#lastCompletion.remove(base);
    this.#regressed.remove(base);
  }

  /** The Content-Type of render()'s text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * One series' current value, for tests and logs; 0 when the series does not exist (as a
   * query reads a counter never incremented). Whether a gauge series exists is the
   * exposition's to show (render()).
   */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (!metric) return 0;
    const { values } = await metric.get();
    const wanted = Object.entries(labels);
    const found = values.find(
      (v) =>
        Object.keys(v.labels).length === wanted.length &&
        wanted.every(([k, x]) => String((v.labels as Record<string, unknown>)[k]) === x),
    );
    return found?.value ?? 0;
  }

  #removeVariant(labels: VariantLabels): void {
    this.#capacity.remove(labels);
    this.#p99.remove(labels);
  }
}

/**
 * Pure: the figures of an experiment's last finished run as its status records them, or
 * undefined before any run finished. Capacity only from a max-throughput search (a constant
 * rate's throughput is the offered rate, not capacity); p99 from the client-side latency.
 */
export function experimentFigures(
  cx: Pick<ConcurrencyExperiment, 'metadata' | 'status'>,
  regressed?: boolean,
): ExperimentFigures | undefined {
  const status = cx.status;
  const results = status?.results;
  if (!results?.length) return undefined;
  const completed = Date.parse(status?.history?.[0]?.completionTime ?? status?.completionTime ?? '');
  return {
    namespace: cx.metadata.namespace ?? 'default',
    experiment: cx.metadata.name,
    ...(Number.isFinite(completed) ? { completionTimeSeconds: completed / 1000 } : {}),
    ...(regressed === undefined ? {} : { regressed }),
    variants: results.map((r) => ({
      variant: r.name,
      ...(r.capacity === undefined ? {} : { capacityRequestsPerSecond: r.capacity }),
      ...(r.p99Millis !== undefined && Number.isFinite(r.p99Millis) ? { p99Seconds: r.p99Millis / 1000 } : {}),
    })),
  };
}

function experimentKey(l: ExperimentLabels): string {
  return `${l.namespace}/${l.experiment}`;
}

/** A figure that is missing (or not a usable number) has no series: never a zero. */
function setOrRemove<L extends string>(gauge: Gauge<L>, labels: Record<L, string>, value: number | undefined): void {
  if (value === undefined || !Number.isFinite(value) || value < 0) gauge.remove(labels);
  else gauge.set(labels, value);
}

function guarded(fn: () => void): void {
  try {
    fn();
  } catch {
    // The sample is left out of this scrape; the next one asks the source again.
  }
}
