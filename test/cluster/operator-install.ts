// Installs the operator into a real test cluster the way a user does: `helm install` of
// charts/conclab with the locally built image (pull policy Never: the image is in the node's
// containerd already), then waits for the Deployment to be Available.
import { join } from 'node:path';
import { testImages } from './images.ts';
import type { RealCluster } from './real-cluster.ts';

const chart = join(import.meta.dirname, '..', '..', 'charts', 'conclab');

export interface InstallOperatorOptions {
  /** Namespaces whose experiments the operator watches (the chart's watchNamespaces). */
  readonly watchNamespaces: readonly string[];
  /** Release namespace. Default conclab-system; on a shared cluster pass one of your own. */
  readonly namespace?: string;
  /** Default conclab. */
  readonly release?: string;
  /** More `--set` values, e.g. ['leaderElection.enabled=false']. */
  readonly set?: readonly string[];
  /** Bound on install plus Available. Default 180 s. */
  readonly timeoutMillis?: number;
}

export interface InstalledOperator {
  readonly release: string;
  readonly namespace: string;
  /** The Deployment's name (the chart's fullname: the release name when it contains "conclab"). */
  readonly deployment: string;
  readonly image: string;
  readonly millis: number;
  /** `helm uninstall --wait`; idempotent. */
  uninstall(): Promise<void>;
}

/** The image reference split as the chart's values want it. Pure. */
export function chartImageValues(reference: string): { repository: string; tag: string } {
  const colon = reference.lastIndexOf(':');
  if (colon <= reference.lastIndexOf('/')) throw new Error(`image reference "${reference}" has no tag`);
  return { repository: reference.slice(0, colon), tag: reference.slice(colon + 1) };
}

export async function installOperator(
  cluster: RealCluster,
  options: InstallOperatorOptions,
): Promise<InstalledOperator> {
  const started = Date.now();
  const namespace = options.namespace ?? 'conclab-system';
  const release = options.release ?? 'conclab';
  const timeoutMillis = options.timeoutMillis ?? 180_000;
  if (options.watchNamespaces.length === 0) throw new Error('installOperator needs at least one watch namespace');
  const image = cluster.images.operator;
  const { repository, tag } = chartImageValues(image);
  const installed = await cluster.helm(
    [
      'install',
      release,
      chart,
      '--namespace',
      namespace,
      '--create-namespace',
      '--set',
      `image.repository=${repository},image.tag=${tag},image.pullPolicy=Never`,
      '--set',
      `watchNamespaces={${options.watchNamespaces.join(',')}}`,
      '--set',
      `experimentImages.workloadNode=${testImages['workload-node']}`,
      '--set',
      `experimentImages.workloadPython=${testImages['workload-python']}`,
      ...(options.set ?? []).flatMap((value) => ['--set', value]),
    ],
    { timeoutMillis },
  );
  if (installed.code !== 0) throw new Error(`helm install ${release} failed:\n${installed.stderr || installed.stdout}`);
  const deployment = release.includes('conclab') ? release : `${release}-conclab`;
  const seconds = Math.max(1, Math.round((timeoutMillis - (Date.now() - started)) / 1000));
  const available = await cluster.kubectl(
    ['wait', '--for=condition=Available', `deployment/${deployment}`, '-n', namespace, `--timeout=${seconds}s`],
    { timeoutMillis: seconds * 1000 + 10_000 },
  );
  let uninstalled = false;
  const uninstall = async (): Promise<void> => {
    if (uninstalled) return;
    uninstalled = true;
    await cluster.helm(['uninstall', release, '--namespace', namespace, '--wait'], { timeoutMillis: 120_000 });
  };
  if (available.code !== 0) {
    const pods = await cluster.kubectl(['describe', 'pods', '-n', namespace]);
    const logs = await cluster.kubectl(['logs', '-n', namespace, `deployment/${deployment}`, '--tail=30']);
    await uninstall();
    throw new Error(
      `deployment ${namespace}/${deployment} not Available: ${available.stderr}\n${pods.stdout.slice(-3000)}\n${logs.stdout}${logs.stderr}`,
    );
  }
  return { release, namespace, deployment, image, millis: Date.now() - started, uninstall };
}
