// TEST INFRASTRUCTURE. Runs one pod on the test node, playing the kubelet's pod worker: gives
// the pod an address, materializes its volumes, runs init containers in order and then the
// containers as local processes under their cgroup limits, probes them, restarts them per
// restartPolicy with back-off, writes pods/status whenever what it observes changes, and on
// deletion stops the containers within the grace period, cleans up, and deletes the pod object
// with grace 0 (no kubelet finalizes deletion here otherwise).
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1Pod,
  type V1PodStatus,
} from '@kubernetes/client-node';
import { parseCpuCores, parseMemoryBytes } from '../../../operator/api/units.ts';
import { type CgroupGroup, groupName, type UsableLayout } from '../../../operator/runtime/local/cgroup-group.ts';
import { type ContainerLimits, type ContainerProcess, startContainer } from './container-process.ts';
import { containerArgv, type LocalImage, resolveImage } from './image-map.ts';
import type { PodAddresses } from './pod-addresses.ts';
import { EnvError, mapArg, mapEnv, mountPathMap, resolveEnv } from './pod-env.ts';
import {
  buildPodStatus,
  type ContainerStateView,
  type ContainerView,
  exitReason,
  type RestartPolicy,
  restartDelayMillis,
  restartPolicyOf,
  shouldRestart,
  type Terminated,
} from './pod-status.ts';
import { type ProbeSettings, type ProbeState, probeSettings, runHttpProbe, stepProbe } from './probe.ts';

export interface PodWorkerContext {
  core: CoreV1Api;
  nodeName: string;
  hostIP: string;
  addresses: PodAddresses;
  layout: UsableLayout | undefined;
  /** Agent directory: pods/<uid>/ for volumes and logs, pgid/ for the watchdog. */
  dir: string;
  ownerPid: number;
  agentId: string;
  initialBackoffMillis: number;
  maxBackoffMillis: number;
  maxGraceMillis: number;
  log(message: string): void;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function errorCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  return typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
}

/** The last lines of a log file (kubelet: terminationMessagePolicy FallbackToLogsOnError, 80 lines / 2 KiB). */
export function logTail(file: string, maxBytes = 2048): string {
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const length = Math.min(size, maxBytes);
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, size - length);
      return buf.toString('utf8').split('\n').slice(-80).join('\n').trim();
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** Where a pod's container logs go: <agent dir>/logs/<namespace>/<pod>/<container>-<restart>.log. */
export function podLogDir(agentDir: string, namespace: string, pod: string): string {
  return path.join(agentDir, 'logs', namespace, pod);
}

class ContainerRunner {
  readonly spec: V1Container;
  readonly kind: 'init' | 'main';
  image: LocalImage | undefined;
  state: ContainerStateView = { kind: 'waiting', reason: 'ContainerCreating' };
  lastTerminated: Terminated | undefined;
  restartCount = 0;
  /** Restarts counted for back-off; reset after a long clean run. */
  backoffCount = 0;
  ready = false;
  finished = false;
  proc: ContainerProcess | undefined;
  readiness: ProbeSettings | undefined;
  liveness: ProbeSettings | undefined;
  /** Bumped per run so probe loops and timers of an old run stop. */
  generation = 0;
  logPath = '';

  constructor(spec: V1Container, kind: 'init' | 'main') {
    this.spec = spec;
    this.kind = kind;
  }

  view(imageRef: string): ContainerView {
    return {
      name: this.spec.name,
      image: imageRef,
      imageID: this.image ? `local://${this.image.entry}` : '',
      state: this.state,
      ...(this.lastTerminated ? { lastTerminated: this.lastTerminated } : {}),
      restartCount: this.restartCount,
      ready: this.ready,
      finished: this.finished,
    };
  }
}

