// One variant across its trials: what it delivered, what it cost, how evenly its workers
// shared the work, and whether the figures can be trusted (generator saturation, failures).
import type { ConcurrencyExperiment, Variant } from '../api/schema.ts';
import { budgetOf, sweepPoints } from '../api/sweep.ts';
import { parseCpuCores, parseDurationMillis } from '../api/units.ts';
import { decodeHistogram, type LatencySummary, mergeHistograms, summarize } from '../contracts/histogram.ts';
import type { CapacitySearch, ErrorKind, ProcessMemory, ResourceUsage, TrialRecord } from '../contracts/records.ts';
import { type BlastRadius, type BlastRadiusOptions, blastRadiusOfTrial } from './blast-radius.ts';
import { bootstrapCI, coefficientOfVariation, type Interval, type MeanEstimate, mean, meanWithCI } from './stats.ts';

export const ERROR_KINDS: readonly ErrorKind[] = ['refused', 'reset', 'timeout', 'http4xx', 'http5xx', 'other'];

/** One trial's figures, the unit the statistics across trials work on. */
export interface TrialSummary {
  variant: string;
  trial: number;
  measuredSeconds: number;
  /** Completed requests per second over the measured window. */
  throughput: number;
  /** Scheduled (offered) requests per second. */
  offeredRate: number;
  scheduled: number;
  completed: number;
  errors: number;
  errorsByKind: Record<ErrorKind, number>;
  dropped: number;
  inFlightAtEnd: number;
  /** (errors + dropped) / scheduled: requests the user did not get served. */
  failedShare: number;
  /**
   * Client latency from the intended send time of EVERY scheduled request: successes at
   * their latency, failures when they failed, timeouts at the timeout, dropped and unanswered
   * requests at the timeout, so failures cannot flatter it. Successes alone where the driver
   * gave no such histogram (latencyOfAll false).
   */
  latency: LatencySummary;
  /** Latency of the successful requests alone, shown beside. */
  latencySuccesses: LatencySummary;
  /** latency counts every scheduled request (false: successes only, an older or k6-summary result). */
  latencyOfAll: boolean;
  usage: ResourceUsage | undefined;
  generator: { unreliable: boolean; sendSlipP99Millis: number; eventLoopLagMaxMillis: number; reason?: string };
  partial: boolean;
  failure?: string;
  /** Latency histogram rebuilt from summary percentiles (k6): merged percentiles are approximate. */
  latencyHistogramSynthesized: boolean;
  blastRadius: BlastRadius[];
  /** The max-throughput search of this trial, every step included. */
  search: CapacitySearch | undefined;
  /** Replicas that received load (server side where the workload counted, else client side). */
  replicasLoaded: number | undefined;
  /** Requests each replica received in the measured window, by replica index. */
  requestsPerReplica: number[] | undefined;
  /** Context switches of the workload's threads per request served, over the usage window. */
  contextSwitchesPerRequest: ContextSwitchesPerRequest | undefined;
  /** Memory of the variant's processes at the end of the window (smaps_rollup). */
  processMemory: TrialMemory | undefined;
  /** shared-state: lost updates and attempts summed over replicas, where the replicas reported them. */
  lostUpdates: number | undefined;
  sharedStateAttempts: number | undefined;
}

export interface ContextSwitchesPerRequest {
  voluntary: number;
  involuntary: number;
  /** Time runnable but waiting for a CPU, ms per request; where schedstat was readable. */
  runQueueWaitMillis: number | undefined;
  /** The denominator: requests served over the same window as the counters. */
  requests: number;
  /**
   * "server": the workloads' own count over the usage window (warm-up included, as the
   * counters); "client": completed + failed of the measured window (no server count).
   */
  requestsFrom: 'server' | 'client';
}

/** Sums over the processes of one trial; a thread model has one process, a process model N + 1. */
export interface TrialMemory {
  processes: number;
  /** Processes that serve requests: worker processes, or the one process of all threads. */
  servingProcesses: number;
  rssBytes: number;
  pssBytes: number;
  ussBytes: number;
  /** The process model's supervisor (it serves nothing); 0 under thread models. */
  supervisorPssBytes: number;
}

