// What one broken worker cost, measured from the client's per-second series, the workload's
// events and the spans (issue 5). Pure: a TrialRecord and one of its faults in, figures out.
//
// Resolution is the per-second series: times to detect and recover are whole seconds
// counted from the fault's second, so "0 s" means "within the second of the fault".

import type { ErrorKind, InjectedFault, SecondSample, TrialRecord } from '../contracts/records.ts';

export interface BlastRadiusOptions {
  /**
   * Seconds at the start of the measured window left out of the baseline: the first second
   * still carries the ramp from warm-up (connections being opened, JIT settling). Only
   * applied when at least two baseline seconds remain.
   */
  baselineSkipSeconds?: number;
  /** Throughput share of the baseline that counts as recovered. */
  recoveryFraction?: number;
  /** Seconds throughput must stay recovered before it counts. */
  recoveryHoldSeconds?: number;
  /** Seconds before and after the fault kept in the timeline. */
  timelineBeforeSeconds?: number;
  timelineAfterSeconds?: number;
}

/** One second of the timeline around the fault; offsetSeconds is 0 for the fault's second. */
export interface TimelinePoint {
  offsetSeconds: number;
  second: number;
  sent: number;
  completed: number;
  errors: number;
  dropped: number;
  p99Millis: number;
}

/** The view from spans: what the surviving workers did while the broken one was down. */
export interface SpanBlastView {
  brokenWorker: string;
  /** Share of spans the broken worker served before the fault: its share of the work. */
  brokenWorkerShareBeforePercent: number;
  /** Spans per second of all other workers, before and after the fault. */
  survivorsRateBefore: number;
  survivorsRateAfter: number;
  /** Change of the survivors' rate; about -100% when the fault took the whole process. */
  survivorsChangePercent: number | undefined;
  /** The broken worker showed up again with a new pid (it was replaced). */
  brokenWorkerNewPid: boolean;
}

export interface BlastRadius {
  variant: string;
  trial: number;
  fault: InjectedFault;
  /** False when the fault fell outside the measured window or there was no baseline. */
  measurable: boolean;
  reason?: string;
  /** Fault time from the start of the measured window, in seconds. */
  faultOffsetSeconds: number;
  /** Mean completed requests per second before the fault, and over how many seconds. */
  baselineThroughput: number;
  baselineSeconds: number;
  /** Requests that failed (errors) and that were dropped, from the fault's second on. */
  failedAfterFault: number;
  droppedAfterFault: number;
  /**
   * Errors by kind. The load result counts kinds for the whole trial only, so this is
   * attributable to the fault when failedByKindIncludesPreFault is false.
   */
  failedByKind: Partial<Record<ErrorKind, number>>;
  failedByKindIncludesPreFault: boolean;
  /**
   * Requests the broken worker held when it failed: connection resets (an accepted request
   * whose server died) plus requests still outstanding when the trial ended (stuck on a
   * hung worker).
   */
  inFlightLost: number;
  /** Shortfall against the baseline summed over the dip: requests not served. */
  requestsLost: number;
  /** The same as seconds of full baseline capacity (requestsLost / baseline). */
  capacityLostSeconds: number;
  /** Deepest one-second dip against the baseline, 0..100. */
  peakCapacityLostPercent: number;
  /** Whole seconds from the fault's second to the first second with failed requests; undefined if none. */
  detectSeconds: number | undefined;
  /** Whole seconds from the fault's second until throughput was back to 95% and held; undefined if never. */
  recoverySeconds: number | undefined;
  recovered: boolean;
  /**
   * The whole process or container went down (the fault took more than its worker): a
   * process-restart event, or a 'not-ready' without a worker even if it was not back in time.
   */
  restarted: boolean;
  /**
   * New process started to ready, in seconds (the process-restart's coldStartMillis); without
   * a process restart, the first replacement worker's spawn to serving. Undefined when nothing
   * was restarted or replaced within the trial.
   */
  coldStartSeconds: number | undefined;
  /** Process down to ready again, in seconds (the runtime's downMillis when reported). */
  downSeconds: number | undefined;
  /** Workers the supervisor replaced after the fault. */
  workersReplaced: number;
  /**
   * Client p99 of successful requests (the survivors' latency): completed-weighted mean of
   * the per-second p99 before the fault and during the dip, and the worst second during it.
   */
  p99BeforeMillis: number;
  p99DuringMillis: number;
  p99PeakDuringMillis: number;
  spans: SpanBlastView | undefined;
  timeline: TimelinePoint[];
}

