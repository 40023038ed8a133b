// The way trial records come back from a load pod, on any conformant cluster: the load pod
// POSTs its TrialRecord JSON to the operator's Service
//   POST {resultsUrl}/results/v1/{namespace}/{experiment}/{variant}/{trial}
//   Authorization: Bearer {token from Secret cx-<name>-results-token}
// and the operator stores it, before answering 204, in the ConfigMap
// cx-<name>-<variant>-t<trial>-result (an owned child). The ConfigMap, not this request, is
// what the phase machine observes: a restarted operator loses nothing, and a load pod retries
// until it gets a 2xx. Plain pod-to-Service HTTP: no termination-message size limit (4 KiB),
// no extra RBAC for load pods (they carry no ServiceAccount token at all). Any operator
// replica can take the POST: the record goes to the API server, not into memory.
//
// The record is checked against the one definition (operator/contracts/records.ts) and
// completed with what only the kubelet knows about the step's workload pods: how their
// containers last ended (OOMKilled, exit codes) and the images they ran.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { runVariant } from '../api/sweep.ts';
import type { TrialRecord, WorkloadEvent } from '../contracts/records.ts';
import {
  LABEL_GENERATION,
  LABEL_ROLE,
  LABEL_TRIAL,
  LABEL_VARIANT,
  loadPodName,
  runOf,
  tokenSecretName,
} from '../runtime/kube/names.ts';
import { resultConfigMap } from '../runtime/kube/pod-spec.ts';
import { bearerTokenMatches } from '../telemetry/bearer-token.ts';
import { readBoundedBody, respond } from '../telemetry/request-body.ts';
import type { KubeClient } from './kube-client.ts';
import { parseTrialRecord } from './phase-machine.ts';

export const RESULTS_PREFIX = '/results/v1/';
/** A ConfigMap holds at most 1 MiB; a TrialRecord is tens of KiB. */
export const MAX_RESULT_BYTES = 900 * 1024;
/** How long a load pod may take to send its record. */
const BODY_DEADLINE_MILLIS = 30_000;

export interface ResultsDeps {
  client: KubeClient;
  /** The experiment's pods as last observed, for the kubelet's facts stored with the record. */
  pods(namespace: string, experiment: string): V1Pod[];
  onStored?(namespace: string, experiment: string, variant: string, trial: number): void;
}

/** Parses `/results/v1/ns/name/variant/trial`; undefined when it is not such a path. */
export function parseResultsPath(
  path: string,
): { namespace: string; name: string; variant: string; trial: number } | undefined {
  if (!path.startsWith(RESULTS_PREFIX)) return undefined;
  const parts = path.slice(RESULTS_PREFIX.length).split('/');
  if (parts.length !== 4) return undefined;
  let decoded: string[];
  try {
    decoded = parts.map(decodeURIComponent);
  } catch {
    return undefined;
  }
  const [namespace = '', name = '', variant = '', trialText = ''] = decoded;
  const dns = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  if (![namespace, name, variant].every((p) => dns.test(p)) || !/^[1-9][0-9]{0,2}$/.test(trialText)) return undefined;
  return { namespace, name, variant, trial: Number(trialText) };
}

/**
 * What the kubelet knows that the load pod cannot: per workload pod (replica), how its
 * container last ended and the image it ran. Pure.
 */
export function withKubeletFacts(record: TrialRecord, workloadPods: readonly V1Pod[]): TrialRecord {
  const events: WorkloadEvent[] = [...record.events];
  const replicas = [...(record.replicas ?? [])];
  for (const pod of workloadPods) {
    const replica = replicaOf(pod);
    const cs = pod.status?.containerStatuses?.find((c) => c.name === 'workload') ?? pod.status?.containerStatuses?.[0];
    if (!cs) continue;
    const last = cs.lastState?.terminated;
    if (last && (cs.restartCount ?? 0) > 0) {
      const at = last.finishedAt ? new Date(last.finishedAt).getTime() : Number.NaN;
      const oomKilled = last.reason === 'OOMKilled';
      if (Number.isFinite(at) && at >= record.load.startedAtMillis - 60_000) {
        events.push({
          atMillis: at,
          kind: 'process-exit',
          replica,
          exit: oomKilled ? 'OOMKilled' : `code ${last.exitCode}${last.signal ? ` signal ${last.signal}` : ''}`,
          oomKilled,
          detail: `kubelet: container ended ${last.reason ?? ''} (exit code ${last.exitCode}), restarts ${cs.restartCount}; time to the second`,
        });
      }
    }
    const image = cs.imageID || cs.image;
    const i = replicas.findIndex((r) => r.replica === replica);
    if (image) {
      if (i >= 0) replicas[i] = { ...(replicas[i] as NonNullable<TrialRecord['replicas']>[number]), image };
      else replicas.push({ replica, image });
    }
  }
  events.sort((a, b) => a.atMillis - b.atMillis);
  const usage = record.usage;
  const oomExits = events.filter((e) => e.kind === 'process-exit' && e.oomKilled).length;
  return {
    ...record,
    events,
    replicas: replicas.sort((a, b) => a.replica - b.replica),
    // A container the OOM killer ended takes its cgroup's counter with it: count the kubelet's view.
    ...(usage && oomExits > (usage.oomKills ?? 0) ? { usage: { ...usage, oomKills: oomExits } } : {}),
  };
}

