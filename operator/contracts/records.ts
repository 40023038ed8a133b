// The records every layer exchanges, defined once: what a load driver returns, what the trial
// runner measures, what a load pod posts to the operator, what analysis reads. Each is a
// TypeBox schema, so the TypeScript type and the check applied to a record that crossed a
// process or network boundary (the operator's results endpoint) are the same definition.
//
// This module is the bottom layer: every folder may import it, and it imports nothing of the
// project (checked by .ci/run through dependency-cruiser). Times are epoch milliseconds unless
// a field says otherwise; counts are whole numbers; histograms use ./histogram.ts.
import Type from 'typebox';
import Schema from 'typebox/schema';

const Num = (description: string) => Type.Number({ description });
const Int = (description: string) => Type.Integer({ description, minimum: 0 });
const Str = (description: string) => Type.String({ description });
const Bool = (description: string) => Type.Boolean({ description });
const Enum = <const T extends readonly string[]>(values: T, description: string) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], description });
const Opt = Type.Optional;

// ---- load ------------------------------------------------------------------------------

export const ERROR_KINDS = ['refused', 'reset', 'timeout', 'http4xx', 'http5xx', 'other'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export const SecondSample = Type.Object({
  second: Int('Second of the measured window, from 0.'),
  sent: Int('Requests whose intended send time fell in this second.'),
  completed: Int('Requests completed successfully in this second (by completion time).'),
  errors: Int('Requests that failed in this second.'),
  dropped: Int('Requests not sent in this second because maxInFlight was reached.'),
  p99Millis: Num('p99 latency (intended send time to response) of requests completed this second.'),
});
/**
 * One second of the measured window. The series may run past the window by up to the
 * timeout: answers (and timeouts) of requests sent near the end count in the second they
 * arrive, so every series sums to its total.
 */
export type SecondSample = Type.Static<typeof SecondSample>;

export const TargetLoad = Type.Object({
  replica: Int('Index of the workload replica this target is (0-based).'),
  url: Str('Work URL the requests went to.'),
  sent: Int('Requests sent to this target in the measured window.'),
  completed: Int('Requests this target answered successfully.'),
  errors: Int('Requests to this target that failed.'),
});
/** What one replica was sent, as the client saw it. */
export type TargetLoad = Type.Static<typeof TargetLoad>;

export const Saturation = Type.Object({
  unreliable: Bool('The load generator was saturated: the trial says nothing about the target.'),
  sendSlipP99Millis: Num(
    'p99 of how late the generator got to requests against their intended time (sent, or queued for the next free connection of a busy target).',
  ),
  eventLoopLagMaxMillis: Num('Largest event-loop lag of the generator.'),
  reason: Opt(Str('Why it was judged unreliable.')),
});
export type Saturation = Type.Static<typeof Saturation>;

export const LoadResult = Type.Object({
  driver: Enum(['builtin', 'k6'] as const, 'Which load generator produced this result.'),
  startedAtMillis: Num('When the measured window started.'),
  endedAtMillis: Num('When the measured window ended.'),
  scheduled: Int('Requests scheduled in the measured window (sent + dropped).'),
  sent: Int('Requests sent.'),
  completed: Int('Requests answered successfully.'),
  dropped: Int('Requests not sent because maxInFlight was reached.'),
  errors: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'Failed requests by ErrorKind.' }),
  inFlightAtEnd: Int('Requests still outstanding when the run ended (lost in flight).'),
  latencyHistogram: Str('Encoded HDR histogram (microseconds) of the latency of successful requests.'),
  latencyHistogramAll: Opt(
    Str(
      'Encoded HDR histogram of every scheduled request: successes at their latency, failures at the time ' +
        'they failed, timeouts at the timeout, dropped and unanswered requests at the timeout. Failures ' +
        'cannot flatter it.',
    ),
  ),
  perSecond: Type.Array(SecondSample),
  perTarget: Opt(Type.Array(TargetLoad, { description: 'The same figures per workload replica.' })),
  generators: Opt(
    Type.Integer({ minimum: 1, description: 'Generator threads/processes/pods whose parts were merged.' }),
  ),
  parts: Opt(
    Type.Array(
      Type.Object({
        generator: Int('Generator index (0-based): it sent requests generator, generator + N, ... of the schedule.'),
        scheduled: Int('Requests of its share scheduled in the measured window.'),
        sent: Int('Requests it sent.'),
        completed: Int('Requests it had answered successfully.'),
      }),
      { description: 'What each generator of a merged result did, in generator order (absent for one generator).' },
    ),
  ),
  saturation: Saturation,
  partial: Bool('The run was stopped early (interrupted).'),
  latencyHistogramSynthesized: Opt(
    Bool(
      'The histogram was rebuilt from a few summary percentiles (a k6 summary without per-request samples): ' +
        'its percentiles at those points are right, merged figures are approximate.',
    ),
  ),
});
export type LoadResult = Omit<Type.Static<typeof LoadResult>, 'errors'> & { errors: Record<ErrorKind, number> };

