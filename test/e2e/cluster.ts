// The whole cluster path on a REAL single-node Kubernetes (test/cluster: kubelet, containerd,
// runc, CNI, kube-proxy; images built from the project's Dockerfiles), with the operator
// installed as a user installs it: `helm install` of charts/conclab. The tests talk to it only
// through kubectl, the API and `conclab report`, as a user does. Each test file gets a
// namespace and an operator release of its own on the one shared cluster of the run.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import type { JsonReport } from '../../operator/report/json.ts';
import { type InstalledOperator, installOperator } from '../cluster/operator-install.ts';
import type { RealCluster } from '../cluster/real-cluster.ts';
import { useSharedCluster } from '../cluster/shared-cluster.ts';
import { Api, ROOT } from '../controller/helpers.ts';

export const CONCLAB_BIN = join(ROOT, 'operator', 'cli', 'conclab.js');

export interface E2eCluster {
  readonly cluster: RealCluster;
  readonly api: Api;
  /** The namespace this file's experiments run in. */
  readonly namespace: string;
  readonly operator: InstalledOperator;
  /** Writes a manifest to a temp file and `kubectl apply -f`s it (as a user would). */
  applyManifest(doc: unknown): Promise<void>;
  /** Runs `conclab ARGS` against the cluster (admin kubeconfig). */
  conclab(args: string[]): Promise<{ stdout: string; stderr: string; code: number }>;
  /** Polls the experiment until `done`; fails with the operator's log and the pods' state. */
  waitForExperiment(
    name: string,
    done: (cx: ConcurrencyExperiment) => boolean,
    timeoutMillis: number,
    onTick?: () => Promise<void>,
  ): Promise<ConcurrencyExperiment>;
  /** Children of an experiment still present. */
  leftovers(name: string): Promise<{ pods: string[]; configMaps: string[]; services: string[] }>;
  /** Waits (bounded) until nothing of the experiment but its report is left. */
  waitForNoLeftovers(
    name: string,
    timeoutMillis?: number,
  ): Promise<{ pods: string[]; configMaps: string[]; services: string[] }>;
  /** The operator's log and the experiment's pods, for failure messages. */
  diagnostics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startE2eCluster(file: string): Promise<E2eCluster> {
  const cluster = await useSharedCluster({ holder: file });
  const tmp = mkdtempSync(join(tmpdir(), 'conclab-e2e-'));
  let operator: InstalledOperator | undefined;
  const stop = async () => {
    await operator?.uninstall().catch(() => {});
    await cluster.stop();
    rmSync(tmp, { recursive: true, force: true });
  };
  let namespace: string;
  try {
    namespace = await cluster.createNamespace('e2e');
    const releaseNamespace = await cluster.createNamespace('conclab-op');
    operator = await installOperator(cluster, {
      namespace: releaseNamespace,
      watchNamespaces: [namespace],
      // Images are in the node's containerd only; the k6 image is not: Never makes a missing
      // image fail at once (ErrImageNeverPull) instead of backing off pulls.
      // The node has 2 CPUs: the operator (100m), a workload budget of up to 1500m and the
      // load pod (400m) fit together.
      set: ['experimentImages.pullPolicy=Never', 'deployTimeout=90s', 'loadResources.cpu=400m'],
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const api = new Api(cluster.kubeConfig());
  const op = operator;
  let manifests = 0;
  const leftovers = async (name: string) => {
    const selector = `conclab.dev/experiment=${name}`;
    const [pods, cms, services] = await Promise.all([
      api.core.listNamespacedPod({ namespace, labelSelector: selector }),
      api.core.listNamespacedConfigMap({ namespace, labelSelector: selector }),
      api.core.listNamespacedService({ namespace, labelSelector: selector }),
    ]);
    return {
      pods: pods.items.map((p) => p.metadata?.name ?? ''),
      configMaps: cms.items
        .filter((m) => m.metadata?.labels?.['conclab.dev/role'] !== 'report')
        .map((m) => m.metadata?.name ?? ''),
      services: services.items.map((s) => s.metadata?.name ?? ''),
    };
  };
  const diagnostics = async () => {
    const logs = await cluster.kubectl(['logs', '-n', op.namespace, `deployment/${op.deployment}`, '--tail=80']);
    const pods = await cluster.kubectl(['get', 'pods', '-n', namespace, '-o', 'wide']);
    return `--- operator log ---\n${logs.stdout}${logs.stderr}\n--- pods ---\n${pods.stdout}`;
  };
  return {
    cluster,
    api,
    namespace,
    operator: op,
    applyManifest: async (doc) => {
      const path = join(tmp, `manifest-${++manifests}.yaml`);
      writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc));
      const r = await cluster.kubectl(['apply', '-n', namespace, '-f', path]);
      if (r.code !== 0) throw new Error(`kubectl apply -f ${path} failed: ${r.stderr}`);
    },
    conclab: (args) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [CONCLAB_BIN, ...args, '--kubeconfig', cluster.kubeconfigPath],
          { cwd: ROOT, maxBuffer: 32 * 1024 * 1024 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
            resolve({ stdout, stderr, code });
          },
        );
      }),
    waitForExperiment: async (name, done, timeoutMillis, onTick) => {
      const deadline = Date.now() + timeoutMillis;
      let last: ConcurrencyExperiment | undefined;
      for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
        last = await api.cx(namespace, name);
        if (last && done(last)) return last;
        await onTick?.();
        await sleep(500);
      }
      throw new Error(
        `experiment ${name} not done within ${timeoutMillis} ms; last status: ${JSON.stringify(last?.status, null, 2)}\n${await diagnostics()}`,
      );
    },
    leftovers,
    waitForNoLeftovers: async (name, timeoutMillis = 60_000) => {
      const deadline = Date.now() + timeoutMillis;
      let left = await leftovers(name);
      while (left.pods.length + left.configMaps.length + left.services.length > 0 && Date.now() < deadline) {
        await sleep(500);
        left = await leftovers(name);
      }
      return left;
    },
    diagnostics,
    stop,
  };
}

/** A parsed example manifest, edited by tests. */
export interface Manifest {
  metadata: { name: string; namespace?: string };
  spec: {
    load: Record<string, unknown>;
    trials?: number;
    faults?: Record<string, unknown>[];
    tracing?: Record<string, unknown>;
    slo?: Record<string, unknown>;
    workload: Record<string, unknown>;
    resources: { cpu: string; memory: string };
    variants: { name: string; model: string; workers: number; replicas?: number }[];
  };
}

/** An example manifest with durations shortened for a test; `edit` changes the parsed object. */
export function shortenedExample(file: string, edit: (doc: Manifest) => void): Manifest {
  const doc = parse(readFileSync(join(ROOT, 'examples', file), 'utf8')) as Manifest;
  edit(doc);
  return doc;
}

/** The report as `conclab report NAME --format json` prints it: the versioned schema's type. */
export type ReportJson = JsonReport;
