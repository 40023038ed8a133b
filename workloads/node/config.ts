// The workload's whole configuration, read once from the environment so that the same program
// runs as a local process or in a pod. parseConfig is pure: it takes the environment as a plain
// object and either returns a complete config or throws one error naming every bad variable.
// Tracing is configured only by the standard OTEL_* variables (otel-config.ts).
import { type OtelConfig, parseOtelConfig } from './otel-config.ts';

export const MODELS = ['process', 'thread', 'offload'] as const;
export const PROFILES = ['cpu', 'io', 'mixed', 'shared-state'] as const;
export const FAULT_KINDS = ['exit', 'abort', 'throw', 'hang', 'leak'] as const;

export type Model = (typeof MODELS)[number];
export type Profile = (typeof PROFILES)[number];
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface WorkloadConfig {
  model: Model;
  /** Worker processes (process) or threads (thread, offload pool). */
  workers: number;
  host: string;
  /** Work port; 0 picks a free one, announced in the ready line. */
  port: number;
  /** Admin port (healthz, readyz, stats, fault); 0 picks a free one. */
  adminPort: number;
  profile: Profile;
  cpuMillis: number;
  ioMillis: number;
  responseBytes: number;
  replaceWorkers: boolean;
  racy: boolean;
  experiment: string;
  variant: string;
  trial: string;
  /** CONCLAB_REPLICA: replica index, on spans (conclab.replica) and in /stats. */
  replica: number | undefined;
  /** CONCLAB_RUN: run id, on spans as conclab.run. */
  run: string;
  /** CONCLAB_OWN_CGROUP: the supervisor's cgroup is this workload's alone, so /stats reports its counters. */
  ownCgroup: boolean;
  /** CONCLAB_CGROUP_ROOT: where cgroupfs is mounted (/sys/fs/cgroup); tests point it at a FAKE tree. */
  cgroupRoot: string;
  otel: OtelConfig;
  fault: { kind: FaultKind; afterMillis: number; worker: number } | undefined;
  shutdownTimeoutMillis: number;
  /** V8 old-space limit per worker in MiB (process: --max-old-space-size; thread: resourceLimits). */
  workerHeapMb: number | undefined;
  /** Iterations of the CPU kernel per CPU millisecond; measured at start when undefined. */
  cpuIterationsPerMilli: number | undefined;
  /** Variables that are set but no longer read, with what replaced them (printed on stderr). */
  warnings: string[];
}

/** Variables an older launcher may still set: ignored, with a warning naming the replacement. */
const REMOVED: Record<string, string> = {
  CONCLAB_TRACING:
    'tracing is on when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set; OTEL_SDK_DISABLED=true turns it off',
  CONCLAB_TRACE_SAMPLE_RATIO: 'use OTEL_TRACES_SAMPLER=parentbased_traceidratio and OTEL_TRACES_SAMPLER_ARG=<ratio>',
};

class EnvErrors {
  readonly problems: string[] = [];
  add(name: string, value: string, expected: string): void {
    this.problems.push(`${name}=${JSON.stringify(value)} is invalid: expected ${expected}`);
  }
}

function oneOf<T extends string>(
  env: Record<string, string | undefined>,
  errors: EnvErrors,
  name: string,
  values: readonly T[],
  fallback: T,
): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if ((values as readonly string[]).includes(raw)) return raw as T;
  errors.add(name, raw, `one of ${values.join(', ')}`);
  return fallback;
}

function number(
  env: Record<string, string | undefined>,
  errors: EnvErrors,
  name: string,
  fallback: number,
  range: { min: number; max: number; integer: boolean },
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (
    !Number.isFinite(value) ||
    value < range.min ||
    value > range.max ||
    (range.integer && !Number.isInteger(value))
  ) {
    errors.add(name, raw, `${range.integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}`);
    return fallback;
  }
  return value;
}

function bool(env: Record<string, string | undefined>, errors: EnvErrors, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  errors.add(name, raw, 'true or false');
  return fallback;
}

const PORT = { min: 0, max: 65535, integer: true };