const DEFAULTS: Required<BlastRadiusOptions> = {
  baselineSkipSeconds: 1,
  recoveryFraction: 0.95,
  recoveryHoldSeconds: 3,
  timelineBeforeSeconds: 5,
  timelineAfterSeconds: 15,
};

function weightedP99(samples: readonly SecondSample[]): number {
  let weight = 0;
  let sum = 0;
  for (const s of samples) {
    if (s.completed <= 0) continue;
    weight += s.completed;
    sum += s.p99Millis * s.completed;
  }
  return weight === 0 ? 0 : sum / weight;
}

function sumOf(samples: readonly SecondSample[], field: 'sent' | 'completed' | 'errors' | 'dropped'): number {
  let total = 0;
  for (const s of samples) total += s[field];
  return total;
}

/** Blast radius of every fault injected in the trial. */
export function blastRadiusOfTrial(record: TrialRecord, options: BlastRadiusOptions = {}): BlastRadius[] {
  return record.faults.map((fault) => measureBlastRadius(record, fault, options));
}

export function measureBlastRadius(
  record: TrialRecord,
  fault: InjectedFault,
  options: BlastRadiusOptions = {},
): BlastRadius {
  const o = { ...DEFAULTS, ...options };
  if (!(o.recoveryFraction > 0 && o.recoveryFraction <= 1)) {
    throw new RangeError(`blast radius: recoveryFraction must be within (0, 1], got ${o.recoveryFraction}`);
  }
  const load = record.load;
  // Seconds after the measured window only drain requests already sent (nothing new is sent),
  // so their throughput says nothing about recovery: the analysis stops at the window's end.
  const windowSeconds = Math.ceil((load.endedAtMillis - load.startedAtMillis) / 1000);
  const series = [...load.perSecond]
    .filter((s) => windowSeconds <= 0 || s.second < windowSeconds)
    .sort((a, b) => a.second - b.second);
  const faultOffsetSeconds = (fault.atMillis - load.startedAtMillis) / 1000;
  const faultSecond = Math.floor(faultOffsetSeconds);
  // Only the replica the fault hit: another replica's restart is not this fault's doing.
  const events = record.events
    .filter((e) => e.atMillis >= fault.atMillis && (e.replica ?? 0) === (fault.replica ?? 0))
    .sort((a, b) => a.atMillis - b.atMillis);

  // A 'not-ready' without a worker (the supervisor stopped answering) or a process exit is the
  // whole process (container) dying; it counts as a restart even when the new process was not
  // up before the trial ended.
  const processDown = events.find(
    (e) => (e.kind === 'not-ready' && e.worker === undefined) || e.kind === 'process-exit',
  );
  const restartEvent = events.find((e) => e.kind === 'process-restart');
  const restarted = restartEvent !== undefined || fault.restartedAtMillis !== undefined || processDown !== undefined;
  let coldStartSeconds: number | undefined;
  let downSeconds: number | undefined;
  if (restartEvent !== undefined || fault.restartedAtMillis !== undefined) {
    // The runtime's own figures (new process spawned to ready; down to ready) when it gives
    // them; otherwise from the process going down to it being back.
    const downAt = processDown?.atMillis ?? fault.atMillis;
    const upAt =
      fault.restartedAtMillis ??
      events.find((e) => e.kind === 'ready' && e.worker === undefined && e.atMillis >= downAt)?.atMillis ??
      restartEvent?.atMillis;
    const measured = upAt !== undefined && upAt >= downAt ? (upAt - downAt) / 1000 : undefined;
    const reportedCold = restartEvent?.coldStartMillis;
    const reportedDown = restartEvent?.downMillis;
    coldStartSeconds = reportedCold === undefined ? measured : reportedCold / 1000;
    downSeconds = reportedDown === undefined ? measured : reportedDown / 1000;
  }
  const replacements = events.filter((e) => e.kind === 'worker-replaced');
  const workersReplaced = replacements.length;
  // Without a process restart, the cold start is the replacement worker's: spawned to serving.
  const workerCold = replacements.find((e) => e.coldStartMillis !== undefined)?.coldStartMillis;
  if (coldStartSeconds === undefined && workerCold !== undefined) coldStartSeconds = workerCold / 1000;

  const firstSecond = series[0]?.second ?? 0;
  const before = series.filter((s) => s.second < faultSecond);
  const skipped = before.filter((s) => s.second >= firstSecond + o.baselineSkipSeconds);
  const baselineSamples = skipped.length >= 2 ? skipped : before;
  // Capped at the offered rate: under an open model, completions above what was sent are a
  // backlog draining (a slow start right after warm-up), not capacity, and a baseline inflated
  // by them would read the steady state after the fault as a dip that never recovers.
  const baselineThroughput =
    baselineSamples.length === 0
      ? 0
      : Math.min(sumOf(baselineSamples, 'completed'), sumOf(baselineSamples, 'sent')) / baselineSamples.length;
  const after = series.filter((s) => s.second >= faultSecond);
  const timeline = series
    .filter(
      (s) => s.second >= faultSecond - o.timelineBeforeSeconds && s.second <= faultSecond + o.timelineAfterSeconds,
    )
    .map((s) => ({
      offsetSeconds: s.second - faultSecond,
      second: s.second,
      sent: s.sent,
      completed: s.completed,
      errors: s.errors,
      dropped: s.dropped,
      p99Millis: s.p99Millis,
    }));

  const preFaultErrors = sumOf(before, 'errors');
  const failedByKind: Partial<Record<ErrorKind, number>> = {};
  for (const [kind, n] of Object.entries(load.errors) as [ErrorKind, number][]) if (n > 0) failedByKind[kind] = n;
  const inFlightLost = (load.errors.reset ?? 0) + load.inFlightAtEnd;

  const base = {
    variant: record.variant,
    trial: record.trial,
    fault,
    faultOffsetSeconds,
    baselineThroughput,
    baselineSeconds: baselineSamples.length,
    failedAfterFault: sumOf(after, 'errors'),
    droppedAfterFault: sumOf(after, 'dropped'),
    failedByKind,
    failedByKindIncludesPreFault: preFaultErrors > 0,
    inFlightLost,
    restarted,
    coldStartSeconds,
    downSeconds,
    workersReplaced,
    p99BeforeMillis: weightedP99(baselineSamples),
    timeline,
  };

  const notMeasurable = (reason: string): BlastRadius => ({
    ...base,
    measurable: false,
    reason,
    requestsLost: 0,
    capacityLostSeconds: 0,
    peakCapacityLostPercent: 0,
    detectSeconds: undefined,
    recoverySeconds: undefined,
    recovered: false,
    p99DuringMillis: 0,
    p99PeakDuringMillis: 0,
    spans: undefined,
  });
  if (faultOffsetSeconds < 0 || after.length === 0) {
    return notMeasurable(
      `the fault at ${faultOffsetSeconds.toFixed(1)} s fell outside the measured window of ${series.length} s`,
    );
  }
  if (baselineThroughput <= 0) {
    return notMeasurable('no completed requests before the fault to form a baseline (inject the fault later)');
  }

  const threshold = o.recoveryFraction * baselineThroughput;
  // Whole seconds, as the series has them: 0 is the fault's own second.
  const sinceFault = (second: number) => Math.max(0, second - faultSecond);
  const firstFailed = after.find((s) => s.errors > 0);
  const detectSeconds = firstFailed === undefined ? undefined : sinceFault(firstFailed.second);

  // Recovery: the first second after the first dipped one from which throughput stays at or
  // above the threshold for the hold time. No dipped second at all means nothing to recover.
  const firstDipIndex = after.findIndex((s) => s.completed < threshold);
  let recoveryIndex: number | undefined;
  if (firstDipIndex === -1) recoveryIndex = 0;
  else {
    for (let i = firstDipIndex + 1; i + o.recoveryHoldSeconds <= after.length; i++) {
      let held = true;
      for (let k = i; k < i + o.recoveryHoldSeconds; k++) {
        if ((after[k] as SecondSample).completed < threshold) {
          held = false;
          break;
        }
      }
      if (held) {
        recoveryIndex = i;
        break;
      }
    }
  }
  const recovered = recoveryIndex !== undefined;
  const recoverySeconds =
    recoveryIndex === undefined
      ? undefined
      : firstDipIndex === -1
        ? 0
        : sinceFault((after[recoveryIndex] as SecondSample).second);
  // The dip lasts from the fault to recovery (or to the end of the trial).
  const dip = firstDipIndex === -1 ? [] : after.slice(0, recoveryIndex ?? after.length);
  let requestsLost = 0;
  let peak = 0;
  for (const s of dip) {
    const shortfall = Math.max(0, baselineThroughput - s.completed);
    requestsLost += shortfall;
    peak = Math.max(peak, shortfall / baselineThroughput);
  }

  return {
    ...base,
    measurable: true,
    requestsLost,
    capacityLostSeconds: requestsLost / baselineThroughput,
    peakCapacityLostPercent: Math.min(100, peak * 100),
    detectSeconds,
    recoverySeconds,
    recovered,
    p99DuringMillis: weightedP99(dip),
    p99PeakDuringMillis: dip.reduce((m, s) => (s.completed > 0 ? Math.max(m, s.p99Millis) : m), 0),
    spans: spanView(record, fault, baselineSamples, dip.length > 0 ? dip : after, load.startedAtMillis),
  };
}

