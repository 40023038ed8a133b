// The workload is configured only by environment variables, so the local runtime (process env)
// and the Kubernetes runtime (container env) hand it the same thing: this mapping from the API
// to that vocabulary. Pure; durations go through api/units.ts so a bad manifest fails here
// with the field named, not in the workload.
import { parseDurationMillis } from '../api/units.ts';
import type { WorkloadLaunch } from '../engine/runtime.ts';

function field<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

function millis(path: string, text: string): string {
  try {
    return String(parseDurationMillis(text));
  } catch (err) {
    throw new Error(`spec.workload.${path}: ${(err as Error).message}`);
  }
}

/**
 * Environment for one variant's workload. Ports are 0 (pick a free one and announce it in the
 * ready line); a runtime that needs fixed ports (to restart on the same address) overrides
 * CONCLAB_PORT and CONCLAB_ADMIN_PORT. Tracing is on only when the launch has an OTLP endpoint
 * and the experiment does not turn tracing off. launch.extraEnv (fault schedule) comes last.
 */
export function workloadEnv(launch: WorkloadLaunch): Record<string, string> {
  const spec = launch.experiment.spec;
  const w = spec.workload;
  const tracing = launch.otlpEndpoint !== undefined && (spec.tracing?.enabled ?? true);
  const env: Record<string, string> = {
    CONCLAB_MODEL: launch.variant.model,
    CONCLAB_WORKERS: String(launch.variant.workers),
    CONCLAB_HOST: '127.0.0.1',
    CONCLAB_PORT: '0',
    CONCLAB_ADMIN_PORT: '0',
    CONCLAB_PROFILE: field(w.profile, 'cpu'),
    CONCLAB_CPU_MILLIS: millis('cpuTime', field(w.cpuTime, '5ms')),
    CONCLAB_IO_MILLIS: millis('ioWait', field(w.ioWait, '0ms')),
    CONCLAB_RESPONSE_BYTES: String(field(w.responseBytes, 256)),
    CONCLAB_REPLACE_WORKERS: String(field(w.replaceWorkers, true)),
    CONCLAB_RACY: String(field(w.racyUpdates, false)),
    CONCLAB_EXPERIMENT: launch.experiment.metadata.name,
    CONCLAB_VARIANT: launch.variant.name,
    CONCLAB_TRIAL: String(launch.trial),
    CONCLAB_TRACING: String(tracing),
    CONCLAB_TRACE_SAMPLE_RATIO: String(spec.tracing?.sampleRatio ?? 0.1),
  };
  if (tracing && launch.otlpEndpoint !== undefined) env['OTEL_EXPORTER_OTLP_ENDPOINT'] = launch.otlpEndpoint;
  return { ...env, ...launch.extraEnv };
}
