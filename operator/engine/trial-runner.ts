// The one trial runner both placements use: given a planned trial and the endpoints of the
// deployed workload replicas, it runs the load (constant, ramping, or the max-throughput search
// with every step recorded), injects the faults at their times and waits for them, gathers the
// workload events and resource usage from every replica's supervisor, collects the trial's
// spans, and returns the one TrialRecord. `conclab run` calls it in process; in a cluster the
// load pod runs it (`conclab trial`) and posts the record to the operator. Placement only
// deploys the replicas around it.

import { tracingOf } from '../api/defaults.ts';
import type { ConcurrencyExperiment, Variant } from '../api/schema.ts';
import type {
  CapacitySearch,
  InjectedFault,
  LoadResult,
  ProcessMemory,
  ReplicaFacts,
  ThroughputStep,
  TrialRecord,
  WorkloadEvent,
} from '../contracts/records.ts';
import type { SupervisorStats } from '../contracts/supervisor.ts';
import { findMaxThroughput } from '../load/max-throughput.ts';
import { sloFromApi } from '../load/slo.ts';
import type { LoadPlan, LoadProgress } from '../load/types.ts';
import type { TraceReceiver } from '../telemetry/types.ts';
import { injectFault } from './faults.ts';
import { REMOTE_START_LEAD_MILLIS } from './load-driver.ts';
import { faultsFor, faultWorker, toLoadPlan } from './plan.ts';
import {
  initialState,
  observe,
  type Poll,
  type ReplicaState,
  replacementPending,
  requestsDuring,
  restartPending,
  usageDuring,
  type WindowStart,
  windowStart,
} from './supervisor-watch.ts';

/** One deployed replica of the variant. */
export interface TrialTarget {
  /** Base URL of the work server, e.g. http://10.88.0.5:8080 (the runner appends /work). */
  workUrl: string;
  /** Base URL of the supervisor's admin server. */
  adminUrl: string;
}

export interface TrialInput {
  /** A validated experiment with defaults applied. */
  experiment: ConcurrencyExperiment;
  variant: Variant;
  /** 1-based trial number of the variant. */
  trial: number;
  /** One per replica, in replica order. */
  targets: TrialTarget[];
  /** Identifies the run (spans carry it as conclab.run). */
  run?: string;
}

export type TrialEvent =
  | { type: 'progress'; progress: LoadProgress; plan: LoadPlan }
  | { type: 'search-step'; step: ThroughputStep }
  | { type: 'fault'; fault: InjectedFault }
  | { type: 'warning'; message: string };

export interface TrialDeps {
  /** Runs one load plan on the manifest's driver (built-in or k6): see engine/load-driver.ts. */
  drive: (plan: LoadPlan) => Promise<LoadResult>;
  /** The receiver the workloads export to; absent when tracing is off. */
  receiver?: TraceReceiver;
  /** Process exits the placement saw (the local runtime's exit codes; none in a pod). */
  placementEvents?: () => WorkloadEvent[];
  parseMillis: (duration: string) => number;
  signal?: AbortSignal;
  onEvent?: (e: TrialEvent) => void;
  /** After the load, how long to wait for a process a fault took down to come back. Default 30 s. */
  restartWaitMillis?: number;
  /** Interval of the supervisor polls. Default 250 ms. */
  pollIntervalMillis?: number;
}

const WORK_PATH = '/work';

/** Upper bound of the wall time one trial takes, for a placement's deadline (cluster load pods). */
export function trialTimeBoundMillis(experiment: ConcurrencyExperiment, parseMillis: (d: string) => number): number {
  const load = experiment.spec.load;
  const warmUp = parseMillis(load.warmUp);
  const measured =
    load.pattern === 'ramping-arrival-rate'
      ? (load.stages ?? []).reduce((a, s) => a + parseMillis(s.duration), 0)
      : parseMillis(load.duration);
  const timeout = parseMillis(load.timeout);
  // Shared between load pods, every plan starts a lead after it is handed out.
  const lead = (load.generators ?? 1) > 1 ? REMOTE_START_LEAD_MILLIS : 0;
  const step = lead + warmUp + measured + timeout;
  const faultStep = (experiment.spec.faults?.length ?? 0) > 0 ? step : 0;
  const steps = load.pattern === 'max-throughput' ? MAX_SEARCH_STEPS * step + faultStep : step;
  return steps + 30_000 /* restart wait */ + 10_000 /* span flush and polls */;
}

