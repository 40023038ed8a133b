// The ConcurrencyExperiment API, defined once.
//
// Everything else is derived from this file: the TypeScript types (below), the defaults and
// the validator the CLI uses (validate.ts), the CRD in crds/ (crd.ts), and the manifest
// reference in the README. Every field carries a description because `kubectl explain`
// shows it to the user. Keep the schema structural (no anyOf/oneOf at the top of a field,
// every object typed) so the API server accepts it as a CRD schema.
//
// Cross-field rules (a rate only for constant arrival, unique variant names, ...) live in
// rules.ts as CEL expressions paired with the same check in TypeScript.
import Type from 'typebox';

export const GROUP = 'conclab.dev';
export const VERSION = 'v1alpha1';
export const KIND = 'ConcurrencyExperiment';
export const PLURAL = 'concurrencyexperiments';
export const SINGULAR = 'concurrencyexperiment';
export const SHORT_NAMES = ['cx'];
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A string restricted to a fixed set of values (`type: string` + `enum`, as CRDs want it). */
function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description: string; default?: T[number] },
) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

// Durations are strings like "30s", "250ms", "2m"; parsed by units.ts. The API server applies
// this pattern, and every string it admits is also a Go duration, so CEL's duration() in
// rules.ts can read it (when it is not too long for Go: the bounds rules guard that).
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$';

/**
 * The range a duration field allows, inclusive. rules.ts turns it into a CEL rule on the field
 * (so the API server enforces it) and into the same check for the CLI; the description says it.
 */
export interface DurationBounds {
  readonly min: string;
  readonly max: string;
}
/** Schema keyword carrying DurationBounds; crd.ts never copies it (rules.ts expresses it in CEL). */
export const DURATION_BOUNDS = 'x-conclab-duration-bounds';

function Duration(description: string, bounds: DurationBounds, defaultValue?: string) {
  return Type.String({
    description: `${description} A duration from ${bounds.min} to ${bounds.max}, such as "500ms", "30s" or "2m".`,
    pattern: DURATION_PATTERN,
    maxLength: 16,
    [DURATION_BOUNDS]: bounds,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  });
}

// Kubernetes resource quantities ("500m", "2", "512Mi"): the grammar of resource.Quantity, as
// controller-gen writes it into CRDs, so the API server accepts exactly what pod limits accept.
export const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** The range a quantity field allows, inclusive, as quantities; enforced like DurationBounds. */
export interface QuantityBounds {
  readonly min: string;
  readonly max: string;
  /** What the quantity counts, for messages ("cores"); none for memory ("512Mi" says it). */
  readonly unit?: string;
}
export const QUANTITY_BOUNDS = 'x-conclab-quantity-bounds';

function Quantity(description: string, bounds: QuantityBounds) {
  return Type.String({ description, pattern: QUANTITY_PATTERN, maxLength: 32, [QUANTITY_BOUNDS]: bounds });
}

/** Longest experiment name: it becomes a label value (at most 63 characters) of every child. */
export const MAX_EXPERIMENT_NAME = 63;

// Variant names end up in pod and label names, so they are DNS labels.
export const VARIANT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const RUNTIMES = ['node', 'python'] as const;
export const PROFILES = ['cpu', 'io', 'mixed', 'shared-state'] as const;
export const MODELS = ['process', 'thread', 'offload'] as const;
export const DRIVERS = ['builtin', 'k6'] as const;
export const PATTERNS = ['constant-arrival-rate', 'ramping-arrival-rate', 'max-throughput'] as const;
export const FAULT_KINDS = ['exit', 'abort', 'throw', 'hang', 'leak'] as const;
export const PHASES = ['Pending', 'Running', 'Analyzing', 'Succeeded', 'Failed'] as const;

