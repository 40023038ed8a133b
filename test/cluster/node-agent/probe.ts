// TEST INFRASTRUCTURE. httpGet probes against the pod's address, as the kubelet runs them:
// success is an answer with 200 <= status < 400 within timeoutSeconds. Probe settings with the
// kubelet's defaults, and the success/failure threshold bookkeeping as a pure step function.
import { request } from 'node:http';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

export interface ProbeSettings {
  path: string;
  port: number;
  host: string | undefined;
  initialDelayMillis: number;
  periodMillis: number;
  timeoutMillis: number;
  successThreshold: number;
  failureThreshold: number;
}

/** Resolves a probe's settings; undefined for no probe; throws for what the agent cannot run (exec, tcp, grpc). */
export function probeSettings(probe: V1Probe | undefined, container: V1Container): ProbeSettings | undefined {
  if (!probe) return undefined;
  const http = probe.httpGet;
  if (!http) throw new Error(`container ${container.name}: only httpGet probes are supported by the test node agent`);
  let port: number;
  const raw = http.port as unknown;
  if (typeof raw === 'number') port = raw;
  else if (typeof raw === 'string' && /^\d+$/.test(raw)) port = Number(raw);
  else {
    const named = (container.ports ?? []).find((p) => p.name === raw);
    if (!named) throw new Error(`container ${container.name}: probe port ${String(raw)} names no container port`);
    port = named.containerPort;
  }
  return {
    path: http.path ?? '/',
    port,
    host: http.host,
    initialDelayMillis: (probe.initialDelaySeconds ?? 0) * 1000,
    periodMillis: (probe.periodSeconds ?? 10) * 1000,
    timeoutMillis: (probe.timeoutSeconds ?? 1) * 1000,
    successThreshold: probe.successThreshold ?? 1,
    failureThreshold: probe.failureThreshold ?? 3,
  };
}

/** Threshold bookkeeping of one probe. */
export interface ProbeState {
  healthy: boolean;
  successes: number;
  failures: number;
}

export function stepProbe(state: ProbeState, ok: boolean, settings: ProbeSettings): ProbeState {
  if (ok) {
    const successes = state.successes + 1;
    return { healthy: state.healthy || successes >= settings.successThreshold, successes, failures: 0 };
  }
  const failures = state.failures + 1;
  return { healthy: state.healthy && failures < settings.failureThreshold, successes: 0, failures };
}

/** One httpGet; resolves true for 2xx/3xx, false for anything else (never rejects). */
export function runHttpProbe(host: string, settings: ProbeSettings): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: settings.host ?? host,
        port: settings.port,
        path: settings.path,
        method: 'GET',
        agent: false,
        timeout: settings.timeoutMillis,
        headers: { 'user-agent': 'kube-probe/conclab-test-node' },
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}
