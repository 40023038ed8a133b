// The runtime-agnostic experiment flow: for each planned trial, start the variant through the
// Runtime, drive load, inject the faults at their times, read back resource use and spans,
// stop the variant. Local runs and the operator share this; only the Runtime differs.
import type { ConcurrencyExperiment, Variant } from '../api/schema.ts';
import type { LoadPlan, LoadProgress, LoadResult } from '../load/types.ts';
import type { TraceReceiver } from '../telemetry/types.ts';
import { injectFault } from './faults.ts';
import { faultsFor, faultWorker, type PlannedTrial, planTrials, toLoadPlan } from './plan.ts';
import type { Environment, ExperimentRun, InjectedFault, TrialRecord } from './records.ts';
import type { DeployedWorkload, Runtime } from './runtime.ts';

export type EngineEvent =
  | { type: 'trial-start'; planned: PlannedTrial; total: number }
  | { type: 'progress'; planned: PlannedTrial; total: number; progress: LoadProgress; plan: LoadPlan }
  | { type: 'fault'; planned: PlannedTrial; fault: InjectedFault }
  | { type: 'trial-end'; planned: PlannedTrial; total: number; record: TrialRecord }
  | { type: 'warning'; message: string };

/** Drives one load plan; the engine does not care whether it is the built-in driver or k6. */
export type LoadDriver = (plan: LoadPlan) => Promise<LoadResult>;

export interface EngineOptions {
  /** A validated experiment with defaults applied. */
  experiment: ConcurrencyExperiment;
  runtime: Runtime;
  drive: LoadDriver;
  /** Where workloads send spans; tracing is off when absent or disabled in the spec. */
  receiver?: TraceReceiver;
  parseMillis: (duration: string) => number;
  environment: Environment;
  signal?: AbortSignal;
  onEvent?: (event: EngineEvent) => void;
  /** How long to wait after stopping a workload for its last spans to arrive. */
  spanDrainMillis?: number;
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
  const run: ExperimentRun = {
    experiment,
    environment: options.environment,
    startedAt: new Date().toISOString(),
    endedAt: '',
    trials: [],
    partial: false,
  };
  const finish = (partial: boolean): ExperimentRun => {
    run.partial = partial;
    run.endedAt = new Date().toISOString();
    run.environment = {
      ...run.environment,
      warnings: [...new Set([...run.environment.warnings, ...runtime.warnings])],
    };
    return run;
  };

  for (const p of planned) {
    if (signal?.aborted) return finish(true);
    const variant = experiment.spec.variants.find((v) => v.name === p.variant);
    if (!variant) throw new Error(`internal: planned variant ${p.variant} is not in the spec`);
    emit({ type: 'trial-start', planned: p, total: planned.length });
    let record: TrialRecord;
    try {
      record = await runTrial(options, variant, p, planned.length, emit);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new ExperimentFailedError(
        `variant ${variant.name} trial ${p.trial} failed: ${message}`,
        variant.name,
        finish(true),
      );
    }
    run.trials.push(record);
    emit({ type: 'trial-end', planned: p, total: planned.length, record });
    if (record.load.partial) return finish(true);
  }
  return finish(false);
}

async function runTrial(
  options: EngineOptions,
  variant: Variant,
  p: PlannedTrial,
  total: number,
  emit: (e: EngineEvent) => void,
): Promise<TrialRecord> {
  const { experiment, runtime, receiver, parseMillis, signal } = options;
  const spec = experiment.spec;
  const tracing = receiver !== undefined && (spec.tracing?.enabled ?? true);
  const deployed = await runtime.start({
    experiment,
    variant,
    trial: p.trial,
    otlpEndpoint: tracing ? receiver.url : undefined,
    extraEnv: {},
  });
  const faults: InjectedFault[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const plan = toLoadPlan({
      load: spec.load,
      url: `${deployed.workUrls[0]}/work`,
      parseMillis,
      headers: { 'x-conclab-variant': variant.name, 'x-conclab-trial': String(p.trial) },
    });
    plan.onProgress = (progress) => emit({ type: 'progress', planned: p, total, progress, plan });
    if (signal) plan.signal = signal;
    scheduleFaults(options, variant, p, deployed, plan, faults, timers, emit);
    const load = await options.drive(plan);
    for (const t of timers) clearTimeout(t);
    const usage = await runtime.usage(deployed).catch((err: unknown) => {
      emit({ type: 'warning', message: `could not read resource use of ${variant.name}: ${String(err)}` });
      return undefined;
    });
    const events = runtime.events(deployed);
    // Stopping flushes the workload's span exporters; give the last batches time to land.
    await runtime.stop(deployed);
    if (tracing) await new Promise((r) => setTimeout(r, options.spanDrainMillis ?? 300));
    const spans = tracing
      ? receiver.aggregates({ experiment: experiment.metadata.name, variant: variant.name, trial: String(p.trial) })
      : [];
    return { variant: variant.name, trial: p.trial, load, usage, spans, faults, events };
  } catch (err) {
    for (const t of timers) clearTimeout(t);
    await runtime.stop(deployed).catch(() => {});
    throw err;
  }
}

function scheduleFaults(
  options: EngineOptions,
  variant: Variant,
  p: PlannedTrial,
  deployed: DeployedWorkload,
  plan: LoadPlan,
  injected: InjectedFault[],
  timers: NodeJS.Timeout[],
  emit: (e: EngineEvent) => void,
): void {
  const adminUrl = deployed.adminUrls[0];
  if (!adminUrl) return;
  for (const fault of faultsFor(options.experiment.spec.faults, variant.name)) {
    const worker = faultWorker(fault, variant.workers);
    // Fault times count from the start of the measured window, i.e. after warm-up.
    const delay = plan.warmUpMillis + options.parseMillis(fault.at);
    const timer = setTimeout(() => {
      const record: InjectedFault = { kind: fault.kind, worker, atMillis: Date.now() };
      injected.push(record);
      emit({ type: 'fault', planned: p, fault: record });
      injectFault(adminUrl, fault.kind, worker).catch((err: unknown) =>
        emit({ type: 'warning', message: `fault ${fault.kind} in ${variant.name}: ${String(err)}` }),
      );
    }, delay);
    timer.unref();
    timers.push(timer);
  }
}