function replicaOf(pod: V1Pod): number {
  const m = /-r(\d+)$/.exec(pod.metadata?.name ?? '');
  return m ? Number(m[1]) : 0;
}

export async function handleResult(req: IncomingMessage, res: ServerResponse, deps: ResultsDeps): Promise<void> {
  // An answer before the body was read closes in stages, so a client still uploading reads it.
  const reply = (code: number, message: string) =>
    respond(req, res, code, { 'content-type': 'text/plain; charset=utf-8' }, `${message}\n`);
  if (req.method !== 'POST') return reply(405, 'use POST');
  const target = parseResultsPath(new URL(req.url ?? '/', 'http://x').pathname);
  if (!target) return reply(404, `expected ${RESULTS_PREFIX}NAMESPACE/EXPERIMENT/VARIANT/TRIAL`);
  const { namespace, name, variant, trial } = target;
  // The token first: nothing of an unauthenticated body is read.
  const secret = await deps.client.getSecret(namespace, tokenSecretName(name));
  const expected = secret?.data?.['token'] ? Buffer.from(secret.data['token'], 'base64').toString('utf8') : '';
  if (!expected || !bearerTokenMatches(req.headers.authorization, expected)) {
    return reply(401, 'missing or wrong bearer token for this experiment');
  }
  const body = await readBoundedBody(req, res, { maxBytes: MAX_RESULT_BYTES, deadlineMillis: BODY_DEADLINE_MILLIS });
  if (body === undefined) return; // readBoundedBody answered (413, 408, 400).
  let record: TrialRecord;
  try {
    record = parseTrialRecord(body.toString('utf8'));
  } catch (err) {
    return reply(400, `not a TrialRecord: ${(err as Error).message}`);
  }
  if (record.variant !== variant || record.trial !== trial) {
    return reply(
      400,
      `the record is of variant ${record.variant} trial ${record.trial}, posted to ${variant} trial ${trial}`,
    );
  }
  const cx = await deps.client.getExperiment(namespace, name);
  if (!cx) return reply(404, `experiment ${namespace}/${name} not found`);
  if (!runVariant(cx.spec, variant) || trial > cx.spec.trials) {
    return reply(404, `experiment ${namespace}/${name} has no variant ${variant} trial ${trial}`);
  }
  // A record belongs to the load pod of the current spec: one from a load pod of an older
  // generation (the spec changed mid-run) or from no load pod at all is refused.
  const pods = deps.pods(namespace, name);
  // A scheduled experiment's run is part of the name: a late post from an earlier run finds no pod.
  const loaderName = loadPodName(name, variant, trial, runOf(cx));
  // The cache may lag the API server by a moment; ask it before refusing.
  const loader = pods.find((p) => p.metadata?.name === loaderName) ?? (await deps.client.getPod(namespace, loaderName));
  const generation = String(cx.metadata.generation ?? 0);
  if (!loader || loader.metadata?.labels?.[LABEL_GENERATION] !== generation) {
    return reply(409, `no current load pod for ${namespace}/${name} variant ${variant} trial ${trial}; record dropped`);
  }
  const workloads = pods.filter(
    (p) =>
      p.metadata?.labels?.[LABEL_ROLE] === 'workload' &&
      p.metadata.labels[LABEL_VARIANT] === variant &&
      p.metadata.labels[LABEL_TRIAL] === String(trial),
  );
  const completed = withKubeletFacts(record, workloads);
  await deps.client.applyConfigMap(resultConfigMap(cx, variant, trial, JSON.stringify(completed)));
  deps.onStored?.(namespace, name, variant, trial);
  res.writeHead(204).end();
}