export interface WorkerShare {
  worker: string;
  spans: number;
  sharePercent: number;
  pids: number[];
  threadIds: number[];
}

export interface CapacityCheck {
  /** Cores the variant can use: the CPU limit, further capped by workers (and by the GIL). */
  effectiveCores: number;
  cpuTimeMillis: number;
  /** effectiveCores / CPU time per request, requests per second. */
  expectedRps: number;
  /** Best measured throughput of a trial. */
  measuredRps: number;
  /**
   * "capacity" when the measurement shows the variant's limit (max-throughput search, or it
   * could not keep up with the offered rate); "lower-bound" when it served all it was offered.
   */
  measuredKind: 'capacity' | 'lower-bound';
  /** measuredRps / expectedRps. */
  ratio: number;
  note: string;
}

export interface VariantSummary {
  name: string;
  model: Variant['model'];
  workers: number;
  trials: number;
  /** Trials the statistics across trials use: all but partial ones (unless all are partial). */
  trialsCounted: number[];
  loadPattern: ConcurrencyExperiment['spec']['load']['pattern'];
  throughput: MeanEstimate & { values: number[] };
  offeredRate: number;
  latency: {
    /**
     * Client side, from intended send time, merged across trials: every scheduled request
     * (failures at the time they failed, timeouts at the timeout) where the driver gave it.
     */
    client: LatencySummary;
    /** The successful requests alone. */
    successes: LatencySummary;
    /** client counts every scheduled request in every counted trial. */
    clientOfAll: boolean;
    /** p99 per trial, its mean and a bootstrap interval over trials. */
    p99PerTrial: number[];
    p99: { mean: number; ci: (Interval & { level: number }) | undefined };
    /** Server side from span durations and queue time, merged across trials and workers. */
    server: LatencySummary | undefined;
    queue: LatencySummary | undefined;
  };
  errors: {
    scheduled: number;
    failed: number;
    dropped: number;
    errors: number;
    byKind: Record<ErrorKind, number>;
    /** (errors + dropped) / scheduled, pooled over trials. */
    rate: number;
    inFlightAtEnd: number;
  };
  resources:
    | {
        cpuSeconds: MeanEstimate;
        throttledSeconds: MeanEstimate;
        throttledPeriods: number;
        peakMemoryBytes: MeanEstimate & { max: number; values: number[] };
        limits: ResourceUsage['limits'];
        restarts: number;
        /** OOM kills over all trials, where the runtime can tell; undefined where it cannot. */
        oomKills: number | undefined;
      }
    | undefined;
  workerSpread:
    | {
        perWorker: WorkerShare[];
        /** Coefficient of variation of spans per worker: 0 is a perfectly even spread. */
        cv: number;
        /** The CV that span sampling alone would produce (Poisson), to judge cv against. */
        samplingNoiseCv: number;
        workersSeen: number;
      }
    | undefined;
  capacity: CapacityCheck | undefined;
  /** Context switches and run-queue wait per request served (over the trials that have them). */
  contextSwitches:
    | {
        voluntaryPerRequest: MeanEstimate & { values: number[] };
        involuntaryPerRequest: MeanEstimate & { values: number[] };
        runQueueWaitMillisPerRequest: (MeanEstimate & { values: number[] }) | undefined;
        requestsFrom: 'server' | 'client';
      }
    | undefined;
  /**
   * Memory by process at the end of each trial's window: RSS counts a shared page once in
   * every process that maps it, PSS divides it among them (the real footprint), USS is what
   * one process alone holds. Estimates over trials of the sums over the variant's processes.
   */
  processMemory:
    | {
        processes: number;
        servingProcesses: number;
        rssBytes: MeanEstimate & { values: number[] };
        pssBytes: MeanEstimate & { values: number[] };
        ussBytes: MeanEstimate & { values: number[] };
        /** PSS - USS: the variant's share of pages it shares (with itself or other processes). */
        sharedBytes: MeanEstimate;
        /** PSS / workers: what one worker costs, the supervisor's share included. */
        perWorkerPssBytes: MeanEstimate;
        perWorkerUssBytes: MeanEstimate;
        supervisorPssBytes: MeanEstimate;
      }
    | undefined;
  /** shared-state profile: the cost of one update (spans) and, in racy mode, the updates lost. */
  sharedState:
    | {
        racy: boolean;
        /** Updates whose cost was measured (sampled spans), all counted trials. */
        updates: number;
        /** Cost of one update: lock wait + hold (threads) or IPC round trip(s) (processes). */
        cost: LatencySummary | undefined;
        /** Lost updates over all counted trials; undefined when no replica reported them. */
        lostUpdates: number | undefined;
        attempts: number | undefined;
        lostPerTrial: number[];
      }
    | undefined;
  /** max-throughput: the capacity each trial's search found (mean, CI, per trial). */
  searchedCapacity: (MeanEstimate & { values: number[] }) | undefined;
  /** Why resource figures are absent, when they are (a placement that cannot measure says so). */
  resourcesMissing: string | undefined;
  generator: { unreliableTrials: number[]; reasons: string[] };
  blastRadius:
    | {
        faults: number;
        measurable: number;
        peakCapacityLostPercent: MeanEstimate & { values: number[] };
        requestsLost: MeanEstimate;
        recoverySeconds: MeanEstimate | undefined;
        neverRecovered: number;
        restarts: number;
        workersReplaced: number;
        coldStartSeconds: MeanEstimate | undefined;
        downSeconds: MeanEstimate | undefined;
        detectSeconds: MeanEstimate | undefined;
      }
    | undefined;
  failedTrials: { trial: number; failure: string }[];
  warnings: string[];
  perTrial: TrialSummary[];
}