export const Workload = Type.Object(
  {
    runtime: StringEnum(RUNTIMES, {
      description: 'Language runtime of the workload server: "node" (Node.js) or "python" (CPython).',
      default: 'node',
    }),
    profile: StringEnum(PROFILES, {
      description:
        'Kind of work each request does: "cpu" burns cpuTime of real computation, "io" awaits ioWait as a downstream call would, "mixed" does both, "shared-state" updates state shared by all workers.',
      default: 'cpu',
    }),
    cpuTime: Duration(
      'CPU time of computation per request (cpu, mixed and shared-state profiles), calibrated on an idle core.',
      { min: '0ms', max: '10s' },
      '5ms',
    ),
    ioWait: Duration(
      'Time each request waits on simulated downstream I/O (io and mixed profiles).',
      { min: '0ms', max: '60s' },
      '0ms',
    ),
    responseBytes: Type.Integer({
      description: 'Size of each response body in bytes.',
      minimum: 0,
      maximum: 16777216,
      default: 256,
    }),
    replaceWorkers: Type.Boolean({
      description:
        'Whether the supervisor replaces a worker that dies, as production servers do. Set false to measure what a lost worker costs without replacement.',
      default: true,
    }),
    racyUpdates: Type.Boolean({
      description:
        'shared-state profile only: update shared state without synchronisation and count the lost updates, to show what the lock or IPC is buying.',
      default: false,
    }),
    image: Type.Optional(
      Type.String({
        description:
          "Container image of the workload in a cluster. Defaults to conclab's own workload image for the runtime; ignored by `conclab run`.",
        minLength: 1,
        maxLength: 512,
      }),
    ),
  },
  {
    description: 'The service under test. Identical for every variant: only the concurrency model differs.',
    additionalProperties: false,
  },
);

/**
 * Memory a workload needs to start and serve, in MiB: `base + perWorker x workers`, by runtime
 * and model. Measured on conclab's own workloads (Node 24, CPython 3.11) under a cgroup memory
 * limit (cgroup v1, 8 MiB steps): the smallest limit that starts the workers and serves, with
 * 10-15% headroom. Node processes need 78Mi for 1 worker, 186Mi for 4, 331Mi for 8 (rule: 88,
 * 208, 368); Node threads 62Mi, 140Mi, 239Mi (rule: 76, 160, 272); Python processes 15Mi for 1,
 * 23Mi for 4, 47Mi for 16 (rule: 32, 32, 80); Python threads 15Mi for 1 and for 16. Below it
 * the kernel kills a worker before the variant is ready, which reads as a crash rather than
 * as a budget too small. A steady load needs more (heaps grow); this is only the floor.
 */
export const MEMORY_TO_START: Readonly<
  Record<(typeof RUNTIMES)[number], Record<(typeof MODELS)[number], { baseMi: number; perWorkerMi: number }>>
> = {
  // The base includes the supervisor's span exporter (the OpenTelemetry SDK, about 8Mi), which
  // runs once per workload whatever the model: measured, a traced 2-worker process variant
  // starts from 136Mi under a cgroup v1 limit (workloads/node/README.md).
  node: {
    process: { baseMi: 56, perWorkerMi: 40 },
    thread: { baseMi: 56, perWorkerMi: 28 },
    offload: { baseMi: 56, perWorkerMi: 28 },
  },
  python: {
    process: { baseMi: 16, perWorkerMi: 4 },
    thread: { baseMi: 16, perWorkerMi: 0 },
    offload: { baseMi: 16, perWorkerMi: 0 },
  },
};

function memoryToStartText(): string {
  const node = MEMORY_TO_START.node;
  const python = MEMORY_TO_START.python;
  return `Node.js ${node.process.baseMi}Mi plus ${node.process.perWorkerMi}Mi per worker process or ${node.thread.perWorkerMi}Mi per worker thread, Python ${python.process.baseMi}Mi plus ${python.process.perWorkerMi}Mi per worker process`;
}

export const Resources = Type.Object(
  {
    cpu: Quantity(
      'CPU limit given to every variant, as a Kubernetes quantity from "10m" to "64" cores ("1", "500m"). Applied as pod requests = limits in a cluster and as a cgroup CPU quota locally.',
      { min: '10m', max: '64', unit: 'cores' },
    ),
    memory: Quantity(
      `Memory limit given to every variant, as a Kubernetes quantity from "32Mi" to "256Gi" ("512Mi", "1Gi"). Applied as pod requests = limits in a cluster and as a cgroup memory limit locally. Enough to start every variant's workers: ${memoryToStartText()}.`,
      { min: '32Mi', max: '256Gi' },
    ),
  },
  {
    description: 'The one resource budget that every variant gets, so that they are compared fairly.',
    additionalProperties: false,
  },
);

