// The operator process: informers feed a de-duplicating queue; workers reconcile keys; a
// Lease decides which replica acts; one HTTP server answers /healthz, /readyz, /metrics and
// the load pods' results. Every background loop catches per iteration and reports to `log`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { KubeConfig, V1ConfigMap, V1Pod, V1Service } from '@kubernetes/client-node';
import { type ConcurrencyExperiment, GROUP, PHASES, PLURAL, VERSION } from '../api/schema.ts';
import { toolVersion } from '../engine/environment.ts';
import { LABEL_EXPERIMENT, LABEL_MANAGED_BY, MANAGED_BY } from '../runtime/kube/names.ts';
import { DEFAULT_IMAGES, type PodContext, type PodImages } from '../runtime/kube/pod-spec.ts';
import { ensureCrdInstalled } from './crd-check.ts';
import { ControllerError, ErrorKind, toControllerError } from './errors.ts';
import { Informer, objectKey } from './informer.ts';
import { KubeClient } from './kube-client.ts';
import { DEFAULT_LEADER_ELECTION, LeaderElector } from './leader-election.ts';
import { OperatorMetrics } from './metrics.ts';
import { clusterEnvironment, DEFAULT_TIMEOUTS, type PhaseTimeouts } from './phase-machine.ts';
import { type Action, reconcile } from './reconcile.ts';
import { handleResult, RESULTS_PREFIX } from './results-endpoint.ts';
import { WorkQueue } from './work-queue.ts';

export type LogFn = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  /** Namespaces to watch; empty means all namespaces (needs cluster-wide RBAC). */
  namespaces: string[];
  /** Parallel reconciles (different keys only; one key is never worked on twice at once). */
  workers?: number;
  /** Host and port of the HTTP server (health, metrics, results). Port 0 picks a free one. */
  httpHost?: string;
  httpPort?: number;
  /** Leader election; omit to act at once (a single replica, or tests). */
  leaderElection?: {
    namespace: string;
    name: string;
    identity: string;
    leaseDurationMillis?: number;
    renewDeadlineMillis?: number;
    retryPeriodMillis?: number;
  };
  /** Base URL of the results endpoint as load pods reach it; defaults to this server's URL. */
  resultsUrl?: string;
  images?: Partial<PodImages>;
  /** imagePullPolicy of experiment pods (Never for images imported into the node only). */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  loadResources?: { cpu: string; memory: string };
  timeouts?: Partial<PhaseTimeouts>;
  /**
   * The clock spec.schedule is evaluated on (millis since the epoch); defaults to Date.now.
   * Tests inject a FAKE one to step through cron ticks; run deadlines always use real time.
   */
  scheduleClock?: () => number;
  /** Re-list a watch that heard nothing for this long. */
  staleAfterMillis?: number;
  log?: LogFn;
  /**
   * Called after each reconcile of an experiment with the copy it decided on and its outcome,
   * so a test can wait for "the operator has acted on this change" instead of sleeping.
   */
  onReconciled?: (cx: ConcurrencyExperiment, outcome: Action | ControllerError) => void;
}

export interface OperatorHandle {
  /** Base URL of the HTTP server. */
  url: string;
  metrics: OperatorMetrics;
  queue: WorkQueue;
  isLeader(): boolean;
  ready(): boolean;
  /** Graceful stop: no new work, finish the current reconciles, release the lease. */
  stop(): Promise<void>;
  /** Resolves when the operator stopped: 'stopped' after stop(), 'lost-lease' after losing the lease. */
  stopped: Promise<'stopped' | 'lost-lease'>;
}

interface Watched {
  experiments: Informer<ConcurrencyExperiment>;
  pods: Informer<V1Pod>;
  configMaps: Informer<V1ConfigMap>;
  services: Informer<V1Service>;
}

