// The versioned JSON report: the one document every other output is rendered from (so a
// report fetched from a ConfigMap renders exactly like a fresh one). Its schema is defined
// here once with TypeBox; the TypeScript type, the exported JSON Schema and SCHEMA.md all
// describe the same thing. Adding an optional field keeps schemaVersion "1"; renaming,
// removing or changing the meaning of a field needs schemaVersion "2".
import Type from 'typebox';
import Schema from 'typebox/schema';
import type { BlastRadius } from '../analysis/blast-radius.ts';
import type { MeanEstimate } from '../analysis/stats.ts';
import type { TrialSummary, VariantSummary } from '../analysis/variant-summary.ts';
import { ConcurrencyExperimentSpec, MODELS, VariantResult, Verdict } from '../api/schema.ts';
import type { LatencySummary } from '../contracts/histogram.ts';
// The record types are the contracts' own: a report carries what was measured in their shape.
import { CapacitySearch, InjectedFault, ReplicaFacts, ResourceUsage, WorkloadEvent } from '../contracts/records.ts';
import { CapacityPlanJson, capacityPlanJson } from './capacity-json.ts';
import type { ReportModel, TrialSeries } from './model.ts';

export const SCHEMA_VERSION = '1';
export const REPORT_KIND = 'ConcurrencyExperimentReport';

const closed = { additionalProperties: false } as const;
const Num = (description: string) => Type.Number({ description });
const Int = (description: string) => Type.Integer({ description, minimum: 0 });
const Str = (description: string) => Type.String({ description });
const Enum = <const T extends readonly string[]>(values: T, description: string) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], description });
const Counts = (description: string) => Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description });

const Interval = Type.Object(
  { lower: Num('Lower bound.'), upper: Num('Upper bound.'), level: Num('Confidence level, e.g. 0.95.') },
  { description: 'A confidence interval.', ...closed },
);

const Estimate = Type.Object(
  {
    unit: Str('Unit of the values: "req/s", "s", "bytes", "%".'),
    n: Int('Number of trials the estimate is based on.'),
    mean: Type.Optional(Num('Mean over trials; absent when n is 0.')),
    sd: Type.Optional(Num('Sample standard deviation; absent when n < 2.')),
    ci: Type.Optional(Interval),
    values: Type.Optional(Type.Array(Type.Number(), { description: 'The per-trial values, in trial order.' })),
  },
  { description: 'A mean over trials with its Student-t confidence interval.', ...closed },
);

const Latency = Type.Object(
  {
    count: Int('Requests (or spans) in the histogram.'),
    minMillis: Num('Smallest latency, ms.'),
    meanMillis: Num('Mean latency, ms.'),
    p50Millis: Num('Median, ms.'),
    p90Millis: Num('90th percentile, ms.'),
    p99Millis: Num('99th percentile, ms.'),
    p999Millis: Num('99.9th percentile, ms.'),
    maxMillis: Num('Largest latency (histogram bucket), ms.'),
  },
  { description: 'Latency percentiles from an HDR histogram (3 significant digits).', ...closed },
);

const SecondSample = Type.Object(
  {
    second: Int('Second since the start of measurement.'),
    sent: Int('Requests whose intended send time fell in this second.'),
    completed: Int('Requests completed successfully in this second.'),
    errors: Int('Requests that failed in this second.'),
    dropped: Int('Requests not sent because maxInFlight was reached.'),
    p99Millis: Num('p99 latency of the requests completed in this second, ms.'),
  },
  { description: 'One second of the client series.', ...closed },
);

const Generator = Type.Object(
  {
    unreliable: Type.Boolean({ description: 'The load generator was saturated: figures understate the server.' }),
    sendSlipP99Millis: Num('p99 of how late requests were sent, ms.'),
    eventLoopLagMaxMillis: Num('Largest event-loop lag of the generator, ms.'),
    reason: Type.Optional(Str('Why it was judged unreliable.')),
  },
  { description: 'Health of the load generator.', ...closed },
);

const TimelinePoint = Type.Object(
  {
    offsetSeconds: Type.Integer({ description: "Seconds from the fault's second (0)." }),
    second: Int('Second since the start of measurement.'),
    sent: Int('Requests sent.'),
    completed: Int('Requests completed.'),
    errors: Int('Requests failed.'),
    dropped: Int('Requests dropped.'),
    p99Millis: Num('p99 of completed requests, ms.'),
  },
  { description: 'One second around the fault.', ...closed },
);