export const Variant = Type.Object(
  {
    name: Type.String({
      description:
        'Name of the variant, unique within the experiment; a DNS label (lower case letters, digits and "-").',
      pattern: VARIANT_NAME_PATTERN,
      minLength: 1,
      maxLength: 40,
    }),
    model: StringEnum(MODELS, {
      description:
        'Concurrency model: "process" runs workers as OS processes, "thread" as threads of one process, "offload" as one acceptor plus a pool of worker threads.',
    }),
    workers: Type.Integer({ description: 'Number of worker processes or threads.', minimum: 1, maximum: 256 }),
    replicas: Type.Integer({
      description: 'Number of copies (pods in a cluster) of the variant, each with the full resource budget.',
      minimum: 1,
      maximum: 64,
      default: 1,
    }),
  },
  { description: 'One concurrency configuration to compare.', additionalProperties: false },
);

export const Stage = Type.Object(
  {
    duration: Duration('How long this stage ramps toward its target rate.', { min: '1s', max: '24h' }),
    target: Type.Integer({
      description: 'Arrival rate, in requests per second, reached at the end of the stage.',
      minimum: 0,
      maximum: 1000000,
    }),
  },
  { description: 'One step of a ramping arrival rate.', additionalProperties: false },
);

export const Load = Type.Object(
  {
    driver: StringEnum(DRIVERS, {
      description:
        'Load generator: "builtin" (conclab\'s own open-model driver) or "k6" (the k6 program, run as an external process or the grafana/k6 image).',
      default: 'builtin',
    }),
    pattern: StringEnum(PATTERNS, {
      description:
        'Open-model traffic pattern: "constant-arrival-rate" sends rate requests per second, "ramping-arrival-rate" follows stages, "max-throughput" searches for the highest rate each variant sustains within the SLO.',
      default: 'constant-arrival-rate',
    }),
    rate: Type.Optional(
      Type.Integer({
        description:
          'Arrival rate in requests per second (constant-arrival-rate; the starting rate of the max-throughput search).',
        minimum: 1,
        maximum: 1000000,
      }),
    ),
    stages: Type.Optional(
      Type.Array(Stage, {
        description:
          'Rate stages, in order (ramping-arrival-rate only); at least one with a target above 0, at most 24h together.',
        minItems: 1,
        maxItems: 32,
      }),
    ),
    duration: Duration(
      'Measured duration of each trial (constant-arrival-rate), or of each step of the max-throughput search.',
      { min: '1s', max: '24h' },
      '30s',
    ),
    warmUp: Duration('Load sent before each trial is measured; excluded from results.', { min: '0s', max: '1h' }, '5s'),
    maxInFlight: Type.Integer({
      description:
        'Most requests outstanding at once. A request due while the cap is reached is not sent and is counted as dropped, as k6 counts dropped_iterations.',
      minimum: 1,
      maximum: 100000,
      default: 512,
    }),
    // Optional in the type (as tracing's fields) so literal Load objects need not name it; the
    // API server and applyDefaults fill in 1, and readers say `?? 1`.
    generators: Type.Optional(
      Type.Integer({
        description:
          "Load generators that share the trial's schedule, merged exactly: local generator processes pinned to CPUs outside the workloads' budget, or load pods in a cluster. Generator g of N sends every N-th request of the one schedule (g, g+N, ...; k6 splits it with its execution segments) under maxInFlight / N of the cap, so together they offer exactly the rate; with k6 and in both placements it means the same. At most maxInFlight.",
        minimum: 1,
        maximum: 16,
        default: 1,
      }),
    ),
    timeout: Duration(
      'A request not answered within this time counts as a timeout error.',
      { min: '1ms', max: '10m' },
      '5s',
    ),
  },
  { description: 'The traffic that drives every variant, the same for all.', additionalProperties: false },
);

export const FaultTarget = Type.Object(
  {
    worker: Type.Integer({
      description:
        "Index of the worker to break (0-based); taken modulo the variant's worker count so one manifest fits every variant.",
      minimum: 0,
      maximum: 255,
      default: 0,
    }),
  },
  { description: 'Which single worker the fault hits.', additionalProperties: false },
);