/** Most steps of one max-throughput search (step-up, then bisection). */
export const MAX_SEARCH_STEPS = 10;

export async function runTrial(input: TrialInput, deps: TrialDeps): Promise<TrialRecord> {
  const { experiment, variant, trial, targets } = input;
  const spec = experiment.spec;
  const emit = (e: TrialEvent) => {
    try {
      deps.onEvent?.(e);
    } catch {
      // A broken progress display must not break a measurement.
    }
  };
  const warnings: string[] = [];
  const warn = (message: string) => {
    if (!warnings.includes(message)) warnings.push(message);
    emit({ type: 'warning', message });
  };
  if (targets.length === 0) throw new Error(`variant ${variant.name} trial ${trial}: no replica to drive`);

  const watch = new SupervisorWatch(targets, deps.pollIntervalMillis ?? 250);
  await watch.pollAll(true);
  watch.start();
  const starts = watch.states.map((s) => windowStart(s));
  const faults: InjectedFault[] = [];
  let load: LoadResult;
  let search: CapacitySearch | undefined;
  try {
    const base = toLoadPlan({
      load: spec.load,
      targets: targets.map((t) => `${t.workUrl}${WORK_PATH}`),
      parseMillis: deps.parseMillis,
      headers: { 'x-conclab-variant': variant.name, 'x-conclab-trial': String(trial) },
    });
    base.onProgress = (progress) => emit({ type: 'progress', progress, plan: base });
    if (deps.signal) base.signal = deps.signal;
    const withFaults = async (plan: LoadPlan): Promise<LoadResult> => {
      const injection = scheduleFaults(input, deps, plan, faults, warn, emit);
      try {
        // Time 0 may lie ahead of the call (several generators start together): faults follow it.
        return await deps.drive({
          ...plan,
          onTimeZero: (epochMillis) => {
            injection.retime(epochMillis);
            plan.onTimeZero?.(epochMillis);
          },
        });
      } finally {
        await injection.settle();
      }
    };
    if (spec.load.pattern === 'max-throughput') {
      const slo = sloFromApi(spec.slo, deps.parseMillis);
      let last: LoadResult | undefined;
      const result = await findMaxThroughput({
        startRate: spec.load.rate ?? 10,
        slo,
        maxSteps: MAX_SEARCH_STEPS,
        ...(deps.signal ? { signal: deps.signal } : {}),
        runTrial: async (rate) => {
          last = await deps.drive(constantRate(base, rate));
          return last;
        },
        onStep: (step) => emit({ type: 'search-step', step }),
      });
      search = {
        capacity: result.capacity,
        end: result.end,
        ...(result.lowestFailingRate !== undefined ? { lowestFailingRate: result.lowestFailingRate } : {}),
        steps: result.steps,
      };
      const hasFaults = faultsFor(spec.faults, variant).length > 0;
      if (result.capacity > 0 && hasFaults && !deps.signal?.aborted) {
        // Capacity is searched fault-free; the faults then hit one more step at that capacity,
        // so blast radius is measured at the load the variant can just sustain.
        load = await withFaults(constantRate(base, result.capacity));
      } else if (result.capacityResult) {
        load = result.capacityResult;
      } else {
        if (!last) throw new Error('max-throughput search ran no step');
        load = last;
        warn(
          `variant ${variant.name} trial ${trial}: no rate met the SLO (search ended: ${result.end}); figures are from the last step at ${result.steps.at(-1)?.rate ?? '?'} req/s`,
        );
      }
    } else {
      load = await withFaults(base);
    }
    // A process a fault took down: wait (bounded) until it is back, so whether and how fast it
    // restarted is measured instead of cut off by the end of the load.
    // Likewise a worker the supervisor is replacing: its cold start belongs to this trial.
    const replaceWorkers = spec.workload.replaceWorkers ?? true;
    await watch.until(
      () =>
        (!watch.states.some((s) => restartPending(s)) || placementGaveUp(deps.placementEvents?.() ?? [])) &&
        !replacementPending(watch.events, replaceWorkers),
      deps.restartWaitMillis ?? 30_000,
      deps.signal,
    );
    await flushSpans(targets, warn);
  } finally {
    await watch.stop();
  }
  await watch.pollAll(true);

  const placement = deps.placementEvents?.() ?? [];
  const events = [...watch.events, ...placement].sort((a, b) => a.atMillis - b.atMillis);
  const restarts = events.filter((e) => e.kind === 'process-restart').length;
  for (const f of faults) {
    const restart = events.find(
      (e) => e.kind === 'process-restart' && (e.replica ?? 0) === (f.replica ?? 0) && e.atMillis >= f.atMillis,
    );
    if (restart) f.restartedAtMillis = restart.atMillis;
  }
  const pairs = watch.states.map((state, i) => ({ state, start: starts[i] as WindowStart }));
  const usage = usageDuring(pairs, restarts);
  const processes = watch.states.flatMap((s) => processMemory(s));
  if (usage && processes.length) usage.processes = processes;
  if (usage?.approximate) warn(`variant ${variant.name} trial ${trial}: ${usage.approximate}`);

  const replicas: ReplicaFacts[] = pairs.map(({ state, start }) => replicaFacts(state, start));
  const spans = collectSpans(input, deps, replicas, warn);
  return {
    variant: variant.name,
    trial,
    load,
    ...(search ? { search } : {}),
    ...(usage ? { usage } : { usageMissing: 'no replica reported resource usage (GET /stats gave none)' }),
    spans: spans.aggregates,
    ...(spans.missing ? { spansMissing: spans.missing } : {}),
    faults,
    events,
    replicas,
    ...(warnings.length ? { warnings } : {}),
    ...(load.partial ? { failure: 'interrupted' } : {}),
  };
}

