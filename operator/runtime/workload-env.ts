// The workload is configured only by environment variables, so the local runtime (process env)
// and the Kubernetes runtime (container env) hand it the same thing: this mapping from the API
// to that vocabulary. Tracing is expressed in the standard OpenTelemetry variables a platform
// team already uses (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER[_ARG],
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS), so a user's own service,
// configured the usual way, would report to conclab the same way. Pure; durations go through
// api/units.ts so a bad manifest fails here with the field named, not in the workload.
import { tracingOf } from '../api/defaults.ts';
import { parseDurationMillis } from '../api/units.ts';
import type { WorkloadLaunch } from './types.ts';

function millis(path: string, text: string): string {
  try {
    return String(parseDurationMillis(text));
  } catch (err) {
    throw new Error(`spec.workload.${path}: ${(err as Error).message}`);
  }
}

/** Escapes a value for OTEL_RESOURCE_ATTRIBUTES (W3C Baggage-style: percent-encode , = and %). */
function attributeValue(v: string): string {
  return v.replace(/[%,=\s]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/**
 * conclab's resource attributes appended to the user's own OTEL_RESOURCE_ATTRIBUTES (the
 * OpenTelemetry spec lets the later of two equal keys win, so conclab's ids cannot be
 * overridden by accident, and the user's other attributes stay).
 */
export function resourceAttributes(launch: WorkloadLaunch, user: string | undefined, replica?: number): string {
  const ours: [string, string][] = [
    ['conclab.experiment', launch.experiment.metadata.name],
    ['conclab.variant', launch.variant.name],
    ['conclab.trial', String(launch.trial)],
    ['conclab.model', launch.variant.model],
    ...(launch.run ? ([['conclab.run', launch.run]] as [string, string][]) : []),
    ...(replica !== undefined ? ([['conclab.replica', String(replica)]] as [string, string][]) : []),
  ];
  const text = ours.map(([k, v]) => `${k}=${attributeValue(v)}`).join(',');
  return user?.trim() ? `${user.trim()},${text}` : text;
}

/**
 * Environment for one replica of a variant's workload. Ports are 0 (pick a free one and
 * announce it in the ready line); a runtime that needs fixed ports (to restart on the same
 * address) overrides CONCLAB_PORT and CONCLAB_ADMIN_PORT. `userEnv` is the environment the
 * user gave conclab: its OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are honoured.
 */
export function workloadEnv(
  launch: WorkloadLaunch,
  options: { replica?: number; userEnv?: Record<string, string | undefined> } = {},
): Record<string, string> {
  const spec = launch.experiment.spec;
  const w = spec.workload;
  const user = options.userEnv ?? {};
  const env: Record<string, string> = {
    CONCLAB_MODEL: launch.variant.model,
    CONCLAB_WORKERS: String(launch.variant.workers),
    CONCLAB_HOST: '127.0.0.1',
    CONCLAB_PORT: '0',
    CONCLAB_ADMIN_PORT: '0',
    CONCLAB_PROFILE: w.profile,
    CONCLAB_CPU_MILLIS: millis('cpuTime', w.cpuTime),
    CONCLAB_IO_MILLIS: millis('ioWait', w.ioWait),
    CONCLAB_RESPONSE_BYTES: String(w.responseBytes),
    CONCLAB_REPLACE_WORKERS: String(w.replaceWorkers),
    CONCLAB_RACY: String(w.racyUpdates),
    CONCLAB_EXPERIMENT: launch.experiment.metadata.name,
    CONCLAB_VARIANT: launch.variant.name,
    CONCLAB_TRIAL: String(launch.trial),
    ...(launch.run ? { CONCLAB_RUN: launch.run } : {}),
    ...(options.replica !== undefined ? { CONCLAB_REPLICA: String(options.replica) } : {}),
  };
  const tracing = launch.tracing;
  if (!tracing || !tracingOf(spec).enabled) {
    env['OTEL_SDK_DISABLED'] = 'true';
    return env;
  }
  env['OTEL_SERVICE_NAME'] =
    user['OTEL_SERVICE_NAME'] || `conclab-${launch.experiment.metadata.name}-${launch.variant.name}`;
  env['OTEL_RESOURCE_ATTRIBUTES'] = resourceAttributes(launch, user['OTEL_RESOURCE_ATTRIBUTES'], options.replica);
  env['OTEL_TRACES_SAMPLER'] = 'parentbased_traceidratio';
  env['OTEL_TRACES_SAMPLER_ARG'] = String(tracingOf(spec).sampleRatio);
  env['OTEL_EXPORTER_OTLP_PROTOCOL'] = 'http/protobuf';
  env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] = tracing.tracesEndpoint;
  // Header values are percent-encoded in this variable (the OpenTelemetry spec's W3C-baggage
  // form): the space of "Bearer <token>" is %20, which every SDK decodes.
  env['OTEL_EXPORTER_OTLP_TRACES_HEADERS'] = `authorization=Bearer%20${tracing.token}`;
  return env;
}

/** OTEL_* variables conclab sets itself; any other OTEL_* of the user's environment passes through. */
export const OWNED_OTEL_VARIABLES = [
  'OTEL_SDK_DISABLED',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'OTEL_TRACES_EXPORTER',
] as const;