const BlastRadiusJson = Type.Object(
  {
    fault: InjectedFault,
    measurable: Type.Boolean({ description: 'False when the fault fell outside the window or had no baseline.' }),
    reason: Type.Optional(Str('Why it is not measurable.')),
    faultOffsetSeconds: Num('Fault time from the start of measurement, s.'),
    baselineThroughput: Num('Mean completed req/s before the fault.'),
    baselineSeconds: Int('Seconds the baseline averages.'),
    failedAfterFault: Int('Failed requests from the fault on.'),
    droppedAfterFault: Int('Dropped requests from the fault on.'),
    failedByKind: Counts('Errors by kind (refused, reset, timeout, http4xx, http5xx, other), whole trial.'),
    failedByKindIncludesPreFault: Type.Boolean({ description: 'failedByKind also counts errors before the fault.' }),
    inFlightLost: Int('Requests lost in flight: connection resets plus requests outstanding at the end.'),
    requestsLost: Num('Shortfall against the baseline summed over the dip, requests.'),
    capacityLostSeconds: Num('requestsLost / baseline: seconds of full capacity lost.'),
    peakCapacityLostPercent: Num('Deepest one-second dip against the baseline, %.'),
    detectSeconds: Type.Optional(
      Num("Whole seconds from the fault's second to the first second with failed requests."),
    ),
    recoverySeconds: Type.Optional(
      Num("Whole seconds from the fault's second to throughput back at 95% of baseline, held 3 s; absent if never."),
    ),
    recovered: Type.Boolean({ description: 'Throughput recovered within the trial.' }),
    restarted: Type.Boolean({ description: 'The whole process/container restarted.' }),
    coldStartSeconds: Type.Optional(Num('New process started to ready, s.')),
    downSeconds: Type.Optional(Num('Process down to ready again, s.')),
    workersReplaced: Int('Workers replaced by the supervisor after the fault.'),
    p99BeforeMillis: Num('Client p99 before the fault, ms.'),
    p99DuringMillis: Num('Client p99 of surviving requests during the dip, ms.'),
    p99PeakDuringMillis: Num('Worst one-second p99 during the dip, ms.'),
    spans: Type.Optional(
      Type.Object(
        {
          brokenWorker: Str('Worker id of the broken worker.'),
          brokenWorkerShareBeforePercent: Num("Broken worker's share of spans before the fault, %."),
          survivorsRateBefore: Num('Spans/s of the other workers before the fault.'),
          survivorsRateAfter: Num('Spans/s of the other workers after the fault.'),
          survivorsChangePercent: Type.Optional(Num('Change of the survivors rate, %.')),
          brokenWorkerNewPid: Type.Boolean({ description: 'The broken worker came back with a new pid.' }),
        },
        { description: 'The view from spans.', ...closed },
      ),
    ),
    timeline: Type.Array(TimelinePoint, { description: 'Per-second series around the fault.' }),
  },
  { description: 'What one injected fault cost in one trial.', ...closed },
);

const RequestsFrom = Enum(
  ['server', 'client'] as const,
  'The denominator: "server" is what the workloads counted over the same window as the counters (warm-up included); "client" is completed + failed of the measured window.',
);

const TrialContextSwitches = Type.Object(
  {
    voluntary: Num('Voluntary switches (a thread blocked) per request.'),
    involuntary: Num('Involuntary switches (a thread was preempted, e.g. by the CFS quota) per request.'),
    runQueueWaitMillis: Type.Optional(Num('Time runnable but waiting for a CPU, ms per request (schedstat).')),
    requests: Int('Requests the counts are divided by.'),
    requestsFrom: RequestsFrom,
  },
  { description: "Context switches of every thread of the variant's processes, per request served.", ...closed },
);

const TrialProcessMemory = Type.Object(
  {
    processes: Int('Processes of the variant at the end of the window.'),
    servingProcesses: Int('Of those, the ones that serve requests (worker processes, or the one process of threads).'),
    rssBytes: Int('Sum of RSS: a page shared by k processes counts k times.'),
    pssBytes: Int('Sum of PSS: shared pages divided among their sharers, the real footprint.'),
    ussBytes: Int('Sum of USS: pages that only one process maps.'),
    supervisorPssBytes: Int("PSS of the process model's supervisor (it serves nothing); 0 under thread models."),
  },
  { description: 'Memory summed over the processes of one trial (smaps_rollup), at the end of the window.', ...closed },
);