export interface SummaryOptions {
  blastRadius?: BlastRadiusOptions;
  /** Seed of the bootstrap; fixed so the same records give the same report. */
  seed?: number;
}

export function summarizeTrial(record: TrialRecord, options: SummaryOptions = {}): TrialSummary {
  const load = record.load;
  const measuredSeconds = Math.max(0, (load.endedAtMillis - load.startedAtMillis) / 1000);
  const errorsByKind = Object.fromEntries(ERROR_KINDS.map((k) => [k, load.errors[k] ?? 0])) as Record<
    ErrorKind,
    number
  >;
  const errors = ERROR_KINDS.reduce((n, k) => n + errorsByKind[k], 0);
  return {
    variant: record.variant,
    trial: record.trial,
    measuredSeconds,
    throughput: measuredSeconds > 0 ? load.completed / measuredSeconds : 0,
    offeredRate: measuredSeconds > 0 ? load.scheduled / measuredSeconds : 0,
    scheduled: load.scheduled,
    completed: load.completed,
    errors,
    errorsByKind,
    dropped: load.dropped,
    inFlightAtEnd: load.inFlightAtEnd,
    failedShare: load.scheduled > 0 ? (errors + load.dropped) / load.scheduled : 0,
    latency: summarize(decodeHistogram(load.latencyHistogramAll ?? load.latencyHistogram)),
    latencySuccesses: summarize(decodeHistogram(load.latencyHistogram)),
    latencyOfAll: load.latencyHistogramAll !== undefined,
    usage: record.usage,
    generator: { ...load.saturation },
    partial: load.partial,
    ...(record.failure === undefined ? {} : { failure: record.failure }),
    latencyHistogramSynthesized: load.latencyHistogramSynthesized === true,
    blastRadius: blastRadiusOfTrial(record, options.blastRadius),
    search: record.search,
    ...replicaLoad(record),
    contextSwitchesPerRequest: contextSwitchesPerRequest(record),
    processMemory: trialMemory(record),
    ...sharedStateCounts(record),
  };
}

/**
 * Switches per request: the counters cover the usage window (warm-up included), so they are
 * divided by what the workloads counted over the same window; without a server count, by the
 * client's count of the measured window (not for a search, whose steps the counters span).
 */
function contextSwitchesPerRequest(record: TrialRecord): ContextSwitchesPerRequest | undefined {
  const switches = record.usage?.contextSwitches;
  if (!switches) return undefined;
  const replicas = record.replicas ?? [];
  const server = replicas.length > 0 && replicas.every((r) => r.requestsReceived !== undefined);
  if (!server && record.search) return undefined;
  const requests = server
    ? replicas.reduce((n, r) => n + (r.requestsReceived ?? 0), 0)
    : record.load.completed + Object.values(record.load.errors).reduce((n, e) => n + e, 0);
  if (requests <= 0) return undefined;
  return {
    voluntary: switches.voluntary / requests,
    involuntary: switches.involuntary / requests,
    runQueueWaitMillis:
      switches.runQueueWaitSeconds === undefined ? undefined : (switches.runQueueWaitSeconds * 1000) / requests,
    requests,
    requestsFrom: server ? 'server' : 'client',
  };
}