export const Fault = Type.Object(
  {
    kind: StringEnum(FAULT_KINDS, {
      description:
        'What breaks: "exit" (the worker exits), "abort" (a native abort, which ends the whole OS process even from a thread), "throw" (an uncaught exception inside the worker), "hang" (a busy loop: the worker stops answering), "leak" (allocates until the memory limit).',
    }),
    at: Duration(
      'When to break the worker, measured from the start of the measured load; at least 1s in, so the throughput before the fault is measured, and before the measured load ends.',
      { min: '1s', max: '24h' },
    ),
    target: Type.Optional(FaultTarget),
    variants: Type.Optional(
      Type.Array(Type.String({ description: 'A variant name.', maxLength: 40 }), {
        description: 'Variants to break; all variants when omitted.',
        maxItems: 16,
      }),
    ),
  },
  { description: 'One fault injected into exactly one worker during each trial.', additionalProperties: false },
);

const LATENCY_BOUNDS: DurationBounds = { min: '1ms', max: '10m' };

export const LatencySlo = Type.Object(
  {
    p50: Type.Optional(Duration('Bound on the median latency.', LATENCY_BOUNDS)),
    p90: Type.Optional(Duration('Bound on the 90th percentile latency; not below p50.', LATENCY_BOUNDS)),
    p99: Type.Optional(Duration('Bound on the 99th percentile latency; not below p90 or p50.', LATENCY_BOUNDS)),
    p999: Type.Optional(Duration('Bound on the 99.9th percentile latency; not below p99, p90 or p50.', LATENCY_BOUNDS)),
  },
  { description: 'Latency bounds, measured by the client from the intended send time.', additionalProperties: false },
);

export const Slo = Type.Object(
  {
    latency: Type.Optional(LatencySlo),
    errorRate: Type.Number({
      description: 'Highest acceptable share of failed requests, from 0 to 1.',
      minimum: 0,
      maximum: 1,
      default: 0.01,
    }),
  },
  {
    description: 'Service level objective: what "sustained" means for max-throughput and what k6 thresholds check.',
    additionalProperties: false,
    // An empty default so that errorRate's default always applies (the API server defaults
    // the fields of a defaulted object too).
    default: {},
  },
);

export const Tracing = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Whether workloads export OpenTelemetry spans to conclab.', default: true }),
    sampleRatio: Type.Number({
      description: 'Share of requests traced, from 0 to 1 (a trace-id ratio sampler).',
      minimum: 0,
      maximum: 1,
      default: 0.1,
    }),
  },
  { description: 'OpenTelemetry tracing of the workloads.', additionalProperties: false, default: {} },
);

/**
 * CPU quantities a sweep may take: whole millicores ("500m") or cores with at most three
 * decimals ("1.5", "2"), so that every value has one DNS-safe spelling in millicores for the
 * names of its pods (see api/sweep.ts) and no two distinct values share a name.
 */
export const SWEEP_CPU_PATTERN = '^([1-9][0-9]{0,5}m|[0-9]{1,2}(\\.[0-9]{1,3})?)$';

/** Most points (variants x worker counts x CPU budgets) one sweep may expand to. */
export const MAX_SWEEP_POINTS = 64;

export const Sweep = Type.Object(
  {
    workers: Type.Array(Type.Integer({ description: 'A worker count.', minimum: 1, maximum: 256 }), {
      description:
        "Worker counts to measure every variant at, strictly ascending (such as [1, 2, 4, 8]); each replaces the variant's own workers. From 2 to 16 values.",
      minItems: 2,
      maxItems: 16,
    }),
    cpu: Type.Optional(
      Type.Array(
        Type.String({
          description: 'A CPU budget: whole millicores ("500m") or cores with at most three decimals ("1.5").',
          pattern: SWEEP_CPU_PATTERN,
          maxLength: 8,
          [QUANTITY_BOUNDS]: { min: '10m', max: '64', unit: 'cores' } satisfies QuantityBounds,
        }),
        {
          description:
            'CPU budgets to measure every worker count at, strictly ascending (such as ["500m", "1", "2"]); each replaces resources.cpu for its points. Omitted: resources.cpu only.',
          minItems: 1,
          maxItems: 4,
        },
      ),
    ),
  },
  {
    description: `A capacity sweep (load.pattern max-throughput only): every variant is measured at every worker count (and CPU budget), as its own point named VARIANT-wN (VARIANT-wN-cCPU), and the report fits the Universal Scalability Law per variant. At most ${MAX_SWEEP_POINTS} points.`,
    additionalProperties: false,
  },
);