const Trial = Type.Object(
  {
    variant: Str('Variant name.'),
    trial: Type.Integer({ description: 'Trial number, 1-based.', minimum: 1 }),
    startedAtMillis: Num('Epoch ms when measurement started.'),
    endedAtMillis: Num('Epoch ms when measurement ended.'),
    measuredSeconds: Num('Length of the measured window, s.'),
    throughput: Num('Completed requests per second.'),
    offeredRate: Num('Scheduled requests per second.'),
    scheduled: Int('Requests scheduled.'),
    completed: Int('Requests completed successfully.'),
    errors: Int('Requests failed.'),
    errorsByKind: Counts('Failed requests by kind.'),
    dropped: Int('Requests dropped at the maxInFlight cap.'),
    inFlightAtEnd: Int('Requests outstanding when the trial ended.'),
    failedShare: Num('(errors + dropped) / scheduled.'),
    latency: Latency,
    latencySuccesses: Type.Optional(Latency),
    latencyOfAll: Type.Optional(
      Type.Boolean({
        description:
          'latency counts every scheduled request (failures when they failed, timeouts at the timeout); false: successes only.',
      }),
    ),
    latencyHistogram: Str('Encoded HDR histogram of client latency (microseconds), mergeable.'),
    latencyHistogramSynthesized: Type.Optional(
      Type.Boolean({
        description: 'The histogram was rebuilt from summary percentiles (k6): merged figures are approximate.',
      }),
    ),
    usage: Type.Optional(ResourceUsage),
    generator: Generator,
    partial: Type.Boolean({ description: 'The trial was cut short.' }),
    failure: Type.Optional(Str('Why the trial ended abnormally.')),
    perSecond: Type.Array(SecondSample, { description: 'Client series, one entry per second.' }),
    faults: Type.Array(InjectedFault, { description: 'Faults injected in this trial.' }),
    events: Type.Array(WorkloadEvent, { description: 'Workload events seen in this trial.' }),
    blastRadius: Type.Array(BlastRadiusJson, { description: 'One entry per injected fault.' }),
    search: Type.Optional(CapacitySearch),
    requestsPerReplica: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0 }), {
        description: 'Requests each replica received (server side where counted).',
      }),
    ),
    replicas: Type.Optional(Type.Array(ReplicaFacts, { description: 'Where each replica ran and what it reported.' })),
    generators: Type.Optional(Type.Integer({ minimum: 1, description: 'Load generators whose parts were merged.' })),
    parts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            generator: Int('Generator index.'),
            scheduled: Int('Requests of its share scheduled.'),
            sent: Int('Requests it sent.'),
            completed: Int('Requests it had answered.'),
          },
          { description: 'One generator of a merged result.', ...closed },
        ),
        { description: 'What each generator did (absent for one generator).' },
      ),
    ),
    usageMissing: Type.Optional(Str('Why resource usage was not measured.')),
    spansMissing: Type.Optional(Str('Why there are no spans although tracing was on.')),
    contextSwitchesPerRequest: Type.Optional(TrialContextSwitches),
    processMemory: Type.Optional(TrialProcessMemory),
    lostUpdates: Type.Optional(
      Int('shared-state: updates lost (racy mode), summed over replicas, since they started (warm-up included).'),
    ),
    sharedStateAttempts: Type.Optional(Int('shared-state: update attempts, summed over replicas, since they started.')),
  },
  { description: 'One trial of one variant, as measured.', ...closed },
);

const WorkerShare = Type.Object(
  {
    worker: Str('Worker id.'),
    spans: Int('Spans served.'),
    sharePercent: Num('Share of all spans, %.'),
    pids: Type.Array(Type.Integer(), { description: 'Process ids seen.' }),
    threadIds: Type.Array(Type.Integer(), { description: 'Thread ids seen.' }),
  },
  { description: 'What one worker served.', ...closed },
);