function trialMemory(record: TrialRecord): TrialMemory | undefined {
  const processes = record.usage?.processes;
  if (!processes || processes.length === 0) return undefined;
  const sum = (pick: (p: ProcessMemory) => number) => processes.reduce((n, p) => n + pick(p), 0);
  return {
    processes: processes.length,
    servingProcesses: processes.filter((p) => p.role !== 'supervisor').length,
    rssBytes: sum((p) => p.rssBytes),
    pssBytes: sum((p) => p.pssBytes),
    ussBytes: sum((p) => p.ussBytes),
    supervisorPssBytes: sum((p) => (p.role === 'supervisor' ? p.pssBytes : 0)),
  };
}

function sharedStateCounts(record: TrialRecord): Pick<TrialSummary, 'lostUpdates' | 'sharedStateAttempts'> {
  const reported = (record.replicas ?? []).filter((r) => r.lostUpdates !== undefined);
  if (reported.length === 0) return { lostUpdates: undefined, sharedStateAttempts: undefined };
  const attempts = reported.filter((r) => r.sharedStateAttempts !== undefined);
  return {
    lostUpdates: reported.reduce((n, r) => n + (r.lostUpdates ?? 0), 0),
    sharedStateAttempts: attempts.length ? attempts.reduce((n, r) => n + (r.sharedStateAttempts ?? 0), 0) : undefined,
  };
}

/** Load per replica: the workloads' own counts where they reported them, else the client's. */
function replicaLoad(record: TrialRecord): Pick<TrialSummary, 'replicasLoaded' | 'requestsPerReplica'> {
  const server = record.replicas?.filter((r) => r.requestsReceived !== undefined) ?? [];
  const perReplica =
    server.length > 0
      ? server.map((r) => r.requestsReceived ?? 0)
      : record.load.perTarget?.map((t) => t.completed + t.errors);
  if (!perReplica || perReplica.length === 0) return { replicasLoaded: undefined, requestsPerReplica: undefined };
  return { replicasLoaded: perReplica.filter((n) => n > 0).length, requestsPerReplica: perReplica };
}

function mergedSpanLatency(records: readonly TrialRecord[], field: 'durationHistogram' | 'queueHistogram') {
  const histograms = records.flatMap((r) => r.spans.map((s) => decodeHistogram(s[field])));
  if (histograms.length === 0) return undefined;
  const merged = mergeHistograms(histograms);
  return merged.totalCount === 0 ? undefined : summarize(merged);
}

/**
 * Parallelism the variant can turn into throughput: the CPU limit, no more than one core per
 * worker, and one core in all for CPython threads (the GIL serialises the computation).
 */
export function effectiveCores(cpuCores: number, variant: Variant, runtime: string): number {
  const byWorkers = Math.min(cpuCores, variant.workers * variant.replicas);
  if (runtime === 'python' && variant.model !== 'process') return Math.min(byWorkers, variant.replicas);
  return byWorkers;
}

