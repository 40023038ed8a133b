// The runtime-agnostic experiment flow: for each planned trial, start the variant through the
// Runtime, drive load, inject the faults at their times, read back resource use and spans,
// stop the variant. Local runs and the operator share this; only the Runtime differs.
import type { ConcurrencyExperiment, Variant } from '../api/schema.ts';
import type { LoadPlan, LoadProgress, LoadResult } from '../load/types.ts';
import type { TraceReceiver } from '../telemetry/types.ts';
import { injectFault } from './faults.ts';
import { faultsFor, faultWorker, type PlannedTrial, planTrials, toLoadPlan } from './plan.ts';
import type { Environment, ExperimentRun, InjectedFault, TrialRecord, WorkloadEvent } from './records.ts';
import type { DeployedWorkload, ResourceUsage, Runtime } from './runtime.ts';

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
  /**
   * After the load, how long to wait for a workload process that a fault took down to come
   * back, so its restart and cold-start time are on record. Default 30000 (the local runtime's
   * ready timeout); the wait ends as soon as the restart is seen.
   */
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

/**
 * Resource use between two readings: counters (CPU, throttling) as differences, peak memory and
 * limits as read at the end. Without a first reading (it failed) the end reading stands.
 */
export function usageDuringLoad(start: ResourceUsage | undefined, end: ResourceUsage): ResourceUsage {
  if (!start) return end;
  return {
    ...end,
    cpuSeconds: Math.max(0, end.cpuSeconds - start.cpuSeconds),
    throttledPeriods: Math.max(0, end.throttledPeriods - start.throttledPeriods),
    throttledSeconds: Math.max(0, end.throttledSeconds - start.throttledSeconds),
  };
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
    // CPU counters run from the workload's start; read them once more just before the load so
    // a trial's CPU figures cover the load (warm-up included), not start-up and calibration.
    const usageAtStart = await runtime.usage(deployed).catch(() => undefined);
    const injections = scheduleFaults(options, variant, p, deployed, plan, faults, timers, emit);
    const load = await options.drive(plan);
    for (const t of timers) clearTimeout(t);
    await Promise.all(injections);
    await awaitPendingRestart(runtime, deployed, options.restartWaitMillis ?? 30_000, signal);
    const usageAtEnd = await runtime.usage(deployed).catch((err: unknown) => {
      emit({ type: 'warning', message: `could not read resource use of ${variant.name}: ${String(err)}` });
      return undefined;
    });
    const usage = usageAtEnd && usageDuringLoad(usageAtStart, usageAtEnd);
    const events = runtime.events(deployed);
    for (const f of faults) {
      const restart = events.find((e) => e.kind === 'process-restart' && e.atMillis >= f.atMillis);
      if (restart) f.restartedAtMillis = restart.atMillis;
    }
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
): Promise<void>[] {
  const adminUrl = deployed.adminUrls[0];
  const pending: Promise<void>[] = [];
  if (!adminUrl) return pending;
  // Fault times count from the start of the measured window, i.e. after warm-up. The driver
  // starts its clock right after it is called, so timers set now line up with its window
  // (analysis places the fault by its recorded epoch time, so a few ms of skew do not matter).
  const startMillis = Date.now();
  for (const fault of faultsFor(options.experiment.spec.faults, variant.name)) {
    const worker = faultWorker(fault, variant.workers);
    const dueMillis = startMillis + plan.warmUpMillis + options.parseMillis(fault.at);
    const timer = setTimeout(
      () => {
        const record: InjectedFault = { kind: fault.kind, worker, atMillis: Date.now() };
        // Recorded only once the supervisor accepted it: a refused fault broke nothing, and
        // analysing it would blame the workload for a dip that never happened.
        const done = injectFault(adminUrl, fault.kind, worker).then(
          () => {
            injected.push(record);
            emit({ type: 'fault', planned: p, fault: record });
          },
          (err: unknown) =>
            emit({
              type: 'warning',
              message: `fault ${fault.kind} in ${variant.name} trial ${p.trial} was not injected: ${String(err)}`,
            }),
        );
        pending.push(done);
      },
      Math.max(0, dueMillis - Date.now()),
    );
    timer.unref();
    timers.push(timer);
  }
  return pending;
}

/**
 * When a fault took the whole workload process down (the runtime reported it not ready and no
 * restart since), waits bounded for the runtime's restart, so whether and how fast it came
 * back is measured rather than cut off by the end of the load.
 */
async function awaitPendingRestart(
  runtime: Runtime,
  deployed: DeployedWorkload,
  maxMillis: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const deadline = Date.now() + maxMillis;
  while (Date.now() < deadline && !signal?.aborted) {
    if (!restartPending(runtime.events(deployed))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** True when the last whole-process event is a runtime 'not-ready' (process down) not yet followed by a restart. */
export function restartPending(events: readonly WorkloadEvent[]): boolean {
  let down = false;
  for (const e of events) {
    // The runtime's own 'gave up' line ends the wait: no restart is coming.
    if (e.kind === 'not-ready' && e.worker === undefined) down = !e.detail?.startsWith('gave up');
    else if (e.kind === 'process-restart') down = false;
  }
  return down;
}