const VariantJson = Type.Object(
  {
    name: Str('Variant name.'),
    model: Enum(MODELS, 'Concurrency model.'),
    workers: Int('Workers.'),
    trials: Int('Trials recorded.'),
    trialsCounted: Type.Optional(
      Type.Array(Type.Integer(), { description: 'Trials used by the statistics: all but partial ones.' }),
    ),
    throughput: Estimate,
    offeredRate: Num('Mean scheduled requests per second.'),
    latency: Type.Object(
      {
        client: Latency,
        successes: Type.Optional(Latency),
        clientOfAll: Type.Optional(
          Type.Boolean({
            description:
              'client counts every scheduled request in every trial: failures at the time they failed, timeouts at the timeout, dropped requests at the timeout.',
          }),
        ),
        p99PerTrialMillis: Type.Array(Type.Number(), { description: 'Client p99 of each trial, ms.' }),
        p99MeanMillis: Num('Mean of the per-trial p99, ms.'),
        p99CI: Type.Optional(Interval),
        server: Type.Optional(Latency),
        queue: Type.Optional(Latency),
      },
      {
        description:
          'Client latency from merged histograms (from intended send time), per-trial p99 with a bootstrap interval, and server-side span duration and queue time.',
        ...closed,
      },
    ),
    errors: Type.Object(
      {
        scheduled: Int('Requests scheduled over all trials.'),
        failed: Int('errors + dropped.'),
        errors: Int('Requests failed.'),
        dropped: Int('Requests dropped.'),
        byKind: Counts('Failed requests by kind.'),
        rate: Num('failed / scheduled.'),
        inFlightAtEnd: Int('Requests outstanding at trial ends.'),
      },
      { description: 'Failures pooled over trials.', ...closed },
    ),
    resources: Type.Optional(
      Type.Object(
        {
          cpuSeconds: Estimate,
          throttledSeconds: Estimate,
          throttledPeriods: Int('CFS periods throttled, all trials.'),
          peakMemoryBytes: Estimate,
          peakMemoryMaxBytes: Num('Largest peak memory of any trial, bytes.'),
          limits: ResourceUsage.properties.limits,
          restarts: Int('Container/process-group restarts, all trials.'),
          oomKills: Type.Optional(Int('OOM kills, all trials, where the runtime can tell.')),
        },
        { description: 'Resource use per trial.', ...closed },
      ),
    ),
    workerSpread: Type.Optional(
      Type.Object(
        {
          perWorker: Type.Array(WorkerShare),
          cv: Num('Coefficient of variation of spans per worker (0 = even).'),
          samplingNoiseCv: Num('CV that span sampling alone would produce.'),
          workersSeen: Int('Workers that produced spans.'),
        },
        { description: 'How evenly the workers shared the work, from spans.', ...closed },
      ),
    ),
    capacity: Type.Optional(
      Type.Object(
        {
          effectiveCores: Num('Cores usable: the limit, capped by workers and the GIL.'),
          cpuTimeMillis: Num('CPU time per request, ms.'),
          expectedRps: Num('effectiveCores / CPU time per request, req/s.'),
          measuredRps: Num('Best trial throughput, req/s.'),
          measuredKind: Enum(['capacity', 'lower-bound'] as const, 'Whether the measurement reached capacity.'),
          ratio: Num('measuredRps / expectedRps.'),
          note: Str('The check in words.'),
        },
        { description: 'Capacity check for the cpu profile.', ...closed },
      ),
    ),
    contextSwitches: Type.Optional(
      Type.Object(
        {
          voluntaryPerRequest: Estimate,
          involuntaryPerRequest: Estimate,
          runQueueWaitMillisPerRequest: Type.Optional(Estimate),
          requestsFrom: RequestsFrom,
        },
        {
          description:
            "Context switches of every thread of the variant's processes per request served, and run-queue wait per request (ms), over trials.",
          ...closed,
        },
      ),
    ),
    processMemory: Type.Optional(
      Type.Object(
        {
          processes: Int('Processes of the variant (last trial): 1 under thread models, workers + 1 under process.'),
          servingProcesses: Int('Of those, the ones that serve requests.'),
          rssBytes: Estimate,
          pssBytes: Estimate,
          ussBytes: Estimate,
          sharedBytes: Estimate,
          perWorkerPssBytes: Estimate,
          perWorkerUssBytes: Estimate,
          supervisorPssBytes: Estimate,
        },
        {
          description:
            "Memory summed over the variant's processes at the end of each window, over trials: rssBytes counts a shared page once per process that maps it, pssBytes divides it among them (the real footprint), ussBytes is private to one process; sharedBytes = pss - uss; perWorker* = the sum / workers.",
          ...closed,
        },
      ),
    ),
    sharedState: Type.Optional(
      Type.Object(
        {
          racy: Type.Boolean({ description: 'Updates ran without synchronisation (racyUpdates).' }),
          updates: Int('Updates whose cost was measured (sampled spans), all counted trials.'),
          costMicros: Type.Optional(
            Type.Object(
              {
                count: Int('Updates in the histogram.'),
                meanMicros: Num('Mean, us.'),
                p50Micros: Num('Median, us.'),
                p90Micros: Num('90th percentile, us.'),
                p99Micros: Num('99th percentile, us.'),
                p999Micros: Num('99.9th percentile, us.'),
                maxMicros: Num('Largest, us.'),
              },
              {
                description:
                  'Cost of one update: lock wait + hold under threads, IPC round trip(s) to the state owner under processes.',
                ...closed,
              },
            ),
          ),
          lostUpdates: Type.Optional(Int('Updates lost over all counted trials (racy mode); 0 when synchronised.')),
          attempts: Type.Optional(Int('Update attempts over all counted trials.')),
          lostPerTrial: Type.Array(Type.Integer({ minimum: 0 }), { description: 'Lost updates of each trial.' }),
        },
        { description: 'shared-state profile: what coordination costs and what its absence loses.', ...closed },
      ),
    ),
    searchedCapacity: Type.Optional(Estimate),
    resourcesMissing: Type.Optional(
      Str('Why CPU and memory figures are absent (the placement could not measure them).'),
    ),
    generator: Type.Object(
      {
        unreliableTrials: Type.Array(Type.Integer(), { description: 'Trials where the generator saturated.' }),
        reasons: Type.Array(Type.String()),
      },
      { description: 'Load generator saturation.', ...closed },
    ),
    blastRadius: Type.Optional(
      Type.Object(
        {
          faults: Int('Faults injected.'),
          measurable: Int('Faults that could be measured.'),
          peakCapacityLostPercent: Estimate,
          requestsLost: Estimate,
          recoverySeconds: Type.Optional(Estimate),
          neverRecovered: Int('Trials whose throughput never recovered.'),
          restarts: Int('Trials where the whole process/container restarted.'),
          workersReplaced: Int('Workers replaced, all trials.'),
          coldStartSeconds: Type.Optional(Estimate),
          downSeconds: Type.Optional(Estimate),
          detectSeconds: Type.Optional(Estimate),
        },
        { description: 'Blast radius over trials.', ...closed },
      ),
    ),
    failedTrials: Type.Array(
      Type.Object({ trial: Type.Integer(), failure: Type.String() }, { description: 'A failed trial.', ...closed }),
    ),
    warnings: Type.Array(Type.String()),
  },
  { description: 'One variant across its trials.', ...closed },
);