function constantRate(base: LoadPlan, rate: number): LoadPlan {
  const { stages: _stages, startRate: _startRate, ...rest } = base;
  return { ...rest, rate };
}

function placementGaveUp(events: readonly WorkloadEvent[]): boolean {
  const last = events.filter((e) => e.kind === 'process-exit').at(-1);
  return last?.restarting === false;
}

function replicaFacts(state: ReplicaState, start: WindowStart): ReplicaFacts {
  const stats = state.last;
  const received = requestsDuring(start, state);
  return {
    replica: state.replica,
    ...(received !== undefined ? { requestsReceived: received } : {}),
    ...(stats?.sharedState ? { lostUpdates: stats.lostUpdates, sharedStateAttempts: stats.sharedState.attempts } : {}),
    ...(stats ? { host: stats.host } : {}),
    ...(stats?.usage?.limits ? { limits: stats.usage.limits } : {}),
    ...(stats ? { traced: stats.tracing.enabled } : {}),
    ...(stats?.tracing.detail ? { tracingDetail: stats.tracing.detail } : {}),
  };
}

function processMemory(state: ReplicaState): ProcessMemory[] {
  return (state.last?.processes ?? []).map((p) => ({ replica: state.replica, ...p }));
}

/**
 * Faults of the variant, each injected into one worker of replica 0 at warm-up + at. Timed from
 * the call, which is when a driver's clock starts unless it says otherwise: `retime` moves the
 * faults not yet injected to the time 0 the driver fixed (generators start a little ahead).
 */
function scheduleFaults(
  input: TrialInput,
  deps: TrialDeps,
  plan: LoadPlan,
  injected: InjectedFault[],
  warn: (m: string) => void,
  emit: (e: TrialEvent) => void,
): { retime(timeZeroEpochMillis: number): void; settle(): Promise<void> } {
  const { experiment, variant, trial, targets } = input;
  const adminUrl = targets[0]?.adminUrl;
  const pending: Promise<void>[] = [];
  const due: { timer: NodeJS.Timeout; fire: () => void; offsetMillis: number; fired: () => boolean }[] = [];
  // Analysis places the fault by its recorded epoch time, so a few ms do not matter.
  const startMillis = Date.now();
  for (const fault of adminUrl ? faultsFor(experiment.spec.faults, variant) : []) {
    const worker = faultWorker(fault, variant.workers);
    const offsetMillis = plan.warmUpMillis + deps.parseMillis(fault.at);
    let fired = false;
    const fire = () => {
      fired = true;
      const record: InjectedFault = { kind: fault.kind, replica: 0, worker, atMillis: Date.now() };
      // Recorded only once the supervisor accepted it: a refused fault broke nothing.
      pending.push(
        injectFault(adminUrl as string, fault.kind, worker).then(
          () => {
            record.acceptedAtMillis = Date.now();
            injected.push(record);
            emit({ type: 'fault', fault: record });
          },
          (err: unknown) =>
            warn(`fault ${fault.kind} in ${variant.name} trial ${trial} was not injected: ${String(err)}`),
        ),
      );
    };
    const timer = setTimeout(fire, Math.max(0, startMillis + offsetMillis - Date.now()));
    due.push({ timer, fire, offsetMillis, fired: () => fired });
  }
  return {
    retime(timeZeroEpochMillis) {
      for (const d of due) {
        if (d.fired()) continue;
        clearTimeout(d.timer);
        d.timer = setTimeout(d.fire, Math.max(0, timeZeroEpochMillis + d.offsetMillis - Date.now()));
      }
    },
    async settle() {
      for (const d of due) clearTimeout(d.timer);
      // Injections in flight finish (or fail) before the trial ends: none is lost or late.
      await Promise.all(pending);
    },
  };
}

