// Tracing is configured only by the standard OpenTelemetry environment variables, as users run
// any OpenTelemetry SDK (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
// parseOtelConfig is pure: it reads a plain environment object and adds a message naming the
// variable and the fix for every bad value to `problems`.

export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type SamplerName = (typeof SAMPLERS)[number];

export interface SamplerConfig {
  name: SamplerName;
  /** Follow the sampled flag of an incoming traceparent (the parentbased_* samplers). */
  parentBased: boolean;
  /** Share of new traces (and, for traceidratio, of every trace) that is sampled: 1, 0 or the arg. */
  ratio: number;
}

export interface BatchConfig {
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
}

export interface OtelConfig {
  /** Spans are recorded and exported: not disabled, exporter not none, and a traces endpoint set. */
  enabled: boolean;
  /** Why tracing is off when a variable turned it off; undefined when nothing asked for it. */
  detail: string | undefined;
  sampler: SamplerConfig;
  /** Full URL spans are posted to (…/v1/traces). */
  tracesUrl: string | undefined;
  headers: Record<string, string>;
  timeoutMillis: number;
  /** OTEL_SERVICE_NAME; wins over service.name in OTEL_RESOURCE_ATTRIBUTES. */
  serviceName: string | undefined;
  resourceAttributes: Record<string, string>;
  batch: BatchConfig;
}

type Env = Record<string, string | undefined>;

const DEFAULT_SAMPLER: SamplerConfig = { name: 'parentbased_always_on', parentBased: true, ratio: 1 };

// The spec's defaults, except the queue: 2,048 spans drop at a few thousand requests/s at ratio
// 1.0 while one export is in flight; 16,384 spans cost a few MB at most.
const DEFAULT_BATCH: BatchConfig = {
  scheduledDelayMillis: 5000,
  exportTimeoutMillis: 30_000,
  maxQueueSize: 16_384,
  maxExportBatchSize: 512,
};

const DEFAULT_TIMEOUT_MILLIS = 10_000;

function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

/** Parses a W3C-baggage-style list "k1=v1,k2=v2" with percent-encoded values (headers, resource). */
export function parseKeyValueList(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return `"${part.trim()}" is not key=value`;
    const key = part.slice(0, eq).trim();
    if (key === '') return `"${part.trim()}" has an empty key`;
    try {
      out[key] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return `the value of "${key}" is not valid percent-encoding`;
    }
  }
  return out;
}

function keyValues(env: Env, name: string, problems: string[], example: string): Record<string, string> {
  const raw = value(env, name);
  if (raw === undefined) return {};
  const parsed = parseKeyValueList(raw);
  if (typeof parsed === 'string') {
    problems.push(`${name}=${JSON.stringify(raw)} is invalid: ${parsed}; expected a list such as ${example}`);
    return {};
  }
  return parsed;
}

function nonNegativeInteger(env: Env, name: string, fallback: number, problems: string[]): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    problems.push(`${name}=${JSON.stringify(raw)} is invalid: expected a whole number of milliseconds or items (>= 0)`);
    return fallback;
  }
  return n;
}

function httpUrl(env: Env, name: string, problems: string[]): string | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  try {
    const url = new URL(raw);
    if (url.protocol === 'http:' || url.protocol === 'https:') return raw;
  } catch {
    // reported below
  }
  problems.push(`${name}=${JSON.stringify(raw)} is invalid: expected an http(s) URL such as http://127.0.0.1:4318`);
  return undefined;
}

function parseSampler(env: Env, problems: string[]): SamplerConfig {
  const name = value(env, 'OTEL_TRACES_SAMPLER');
  if (name === undefined) return DEFAULT_SAMPLER;
  if (!(SAMPLERS as readonly string[]).includes(name)) {
    problems.push(
      `OTEL_TRACES_SAMPLER=${JSON.stringify(name)} is not supported: expected one of ${SAMPLERS.join(', ')}`,
    );
    return DEFAULT_SAMPLER;
  }
  const sampler = name as SamplerName;
  const parentBased = sampler.startsWith('parentbased_');
  if (sampler.endsWith('always_on')) return { name: sampler, parentBased, ratio: 1 };
  if (sampler.endsWith('always_off')) return { name: sampler, parentBased, ratio: 0 };
  // The spec's default argument of the ratio samplers is 1.0.
  const arg = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (arg === undefined) return { name: sampler, parentBased, ratio: 1 };
  const ratio = Number(arg);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    problems.push(
      `OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(arg)} is invalid: expected a ratio from 0 to 1 for ${name}`,
    );
    return { name: sampler, parentBased, ratio: 1 };
  }
  return { name: sampler, parentBased, ratio };
}