const DimensionJson = Type.Object(
  {
    dimension: Enum(['throughput', 'p99', 'errorRate', 'memory', 'blastRadius'] as const, 'What is compared.'),
    label: Str('Readable name.'),
    better: Enum(['higher', 'lower'] as const, 'Which direction wins.'),
    unit: Str('Unit of the values.'),
    values: Type.Array(
      Type.Object(
        { variant: Type.String(), value: Type.Number(), n: Type.Integer({ minimum: 0 }) },
        { description: 'Compared value and sample size (trials, or requests for error rate).', ...closed },
      ),
    ),
    leader: Type.Optional(Str('Best variant by the compared value.')),
    runnerUp: Type.Optional(Str('Second best.')),
    winner: Type.Optional(Str('The leader, only when significantly better.')),
    test: Type.Optional(
      Enum(['welch-t', 'mann-whitney-exact', 'mann-whitney-normal', 'fisher-exact'] as const, 'Test used.'),
    ),
    pValue: Type.Optional(Num('Two-sided p-value.')),
    rankTestPValue: Type.Optional(Num('Mann-Whitney p-value (robustness check, 4+ trials each).')),
    assessable: Type.Boolean({ description: 'False when significance cannot be assessed.' }),
    significant: Type.Boolean({ description: 'The difference is significant.' }),
    deltaPercent: Type.Optional(Num('Leader against runner-up, % of the runner-up.')),
    trialsNeeded: Type.Optional(
      Type.Object(
        {
          trials: Type.Optional(
            Type.Integer({ minimum: 2, description: 'Trials per variant; absent when more than limit.' }),
          ),
          limit: Int('Largest number searched.'),
          power: Num('Target power, e.g. 0.8.'),
          alpha: Num('Significance level, e.g. 0.05.'),
        },
        {
          description:
            "Not significant: the trials per variant Welch's t-test would need to detect the observed difference with this power, from the observed means and variances (an estimate: it assumes the observed difference is the true one).",
          ...closed,
        },
      ),
    ),
    statement: Str('The finding in words.'),
  },
  { description: 'The verdict on one dimension.', ...closed },
);

export const JsonReport = Type.Object(
  {
    schemaVersion: Type.Literal(SCHEMA_VERSION, { description: 'Version of this document format.' }),
    kind: Type.Literal(REPORT_KIND, { description: 'Document kind.' }),
    tool: Type.Object(
      { name: Type.Literal('conclab'), version: Str('conclab version that wrote the report.') },
      { description: 'The tool that wrote the report.', ...closed },
    ),
    generatedAt: Type.String({ description: 'When the report was written (RFC 3339).', format: 'date-time' }),
    experiment: Type.Object(
      { name: Str('metadata.name of the experiment.'), namespace: Type.Optional(Str('metadata.namespace.')) },
      { description: 'Which experiment.', ...closed },
    ),
    config: ConcurrencyExperimentSpec,
    run: Type.Object(
      {
        startedAt: Str('When the run started (RFC 3339).'),
        endedAt: Str('When the run ended (RFC 3339).'),
        partial: Type.Boolean({ description: 'The run stopped early; only finished trials are included.' }),
      },
      { description: 'The run as a whole.', ...closed },
    ),
    environment: Type.Object(
      {
        toolVersion: Str('conclab version.'),
        hostname: Str('Host name.'),
        cores: Int('CPU cores of the machine.'),
        cpuModel: Str('CPU model.'),
        kernel: Str('Kernel release.'),
        cgroupVersion: Enum(['v1', 'v2', 'none', 'kubernetes'] as const, 'How limits were applied.'),
        runtimeVersions: Type.Record(Type.String(), Type.String(), { description: 'Runtime name to version.' }),
        runtime: Str('Runtime description ("local cgroup v2", "kubernetes").'),
        warnings: Type.Array(Type.String(), { description: 'Warnings from the environment and runtime.' }),
        images: Type.Optional(
          Type.Array(Type.String(), { description: 'Container images the variants ran, with digests (cluster runs).' }),
        ),
      },
      { description: 'The machine and tools.', ...closed },
    ),
    verdict: Verdict,
    dimensions: Type.Array(DimensionJson, { description: 'Verdict per dimension.' }),
    throughputBoundByOfferedLoad: Type.Boolean({
      description: 'Every variant served the offered rate, so throughput cannot separate them.',
    }),
    results: Type.Array(VariantResult, { description: 'Per-variant rows, as in the status.' }),
    variants: Type.Array(VariantJson, { description: 'Per-variant summaries.' }),
    trials: Type.Array(Trial, { description: 'Per-trial data.' }),
    warnings: Type.Array(Type.String(), { description: 'Problems that make figures less trustworthy.' }),
    caveats: Type.Array(Type.String(), { description: 'Standing limits of the method.' }),
    partial: Type.Boolean({ description: 'Same as run.partial, at the top for quick checks.' }),
    capacityPlan: Type.Optional(CapacityPlanJson),
    omitted: Type.Optional(
      Type.Array(Type.String(), {
        description: 'Bulky per-trial data left out to fit a size limit (a ConfigMap holds at most 1 MiB).',
      }),
    ),
  },
  { title: 'conclab report', description: 'The result of one ConcurrencyExperiment run.', ...closed },
);

