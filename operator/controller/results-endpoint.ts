// The way load results come back from a load pod, on any conformant cluster: the load pod
// POSTs its LoadResult JSON to the operator's Service
//   POST {resultsUrl}/results/v1/{namespace}/{experiment}/{variant}/{trial}
//   Authorization: Bearer {token from Secret cx-<name>-results-token}
// and the operator stores it, before answering 204, in the ConfigMap
// cx-<name>-<variant>-t<trial>-result (an owned child). The ConfigMap, not this request, is
// what the phase machine observes: a restarted operator loses nothing, and a load pod retries
// until it gets a 2xx. Plain pod-to-Service HTTP: no termination-message size limit (4 KiB),
// no extra RBAC for load pods (they carry no ServiceAccount token at all).
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import {
  LABEL_GENERATION,
  LABEL_ROLE,
  LABEL_TRIAL,
  LABEL_VARIANT,
  loadPodName,
  runOf,
  tokenSecretName,
} from '../runtime/kube/names.ts';
import { parseLoadResult } from '../runtime/kube/phase-machine.ts';
import { resultConfigMap } from '../runtime/kube/pod-spec.ts';
import type { KubeClient } from './kube-client.ts';

export const RESULTS_PREFIX = '/results/v1/';
/** A ConfigMap holds at most 1 MiB; a LoadResult is a few KiB. */
export const MAX_RESULT_BYTES = 900 * 1024;

export interface ResultsDeps {
  client: KubeClient;
  /** The experiment's pods as last observed, for the restart count stored with the result. */
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
  const [namespace = '', name = '', variant = '', trialText = ''] = parts.map(decodeURIComponent);
  const dns = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  if (![namespace, name, variant].every((p) => dns.test(p)) || !/^[1-9][0-9]{0,2}$/.test(trialText)) return undefined;
  return { namespace, name, variant, trial: Number(trialText) };
}

export async function handleResult(req: IncomingMessage, res: ServerResponse, deps: ResultsDeps): Promise<void> {
  const reply = (code: number, message: string) => {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(`${message}\n`);
  };
  if (req.method !== 'POST') return reply(405, 'use POST');
  const target = parseResultsPath(new URL(req.url ?? '/', 'http://x').pathname);
  if (!target) return reply(404, `expected ${RESULTS_PREFIX}NAMESPACE/EXPERIMENT/VARIANT/TRIAL`);
  const auth = req.headers.authorization ?? '';
  const presented = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  let body: string;
  try {
    body = await readBody(req, MAX_RESULT_BYTES);
  } catch (err) {
    return reply(413, (err as Error).message);
  }
  const { namespace, name, variant, trial } = target;
  const secret = await deps.client.getSecret(namespace, tokenSecretName(name));
  const expected = secret?.data?.['token'] ? Buffer.from(secret.data['token'], 'base64') : undefined;
  const given = Buffer.from(presented);
  if (!expected || expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return reply(401, 'missing or wrong bearer token for this experiment');
  }
  try {
    parseLoadResult(body);
  } catch (err) {
    return reply(400, `not a LoadResult: ${(err as Error).message}`);
  }
  const cx = await deps.client.getExperiment(namespace, name);
  if (!cx) return reply(404, `experiment ${namespace}/${name} not found`);
  if (!cx.spec.variants.some((v) => v.name === variant) || trial > cx.spec.trials) {
    return reply(404, `experiment ${namespace}/${name} has no variant ${variant} trial ${trial}`);
  }
  // A result belongs to the load pod of the current spec: one from a load pod of an older
  // generation (the spec changed mid-run) or from no load pod at all is refused.
  const pods = deps.pods(namespace, name);
  // A scheduled experiment's run is part of the name: a late post from an earlier run finds no pod.
  const loaderName = loadPodName(name, variant, trial, runOf(cx));
  // The cache may lag the API server by a moment; ask it before refusing.
  const loader = pods.find((p) => p.metadata?.name === loaderName) ?? (await deps.client.getPod(namespace, loaderName));
  const generation = String(cx.metadata.generation ?? 0);
  if (!loader || loader.metadata?.labels?.[LABEL_GENERATION] !== generation) {
    return reply(409, `no current load pod for ${namespace}/${name} variant ${variant} trial ${trial}; result dropped`);
  }
  const restarts = pods
    .filter(
      (p) =>
        p.metadata?.labels?.[LABEL_ROLE] === 'workload' &&
        p.metadata.labels[LABEL_VARIANT] === variant &&
        p.metadata.labels[LABEL_TRIAL] === String(trial),
    )
    .reduce((sum, p) => sum + (p.status?.containerStatuses ?? []).reduce((a, c) => a + (c.restartCount ?? 0), 0), 0);
  await deps.client.applyConfigMap(resultConfigMap(cx, variant, trial, body, restarts));
  deps.onStored?.(namespace, name, variant, trial);
  res.writeHead(204).end();
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error(`result larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