export const Target = Type.Object(
  {
    rate: Type.Integer({
      description:
        'Requests per second the service must serve in all, within spec.slo; the report sizes pods and replicas for it.',
      minimum: 1,
      maximum: 10000000,
    }),
    headroom: Type.Number({
      description: 'Spare capacity to plan on top of the rate, as a share (0.25 = 25% more).',
      minimum: 0,
      maximum: 10,
      default: 0,
    }),
    minReplicas: Type.Integer({
      description: 'Fewest replicas to run whatever the rate (such as 2, so that one pod may fail).',
      minimum: 1,
      maximum: 1000,
      default: 1,
    }),
  },
  {
    description:
      'The load to size for (load.pattern max-throughput only): the report recommends, per variant, workers, CPU and memory per pod and a replica range.',
    additionalProperties: false,
  },
);

export const ConcurrencyExperimentSpec = Type.Object(
  {
    workload: Workload,
    resources: Resources,
    variants: Type.Array(Variant, {
      description: 'The concurrency variants to compare (two or more), each run under the same resources.',
      minItems: 2,
      maxItems: 8,
    }),
    load: Load,
    faults: Type.Optional(
      Type.Array(Fault, { description: 'Faults to inject during each trial, to measure blast radius.', maxItems: 8 }),
    ),
    trials: Type.Integer({
      description:
        'Trials per variant, interleaved across variants (A B A B ...); three or more give confidence intervals.',
      minimum: 1,
      maximum: 50,
      default: 3,
    }),
    slo: Type.Optional(Slo),
    tracing: Type.Optional(Tracing),
    schedule: Type.Optional(
      Type.String({
        description: 'Cron schedule ("0 3 * * 1") on which the operator repeats the experiment; run once when omitted.',
        minLength: 9,
        maxLength: 100,
      }),
    ),
    sweep: Type.Optional(Sweep),
    target: Type.Optional(Target),
    historyLimit: Type.Integer({
      description: 'How many past runs the status keeps in history (scheduled experiments).',
      minimum: 0,
      maximum: 100,
      default: 5,
    }),
  },
  { description: 'What to compare and how.', additionalProperties: false },
);

export const Condition = Type.Object(
  {
    type: Type.String({
      description: 'Type of condition, in CamelCase (Ready, Progressing, Degraded).',
      maxLength: 316,
    }),
    status: StringEnum(['True', 'False', 'Unknown'] as const, {
      description: 'Status of the condition: True, False or Unknown.',
    }),
    reason: Type.String({
      description: 'Machine-readable reason for the last transition, in CamelCase.',
      maxLength: 1024,
    }),
    message: Type.String({ description: 'Human-readable explanation of the last transition.', maxLength: 32768 }),
    lastTransitionTime: Type.String({
      description: 'When the condition last changed status (RFC 3339).',
      format: 'date-time',
    }),
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'The .metadata.generation the condition was set for.', minimum: 0 }),
    ),
  },
  { description: 'A standard Kubernetes condition.', additionalProperties: false },
);

export const VariantResult = Type.Object(
  {
    name: Type.String({ description: 'Variant name.' }),
    throughput: Type.Number({ description: 'Mean completed requests per second across trials.' }),
    throughputCI: Type.Optional(
      Type.Number({ description: 'Half-width of the 95% confidence interval of throughput.' }),
    ),
    p50Millis: Type.Optional(
      Type.Number({
        description:
          'Median latency in milliseconds (client side, from intended send time, of every scheduled request: failures at the time they failed, timeouts at the timeout); absent when nothing was measured.',
      }),
    ),
    p99Millis: Type.Optional(
      Type.Number({
        description:
          '99th percentile latency in milliseconds (client side, as p50Millis); absent when nothing was measured.',
      }),
    ),
    errorRate: Type.Number({ description: 'Share of requests that failed.' }),
    peakMemoryBytes: Type.Optional(Type.Number({ description: 'Peak memory of the variant in bytes.' })),
    cpuSeconds: Type.Optional(Type.Number({ description: 'CPU time the variant used per trial, in seconds.' })),
    throttledSeconds: Type.Optional(
      Type.Number({ description: 'Time the variant was CPU-throttled per trial, in seconds.' }),
    ),
    capacityLostPercent: Type.Optional(
      Type.Number({ description: 'Peak share of capacity lost after the injected fault, in percent.' }),
    ),
    recoverySeconds: Type.Optional(
      Type.Number({ description: 'Time until throughput was back to 95% of the pre-fault baseline, in seconds.' }),
    ),
    restarts: Type.Optional(Type.Integer({ description: 'Container restarts or replaced workers observed.' })),
    capacity: Type.Optional(
      Type.Number({ description: 'max-throughput: mean capacity the searches found, requests per second.' }),
    ),
    capacityCI: Type.Optional(
      Type.Number({ description: 'max-throughput: half-width of the 95% confidence interval of capacity.' }),
    ),
    search: Type.Optional(
      Type.Array(
        Type.Object(
          {
            trial: Type.Integer({ description: 'Trial number.', minimum: 1 }),
            capacity: Type.Number({ description: 'Highest rate that met the SLO in this trial, requests per second.' }),
            end: Type.String({
              description:
                'Why the search stopped: converged, max-steps, max-rate, min-rate, driver-saturated, aborted.',
            }),
            steps: Type.String({
              description: 'The rates tried in order with their outcome, such as "100 ok, 200 ok, 400 failed, 300 ok".',
              maxLength: 1024,
            }),
          },
          { description: "One trial's capacity search.", additionalProperties: false },
        ),
        { description: 'max-throughput: the search of every trial, step by step.', maxItems: 50 },
      ),
    ),
  },
  { description: 'Summary of one variant across its trials.', additionalProperties: false },
);

