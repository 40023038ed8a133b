// Where the test-only control-plane binaries live. build.sh builds them from the Go module
// proxy into a cache outside the repository; the versions come from the wrapper modules'
// go.mod files (the single source of truth both build.sh and this module read).
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type ClusterBinaryName =
  | 'etcd'
  | 'kubeApiserver'
  | 'kubectl'
  | 'helm'
  | 'kubelet'
  | 'kubeScheduler'
  | 'kubeControllerManager'
  | 'kubeProxy';

/** The binaries a real node needs besides the control plane's (test/cluster/build.sh all). */
export const nodeBinaryNames: readonly ClusterBinaryName[] = [
  'kubelet',
  'kubeScheduler',
  'kubeControllerManager',
  'kubeProxy',
];

export interface ClusterBinaries {
  readonly cacheDir: string;
  readonly kubernetesVersion: string;
  readonly etcdVersion: string;
  readonly helmVersion: string;
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubectl: string;
  readonly helm: string;
  readonly kubelet: string;
  readonly kubeScheduler: string;
  readonly kubeControllerManager: string;
  readonly kubeProxy: string;
}

const goDir = join(import.meta.dirname, 'go');

/** The version a go.mod requires for `module` (block or single-line require), or undefined. */
export function requiredModuleVersion(goMod: string, module: string): string | undefined {
  for (const raw of goMod.split('\n')) {
    const fields = raw.trim().split(/\s+/);
    const [first, second, third] = fields;
    if (first === module && second?.startsWith('v')) return second;
    if (first === 'require' && second === module && third?.startsWith('v')) return third;
  }
  return undefined;
}

function versionFrom(wrapper: string, module: string): string {
  const path = join(goDir, wrapper, 'go.mod');
  const version = requiredModuleVersion(readFileSync(path, 'utf8'), module);
  if (!version) throw new Error(`${path} does not require ${module}; restore it from git`);
  return version;
}

/** Paths of the cached binaries for the pinned versions (they may not exist yet). */
export function clusterBinaries(
  cacheDir = process.env.CONCLAB_CACHE || join(homedir(), '.cache', 'conclab'),
): ClusterBinaries {
  const kubernetesVersion = versionFrom('kube', 'k8s.io/kubernetes');
  const etcdVersion = versionFrom('etcd', 'go.etcd.io/etcd/server/v3');
  const helmVersion = versionFrom('helm', 'helm.sh/helm/v3');
  const bin = join(cacheDir, 'bin');
  const kube = (name: string): string => join(bin, `kubernetes-${kubernetesVersion}`, name);
  return {
    cacheDir,
    kubernetesVersion,
    etcdVersion,
    helmVersion,
    etcd: join(bin, `etcd-${etcdVersion}`, 'etcd'),
    kubeApiserver: join(bin, `kubernetes-${kubernetesVersion}`, 'kube-apiserver'),
    kubectl: join(bin, `kubernetes-${kubernetesVersion}`, 'kubectl'),
    helm: join(bin, `helm-${helmVersion}`, 'helm'),
    kubelet: kube('kubelet'),
    kubeScheduler: kube('kube-scheduler'),
    kubeControllerManager: kube('kube-controller-manager'),
    kubeProxy: kube('kube-proxy'),
  };
}

/**
 * Paths of the named binaries, or an error naming every missing one and the fix. Tests call
 * this (through startControlPlane) so a machine without the binaries fails loudly instead of
 * skipping: npm test builds them first (test/prepare.sh).
 */
export function requireClusterBinaries(
  names: readonly ClusterBinaryName[] = ['etcd', 'kubeApiserver', 'kubectl'],
  binaries = clusterBinaries(),
): ClusterBinaries {
  const missing = names.filter((name) => !isExecutable(binaries[name]));
  if (missing.length > 0) {
    const list = missing.map((name) => `  ${binaries[name]}`).join('\n');
    const target = missing.some((name) => nodeBinaryNames.includes(name)) ? ' all' : '';
    throw new Error(
      `test cluster binaries missing:\n${list}\nBuild them with: test/cluster/build.sh${target} ` +
        '(cold build takes several minutes; later runs reuse the cache; npm test runs it from test/prepare.sh)',
    );
  }
  return binaries;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