function spanView(
  record: TrialRecord,
  fault: InjectedFault,
  baseline: readonly SecondSample[],
  window: readonly SecondSample[],
  startedAtMillis: number,
): SpanBlastView | undefined {
  if (record.spans.length === 0 || baseline.length === 0 || window.length === 0) return undefined;
  const startEpoch = Math.floor(startedAtMillis / 1000);
  const toEpoch = (s: SecondSample) => startEpoch + s.second;
  const beforeFrom = toEpoch(baseline[0] as SecondSample);
  const beforeTo = toEpoch(baseline[baseline.length - 1] as SecondSample);
  // The fault's own second is mixed; start the "after" window one second later when possible.
  const afterFrom = toEpoch(window[0] as SecondSample) + (window.length > 1 ? 1 : 0);
  const afterTo = toEpoch(window[window.length - 1] as SecondSample);
  const brokenWorker = String(fault.worker);
  let brokenBefore = 0;
  let allBefore = 0;
  let survivorsBefore = 0;
  let survivorsAfter = 0;
  let brokenPids = 0;
  for (const agg of record.spans) {
    const broken = agg.key.worker === brokenWorker;
    if (broken) brokenPids = Math.max(brokenPids, agg.pids.length);
    for (const [epoch, count] of agg.perSecond) {
      if (epoch >= beforeFrom && epoch <= beforeTo) {
        allBefore += count;
        if (broken) brokenBefore += count;
        else survivorsBefore += count;
      } else if (epoch >= afterFrom && epoch <= afterTo && !broken) survivorsAfter += count;
    }
  }
  const beforeSeconds = beforeTo - beforeFrom + 1;
  const afterSeconds = afterTo - afterFrom + 1;
  const survivorsRateBefore = survivorsBefore / beforeSeconds;
  const survivorsRateAfter = survivorsAfter / afterSeconds;
  return {
    brokenWorker,
    brokenWorkerShareBeforePercent: allBefore === 0 ? 0 : (brokenBefore / allBefore) * 100,
    survivorsRateBefore,
    survivorsRateAfter,
    survivorsChangePercent:
      survivorsRateBefore === 0 ? undefined : ((survivorsRateAfter - survivorsRateBefore) / survivorsRateBefore) * 100,
    brokenWorkerNewPid: brokenPids > 1,
  };
}