export const SLO_PERCENTILES = ['p50', 'p90', 'p99', 'p999'] as const;
export type SloPercentile = (typeof SLO_PERCENTILES)[number];

export const ThroughputStep = Type.Object({
  rate: Num('Offered rate of this step, requests/s.'),
  passed: Bool('The step met the SLO.'),
  reason: Opt(Str('Why the step failed the SLO, or why it could not be judged.')),
  failureRate: Num('Share of scheduled requests that failed or were dropped.'),
  completedPerSecond: Num('Completed requests per second of the measured window.'),
  latencyMillis: Type.Object({
    p50: Num('ms'),
    p90: Num('ms'),
    p99: Num('ms'),
    p999: Num('ms'),
  }),
  unreliable: Bool('The driver was saturated: the step says nothing about the target.'),
  startedAtMillis: Opt(Num('When the step was measured.')),
});
/** One constant-rate step of a max-throughput search. */
export type ThroughputStep = Type.Static<typeof ThroughputStep>;

export const SEARCH_ENDS = ['converged', 'max-steps', 'max-rate', 'min-rate', 'driver-saturated', 'aborted'] as const;
export type SearchEnd = (typeof SEARCH_ENDS)[number];

export const CapacitySearch = Type.Object({
  capacity: Num('Highest rate that passed the SLO, requests/s; 0 when none did.'),
  end: Enum(SEARCH_ENDS, 'Why the search stopped; only "converged" brackets capacity within the precision.'),
  lowestFailingRate: Opt(Num('Lowest rate that failed: the true capacity lies between capacity and this.')),
  steps: Type.Array(ThroughputStep, { description: 'Every step, in the order run.' }),
});
/** A max-throughput search as it ran: capacity and every step. */
export type CapacitySearch = Type.Static<typeof CapacitySearch>;

// ---- faults and workload events -----------------------------------------------------------