export function parseConfig(env: Record<string, string | undefined>): WorkloadConfig {
  const errors = new EnvErrors();
  const model = oneOf(env, errors, 'CONCLAB_MODEL', MODELS, 'process');
  const workers = number(env, errors, 'CONCLAB_WORKERS', 4, { min: 1, max: 256, integer: true });
  const otel = parseOtelConfig(env, errors.problems);
  const faultKindRaw = env['CONCLAB_FAULT_KIND'];
  const faultKind =
    faultKindRaw === undefined || faultKindRaw === '' || faultKindRaw === 'none'
      ? undefined
      : oneOf(env, errors, 'CONCLAB_FAULT_KIND', FAULT_KINDS, 'exit');
  const faultWorker = number(env, errors, 'CONCLAB_FAULT_WORKER', 0, { min: 0, max: 255, integer: true });
  if (faultKind !== undefined && faultWorker >= workers) {
    errors.problems.push(
      `CONCLAB_FAULT_WORKER=${faultWorker} is out of range: there are ${workers} workers (indices 0 to ${workers - 1})`,
    );
  }
  const faultAfterMillis = number(env, errors, 'CONCLAB_FAULT_AFTER_MILLIS', 0, {
    min: 0,
    max: 86_400_000,
    integer: false,
  });
  const heapRaw = env['CONCLAB_WORKER_HEAP_MB'];
  const workerHeapMb =
    heapRaw === undefined || heapRaw === ''
      ? undefined
      : number(env, errors, 'CONCLAB_WORKER_HEAP_MB', 0, { min: 16, max: 65536, integer: true });
  const rateRaw = env['CONCLAB_CPU_ITERATIONS_PER_MILLI'];
  const cpuIterationsPerMilli =
    rateRaw === undefined || rateRaw === ''
      ? undefined
      : number(env, errors, 'CONCLAB_CPU_ITERATIONS_PER_MILLI', 0, { min: 1, max: 1e12, integer: false });

  const config: WorkloadConfig = {
    model,
    workers,
    host: env['CONCLAB_HOST'] || '127.0.0.1',
    port: number(env, errors, 'CONCLAB_PORT', 8080, PORT),
    adminPort: number(env, errors, 'CONCLAB_ADMIN_PORT', 8081, PORT),
    profile: oneOf(env, errors, 'CONCLAB_PROFILE', PROFILES, 'cpu'),
    cpuMillis: number(env, errors, 'CONCLAB_CPU_MILLIS', 5, { min: 0, max: 60_000, integer: false }),
    ioMillis: number(env, errors, 'CONCLAB_IO_MILLIS', 0, { min: 0, max: 600_000, integer: false }),
    responseBytes: number(env, errors, 'CONCLAB_RESPONSE_BYTES', 256, { min: 0, max: 16_777_216, integer: true }),
    replaceWorkers: bool(env, errors, 'CONCLAB_REPLACE_WORKERS', true),
    racy: bool(env, errors, 'CONCLAB_RACY', false),
    experiment: env['CONCLAB_EXPERIMENT'] ?? '',
    variant: env['CONCLAB_VARIANT'] ?? '',
    trial: env['CONCLAB_TRIAL'] ?? '',
    replica:
      env['CONCLAB_REPLICA'] === undefined || env['CONCLAB_REPLICA'] === ''
        ? undefined
        : number(env, errors, 'CONCLAB_REPLICA', 0, { min: 0, max: 1_000_000, integer: true }),
    run: env['CONCLAB_RUN'] ?? '',
    ownCgroup: bool(env, errors, 'CONCLAB_OWN_CGROUP', false),
    cgroupRoot: env['CONCLAB_CGROUP_ROOT'] || '/sys/fs/cgroup',
    otel,
    fault:
      faultKind === undefined ? undefined : { kind: faultKind, afterMillis: faultAfterMillis, worker: faultWorker },
    shutdownTimeoutMillis: number(env, errors, 'CONCLAB_SHUTDOWN_TIMEOUT_MILLIS', 10_000, {
      min: 0,
      max: 3_600_000,
      integer: false,
    }),
    workerHeapMb,
    cpuIterationsPerMilli,
    warnings: Object.entries(REMOVED)
      .filter(([name]) => env[name] !== undefined)
      .map(([name, instead]) => `${name} is no longer read: ${instead}`),
  };
  if (config.port !== 0 && config.port === config.adminPort) {
    errors.problems.push(`CONCLAB_PORT and CONCLAB_ADMIN_PORT are both ${config.port}; give them different ports`);
  }
  if (errors.problems.length > 0) {
    throw new Error(`conclab workload: bad environment:\n  ${errors.problems.join('\n  ')}`);
  }
  return config;
}