export const Verdict = Type.Object(
  {
    winner: Type.Optional(
      Type.String({
        description: 'Variant that wins on throughput with a significant difference; absent when there is none.',
      }),
    ),
    throughputDelta: Type.Optional(
      Type.String({ description: 'Throughput difference of the winner over the runner-up, such as "+23%".' }),
    ),
    p99Delta: Type.Optional(
      Type.String({ description: 'p99 latency difference of the winner against the runner-up, such as "-40%".' }),
    ),
    blastRadius: Type.Optional(
      Type.String({
        description: 'Capacity lost to the injected fault per variant, such as "process 25% / thread 100%".',
      }),
    ),
    capacity: Type.Optional(
      Type.String({ description: 'max-throughput: capacity per variant, such as "process 812 / thread 401 req/s".' }),
    ),
    sizing: Type.Optional(
      Type.String({
        description:
          'spec.target: pods per variant for the target, such as "process 4 (3-5) x 2w / thread 6 (5-7) x 4w"; which needs less CPU.',
        maxLength: 1024,
      }),
    ),
    summary: Type.String({ description: 'One-sentence verdict, stating when differences are not significant.' }),
  },
  { description: 'The comparison in brief.', additionalProperties: false },
);

export const RunRecord = Type.Object(
  {
    startTime: Type.String({ description: 'When the run started (RFC 3339).', format: 'date-time' }),
    completionTime: Type.Optional(Type.String({ description: 'When the run ended (RFC 3339).', format: 'date-time' })),
    phase: StringEnum(PHASES, { description: 'How the run ended.' }),
    winner: Type.Optional(Type.String({ description: 'Winner of that run, if any.' })),
    reportRef: Type.Optional(Type.String({ description: "Name of the ConfigMap holding that run's report." })),
  },
  { description: 'One past run.', additionalProperties: false },
);

const CountRange = (description: string) =>
  Type.Object(
    {
      expected: Type.Number({ description: 'From the mean capacity.', minimum: 0 }),
      pessimistic: Type.Number({ description: "From the lower bound of capacity's confidence interval.", minimum: 0 }),
      optimistic: Type.Number({ description: "From the upper bound of capacity's confidence interval.", minimum: 0 }),
    },
    { description, additionalProperties: false },
  );

export const SizingResult = Type.Object(
  {
    variant: Type.String({ description: 'The variant (as the manifest names it, before the sweep).', maxLength: 40 }),
    model: Type.String({ description: 'Its concurrency model.', maxLength: 16 }),
    workers: Type.Optional(Type.Integer({ description: 'Workers per pod recommended.', minimum: 1 })),
    cpu: Type.Optional(Type.String({ description: 'CPU per pod (requests = limits), as a quantity.', maxLength: 16 })),
    memory: Type.Optional(
      Type.String({
        description: 'Memory per pod, from the measured peak (upper bound), as a quantity.',
        maxLength: 16,
      }),
    ),
    replicas: Type.Optional(CountRange('Replicas (pods) for the target rate.')),
    totalCpu: Type.Optional(CountRange('CPU in all, cores: replicas x CPU per pod.')),
    reason: Type.Optional(Type.String({ description: 'Why the variant could not be sized.', maxLength: 1024 })),
  },
  { description: 'The sizing answer for one variant.', additionalProperties: false },
);

