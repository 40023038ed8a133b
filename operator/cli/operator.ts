// `conclab operator`: runs the Kubernetes operator. Flags override environment variables
// (the chart sets the environment); every duration flag takes "15s"-style values.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parseDurationMillis } from '../api/units.ts';
import { CrdMissingError } from '../controller/crd-check.ts';
import { startOperator } from '../controller/operator.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';

export const help = `Usage: conclab operator [options]

Runs the ConcurrencyExperiment operator: watches experiments, places their pods, and serves
the results endpoint load pods post their trial records to. (Spans go to each trial's load
pod, not to the operator.)

Options (environment variable in brackets):
  --kubeconfig PATH          kubeconfig file; default: in-cluster, then $KUBECONFIG/~/.kube/config
  --namespaces a,b           namespaces to watch; empty: all [CONCLAB_WATCH_NAMESPACES]
  --bind-address IP          address of the HTTP server [CONCLAB_BIND_ADDRESS] (127.0.0.1)
  --http-port N              /healthz /readyz /metrics and /results/v1 [CONCLAB_HTTP_PORT] (8080)
  --results-url URL          base URL load pods post records to [CONCLAB_RESULTS_URL]
  --results-service NAME     or: the operator's own Service, in the pod's namespace; load pods
                             are given its ClusterIP and "http" port [CONCLAB_RESULTS_SERVICE]
  --leader-elect             elect a leader with a Lease [CONCLAB_LEADER_ELECT=true]
  --lease-namespace NS       [CONCLAB_LEASE_NAMESPACE] (the pod's namespace)
  --lease-name NAME          [CONCLAB_LEASE_NAME] (conclab-operator)
  --lease-duration D         [CONCLAB_LEASE_DURATION] (15s)
  --renew-deadline D         [CONCLAB_RENEW_DEADLINE] (10s)
  --retry-period D           [CONCLAB_RETRY_PERIOD] (2s)
  --deploy-timeout D         workload pods must be Ready within this [CONCLAB_DEPLOY_TIMEOUT] (5m)
  --conclab-image IMAGE      image of the load pods' trial runner [CONCLAB_IMAGE]
  --image-pull-policy P      Always, IfNotPresent or Never for experiment pods [CONCLAB_IMAGE_PULL_POLICY]
  --k6-image IMAGE           image for load.driver k6 [CONCLAB_K6_IMAGE]
  --workload-image-node IMAGE, --workload-image-python IMAGE   default workload images
  --load-cpu Q, --load-memory Q   load pod budget, requests = limits [CONCLAB_LOAD_CPU, CONCLAB_LOAD_MEMORY] (1, 512Mi)
  --workers N                parallel reconciles (2)

SIGTERM/SIGINT: stop taking work, finish current reconciles, release the lease, exit 0.`;