/** Asks every replica's supervisor to export the spans its workers hold, so none is cut off. */
async function flushSpans(targets: readonly TrialTarget[], warn: (m: string) => void): Promise<void> {
  await Promise.all(
    targets.map(async (t, replica) => {
      try {
        const res = await fetch(`${t.adminUrl}/flush?timeoutMillis=5000`, {
          method: 'POST',
          signal: AbortSignal.timeout(7000),
        });
        await res.text();
        if (!res.ok) warn(`replica ${replica}: span flush answered HTTP ${res.status}: some spans may be missing`);
      } catch (err) {
        warn(`replica ${replica}: span flush failed (${(err as Error).message}): some spans may be missing`);
      }
    }),
  );
}

function collectSpans(
  input: TrialInput,
  deps: TrialDeps,
  replicas: readonly ReplicaFacts[],
  warn: (m: string) => void,
): { aggregates: TrialRecord['spans']; missing?: string } {
  const { experiment, variant, trial } = input;
  const receiver = deps.receiver;
  if (!receiver || !tracingOf(experiment.spec).enabled) return { aggregates: [] };
  const filter = {
    experiment: experiment.metadata.name,
    variant: variant.name,
    trial: String(trial),
    ...(input.run ? { run: input.run } : {}),
  };
  const aggregates = receiver.aggregates(filter);
  // Released at once: a receiver serves one trial after another and must not fill up.
  receiver.clear(filter);
  if (aggregates.length > 0) return { aggregates };
  const untraced = replicas.filter((r) => r.traced === false);
  const missing = untraced.length
    ? `the workload is untraced: ${untraced[0]?.tracingDetail ?? 'tracing is off in the workload'}`
    : 'no span arrived although tracing was on';
  warn(`variant ${variant.name} trial ${trial}: ${missing}`);
  return { aggregates: [], missing };
}

/**
 * Polls every replica's supervisor on an interval (and on demand), folding the answers into
 * per-replica state and the trial's events. Background loop: catches per poll, never overlaps.
 */
class SupervisorWatch {
  readonly states: ReplicaState[];
  readonly events: WorkloadEvent[] = [];
  readonly #targets: readonly TrialTarget[];
  readonly #intervalMillis: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(targets: readonly TrialTarget[], intervalMillis: number) {
    this.#targets = targets;
    this.#intervalMillis = intervalMillis;
    this.states = targets.map((_, i) => initialState(i));
  }

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      this.#running = this.pollAll(false).finally(() => {
        this.#running = undefined;
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#intervalMillis);
      });
    };
    this.#timer = setTimeout(tick, this.#intervalMillis);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  async until(done: () => boolean, maxMillis: number, signal: AbortSignal | undefined): Promise<void> {
    const deadline = Date.now() + maxMillis;
    while (!done() && Date.now() < deadline && !signal?.aborted) {
      await new Promise((r) => setTimeout(r, Math.min(this.#intervalMillis, 100)));
    }
  }

  async pollAll(detail: boolean): Promise<void> {
    await Promise.all(
      this.#targets.map(async (t, i) => {
        const state = this.states[i] as ReplicaState;
        const poll = await pollSupervisor(t.adminUrl, state.nextSeq, detail, Math.max(500, this.#intervalMillis * 4));
        this.events.push(...observe(state, poll, Date.now()));
      }),
    );
  }
}

async function pollSupervisor(adminUrl: string, since: number, detail: boolean, timeoutMillis: number): Promise<Poll> {
  const url = `${adminUrl}/stats?since=${since}${detail ? '&detail=1' : ''}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(detail ? timeoutMillis * 4 : timeoutMillis) });
    if (!res.ok) return { down: 'unresponsive', error: `HTTP ${res.status}` };
    return { stats: (await res.json()) as SupervisorStats };
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    const refused = code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH';
    return { down: refused ? 'refused' : 'unresponsive', error: code ?? (err as Error).message };
  }
}