export type JsonReport = Type.Static<typeof JsonReport>;
type EstimateJson = Type.Static<typeof Estimate>;
type LatencyJson = Type.Static<typeof Latency>;

/** The JSON Schema (draft 2020-12 compatible) of the report, as plain JSON. */
export function reportJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    ...(JSON.parse(JSON.stringify(JsonReport)) as Record<string, unknown>),
  };
}

/** Validation problems of a parsed report ("/path: message"); empty when valid. */
export function validateJsonReport(value: unknown): string[] {
  const schema = JSON.parse(JSON.stringify(JsonReport));
  const [ok, errors] = Schema.Errors(schema, value);
  if (ok) return [];
  return errors.map((e) => `${e.instancePath || '/'}: ${e.message}`);
}

/** Parses a JSON report (e.g. from a ConfigMap), failing with the problems when it is not one. */
export function parseJsonReport(text: string): JsonReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`report is not JSON (${(err as Error).message}); expected a conclab JSON report`);
  }
  const version = (value as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version !== SCHEMA_VERSION) {
    throw new Error(
      `report has schemaVersion ${JSON.stringify(version)}, this conclab reads "${SCHEMA_VERSION}"; use the conclab version that wrote it`,
    );
  }
  const problems = validateJsonReport(value);
  if (problems.length > 0) {
    throw new Error(`report does not match schema version ${SCHEMA_VERSION}: ${problems.slice(0, 5).join('; ')}`);
  }
  return value as JsonReport;
}

const finite = (x: number | undefined): number | undefined => (x !== undefined && Number.isFinite(x) ? x : undefined);

/** Copies only the keys whose values are defined, so optional fields are absent, not null. */
function defined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function estimate(e: MeanEstimate, unit: string, values?: readonly number[]): EstimateJson {
  return defined({
    unit,
    n: e.n,
    mean: finite(e.mean),
    sd: finite(e.sd),
    ci: e.ci && Number.isFinite(e.ci.lower) ? { lower: e.ci.lower, upper: e.ci.upper, level: e.ci.level } : undefined,
    values: values === undefined ? undefined : [...values],
  });
}

function latency(l: LatencySummary): LatencyJson {
  return { ...l };
}

/** A cost histogram's summary in microseconds: updates cost microseconds, not milliseconds. */
function micros(l: LatencySummary) {
  const us = (x: number) => Math.round(x * 1000 * 1000) / 1000;
  return {
    count: l.count,
    meanMicros: us(l.meanMillis),
    p50Micros: us(l.p50Millis),
    p90Micros: us(l.p90Millis),
    p99Micros: us(l.p99Millis),
    p999Micros: us(l.p999Millis),
    maxMicros: us(l.maxMillis),
  };
}

function blastRadiusJson(b: BlastRadius): Type.Static<typeof BlastRadiusJson> {
  return defined({
    fault: defined({ ...b.fault }),
    measurable: b.measurable,
    reason: b.reason,
    faultOffsetSeconds: b.faultOffsetSeconds,
    baselineThroughput: b.baselineThroughput,
    baselineSeconds: b.baselineSeconds,
    failedAfterFault: b.failedAfterFault,
    droppedAfterFault: b.droppedAfterFault,
    failedByKind: { ...b.failedByKind } as Record<string, number>,
    failedByKindIncludesPreFault: b.failedByKindIncludesPreFault,
    inFlightLost: b.inFlightLost,
    requestsLost: b.requestsLost,
    capacityLostSeconds: b.capacityLostSeconds,
    peakCapacityLostPercent: b.peakCapacityLostPercent,
    detectSeconds: b.detectSeconds,
    recoverySeconds: b.recoverySeconds,
    recovered: b.recovered,
    restarted: b.restarted,
    coldStartSeconds: b.coldStartSeconds,
    downSeconds: b.downSeconds,
    workersReplaced: b.workersReplaced,
    p99BeforeMillis: b.p99BeforeMillis,
    p99DuringMillis: b.p99DuringMillis,
    p99PeakDuringMillis: b.p99PeakDuringMillis,
    spans: b.spans
      ? defined({ ...b.spans, survivorsChangePercent: finite(b.spans.survivorsChangePercent) })
      : undefined,
    timeline: b.timeline.map((p) => ({ ...p })),
  });
}