export const SizingStatus = Type.Object(
  {
    rate: Type.Number({ description: 'The rate planned for: target.rate x (1 + headroom), requests per second.' }),
    variants: Type.Array(SizingResult, { description: 'Per variant (and CPU budget of a CPU sweep).', maxItems: 32 }),
    lessCpu: Type.Optional(
      Type.String({ description: 'The variant that needs less CPU beyond the uncertainty.', maxLength: 40 }),
    ),
    summary: Type.String({ description: 'The answer in words, with the comparison.', maxLength: 4096 }),
  },
  { description: 'spec.target: how many pods, of which shape, each variant needs.', additionalProperties: false },
);

export const ConcurrencyExperimentStatus = Type.Object(
  {
    phase: Type.Optional(
      StringEnum(PHASES, { description: 'Where the experiment is: Pending, Running, Analyzing, Succeeded or Failed.' }),
    ),
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'The .metadata.generation this status describes.', minimum: 0 }),
    ),
    conditions: Type.Optional(
      Type.Array(Condition, {
        description: 'Standard conditions: Ready, Progressing, Degraded; Regressed on scheduled runs.',
        maxItems: 16,
      }),
    ),
    currentTrial: Type.Optional(Type.Integer({ description: 'Trial in progress (1-based).', minimum: 0 })),
    currentVariant: Type.Optional(Type.String({ description: 'Variant in progress.' })),
    startTime: Type.Optional(
      Type.String({ description: 'When the current run started (RFC 3339).', format: 'date-time' }),
    ),
    completionTime: Type.Optional(
      Type.String({ description: 'When the current run ended (RFC 3339).', format: 'date-time' }),
    ),
    results: Type.Optional(
      Type.Array(VariantResult, {
        description: 'Per-variant results of the last finished run (per sweep point with a sweep).',
        maxItems: MAX_SWEEP_POINTS,
      }),
    ),
    verdict: Type.Optional(Verdict),
    sizing: Type.Optional(SizingStatus),
    reportRef: Type.Optional(
      Type.Object(
        {
          configMap: Type.String({ description: "Name of the ConfigMap in the experiment's namespace." }),
          key: Type.String({ description: 'Key holding the JSON report.' }),
        },
        { description: 'Where the full report of the last run is stored.', additionalProperties: false },
      ),
    ),
    lastScheduleTime: Type.Optional(
      Type.String({ description: 'When the schedule last started a run (RFC 3339).', format: 'date-time' }),
    ),
    history: Type.Optional(
      Type.Array(RunRecord, { description: 'Past runs, newest first, at most historyLimit.', maxItems: 100 }),
    ),
  },
  { description: 'What the operator observed.', additionalProperties: false },
);

export type Workload = Type.Static<typeof Workload>;
export type Resources = Type.Static<typeof Resources>;
export type Variant = Type.Static<typeof Variant>;
export type Stage = Type.Static<typeof Stage>;
export type Load = Type.Static<typeof Load>;
export type Fault = Type.Static<typeof Fault>;
export type Slo = Type.Static<typeof Slo>;
export type Tracing = Type.Static<typeof Tracing>;
export type Sweep = Type.Static<typeof Sweep>;
export type Target = Type.Static<typeof Target>;
export type ConcurrencyExperimentSpec = Type.Static<typeof ConcurrencyExperimentSpec>;
export type ConcurrencyExperimentStatus = Type.Static<typeof ConcurrencyExperimentStatus>;
export type Condition = Type.Static<typeof Condition>;
export type VariantResult = Type.Static<typeof VariantResult>;
export type Verdict = Type.Static<typeof Verdict>;
export type SizingStatus = Type.Static<typeof SizingStatus>;
export type Model = (typeof MODELS)[number];
export type Profile = (typeof PROFILES)[number];
export type FaultKind = (typeof FAULT_KINDS)[number];
export type Phase = (typeof PHASES)[number];

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

/** A whole ConcurrencyExperiment object, as read from YAML or from the API server. */
export interface ConcurrencyExperiment {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: ConcurrencyExperimentSpec;
  status?: ConcurrencyExperimentStatus;
}
