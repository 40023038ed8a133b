// An experiment on one machine: for each planned trial, the Runtime deploys the variant, the
// trial runner (the same one a cluster's load pod runs) measures it, the Runtime removes it.
// The records are assembled into an ExperimentRun exactly as the operator assembles the
// records its load pods post (engine/assemble.ts), so a report means the same in both places.
import type { Environment, ExperimentRun } from '../analysis/run.ts';
import { tracingOf } from '../api/defaults.ts';
import type { ConcurrencyExperiment } from '../api/schema.ts';
import type { InjectedFault, LoadResult, ThroughputStep, TrialRecord } from '../contracts/records.ts';
import type { LoadPlan, LoadProgress } from '../load/types.ts';
import type { Runtime } from '../runtime/types.ts';
import type { TraceReceiver } from '../telemetry/types.ts';
import { assembleRun } from './assemble.ts';
import { type PlannedTrial, planTrials, runVariant } from './plan.ts';
import { runTrial } from './trial-runner.ts';

export type EngineEvent =
  | { type: 'trial-start'; planned: PlannedTrial; total: number }
  | { type: 'progress'; planned: PlannedTrial; total: number; progress: LoadProgress; plan: LoadPlan }
  | { type: 'search-step'; planned: PlannedTrial; step: ThroughputStep }
  | { type: 'fault'; planned: PlannedTrial; fault: InjectedFault }
  | { type: 'trial-end'; planned: PlannedTrial; total: number; record: TrialRecord }
  | { type: 'warning'; message: string };

export interface EngineOptions {
  /** A validated experiment with defaults applied. */
  experiment: ConcurrencyExperiment;
  runtime: Runtime;
  /** Runs one load plan (engine/load-driver.ts). */
  drive: (plan: LoadPlan) => Promise<LoadResult>;
  /** Where workloads send spans, with the token it requires; tracing is off when absent. */
  receiver?: TraceReceiver;
  receiverToken?: string;
  /** Identifies this run (span attribute conclab.run). */
  run?: string;
  parseMillis: (duration: string) => number;
  environment: Environment;
  signal?: AbortSignal;
  onEvent?: (event: EngineEvent) => void;
  /** After the load, how long to wait for a process a fault took down to come back. Default 30 s. */
  restartWaitMillis?: number;
}

/** Thrown when the run cannot go on (a variant does not start); carries what was measured. */
export class ExperimentFailedError extends Error {
  readonly run: ExperimentRun;
  readonly variant: string;
  constructor(message: string, variant: string, run: ExperimentRun) {
    super(message);
    this.name = 'ExperimentFailedError';
    this.variant = variant;
    this.run = run;
  }
}

export async function runExperiment(options: EngineOptions): Promise<ExperimentRun> {
  const { experiment, runtime, signal } = options;
  const emit = (e: EngineEvent) => {
    try {
      options.onEvent?.(e);
    } catch {
      // A broken progress display must not break a measurement.
    }
  };
  const planned = planTrials(experiment.spec);
  const startedAt = new Date();
  const trials: TrialRecord[] = [];
  const finish = (partial: boolean): ExperimentRun =>
    assembleRun({
      experiment,
      environment: { ...options.environment, warnings: [...options.environment.warnings, ...runtime.warnings] },
      trials,
      startedAt,
      endedAt: new Date(),
      partial,
    });

  for (const p of planned) {
    if (signal?.aborted) return finish(true);
    const variant = runVariant(experiment.spec, p.variant);
    if (!variant) throw new Error(`internal: planned variant ${p.variant} is not in the spec`);
    emit({ type: 'trial-start', planned: p, total: planned.length });
    let record: TrialRecord;
    try {
      const tracing =
        options.receiver && options.receiverToken && tracingOf(experiment.spec).enabled
          ? { tracesEndpoint: `${options.receiver.url}/v1/traces`, token: options.receiverToken }
          : undefined;
      const deployed = await runtime.start({
        experiment,
        variant,
        trial: p.trial,
        ...(options.run ? { run: options.run } : {}),
        tracing,
      });
      try {
        record = await runTrial(
          {
            experiment,
            variant,
            trial: p.trial,
            targets: deployed.workUrls.map((workUrl, i) => ({ workUrl, adminUrl: deployed.adminUrls[i] ?? '' })),
            ...(options.run ? { run: options.run } : {}),
          },
          {
            drive: options.drive,
            ...(tracing && options.receiver ? { receiver: options.receiver } : {}),
            placementEvents: () => runtime.events(deployed),
            parseMillis: options.parseMillis,
            ...(signal ? { signal } : {}),
            ...(options.restartWaitMillis !== undefined ? { restartWaitMillis: options.restartWaitMillis } : {}),
            onEvent: (e) => {
              if (e.type === 'progress') emit({ ...e, planned: p, total: planned.length });
              else if (e.type === 'warning') emit(e);
              else emit({ ...e, planned: p });
            },
          },
        );
      } finally {
        await runtime.stop(deployed);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new ExperimentFailedError(
        `variant ${variant.name} trial ${p.trial} failed: ${message}`,
        variant.name,
        finish(true),
      );
    }
    trials.push(record);
    emit({ type: 'trial-end', planned: p, total: planned.length, record });
    if (record.load.partial) return finish(true);
  }
  return finish(false);
}