function capacityCheck(
  experiment: ConcurrencyExperiment,
  variant: Variant,
  perTrial: readonly TrialSummary[],
): CapacityCheck | undefined {
  const spec = experiment.spec;
  // Only the cpu profile has a capacity set by computation alone; io and mixed wait too.
  if (spec.workload.profile !== 'cpu' || perTrial.length === 0) return undefined;
  let cpuTimeMillis: number;
  let limitCores: number;
  try {
    cpuTimeMillis = parseDurationMillis(spec.workload.cpuTime);
    limitCores = perTrial.find((t) => t.usage)?.usage?.limits.cpuCores ?? parseCpuCores(budgetOf(spec, variant).cpu);
  } catch {
    return undefined;
  }
  if (!(cpuTimeMillis > 0) || !(limitCores > 0)) return undefined;
  // Only replicas that received load can contribute capacity.
  const loaded = Math.min(...perTrial.map((t) => t.replicasLoaded ?? variant.replicas));
  const cores = effectiveCores(limitCores, { ...variant, replicas: Math.max(1, loaded) }, spec.workload.runtime);
  const expectedRps = cores / (cpuTimeMillis / 1000);
  const best = perTrial.reduce((b, t) => (t.throughput > b.throughput ? t : b));
  const keptUp = best.throughput >= 0.95 * best.offeredRate;
  const measuredKind = spec.load.pattern === 'max-throughput' || !keptUp ? 'capacity' : 'lower-bound';
  const ratio = expectedRps > 0 ? best.throughput / expectedRps : 0;
  const note =
    measuredKind === 'lower-bound'
      ? `served all ${best.offeredRate.toFixed(0)} req/s offered; capacity not reached (expected about ${expectedRps.toFixed(0)} req/s)`
      : `reached ${(ratio * 100).toFixed(0)}% of the ${expectedRps.toFixed(0)} req/s that ${cores} core(s) at ${cpuTimeMillis} ms CPU per request allow`;
  return { effectiveCores: cores, cpuTimeMillis, expectedRps, measuredRps: best.throughput, measuredKind, ratio, note };
}

function workerSpread(records: readonly TrialRecord[], variant: Variant): VariantSummary['workerSpread'] {
  const byWorker = new Map<string, WorkerShare>();
  for (const r of records) {
    for (const s of r.spans) {
      // Workers of different replicas are different workers: the id carries the replica.
      const id = variant.replicas > 1 ? `r${s.key.replica ?? '?'}/${s.key.worker}` : s.key.worker;
      const w = byWorker.get(id) ?? {
        worker: id,
        spans: 0,
        sharePercent: 0,
        pids: [],
        threadIds: [],
      };
      w.spans += s.spans;
      for (const p of s.pids) if (!w.pids.includes(p)) w.pids.push(p);
      for (const id of s.threadIds) if (!w.threadIds.includes(id)) w.threadIds.push(id);
      byWorker.set(id, w);
    }
  }
  if (byWorker.size === 0) return undefined;
  const perWorker = [...byWorker.values()].sort((a, b) =>
    a.worker.localeCompare(b.worker, undefined, { numeric: true }),
  );
  // Workers that never served a span still count in the spread: they did none of the work.
  const counts = perWorker.map((w) => w.spans);
  for (let i = perWorker.length; i < variant.workers * variant.replicas; i++) counts.push(0);
  const total = counts.reduce((a, b) => a + b, 0);
  for (const w of perWorker) w.sharePercent = total > 0 ? (w.spans / total) * 100 : 0;
  const meanCount = total / counts.length;
  return {
    perWorker,
    cv: coefficientOfVariation(counts),
    samplingNoiseCv: meanCount > 0 ? 1 / Math.sqrt(meanCount) : 0,
    workersSeen: perWorker.length,
  };
}

function estimateOf(values: readonly number[]): MeanEstimate {
  return meanWithCI(values);
}

function withValues(values: number[]): MeanEstimate & { values: number[] } {
  return { ...estimateOf(values), values };
}

function contextSwitchSummary(counted: readonly TrialSummary[]): VariantSummary['contextSwitches'] {
  const per = counted.flatMap((t) => (t.contextSwitchesPerRequest ? [t.contextSwitchesPerRequest] : []));
  if (per.length === 0) return undefined;
  const waits = per.flatMap((c) => (c.runQueueWaitMillis === undefined ? [] : [c.runQueueWaitMillis]));
  return {
    voluntaryPerRequest: withValues(per.map((c) => c.voluntary)),
    involuntaryPerRequest: withValues(per.map((c) => c.involuntary)),
    runQueueWaitMillisPerRequest: waits.length === per.length ? withValues(waits) : undefined,
    requestsFrom: per.every((c) => c.requestsFrom === 'server') ? 'server' : 'client',
  };
}