export const FAULT_KINDS = ['exit', 'abort', 'throw', 'hang', 'leak'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const InjectedFault = Type.Object({
  kind: Enum(FAULT_KINDS, 'What broke.'),
  replica: Opt(Int('Replica hit (0-based); 0 when absent.')),
  worker: Int('Worker index hit (after taking it modulo the worker count).'),
  atMillis: Num('When the fault request was sent to the supervisor.'),
  acceptedAtMillis: Opt(Num('When the supervisor accepted it.')),
  restartedAtMillis: Opt(Num('When the process/container was ready again, if it restarted.')),
});
/** A fault as actually injected (a refused fault is not recorded: it broke nothing). */
export type InjectedFault = Type.Static<typeof InjectedFault>;

export const WORKLOAD_EVENT_KINDS = [
  'worker-exit',
  'worker-replaced',
  'process-exit',
  'process-restart',
  'not-ready',
  'ready',
] as const;
export type WorkloadEventKind = (typeof WORKLOAD_EVENT_KINDS)[number];

export const WorkloadEvent = Type.Object({
  atMillis: Num('When it happened.'),
  kind: Enum(WORKLOAD_EVENT_KINDS, 'What happened.'),
  replica: Opt(Int('Replica concerned (0-based); 0 when absent.')),
  worker: Opt(
    Type.Integer({
      minimum: -1,
      description:
        'Worker concerned. A not-ready WITHOUT a worker means the whole process (container) went down; ' +
        '-1 means the process is up but which worker stopped serving is unknown.',
    }),
  ),
  pid: Opt(Int('pid of the process after the event (a replacement or restart has a new one).')),
  coldStartMillis: Opt(Num('worker-replaced / process-restart: new worker or process started to serving, ms.')),
  downMillis: Opt(Num('process-restart: last sign of life of the old process to ready again, ms.')),
  exit: Opt(Str('worker-exit / process-exit: how it ended ("code 70", "signal SIGABRT", "OOMKilled").')),
  oomKilled: Opt(Bool("process-exit: the kernel's OOM killer ended it, as the placement saw it.")),
  restarting: Opt(Bool('process-exit: false when the placement will not restart it (gave up, or no restart policy).')),
  detail: Opt(Str('Free text for people.')),
});
/** A workload event observed during a trial, from the supervisor or the placement. */
export type WorkloadEvent = Type.Static<typeof WorkloadEvent>;

// ---- resource usage -------------------------------------------------------------------------

export const Limits = Type.Object({
  cpuCores: Num('CPU limit read back, cores (0: none).'),
  memoryBytes: Num('Memory limit read back, bytes (0: none).'),
  source: Str('Where the limits were read: the cgroup files and their values, or why none.'),
});
/** Limits as read back from the kernel, for the fairness check. */
export type Limits = Type.Static<typeof Limits>;

export const ProcessMemory = Type.Object({
  replica: Int('Replica (0-based).'),
  pid: Int('Process id.'),
  role: Enum(
    ['supervisor', 'worker', 'process'] as const,
    'supervisor, one worker process, or the one process of all threads.',
  ),
  worker: Opt(Int('Worker index, for a worker process.')),
  rssBytes: Int('Resident set size (smaps_rollup Rss).'),
  pssBytes: Int('Proportional set size: shared pages divided among their sharers (Pss).'),
  ussBytes: Int('Unique set size: pages only this process maps (Private_Clean + Private_Dirty).'),
});
/** Memory of one process of a variant at the end of the measured window. */
export type ProcessMemory = Type.Static<typeof ProcessMemory>;

export const ResourceUsage = Type.Object({
  source: Str(
    'Where the counters were read (the cgroup of each replica, or the process tree when no cgroup is its own).',
  ),
  cpuSeconds: Num('CPU time used during the measured window (warm-up included), s, summed over replicas.'),
  throttledPeriods: Int('CFS periods throttled during the window.'),
  throttledSeconds: Num('Time throttled during the window, s.'),
  peakMemoryBytes: Num("Peak memory of the variant's cgroup(s) since start, bytes, summed over replicas."),
  limits: Limits,
  restarts: Int('Restarts of the whole process/container observed during the trial.'),
  oomKills: Opt(Int("Processes the kernel's OOM killer ended, where the placement can tell.")),
  contextSwitches: Opt(
    Type.Object({
      voluntary: Int('Voluntary switches (the task blocked) of every thread of every process, during the window.'),
      involuntary: Int('Involuntary switches (preempted, e.g. by the CFS quota) during the window.'),
      runQueueWaitSeconds: Opt(Num('Time runnable but waiting for a CPU (schedstat), during the window, s.')),
    }),
  ),
  processes: Opt(Type.Array(ProcessMemory, { description: 'Per-process memory at the end of the window.' })),
  approximate: Opt(Str('Why some figures are approximate (a counter lost with a restarted container, no cgroup).')),
});
/** Resource use of one variant during one trial, from the kernel's counters. */
export type ResourceUsage = Type.Static<typeof ResourceUsage>;

// ---- spans ----------------------------------------------------------------------------------

export const SpanKey = Type.Object({
  experiment: Str('conclab.experiment'),
  run: Opt(Str('conclab.run: one run of the experiment (a scheduled tick, a local run id).')),
  trial: Str('conclab.trial'),
  variant: Str('conclab.variant'),
  replica: Opt(Str('conclab.replica (0-based), "unknown" when absent.')),
  worker: Str('conclab.worker, or "unknown".'),
});
/** Identifies a group of spans: taken from span and resource attributes. */
export type SpanKey = Type.Static<typeof SpanKey>;

export const SpanAggregate = Type.Object({
  key: SpanKey,
  spans: Int('Spans aggregated.'),
  errors: Int('Spans with status ERROR.'),
  durationHistogram: Str('Encoded HDR histogram (microseconds) of span duration.'),
  queueHistogram: Str('Encoded HDR histogram (microseconds) of queue time before work.'),
  pids: Type.Array(Type.Integer(), { description: 'pids seen for this worker (a replaced worker shows a new pid).' }),
  threadIds: Type.Array(Type.Integer(), { description: 'Thread ids seen.' }),
  perSecond: Type.Array(Type.Array(Type.Number()), {
    description: 'Span counts per epoch second of span end time: [epochSecond, count, errors][].',
  }),
  perSecondTruncated: Opt(Bool('Per-second buckets were not kept for some spans (a bucket limit was reached).')),
  sharedState: Opt(
    Type.Object({
      updates: Int('Shared-state updates measured.'),
      costHistogram: Str(
        'Encoded HDR histogram (microseconds) of the cost of one update (lock wait or IPC round trip).',
      ),
    }),
  ),
});
/** Streaming aggregate of one SpanKey. */
export type SpanAggregate = Omit<Type.Static<typeof SpanAggregate>, 'perSecond'> & {
  perSecond: [number, number, number][];
};

// ---- where a variant ran ----------------------------------------------------------------------

export const HostFacts = Type.Object({
  hostname: Str('Host (node) name as the workload saw it.'),
  cores: Int('CPUs the workload process may run on (affinity), not its quota.'),
  cpuModel: Str('CPU model.'),
  kernel: Str('Kernel release.'),
  cgroupVersion: Enum(['v1', 'v2', 'none'] as const, 'cgroup version of the workload.'),
  runtime: Str('Language runtime and version, e.g. "node 24.21.0", "cpython 3.11.2".'),
});
/** The machine a workload ran on, as its supervisor reports it. */
export type HostFacts = Type.Static<typeof HostFacts>;

export const ReplicaFacts = Type.Object({
  replica: Int('Replica (0-based).'),
  requestsReceived: Opt(Int("Work requests the replica's workers counted during the measured window (server side).")),
  lostUpdates: Opt(
    Int(
      'shared-state racy mode: updates lost (attempts - value) since the replica started, warm-up included, from its last GET /stats; 0 when synchronised.',
    ),
  ),
  sharedStateAttempts: Opt(
    Int('shared-state profile: update attempts since the replica started, from its last GET /stats.'),
  ),
  host: Opt(HostFacts),
  limits: Opt(Limits),
  image: Opt(Str('Container image (with digest where known); cluster only.')),
  traced: Opt(Bool('The workload exported spans (false: untraced, e.g. no OpenTelemetry SDK).')),
  tracingDetail: Opt(Str('Why the workload is untraced, when it says.')),
});
export type ReplicaFacts = Type.Static<typeof ReplicaFacts>;

// ---- the trial record ---------------------------------------------------------------------------

export const TrialRecord = Type.Object({
  variant: Str('Variant name.'),
  trial: Type.Integer({ minimum: 1, description: 'Trial number of the variant, 1-based.' }),
  /** The measured window: a constant or ramping trial, or the search step at capacity. */
  load: LoadResult,
  search: Opt(CapacitySearch),
  usage: Opt(ResourceUsage),
  /** Why usage is absent, when it is (a figure one placement cannot measure is named, never zero). */
  usageMissing: Opt(Str('Why resource usage was not measured.')),
  spans: Type.Array(SpanAggregate),
  spansMissing: Opt(Str('Why there are no spans although tracing was on (refused, none arrived, untraced workload).')),
  faults: Type.Array(InjectedFault),
  events: Type.Array(WorkloadEvent),
  replicas: Opt(Type.Array(ReplicaFacts)),
  warnings: Opt(Type.Array(Type.String(), { description: 'Problems of this trial, worded for the reader.' })),
  failure: Opt(Str('Set when the trial ended abnormally (workload crashed and was not replaced, interrupted).')),
});
/** One (variant, trial) as measured: the one record both placements produce. */
export type TrialRecord = Omit<
  Type.Static<typeof TrialRecord>,
  'load' | 'spans' | 'search' | 'usage' | 'faults' | 'events'
> & {
  load: LoadResult;
  search?: CapacitySearch;
  usage?: ResourceUsage;
  spans: SpanAggregate[];
  faults: InjectedFault[];
  events: WorkloadEvent[];
};

/**
 * Checks a record that crossed a process or network boundary. Returns the problems, each
 * with its JSON path; empty when the value is a valid TrialRecord.
 */
export function trialRecordProblems(value: unknown): string[] {
  const [ok, errors] = Schema.Errors(TrialRecord, value);
  if (ok) return [];
  return errors.slice(0, 10).map((e) => `${e.instancePath || '/'}: ${e.message}`);
}

export function loadResultProblems(value: unknown): string[] {
  const [ok, errors] = Schema.Errors(LoadResult, value);
  if (ok) return [];
  return errors.slice(0, 10).map((e) => `${e.instancePath || '/'}: ${e.message}`);
}