function trialJson(t: TrialSummary, series: TrialSeries | undefined): Type.Static<typeof Trial> {
  return defined({
    variant: t.variant,
    trial: t.trial,
    startedAtMillis: series?.startedAtMillis ?? 0,
    endedAtMillis: series?.endedAtMillis ?? 0,
    measuredSeconds: t.measuredSeconds,
    throughput: t.throughput,
    offeredRate: t.offeredRate,
    scheduled: t.scheduled,
    completed: t.completed,
    errors: t.errors,
    errorsByKind: { ...t.errorsByKind },
    dropped: t.dropped,
    inFlightAtEnd: t.inFlightAtEnd,
    failedShare: t.failedShare,
    latency: latency(t.latency),
    latencySuccesses: latency(t.latencySuccesses),
    latencyOfAll: t.latencyOfAll,
    latencyHistogram: series?.latencyHistogram ?? '',
    latencyHistogramSynthesized: t.latencyHistogramSynthesized ? true : undefined,
    usage: t.usage ? defined({ ...t.usage, limits: { ...t.usage.limits } }) : undefined,
    generator: defined({ ...t.generator }),
    partial: t.partial,
    failure: t.failure,
    perSecond: (series?.perSecond ?? []).map((s) => ({ ...s })),
    faults: (series?.faults ?? []).map((f) => defined({ ...f })),
    events: (series?.events ?? []).map((e) => defined({ ...e })),
    blastRadius: t.blastRadius.map(blastRadiusJson),
    search: t.search,
    requestsPerReplica: t.requestsPerReplica,
    replicas: series?.replicas,
    generators: series?.generators,
    parts: series?.parts?.map((p: NonNullable<TrialSeries['parts']>[number]) => ({ ...p })),
    usageMissing: series?.usageMissing,
    spansMissing: series?.spansMissing,
    contextSwitchesPerRequest: t.contextSwitchesPerRequest ? defined({ ...t.contextSwitchesPerRequest }) : undefined,
    processMemory: t.processMemory ? { ...t.processMemory } : undefined,
    lostUpdates: t.lostUpdates,
    sharedStateAttempts: t.sharedStateAttempts,
  });
}

function variantJson(v: VariantSummary): Type.Static<typeof VariantJson> {
  const r = v.resources;
  const b = v.blastRadius;
  return defined({
    name: v.name,
    model: v.model,
    workers: v.workers,
    trials: v.trials,
    trialsCounted: [...v.trialsCounted],
    throughput: estimate(v.throughput, 'req/s', v.throughput.values),
    offeredRate: v.offeredRate,
    latency: defined({
      client: latency(v.latency.client),
      successes: latency(v.latency.successes),
      clientOfAll: v.latency.clientOfAll,
      p99PerTrialMillis: [...v.latency.p99PerTrial],
      p99MeanMillis: v.latency.p99.mean,
      p99CI: v.latency.p99.ci ? { ...v.latency.p99.ci } : undefined,
      server: v.latency.server ? latency(v.latency.server) : undefined,
      queue: v.latency.queue ? latency(v.latency.queue) : undefined,
    }),
    errors: { ...v.errors, byKind: { ...v.errors.byKind } },
    resources: r
      ? defined({
          cpuSeconds: estimate(r.cpuSeconds, 's'),
          throttledSeconds: estimate(r.throttledSeconds, 's'),
          throttledPeriods: r.throttledPeriods,
          peakMemoryBytes: estimate(r.peakMemoryBytes, 'bytes', r.peakMemoryBytes.values),
          peakMemoryMaxBytes: r.peakMemoryBytes.max,
          limits: { ...r.limits },
          restarts: r.restarts,
          oomKills: r.oomKills,
        })
      : undefined,
    workerSpread: v.workerSpread
      ? {
          perWorker: v.workerSpread.perWorker.map((w) => ({ ...w, pids: [...w.pids], threadIds: [...w.threadIds] })),
          cv: v.workerSpread.cv,
          samplingNoiseCv: v.workerSpread.samplingNoiseCv,
          workersSeen: v.workerSpread.workersSeen,
        }
      : undefined,
    capacity: v.capacity ? { ...v.capacity } : undefined,
    generator: { unreliableTrials: [...v.generator.unreliableTrials], reasons: [...v.generator.reasons] },
    blastRadius: b
      ? defined({
          faults: b.faults,
          measurable: b.measurable,
          peakCapacityLostPercent: estimate(b.peakCapacityLostPercent, '%', b.peakCapacityLostPercent.values),
          requestsLost: estimate(b.requestsLost, 'requests'),
          recoverySeconds: b.recoverySeconds ? estimate(b.recoverySeconds, 's') : undefined,
          neverRecovered: b.neverRecovered,
          restarts: b.restarts,
          workersReplaced: b.workersReplaced,
          coldStartSeconds: b.coldStartSeconds ? estimate(b.coldStartSeconds, 's') : undefined,
          downSeconds: b.downSeconds ? estimate(b.downSeconds, 's') : undefined,
          detectSeconds: b.detectSeconds ? estimate(b.detectSeconds, 's') : undefined,
        })
      : undefined,
    contextSwitches: v.contextSwitches
      ? defined({
          voluntaryPerRequest: estimate(
            v.contextSwitches.voluntaryPerRequest,
            'switches',
            v.contextSwitches.voluntaryPerRequest.values,
          ),
          involuntaryPerRequest: estimate(
            v.contextSwitches.involuntaryPerRequest,
            'switches',
            v.contextSwitches.involuntaryPerRequest.values,
          ),
          runQueueWaitMillisPerRequest: v.contextSwitches.runQueueWaitMillisPerRequest
            ? estimate(
                v.contextSwitches.runQueueWaitMillisPerRequest,
                'ms',
                v.contextSwitches.runQueueWaitMillisPerRequest.values,
              )
            : undefined,
          requestsFrom: v.contextSwitches.requestsFrom,
        })
      : undefined,
    processMemory: v.processMemory
      ? {
          processes: v.processMemory.processes,
          servingProcesses: v.processMemory.servingProcesses,
          rssBytes: estimate(v.processMemory.rssBytes, 'bytes', v.processMemory.rssBytes.values),
          pssBytes: estimate(v.processMemory.pssBytes, 'bytes', v.processMemory.pssBytes.values),
          ussBytes: estimate(v.processMemory.ussBytes, 'bytes', v.processMemory.ussBytes.values),
          sharedBytes: estimate(v.processMemory.sharedBytes, 'bytes'),
          perWorkerPssBytes: estimate(v.processMemory.perWorkerPssBytes, 'bytes'),
          perWorkerUssBytes: estimate(v.processMemory.perWorkerUssBytes, 'bytes'),
          supervisorPssBytes: estimate(v.processMemory.supervisorPssBytes, 'bytes'),
        }
      : undefined,
    sharedState: v.sharedState
      ? defined({
          racy: v.sharedState.racy,
          updates: v.sharedState.updates,
          costMicros: v.sharedState.cost ? micros(v.sharedState.cost) : undefined,
          lostUpdates: v.sharedState.lostUpdates,
          attempts: v.sharedState.attempts,
          lostPerTrial: [...v.sharedState.lostPerTrial],
        })
      : undefined,
    searchedCapacity: v.searchedCapacity ? estimate(v.searchedCapacity, 'req/s', v.searchedCapacity.values) : undefined,
    resourcesMissing: v.resourcesMissing,
    failedTrials: v.failedTrials.map((f) => ({ ...f })),
    warnings: [...v.warnings],
  });
}