export class PodWorker {
  readonly uid: string;
  pod: V1Pod;
  readonly #ctx: PodWorkerContext;
  readonly #dir: string;
  readonly #policy: RestartPolicy;
  readonly #init: ContainerRunner[];
  readonly #main: ContainerRunner[];
  readonly #transitions = new Map<string, { status: string; time: string }>();
  readonly #startTime = now();
  #podIP: string | undefined;
  #fatal: { reason: string; message: string } | undefined;
  #started = false;
  #terminating: Promise<void> | undefined;
  #stopped = false;
  #lastWritten = '';
  #writing: Promise<void> | undefined;
  #dirty = false;
  readonly #abort = new AbortController();

  constructor(pod: V1Pod, ctx: PodWorkerContext) {
    this.uid = pod.metadata?.uid ?? '';
    this.pod = pod;
    this.#ctx = ctx;
    this.#dir = path.join(ctx.dir, 'pods', this.uid);
    this.#policy = restartPolicyOf(pod.spec?.restartPolicy);
    this.#init = (pod.spec?.initContainers ?? []).map((c) => new ContainerRunner(c, 'init'));
    this.#main = (pod.spec?.containers ?? []).map((c) => new ContainerRunner(c, 'main'));
  }

  get name(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  /** Logs outlive the pod (until the agent stops), so a test can read them after deletion. */
  get #logDir(): string {
    return podLogDir(this.#ctx.dir, this.pod.metadata?.namespace ?? 'default', this.pod.metadata?.name ?? '');
  }

  get podIP(): string | undefined {
    return this.#podIP;
  }

  /** Cgroups of running containers, by container name (for tests reading limits back). */
  groups(): Map<string, CgroupGroup> {
    const out = new Map<string, CgroupGroup>();
    for (const c of [...this.#init, ...this.#main])
      if (c.proc?.group && !c.proc.hasExited()) out.set(c.spec.name, c.proc.group);
    return out;
  }

  pids(): number[] {
    return [...this.#init, ...this.#main].filter((c) => c.proc && !c.proc.hasExited()).map((c) => c.proc!.pid);
  }

  /** Log file of the container's current (or last) run. */
  logPath(container: string): string | undefined {
    return [...this.#init, ...this.#main].find((c) => c.spec.name === container)?.logPath || undefined;
  }

  /** Called with every observation of the pod object. */
  observe(pod: V1Pod): void {
    this.pod = pod;
    if (this.#stopped) return;
    if (pod.metadata?.deletionTimestamp) {
      const graceSeconds = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      void this.terminate(graceSeconds * 1000, true);
      return;
    }
    if (!this.#started) {
      this.#started = true;
      this.#start().catch((err: Error) => this.#failPod('StartError', err.message));
    }
  }

  /** The pod object is gone from the API server: stop everything at once. */
  vanished(): Promise<void> {
    return this.terminate(0, false);
  }

  /** Agent shutdown: kill everything, remove cgroups and files, touch no API object. */
  shutdown(): Promise<void> {
    return this.terminate(0, false);
  }

  terminate(graceMillis: number, deleteObject: boolean): Promise<void> {
    this.#terminating ??= this.#terminate(Math.min(graceMillis, this.#ctx.maxGraceMillis), deleteObject);
    return this.#terminating;
  }

  async #terminate(graceMillis: number, deleteObject: boolean): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    const runners = [...this.#init, ...this.#main];
    for (const c of runners) c.generation++;
    const live = runners.filter((c) => c.proc && !c.proc.hasExited());
    for (const c of live) c.proc?.signal(graceMillis > 0 ? 'SIGTERM' : 'SIGKILL');
    const all = Promise.all(live.map((c) => c.proc!.exited));
    if (graceMillis > 0) await Promise.race([all, sleep(graceMillis, undefined, { ref: false })]);
    for (const c of live) if (!c.proc!.hasExited()) c.proc!.signal('SIGKILL');
    await Promise.race([all, sleep(10_000, undefined, { ref: false })]);
    if (this.#podIP) this.#ctx.addresses.release(this.#podIP);
    rmSync(this.#dir, { recursive: true, force: true });
    await this.#writing?.catch(() => {});
    if (deleteObject) {
      try {
        await this.#ctx.core.deleteNamespacedPod({
          namespace: this.pod.metadata?.namespace ?? 'default',
          name: this.pod.metadata?.name ?? '',
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid: this.uid } },
        });
      } catch (err) {
        const code = errorCode(err);
        if (code !== 404 && code !== 409) this.#ctx.log(`deleting pod ${this.name}: ${(err as Error).message}`);
      }
    }
  }

  #failPod(reason: string, message: string): void {
    if (this.#stopped) return;
    this.#fatal = { reason, message };
    this.#ctx.log(`pod ${this.name} failed: ${reason}: ${message}`);
    for (const c of [...this.#init, ...this.#main]) {
      c.generation++;
      c.proc?.signal('SIGKILL');
      c.finished = true;
      c.ready = false;
    }
    this.#sync();
  }

  async #start(): Promise<void> {
    // Images first: a pod that cannot run here fails before anything is made for it.
    const unrunnable: string[] = [];
    for (const c of [...this.#init, ...this.#main]) {
      const r = resolveImage(c.spec.image ?? '');
      if (r.ok) c.image = r.image;
      else {
        unrunnable.push(`container ${c.spec.name}: ${r.reason}`);
        c.state = { kind: 'waiting', reason: 'ErrImageNeverPull', message: r.reason };
      }
    }
    if (unrunnable.length > 0) return this.#failPod('ImageNotRunnable', unrunnable.join('; '));
    try {
      for (const c of this.#main) {
        c.readiness = probeSettings(c.spec.readinessProbe, c.spec);
        c.liveness = probeSettings(c.spec.livenessProbe, c.spec);
      }
    } catch (err) {
      return this.#failPod('ProbeNotSupported', (err as Error).message);
    }

    if (this.pod.spec?.hostNetwork) this.#podIP = this.#ctx.hostIP;
    else {
      const ports = [...this.#init, ...this.#main].flatMap((c) => (c.spec.ports ?? []).map((p) => p.containerPort));
      this.#podIP = await this.#ctx.addresses.allocate(ports);
    }
    mkdirSync(this.#logDir, { recursive: true });
    this.#sync();
    if (!(await this.#materializeVolumes())) return;

    for (const c of this.#init) {
      await this.#runUntilDone(c);
      if (this.#stopped || this.#fatal) return;
      const t = c.state.kind === 'terminated' ? c.state.terminated : undefined;
      if (t?.exitCode !== 0) return; // Failed: podPhase sees a finished init container with a non-zero exit.
    }
    for (const c of this.#main) void this.#runUntilDone(c);
  }

  #volumeDir(volume: string): string {
    return path.join(this.#dir, 'volumes', volume);
  }

  /** emptyDir, configMap and secret volumes as directories; false when the pod failed or stopped. */
  async #materializeVolumes(): Promise<boolean> {
    const namespace = this.pod.metadata?.namespace ?? 'default';
    for (const v of this.pod.spec?.volumes ?? []) {
      const dir = this.#volumeDir(v.name);
      mkdirSync(dir, { recursive: true, mode: 0o777 });
      if (v.emptyDir) continue;
      let data: Record<string, string> | undefined;
      let items = v.configMap?.items ?? v.secret?.items;
      // The kubelet waits for a missing ConfigMap or Secret (the pod stays ContainerCreating); so do we, bounded by deletion.
      for (let attempt = 0; !data; attempt++) {
        if (this.#stopped) return false;
        try {
          if (v.configMap) {
            data =
              (await this.#ctx.core.readNamespacedConfigMap({ namespace, name: v.configMap.name ?? '' })).data ?? {};
          } else if (v.secret) {
            const s = await this.#ctx.core.readNamespacedSecret({ namespace, name: v.secret.secretName ?? '' });
            data = Object.fromEntries(
              Object.entries(s.data ?? {}).map(([k, b64]) => [k, Buffer.from(b64, 'base64').toString('utf8')]),
            );
          } else {
            this.#failPod(
              'VolumeNotSupported',
              `volume ${v.name}: only emptyDir, configMap and secret volumes are supported by the test node agent`,
            );
            return false;
          }
        } catch (err) {
          if (errorCode(err) !== 404) throw err;
          const optional = v.configMap?.optional ?? v.secret?.optional ?? false;
          if (optional) data = {};
          else {
            for (const c of [...this.#init, ...this.#main]) {
              c.state = {
                kind: 'waiting',
                reason: 'ContainerCreating',
                message: `waiting for volume ${v.name}: ${(err as Error).message}`,
              };
            }
            this.#sync();
            await this.#sleep(Math.min(2000, 200 * (attempt + 1)));
          }
        }
      }
      items ??= Object.keys(data).map((key) => ({ key, path: key }));
      for (const item of items) {
        const value = data[item.key];
        if (value === undefined) continue;
        const file = path.join(dir, item.path);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, value, { mode: 0o644 });
      }
    }
    return true;
  }

  /** Looks up the Secrets and ConfigMaps the container's env names (fresh, as the kubelet does at start). */
  async #envLookups(c: ContainerRunner) {
    const namespace = this.pod.metadata?.namespace ?? 'default';
    const secrets = new Map<string, Record<string, string> | undefined>();
    const configMaps = new Map<string, Record<string, string> | undefined>();
    for (const e of c.spec.env ?? []) {
      const s = e.valueFrom?.secretKeyRef?.name;
      if (s && !secrets.has(s)) {
        try {
          const secret = await this.#ctx.core.readNamespacedSecret({ namespace, name: s });
          secrets.set(
            s,
            Object.fromEntries(
              Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
            ),
          );
        } catch (err) {
          if (errorCode(err) !== 404) throw err;
          secrets.set(s, undefined);
        }
      }
      const m = e.valueFrom?.configMapKeyRef?.name;
      if (m && !configMaps.has(m)) {
        try {
          configMaps.set(m, (await this.#ctx.core.readNamespacedConfigMap({ namespace, name: m })).data ?? {});
        } catch (err) {
          if (errorCode(err) !== 404) throw err;
          configMaps.set(m, undefined);
        }
      }
    }
    return {
      secret: (name: string, key: string) => secrets.get(name)?.[key],
      configMap: (name: string, key: string) => configMaps.get(name)?.[key],
    };
  }

  #limits(c: ContainerRunner): ContainerLimits {
    const l = c.spec.resources?.limits ?? {};
    return {
      ...(l['cpu'] !== undefined ? { cpuCores: parseCpuCores(String(l['cpu'])) } : {}),
      ...(l['memory'] !== undefined ? { memoryBytes: parseMemoryBytes(String(l['memory'])) } : {}),
    };
  }

  /** Runs a container, restarting it per policy, until it is finished or the pod stops. */
  async #runUntilDone(c: ContainerRunner): Promise<void> {
    for (let run = 0; run < 100_000 && !this.#stopped && !this.#fatal; run++) {
      const generation = ++c.generation;
      let env: Record<string, string>;
      try {
        env = resolveEnv(
          this.pod,
          c.spec,
          { podIP: this.#podIP ?? '', hostIP: this.#ctx.hostIP },
          await this.#envLookups(c),
        );
      } catch (err) {
        if (!(err instanceof EnvError)) throw err;
        // As the kubelet: CreateContainerConfigError, retried on the next sync.
        c.state = { kind: 'waiting', reason: 'CreateContainerConfigError', message: err.message };
        this.#sync();
        await this.#sleep(1000);
        continue;
      }
      const pathMap = mountPathMap(c.spec, (v) => this.#volumeDir(v));
      const image = c.image as LocalImage;
      // Only what the pod spec says is rewritten: the image's own entrypoint is a path on this
      // machine (the checkout may well live under /tmp, where the pod mounts an emptyDir).
      const fromSpec = (list: readonly string[] | undefined, keepFirst: boolean) =>
        list?.map((a, i) => (keepFirst && i === 0 ? a : mapArg(a, pathMap)));
      const argv = containerArgv(image, fromSpec(c.spec.command, true), fromSpec(c.spec.args, false));
      const sc = { ...this.pod.spec?.securityContext, ...c.spec.securityContext };
      c.logPath = path.join(this.#logDir, `${c.spec.name}-${c.restartCount}.log`);
      const startedAt = now();
      const startedMillis = Date.now();
      const containerID = `conclab-test://${this.uid}/${c.spec.name}/${c.restartCount}`;
      try {
        c.proc = await startContainer({
          argv,
          env: {
            PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
            HOME: '/tmp',
            ...image.env,
            HOSTNAME: this.pod.metadata?.name ?? '',
            ...mapEnv(env, pathMap),
          },
          cwd: image.cwd,
          logPath: c.logPath,
          layout: this.#ctx.layout,
          groupName: groupName({
            ownerPid: this.#ctx.ownerPid,
            runtimeId: this.#ctx.agentId,
            experiment: this.pod.metadata?.namespace ?? 'default',
            variant: `${this.pod.metadata?.name}-${c.spec.name}`.slice(-40),
            trial: c.restartCount,
            suffix: randomBytes(3).toString('hex'),
          }),
          limits: this.#limits(c),
          ...(sc.runAsUser !== undefined ? { runAsUser: sc.runAsUser } : {}),
          ...(sc.runAsGroup !== undefined ? { runAsGroup: sc.runAsGroup } : {}),
        });
      } catch (err) {
        c.state = { kind: 'waiting', reason: 'RunContainerError', message: (err as Error).message };
        this.#sync();
        if (this.#policy === 'Never')
          return this.#failPod('RunContainerError', `container ${c.spec.name}: ${(err as Error).message}`);
        await this.#sleep(1000);
        continue;
      }
      const pgidFile = path.join(this.#ctx.dir, 'pgid', String(c.proc.pid));
      writeFileSync(pgidFile, String(c.proc.pid));
      if (this.#stopped) c.proc.signal('SIGKILL');
      c.state = { kind: 'running', startedAt, containerID };
      c.ready = c.kind === 'main' && !c.readiness;
      this.#sync();
      if (c.kind === 'main') this.#startProbes(c, generation);

      const exit = await c.proc.exited;
      try {
        unlinkSync(pgidFile);
      } catch {
        // Already gone.
      }
      c.ready = false;
      const failed = exit.exitCode !== 0;
      const terminated: Terminated = {
        exitCode: exit.exitCode,
        ...(exit.signal !== undefined ? { signal: exit.signal } : {}),
        reason: exitReason(exit.exitCode, exit.oomKilled),
        ...(failed ? { message: logTail(c.logPath) } : {}),
        startedAt,
        finishedAt: now(),
        containerID,
      };
      c.state = { kind: 'terminated', terminated };
      if (this.#stopped || this.#fatal) {
        c.finished = true;
        return;
      }
      // Init containers restart only on failure (and never under Never), as the kubelet does.
      const policy: RestartPolicy = c.kind === 'init' && this.#policy === 'Always' ? 'OnFailure' : this.#policy;
      if (!shouldRestart(policy, exit.exitCode)) {
        c.finished = true;
        this.#sync();
        if (c.kind === 'main' && this.#policy === 'Never' && failed)
          this.#ctx.log(
            `pod ${this.name}: container ${c.spec.name} failed (${terminated.reason}, exit ${exit.exitCode})`,
          );
        return;
      }
      if (Date.now() - startedMillis > 10 * 60_000) c.backoffCount = 0;
      const delay = restartDelayMillis(c.backoffCount, this.#ctx.initialBackoffMillis, this.#ctx.maxBackoffMillis);
      c.backoffCount++;
      c.lastTerminated = terminated;
      c.restartCount++;
      if (delay > 0) {
        c.state = {
          kind: 'waiting',
          reason: 'CrashLoopBackOff',
          message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.spec.name} pod=${this.pod.metadata?.name}`,
        };
        this.#sync();
        await this.#sleep(delay);
      }
    }
  }

  /** Sleeps, cut short when the pod stops. */
  #sleep(millis: number): Promise<void> {
    return sleep(millis, undefined, { signal: this.#abort.signal }).catch(() => {});
  }

  #startProbes(c: ContainerRunner, generation: number): void {
    const host = this.#podIP ?? '127.0.0.1';
    const loop = async (settings: ProbeSettings, onState: (s: ProbeState) => void) => {
      let state: ProbeState = { healthy: false, successes: 0, failures: 0 };
      await this.#sleep(settings.initialDelayMillis);
      // Bounded by the container's run: the generation changes when it exits or the pod stops.
      for (let i = 0; i < 10_000_000 && c.generation === generation && !this.#stopped; i++) {
        const ok = await runHttpProbe(host, settings);
        if (c.generation !== generation || this.#stopped) return;
        state = stepProbe(state, ok, settings);
        onState(state);
        await this.#sleep(settings.periodMillis);
      }
    };
    if (c.readiness) {
      void loop(c.readiness, (s) => {
        if (c.ready !== s.healthy) {
          c.ready = s.healthy;
          this.#sync();
        }
      });
    }
    if (c.liveness) {
      void loop(c.liveness, (s) => {
        if (s.failures >= (c.liveness?.failureThreshold ?? 3)) {
          this.#ctx.log(`pod ${this.name}: container ${c.spec.name} failed its liveness probe; killing it`);
          c.generation++;
          c.proc?.signal('SIGTERM');
          const proc = c.proc;
          const grace = Math.min((this.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000, this.#ctx.maxGraceMillis);
          void this.#sleep(grace).then(() => proc?.signal('SIGKILL'));
        }
      });
    }
  }

  status(): V1PodStatus {
    const images = new Map([...this.#init, ...this.#main].map((c) => [c, c.spec.image ?? '']));
    return buildPodStatus({
      restartPolicy: this.#policy,
      initContainers: this.#init.map((c) => c.view(images.get(c) ?? '')),
      containers: this.#main.map((c) => c.view(images.get(c) ?? '')),
      ...(this.#fatal ? { fatal: this.#fatal } : {}),
      ...(this.#podIP ? { podIP: this.#podIP } : {}),
      hostIP: this.#ctx.hostIP,
      startTime: this.#startTime,
      transitions: this.#transitions,
      now: now(),
    });
  }

  /** Writes the status when it changed; one write at a time, the latest state wins. */
  #sync(): void {
    this.#dirty = true;
    if (this.#writing) return;
    this.#writing = (async () => {
      for (let i = 0; i < 1000 && this.#dirty; i++) {
        this.#dirty = false;
        if (this.#stopped) break;
        const status = this.status();
        const text = JSON.stringify(status);
        if (text === this.#lastWritten) continue;
        try {
          await this.#ctx.core.patchNamespacedPodStatus(
            {
              namespace: this.pod.metadata?.namespace ?? 'default',
              name: this.pod.metadata?.name ?? '',
              body: { status },
            },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          );
          this.#lastWritten = text;
        } catch (err) {
          const code = errorCode(err);
          if (code === 404) break;
          this.#ctx.log(`status of pod ${this.name}: ${(err as Error).message}`);
          await sleep(200);
          this.#dirty = true;
        }
      }
    })().finally(() => {
      this.#writing = undefined;
      if (this.#dirty && !this.#stopped) this.#sync();
    });
  }
}