function memorySummary(counted: readonly TrialSummary[], variant: Variant): VariantSummary['processMemory'] {
  const mem = counted.flatMap((t) => (t.processMemory ? [t.processMemory] : []));
  const last = mem.at(-1);
  if (!last) return undefined;
  const workers = Math.max(1, variant.workers * variant.replicas);
  return {
    processes: last.processes,
    servingProcesses: last.servingProcesses,
    rssBytes: withValues(mem.map((m) => m.rssBytes)),
    pssBytes: withValues(mem.map((m) => m.pssBytes)),
    ussBytes: withValues(mem.map((m) => m.ussBytes)),
    sharedBytes: estimateOf(mem.map((m) => Math.max(0, m.pssBytes - m.ussBytes))),
    perWorkerPssBytes: estimateOf(mem.map((m) => m.pssBytes / workers)),
    perWorkerUssBytes: estimateOf(mem.map((m) => m.ussBytes / workers)),
    supervisorPssBytes: estimateOf(mem.map((m) => m.supervisorPssBytes)),
  };
}

function sharedStateSummary(
  experiment: ConcurrencyExperiment,
  counted: readonly TrialSummary[],
  countedRecords: readonly TrialRecord[],
): VariantSummary['sharedState'] {
  if (experiment.spec.workload.profile !== 'shared-state') return undefined;
  const costs = countedRecords.flatMap((r) => r.spans.flatMap((s) => (s.sharedState ? [s.sharedState] : [])));
  const merged = costs.length ? mergeHistograms(costs.map((c) => decodeHistogram(c.costHistogram))) : undefined;
  const lost = counted.flatMap((t) => (t.lostUpdates === undefined ? [] : [t.lostUpdates]));
  const attempts = counted.flatMap((t) => (t.sharedStateAttempts === undefined ? [] : [t.sharedStateAttempts]));
  return {
    racy: experiment.spec.workload.racyUpdates === true,
    updates: costs.reduce((n, c) => n + c.updates, 0),
    cost: merged && merged.totalCount > 0 ? summarize(merged) : undefined,
    lostUpdates: lost.length ? lost.reduce((a, b) => a + b, 0) : undefined,
    attempts: attempts.length === lost.length && attempts.length ? attempts.reduce((a, b) => a + b, 0) : undefined,
    lostPerTrial: lost,
  };
}