export async function operatorCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: 'string' },
        namespaces: { type: 'string' },
        'bind-address': { type: 'string' },
        'http-port': { type: 'string' },
        'image-pull-policy': { type: 'string' },
        'results-url': { type: 'string' },
        'results-service': { type: 'string' },
        'leader-elect': { type: 'boolean' },
        'lease-namespace': { type: 'string' },
        'lease-name': { type: 'string' },
        'lease-duration': { type: 'string' },
        'renew-deadline': { type: 'string' },
        'retry-period': { type: 'string' },
        'deploy-timeout': { type: 'string' },
        'conclab-image': { type: 'string' },
        'k6-image': { type: 'string' },
        'workload-image-node': { type: 'string' },
        'workload-image-python': { type: 'string' },
        workers: { type: 'string' },
        'load-cpu': { type: 'string' },
        'load-memory': { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`conclab operator: ${(err as Error).message}\n\n${help}`);
    return EXIT_USAGE;
  }
  const env = process.env;
  const str = (flag: string, envName: string): string | undefined => {
    const v = values[flag];
    return typeof v === 'string' ? v : env[envName] || undefined;
  };
  const num = (flag: string, envName: string, fallback: number): number => {
    const raw = str(flag, envName);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n)) throw new UsageError(`--${flag} ${JSON.stringify(raw)} is not an integer`);
    return n;
  };
  const dur = (flag: string, envName: string, fallback: string): number => {
    const raw = str(flag, envName) ?? fallback;
    try {
      return parseDurationMillis(raw);
    } catch (err) {
      throw new UsageError(`--${flag}: ${(err as Error).message}`);
    }
  };

  try {
    const kubeConfig = new KubeConfig();
    const kubeconfigPath = str('kubeconfig', 'CONCLAB_KUBECONFIG');
    if (kubeconfigPath) kubeConfig.loadFromFile(kubeconfigPath);
    else kubeConfig.loadFromDefault();
    const host = str('bind-address', 'CONCLAB_BIND_ADDRESS') ?? '127.0.0.1';
    const namespaces = (str('namespaces', 'CONCLAB_WATCH_NAMESPACES') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const leaderElect = values['leader-elect'] === true || env['CONCLAB_LEADER_ELECT'] === 'true';
    const podNamespace = env['POD_NAMESPACE'];
    const identity = `${env['POD_NAME'] ?? hostname()}-${randomBytes(4).toString('hex')}`;
    const images: Record<string, unknown> = {};
    const conclabImage = str('conclab-image', 'CONCLAB_IMAGE');
    const k6Image = str('k6-image', 'CONCLAB_K6_IMAGE');
    if (conclabImage) images['conclab'] = conclabImage;
    if (k6Image) images['k6'] = k6Image;
    const node = str('workload-image-node', 'CONCLAB_WORKLOAD_IMAGE_NODE');
    const python = str('workload-image-python', 'CONCLAB_WORKLOAD_IMAGE_PYTHON');
    if (node || python) {
      images['workload'] = {
        node: node ?? 'conclab/workload-node:0.1.0',
        python: python ?? 'conclab/workload-python:0.1.0',
      };
    }
    const pullPolicy = str('image-pull-policy', 'CONCLAB_IMAGE_PULL_POLICY');
    if (pullPolicy !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(pullPolicy)) {
      throw new UsageError(`--image-pull-policy ${JSON.stringify(pullPolicy)}: use Always, IfNotPresent or Never`);
    }
    const resultsService = str('results-service', 'CONCLAB_RESULTS_SERVICE');
    const resultsUrl =
      str('results-url', 'CONCLAB_RESULTS_URL') ??
      (resultsService
        ? await serviceUrl(
            kubeConfig,
            podNamespace ?? str('lease-namespace', 'CONCLAB_LEASE_NAMESPACE'),
            resultsService,
          )
        : undefined);
    const handle = await startOperator({
      kubeConfig,
      namespaces,
      httpHost: host,
      httpPort: num('http-port', 'CONCLAB_HTTP_PORT', 8080),
      workers: num('workers', 'CONCLAB_WORKERS', 2),
      ...(resultsUrl ? { resultsUrl } : {}),
      ...(pullPolicy ? { imagePullPolicy: pullPolicy as 'Always' | 'IfNotPresent' | 'Never' } : {}),
      images,
      loadResources: {
        cpu: str('load-cpu', 'CONCLAB_LOAD_CPU') ?? '1',
        memory: str('load-memory', 'CONCLAB_LOAD_MEMORY') ?? '512Mi',
      },
      timeouts: { deployMillis: dur('deploy-timeout', 'CONCLAB_DEPLOY_TIMEOUT', '5m') },
      ...(leaderElect
        ? {
            leaderElection: {
              namespace: str('lease-namespace', 'CONCLAB_LEASE_NAMESPACE') ?? podNamespace ?? 'default',
              name: str('lease-name', 'CONCLAB_LEASE_NAME') ?? 'conclab-operator',
              identity,
              leaseDurationMillis: dur('lease-duration', 'CONCLAB_LEASE_DURATION', '15s'),
              renewDeadlineMillis: dur('renew-deadline', 'CONCLAB_RENEW_DEADLINE', '10s'),
              retryPeriodMillis: dur('retry-period', 'CONCLAB_RETRY_PERIOD', '2s'),
            },
          }
        : {}),
    });
    console.error(
      `conclab operator: serving ${handle.url} (healthz, readyz, metrics, results); watching ${namespaces.length ? namespaces.join(', ') : 'all namespaces'}`,
    );
    const onSignal = (signal: string) => {
      console.error(`conclab operator: ${signal}, shutting down`);
      void handle.stop();
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
    const reason = await handle.stopped;
    // Like client-go: a replica that lost its lease exits non-zero, so it restarts and re-lists.
    return reason === 'lost-lease' ? EXIT_FAILED : EXIT_OK;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`conclab operator: ${err.message}`);
      return EXIT_USAGE;
    }
    if (err instanceof CrdMissingError) {
      console.error(`conclab operator: ${err.message}`);
      return EXIT_FAILED;
    }
    console.error(`conclab operator: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT_FAILED;
  }
}

class UsageError extends Error {}

/** The dispatcher's command interface (operator/cli/main.ts). */
export const run = operatorCommand;

/**
 * The base URL of a Service by its ClusterIP and its "http" port (else its first), as pods
 * reach it without cluster DNS. Retried briefly: at install the Service may trail the pod.
 */
async function serviceUrl(kubeConfig: KubeConfig, namespace: string | undefined, name: string): Promise<string> {
  if (!namespace) throw new UsageError('--results-service needs the namespace: set POD_NAMESPACE or --lease-namespace');
  const core = kubeConfig.makeApiClient(CoreV1Api);
  let last = '';
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const svc = await core.readNamespacedService({ namespace, name });
      const ip = svc.spec?.clusterIP;
      const port = svc.spec?.ports?.find((p) => p.name === 'http') ?? svc.spec?.ports?.[0];
      if (ip && ip !== 'None' && port) return `http://${ip.includes(':') ? `[${ip}]` : ip}:${port.port}`;
      last = 'it has no ClusterIP or port';
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(
    `the results Service ${namespace}/${name} cannot be read (${last}); check that the chart installed it`,
  );
}