export async function startOperator(options: OperatorOptions): Promise<OperatorHandle> {
  const log: LogFn = options.log ?? ((level, m) => console.error(`${new Date().toISOString()} ${level} ${m}`));
  const client = new KubeClient(options.kubeConfig);
  const namespaces = options.namespaces.length ? options.namespaces : [''];
  for (const ns of namespaces) await ensureCrdInstalled(client, ns || undefined);

  const queue = new WorkQueue();
  const watched: Watched[] = [];
  let leading = !options.leaderElection;
  let stopping = false;
  let stopReason: 'stopped' | 'lost-lease' = 'stopped';
  let resolveStopped: (reason: 'stopped' | 'lost-lease') => void = () => {};
  const stopped = new Promise<'stopped' | 'lost-lease'>((r) => {
    resolveStopped = r;
  });

  const metrics = new OperatorMetrics({
    phases: PHASES,
    experimentPhases: () => watched.flatMap((w) => w.experiments.list().map((cx) => cx.status?.phase)),
    leading: () => leading,
    queueDepth: () => queue.length,
  });

  const images: PodImages = { ...DEFAULT_IMAGES, ...options.images };
  const environment = clusterEnvironment(toolVersion(), hostname(), process.versions.node);
  const timeouts: PhaseTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (path === '/readyz') {
      const ok = isReady();
      return void res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
    }
    if (path === '/metrics') {
      metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics: ${String(err)}\n`),
      );
      return;
    }
    if (path.startsWith(RESULTS_PREFIX)) {
      handleResult(req, res, {
        client,
        pods: (ns, name) => observe(ns, name).pods,
        onStored: (ns, name) => {
          metrics.resultReceived();
          queue.add(`${ns}/${name}`);
        },
      }).catch((err) => {
        const e = toControllerError(err, 'storing a load result');
        metrics.reconcileError(e.kind);
        log('error', e.message);
        if (!res.headersSent) res.writeHead(503, { 'content-type': 'text/plain' }).end('try again\n');
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.httpPort ?? 8080, options.httpHost ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  const podContext: PodContext = {
    images,
    ...(options.imagePullPolicy ? { imagePullPolicy: options.imagePullPolicy } : {}),
    resultsUrl: options.resultsUrl ?? url,
    loadResources: options.loadResources ?? { cpu: '1', memory: '512Mi' },
  };

  function observe(
    namespace: string,
    experiment: string,
  ): { pods: V1Pod[]; configMaps: V1ConfigMap[]; services: V1Service[] } {
    const mine = (o: { metadata?: { namespace?: string; labels?: Record<string, string> } }) =>
      o.metadata?.namespace === namespace && o.metadata?.labels?.[LABEL_EXPERIMENT] === experiment;
    return {
      pods: watched.flatMap((w) => w.pods.list()).filter(mine),
      configMaps: watched.flatMap((w) => w.configMaps.list()).filter(mine),
      services: watched.flatMap((w) => w.services.list()).filter(mine),
    };
  }

  function isReady(): boolean {
    if (stopping) return false;
    if (!leading) return true; // a standby serves results; it is ready for that.
    return (
      watched.length > 0 &&
      watched.every(
        (w) => w.experiments.healthy() && w.pods.healthy() && w.configMaps.healthy() && w.services.healthy(),
      )
    );
  }

  const enqueueOwner = (o: { metadata?: { namespace?: string; labels?: Record<string, string> } }) => {
    const owner = o.metadata?.labels?.[LABEL_EXPERIMENT];
    if (owner) queue.add(`${o.metadata?.namespace}/${owner}`);
  };
  const onError = (resource: string) => (err: unknown, context: string) => {
    metrics.watchError(resource);
    log('warn', `${context}: ${err instanceof Error ? err.message : String(err)}`);
  };

  function startWatches(): void {
    const selector = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
    for (const ns of namespaces) {
      const nsPath = ns ? `/namespaces/${ns}` : '';
      const staleAfterMillis = options.staleAfterMillis;
      const common = { config: options.kubeConfig, ...(staleAfterMillis ? { staleAfterMillis } : {}) };
      const experiments = new Informer<ConcurrencyExperiment>({
        ...common,
        name: `${PLURAL}@${ns || '*'}`,
        list: async () => {
          const l = (await (ns
            ? client.custom.listNamespacedCustomObject({
                group: GROUP,
                version: VERSION,
                namespace: ns,
                plural: PLURAL,
              })
            : client.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }))) as {
            items: ConcurrencyExperiment[];
            metadata: { resourceVersion: string };
          };
          return { items: l.items, resourceVersion: l.metadata.resourceVersion };
        },
        watchPath: `/apis/${GROUP}/${VERSION}${nsPath}/${PLURAL}`,
        onChange: (cx) => queue.add(objectKey(cx)),
        onDelete: (cx) => queue.add(objectKey(cx)),
        onError: onError(PLURAL),
      });
      const pods = new Informer<V1Pod>({
        ...common,
        name: `pods@${ns || '*'}`,
        list: async () => {
          const l = ns
            ? await client.core.listNamespacedPod({ namespace: ns, labelSelector: selector })
            : await client.core.listPodForAllNamespaces({ labelSelector: selector });
          return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
        },
        watchPath: `/api/v1${nsPath}/pods`,
        labelSelector: selector,
        onChange: enqueueOwner,
        onDelete: enqueueOwner,
        onError: onError('pods'),
      });
      const configMaps = new Informer<V1ConfigMap>({
        ...common,
        name: `configmaps@${ns || '*'}`,
        list: async () => {
          const l = ns
            ? await client.core.listNamespacedConfigMap({ namespace: ns, labelSelector: selector })
            : await client.core.listConfigMapForAllNamespaces({ labelSelector: selector });
          return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
        },
        watchPath: `/api/v1${nsPath}/configmaps`,
        labelSelector: selector,
        onChange: enqueueOwner,
        onDelete: enqueueOwner,
        onError: onError('configmaps'),
      });
      const services = new Informer<V1Service>({
        ...common,
        name: `services@${ns || '*'}`,
        list: async () => {
          const l = ns
            ? await client.core.listNamespacedService({ namespace: ns, labelSelector: selector })
            : await client.core.listServiceForAllNamespaces({ labelSelector: selector });
          return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
        },
        watchPath: `/api/v1${nsPath}/services`,
        labelSelector: selector,
        onChange: enqueueOwner,
        onDelete: enqueueOwner,
        onError: onError('services'),
      });
      watched.push({ experiments, pods, configMaps, services });
      // Children first, so the first reconciles already see them.
      pods.start();
      configMaps.start();
      services.start();
      experiments.start();
    }
  }

  function stopWatches(): void {
    for (const w of watched.splice(0)) {
      w.experiments.stop();
      w.pods.stop();
      w.configMaps.stop();
      w.services.stop();
    }
  }

  const workerCount = Math.max(1, options.workers ?? 2);
  const workers: Promise<void>[] = [];

  async function processKey(key: string): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    const synced = watched.every(
      (w) => w.experiments.synced && w.pods.synced && w.configMaps.synced && w.services.synced,
    );
    if (!synced) {
      // Deciding on half a picture could recreate children that exist: wait for the caches.
      queue.addAfter(key, 200);
      return;
    }
    const cx = watched.map((w) => w.experiments.get(key)).find((x) => x !== undefined);
    if (!cx) {
      queue.forget(key);
      metrics.forgetExperiment(namespace, name); // deleted: its series go with it
      return;
    }
    try {
      const action = await reconcile(cx, {
        client,
        observe,
        podContext,
        timeouts,
        now: Date.now,
        ...(options.scheduleClock ? { scheduleNow: options.scheduleClock } : {}),
        log: (level, m) => log(level, m),
        environment,
        metrics,
      });
      metrics.reconciled('success');
      options.onReconciled?.(cx, action);
      queue.forget(key);
      if (action.requeueAfterMillis !== undefined) queue.addAfter(key, action.requeueAfterMillis);
    } catch (err) {
      const e = err instanceof ControllerError ? err : toControllerError(err, `reconcile ${namespace}/${name}`);
      metrics.reconciled('error');
      metrics.reconcileError(e.kind);
      options.onReconciled?.(cx, e);
      if (e.terminal) {
        log('warn', e.message);
        queue.forget(key);
      } else {
        const delay = queue.addRateLimited(key);
        log(e.kind === ErrorKind.Conflict ? 'info' : 'warn', `${e.message} (retry in ${delay} ms)`);
      }
    }
  }

  async function workerLoop(): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await processKey(key);
      } catch (err) {
        log('error', `worker: ${err instanceof Error ? err.stack : String(err)}`);
      } finally {
        queue.done(key);
      }
    }
  }

  function startControllers(): void {
    startWatches();
    for (let i = 0; i < workerCount; i++) workers.push(workerLoop());
    log('info', `controller started: watching ${namespaces.map((n) => n || 'all namespaces').join(', ')}`);
  }

  let elector: LeaderElector | undefined;
  if (options.leaderElection) {
    const le = options.leaderElection;
    elector = new LeaderElector(
      client,
      {
        namespace: le.namespace,
        name: le.name,
        identity: le.identity,
        leaseDurationMillis: le.leaseDurationMillis ?? DEFAULT_LEADER_ELECTION.leaseDurationMillis,
        renewDeadlineMillis: le.renewDeadlineMillis ?? DEFAULT_LEADER_ELECTION.renewDeadlineMillis,
        retryPeriodMillis: le.retryPeriodMillis ?? DEFAULT_LEADER_ELECTION.retryPeriodMillis,
      },
      {
        onStartedLeading: () => {
          leading = true;
          log('info', `${le.identity} became leader (lease ${le.namespace}/${le.name})`);
          startControllers();
        },
        onStoppedLeading: () => {
          leading = false;
          if (stopping) return;
          // As client-go: a replica that lost the lease exits, so a fresh start re-lists cleanly.
          log('warn', `${le.identity} lost the lease; stopping`);
          stopReason = 'lost-lease';
          void stop();
        },
        onStandby: (holder) =>
          log('info', `${le.identity}: lease ${le.namespace}/${le.name} is held by ${holder}; standing by`),
        onError: (err) => log('warn', `leader election: ${err instanceof Error ? err.message : String(err)}`),
      },
    );
    elector.start();
  } else {
    startControllers();
  }

  let stopPromise: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopPromise ??= (async () => {
      stopping = true;
      queue.shutDown();
      stopWatches();
      // Let in-flight reconciles finish (bounded), then release the lease for a quick handover.
      await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 10_000).unref())]);
      await elector?.stop();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      log('info', 'operator stopped');
      resolveStopped(stopReason);
    })();
    return stopPromise;
  }

  return {
    url,
    metrics,
    queue,
    isLeader: () => leading,
    ready: isReady,
    stop,
    stopped,
  };
}