/** The traces URL: the signal-specific endpoint as given, else the base endpoint plus /v1/traces. */
function tracesUrl(env: Env, problems: string[]): string | undefined {
  const specific = httpUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', problems);
  if (specific !== undefined) return specific;
  const base = httpUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT', problems);
  return base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`;
}

export function parseOtelConfig(env: Env, problems: string[]): OtelConfig {
  const off: OtelConfig = {
    enabled: false,
    detail: undefined,
    sampler: DEFAULT_SAMPLER,
    tracesUrl: undefined,
    headers: {},
    timeoutMillis: DEFAULT_TIMEOUT_MILLIS,
    serviceName: undefined,
    resourceAttributes: {},
    batch: DEFAULT_BATCH,
  };
  const disabled = value(env, 'OTEL_SDK_DISABLED');
  if (disabled !== undefined && disabled.toLowerCase() === 'true') {
    // A disabled SDK reads nothing else: the launcher sets it when tracing is off.
    return { ...off, detail: 'OTEL_SDK_DISABLED=true' };
  }
  if (disabled !== undefined && disabled.toLowerCase() !== 'false') {
    problems.push(`OTEL_SDK_DISABLED=${JSON.stringify(disabled)} is invalid: expected true or false`);
  }
  const exporters = (value(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp').split(',').map((s) => s.trim());
  const unsupported = exporters.filter((e) => e !== 'otlp' && e !== 'none' && e !== '');
  if (unsupported.length > 0) {
    problems.push(
      `OTEL_TRACES_EXPORTER=${JSON.stringify(env['OTEL_TRACES_EXPORTER'])} is not supported: the Node workload exports with otlp only (or none)`,
    );
  }
  const protocolName = value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = value(env, protocolName);
  if (protocol !== undefined && protocol !== 'http/protobuf') {
    problems.push(
      `${protocolName}=${JSON.stringify(protocol)} is not supported: the Node workload exports OTLP over http/protobuf only; unset it or set http/protobuf`,
    );
  }
  const url = tracesUrl(env, problems);
  const headers = {
    ...keyValues(env, 'OTEL_EXPORTER_OTLP_HEADERS', problems, 'authorization=Bearer%20abc'),
    ...keyValues(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', problems, 'authorization=Bearer%20abc'),
  };
  const timeoutMillis = nonNegativeInteger(
    env,
    value(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT')
      ? 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT'
      : 'OTEL_EXPORTER_OTLP_TIMEOUT',
    DEFAULT_TIMEOUT_MILLIS,
    problems,
  );
  const batch: BatchConfig = {
    scheduledDelayMillis: nonNegativeInteger(
      env,
      'OTEL_BSP_SCHEDULE_DELAY',
      DEFAULT_BATCH.scheduledDelayMillis,
      problems,
    ),
    exportTimeoutMillis: nonNegativeInteger(
      env,
      'OTEL_BSP_EXPORT_TIMEOUT',
      DEFAULT_BATCH.exportTimeoutMillis,
      problems,
    ),
    maxQueueSize: nonNegativeInteger(env, 'OTEL_BSP_MAX_QUEUE_SIZE', DEFAULT_BATCH.maxQueueSize, problems),
    maxExportBatchSize: nonNegativeInteger(
      env,
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
      DEFAULT_BATCH.maxExportBatchSize,
      problems,
    ),
  };
  if (batch.maxQueueSize < 1 || batch.maxExportBatchSize < 1) {
    problems.push('OTEL_BSP_MAX_QUEUE_SIZE and OTEL_BSP_MAX_EXPORT_BATCH_SIZE must be at least 1');
  }
  const config: OtelConfig = {
    ...off,
    sampler: parseSampler(env, problems),
    tracesUrl: url,
    headers,
    timeoutMillis,
    serviceName: value(env, 'OTEL_SERVICE_NAME'),
    resourceAttributes: keyValues(env, 'OTEL_RESOURCE_ATTRIBUTES', problems, 'deployment.environment=lab,team=perf'),
    batch,
  };
  if (exporters.includes('none')) return { ...config, detail: 'OTEL_TRACES_EXPORTER=none' };
  return { ...config, enabled: url !== undefined };
}