/** The model as the versioned document. */
export function toJsonReport(model: ReportModel): JsonReport {
  const seriesOf = (variant: string, trial: number) =>
    model.series.find((s) => s.variant === variant && s.trial === trial);
  return {
    schemaVersion: SCHEMA_VERSION,
    kind: REPORT_KIND,
    tool: { name: 'conclab', version: model.toolVersion },
    generatedAt: model.generatedAt,
    experiment: defined({ name: model.experiment.name, namespace: model.experiment.namespace }),
    config: model.experiment.spec,
    run: { startedAt: model.startedAt, endedAt: model.endedAt, partial: model.partial },
    environment: {
      ...model.environment,
      runtimeVersions: { ...model.environment.runtimeVersions },
      warnings: [...model.environment.warnings],
    },
    verdict: { ...model.verdict.verdict },
    dimensions: model.verdict.dimensions.map((d) =>
      defined({
        dimension: d.dimension,
        label: d.label,
        better: d.better,
        unit: d.unit,
        values: d.values.map((v) => ({ ...v, value: finite(v.value) ?? 0 })),
        leader: d.leader,
        runnerUp: d.runnerUp,
        winner: d.winner,
        test: d.test,
        pValue: finite(d.pValue),
        rankTestPValue: finite(d.rankTestPValue),
        assessable: d.assessable,
        significant: d.significant,
        deltaPercent: finite(d.deltaPercent),
        trialsNeeded: d.trialsNeeded ? defined({ ...d.trialsNeeded }) : undefined,
        statement: d.statement,
      }),
    ),
    throughputBoundByOfferedLoad: model.verdict.throughputBoundByOfferedLoad,
    results: model.verdict.results.map((r) => ({ ...r })),
    variants: model.variants.map(variantJson),
    trials: model.variants.flatMap((v) => v.perTrial.map((t) => trialJson(t, seriesOf(t.variant, t.trial)))),
    warnings: [...model.warnings],
    caveats: [...model.caveats],
    partial: model.partial,
    ...capacityPlanField(model),
  };
}

/** spec.sweep or spec.target: the capacity plan (capacity-json.ts); absent otherwise. */
function capacityPlanField(model: ReportModel): { capacityPlan?: CapacityPlanJson } {
  const plan = capacityPlanJson(model.capacityPlan, model.experiment.spec);
  return plan ? { capacityPlan: plan } : {};
}

/** The report as pretty-printed JSON text. */
export function renderJson(model: ReportModel): string {
  return `${JSON.stringify(toJsonReport(model), null, 2)}\n`;
}