export function summarizeVariant(
  experiment: ConcurrencyExperiment,
  variant: Variant,
  records: readonly TrialRecord[],
  options: SummaryOptions = {},
): VariantSummary {
  const mine = records.filter((r) => r.variant === variant.name).sort((a, b) => a.trial - b.trial);
  const perTrial = mine.map((r) => summarizeTrial(r, options));
  const warnings: string[] = [];
  if (perTrial.length === 0) warnings.push(`variant ${variant.name}: no trials were recorded`);

  // A trial cut short (Ctrl-C, crash of conclab) measured a different window and state: it
  // stays in the per-trial data but not in the statistics, unless nothing else exists.
  const complete = perTrial.filter((t) => !t.partial);
  const counted = complete.length > 0 ? complete : perTrial;
  for (const t of perTrial) {
    if (t.partial && counted !== perTrial) {
      warnings.push(`variant ${variant.name} trial ${t.trial} is partial and left out of the statistics`);
    } else if (t.partial) {
      warnings.push(`variant ${variant.name} trial ${t.trial} is partial`);
    }
  }
  const countedRecords = mine.filter((r) => counted.some((t) => t.trial === r.trial));
  const throughputs = counted.map((t) => t.throughput);
  // Honest latency: every scheduled request where every counted trial has it, so failures
  // cannot flatter the figure; else successes alone, said so.
  const clientOfAll =
    countedRecords.length > 0 && countedRecords.every((r) => r.load.latencyHistogramAll !== undefined);
  const successes = summarize(mergeHistograms(countedRecords.map((r) => decodeHistogram(r.load.latencyHistogram))));
  const client = clientOfAll
    ? summarize(mergeHistograms(countedRecords.map((r) => decodeHistogram(r.load.latencyHistogramAll as string))))
    : successes;
  if (!clientOfAll && countedRecords.length > 0 && counted.some((t) => t.errors + t.dropped > 0)) {
    warnings.push(
      `variant ${variant.name}: latency percentiles count successful requests only (the load driver gave no histogram of every request), and ${counted.reduce((n, t) => n + t.errors + t.dropped, 0)} requests failed or were dropped: the tail is better than users saw`,
    );
  }
  const p99PerTrial = counted.map((t) => (clientOfAll ? t.latency.p99Millis : t.latencySuccesses.p99Millis));
  const synthesized = perTrial.filter((t) => t.latencyHistogramSynthesized);
  if (synthesized.length > 0) {
    warnings.push(
      `variant ${variant.name}: latency of ${synthesized.length} trial(s) was rebuilt from summary percentiles (k6), so merged percentiles are approximate`,
    );
  }
  if (mine.some((r) => r.spans.some((s) => s.perSecondTruncated))) {
    warnings.push(
      `variant ${variant.name}: the trace receiver truncated per-second span counts; span timelines are incomplete`,
    );
  }
  const p99ci = bootstrapCI(p99PerTrial, mean, { seed: options.seed ?? 0x5eed });

  const byKind = Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as Record<ErrorKind, number>;
  for (const t of counted) for (const k of ERROR_KINDS) byKind[k] += t.errorsByKind[k];
  const scheduled = counted.reduce((n, t) => n + t.scheduled, 0);
  const errorsTotal = counted.reduce((n, t) => n + t.errors, 0);
  const dropped = counted.reduce((n, t) => n + t.dropped, 0);

  const usages = counted.map((t) => t.usage).filter((u): u is ResourceUsage => u !== undefined);
  if (usages.length > 0 && usages.length < counted.length) {
    warnings.push(`variant ${variant.name}: resource usage missing for ${counted.length - usages.length} trial(s)`);
  }
  const missingReasons = [
    ...new Set(countedRecords.flatMap((r) => (r.usage ? [] : [r.usageMissing ?? 'not measured']))),
  ];
  const resourcesMissing = usages.length === 0 && missingReasons.length > 0 ? missingReasons.join('; ') : undefined;
  const oomKnown = usages.filter((u) => u.oomKills !== undefined);
  const firstUsage = usages[0];
  const resources =
    firstUsage === undefined
      ? undefined
      : {
          cpuSeconds: estimateOf(usages.map((u) => u.cpuSeconds)),
          throttledSeconds: estimateOf(usages.map((u) => u.throttledSeconds)),
          throttledPeriods: usages.reduce((n, u) => n + u.throttledPeriods, 0),
          peakMemoryBytes: {
            ...estimateOf(usages.map((u) => u.peakMemoryBytes)),
            max: Math.max(...usages.map((u) => u.peakMemoryBytes)),
            values: usages.map((u) => u.peakMemoryBytes),
          },
          limits: firstUsage.limits,
          restarts: usages.reduce((n, u) => n + u.restarts, 0),
          oomKills: oomKnown.length === 0 ? undefined : oomKnown.reduce((n, u) => n + (u.oomKills ?? 0), 0),
        };
  if (resources?.oomKills) {
    warnings.push(`variant ${variant.name}: the kernel OOM-killed ${resources.oomKills} process(es) during the trials`);
  }

  const unreliable = perTrial.filter((t) => t.generator.unreliable);
  for (const t of unreliable) {
    warnings.push(
      `variant ${variant.name} trial ${t.trial}: the load generator was saturated (${t.generator.reason ?? 'send slip or event-loop lag over threshold'}); its figures understate the server`,
    );
  }
  const failedTrials = perTrial.flatMap((t) =>
    t.failure === undefined ? [] : [{ trial: t.trial, failure: t.failure }],
  );
  for (const f of failedTrials) warnings.push(`variant ${variant.name} trial ${f.trial} failed: ${f.failure}`);

  const spread = workerSpread(mine, variant);
  if (spread && spread.workersSeen < variant.workers * variant.replicas) {
    warnings.push(
      `variant ${variant.name}: spans came from ${spread.workersSeen} of ${variant.workers * variant.replicas} workers`,
    );
  }

  const searches = counted.flatMap((t) => (t.search ? [t.search.capacity] : []));
  const searchedCapacity = searches.length ? { ...estimateOf(searches), values: searches } : undefined;
  for (const t of counted) {
    if (t.requestsPerReplica && t.requestsPerReplica.length < variant.replicas) {
      warnings.push(
        `variant ${variant.name} trial ${t.trial}: only ${t.requestsPerReplica.length} of ${variant.replicas} replicas reported`,
      );
    } else if (t.replicasLoaded !== undefined && t.replicasLoaded < variant.replicas) {
      warnings.push(
        `variant ${variant.name} trial ${t.trial}: only ${t.replicasLoaded} of ${variant.replicas} replicas received load`,
      );
    }
  }

  const blasts = counted.flatMap((t) => t.blastRadius);
  const measured = blasts.filter((b) => b.measurable);
  for (const b of blasts)
    if (!b.measurable)
      warnings.push(`variant ${variant.name} trial ${b.trial}: blast radius not measurable: ${b.reason}`);
  const recoveries = measured.flatMap((b) => (b.recoverySeconds === undefined ? [] : [b.recoverySeconds]));
  const coldStarts = measured.flatMap((b) => (b.coldStartSeconds === undefined ? [] : [b.coldStartSeconds]));
  const downs = measured.flatMap((b) => (b.downSeconds === undefined ? [] : [b.downSeconds]));
  const detects = measured.flatMap((b) => (b.detectSeconds === undefined ? [] : [b.detectSeconds]));
  const peaks = measured.map((b) => b.peakCapacityLostPercent);
  const blastRadius =
    blasts.length === 0
      ? undefined
      : {
          faults: blasts.length,
          measurable: measured.length,
          peakCapacityLostPercent: { ...estimateOf(peaks), values: peaks },
          requestsLost: estimateOf(measured.map((b) => b.requestsLost)),
          recoverySeconds: recoveries.length ? estimateOf(recoveries) : undefined,
          neverRecovered: measured.filter((b) => !b.recovered).length,
          restarts: measured.filter((b) => b.restarted).length,
          workersReplaced: measured.reduce((n, b) => n + b.workersReplaced, 0),
          coldStartSeconds: coldStarts.length ? estimateOf(coldStarts) : undefined,
          downSeconds: downs.length ? estimateOf(downs) : undefined,
          detectSeconds: detects.length ? estimateOf(detects) : undefined,
        };

  return {
    name: variant.name,
    model: variant.model,
    workers: variant.workers,
    trials: perTrial.length,
    trialsCounted: counted.map((t) => t.trial),
    loadPattern: experiment.spec.load.pattern,
    throughput: { ...estimateOf(throughputs), values: throughputs },
    offeredRate: mean(counted.map((t) => t.offeredRate)) || 0,
    latency: {
      client,
      successes,
      clientOfAll,
      p99PerTrial,
      p99: {
        mean: mean(p99PerTrial) || 0,
        ci: p99ci === undefined ? undefined : { lower: p99ci.lower, upper: p99ci.upper, level: p99ci.level },
      },
      server: mergedSpanLatency(mine, 'durationHistogram'),
      queue: mergedSpanLatency(mine, 'queueHistogram'),
    },
    errors: {
      scheduled,
      failed: errorsTotal + dropped,
      dropped,
      errors: errorsTotal,
      byKind,
      rate: scheduled > 0 ? (errorsTotal + dropped) / scheduled : 0,
      inFlightAtEnd: counted.reduce((n, t) => n + t.inFlightAtEnd, 0),
    },
    resources,
    workerSpread: spread,
    capacity: capacityCheck(experiment, variant, counted),
    contextSwitches: contextSwitchSummary(counted),
    processMemory: memorySummary(counted, variant),
    sharedState: sharedStateSummary(experiment, counted, countedRecords),
    searchedCapacity,
    resourcesMissing,
    generator: {
      unreliableTrials: unreliable.map((t) => t.trial),
      reasons: unreliable.map((t) => t.generator.reason ?? 'saturated'),
    },
    blastRadius,
    failedTrials,
    warnings,
    perTrial,
  };
}

/** Summaries of every variant of the experiment (every sweep point), in the order the manifest lists them. */
export function summarizeVariants(
  experiment: ConcurrencyExperiment,
  records: readonly TrialRecord[],
  options: SummaryOptions = {},
): VariantSummary[] {
  return sweepPoints(experiment.spec).map((v) => summarizeVariant(experiment, v, records, options));
}
