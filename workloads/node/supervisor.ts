// The supervisor: primary process (process model) or main thread (thread, offload). It starts the
// N workers, replaces the ones that die, answers the admin endpoints, injects faults, owns the
// shared state of the process model, runs the offload acceptor and the workload's one span
// exporter (span-export.ts: every worker hands it its spans), and shuts everything down. It
// is the one piece inside the variant's cgroup (container) and pid space in every placement, so
// GET /stats reports everything the trial runner reads about a running variant: workers, an
// event log, cgroup usage, context switches, memory per process, the host, tracing
// (operator/contracts/supervisor.ts is the contract).
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type MessagePort, Worker } from 'node:worker_threads';
import type { CgroupUsage, SupervisorStats } from '../../operator/contracts/supervisor.ts';
import { type CgroupLocation, locateFromSystem, readCgroupUsage } from './cgroup-usage.ts';
import { FAULT_KINDS, type FaultKind, type WorkloadConfig } from './config.ts';
import { EventLog, exitDescription, type NewEvent } from './event-log.ts';
import { type HostFacts, readHostFacts } from './host-facts.ts';
import { epochMillis, logEvent } from './log.ts';
import type { ToSupervisor, ToWorker, WorkerInit } from './messages.ts';
import { readContextSwitches, readProcessMemory, readProcessTreeUsage } from './proc-stats.ts';
import { TraceSampler, type TraceStart } from './sampling.ts';
import { newSharedStateBuffer, readSharedBuffer, StateOwner } from './shared-state.ts';
import { connectToExportThread, type SpanExporter, startSupervisorExporter } from './span-export.ts';
import { fromIpcBatch, type IpcSpanBatch, type SpanBatch } from './span-recorder.ts';
import { decideFromHeaders, responseBody, workerHeaders } from './worker.ts';

/** A worker counts as serving only while its event loop keeps sending heartbeats. */
const HEARTBEAT_STALE_MILLIS = 2000;
const STARTUP_TIMEOUT_MILLIS = 30_000;
const MAX_OFFLOAD_QUEUE = 100_000;
/** How often readiness is re-evaluated for the event log (a hang shows only as stale heartbeats). */
const READINESS_CHECK_MILLIS = 100;
const DEFAULT_FLUSH_TIMEOUT_MILLIS = 5000;
const MAX_FLUSH_TIMEOUT_MILLIS = 120_000;

interface WorkerHandle {
  send(message: ToWorker): void;
  kill(): void;
}

interface Slot {
  index: number;
  handle: WorkerHandle | undefined;
  pid: number;
  threadId: number;
  alive: boolean;
  listening: boolean;
  /** Announced a graceful stop (SIGTERM or shutdown): its exit is not a failure to repair. */
  stopping: boolean;
  lastHeartbeatMillis: number;
  /** Counters of earlier incarnations of this slot plus the current one's last heartbeat. */
  requestsBefore: number;
  errorsBefore: number;
  requests: number;
  errors: number;
  startedAt: number;
  /** Epoch ms (sub-ms) of the spawn, for coldStartMillis = spawn to serving. */
  spawnedAtMillis: number;
  /** Serving at the last readiness check: names the worker that stopped serving. */
  wasServing: boolean;
  replacedCount: number;
  /** pid/thread id of the incarnation this one replaced, for the worker-replaced log line. */
  replacing: { pid: number; threadId: number } | undefined;
  /** Consecutive deaths shortly after start: drives the restart back-off. */
  quickDeaths: number;
  /** Offload: the task this pool thread is working on. */
  busyTask: number | undefined;
}

interface OffloadTask {
  res: http.ServerResponse;
  arrivalEpochMillis: number;
  /** Set only for a traced request (the acceptor decides sampling). */
  trace: TraceStart | undefined;
  slot: number | undefined;
}

interface PendingFlush {
  pending: Set<number>;
  done: number[];
  failed: number[];
  settle: () => void;
}

/** Which workers handed over their spans when asked (POST /flush). */
interface HandOverResult {
  done: number[];
  failed: number[];
  pending: number[];
}

interface AdminAnswer {
  status: number;
  body: unknown;
  after?: () => void;
}

export interface SupervisorOptions {
  config: WorkloadConfig;
  cpuIterationsPerMilli: number;
}

const MAIN_PATH = fileURLToPath(new URL('./main.ts', import.meta.url));
const THREAD_ENTRY = new URL('./worker-thread.ts', import.meta.url);

export class Supervisor {
  readonly #config: WorkloadConfig;
  readonly #cpuIterationsPerMilli: number;
  readonly #slots: Slot[];
  readonly #stateOwner = new StateOwner();
  readonly #sharedBuffer: SharedArrayBuffer | undefined;
  #port = 0;
  #adminPort = 0;
  #ready = false;
  #shuttingDown = false;
  #restarts = 0;
  #admin: http.Server | undefined;
  #acceptor: http.Server | undefined;
  readonly #tasks = new Map<number, OffloadTask>();
  readonly #queue: number[] = [];
  #nextTask = 1;
  #nextDispatch = 0;
  /** The offload acceptor decides sampling and hands the decision to the pool thread. */
  readonly #sampler: TraceSampler | undefined;
  readonly #events = new EventLog();
  #readyAtMillis: number | null = null;
  /** Readiness as last logged in the event log. */
  #loggedReady = false;
  #readinessTimer: NodeJS.Timeout | undefined;
  #host: HostFacts | undefined;
  /** The supervisor's own cgroup (CONCLAB_OWN_CGROUP=true), or why it cannot be read. */
  #cgroup: CgroupLocation | string | undefined;
  readonly #flushes = new Map<number, PendingFlush>();
  #nextFlush = 1;
  /** Traced: the workload's one span exporter (span-export.ts), fed by every worker. */
  #exporter: SpanExporter | undefined;
  /** The span-export thread, where the exporter is one (offload); pool threads get a port to it. */
  #exportThread: Worker | undefined;
  /** IPC channels of worker processes not yet closed: their last span batches may be in them. */
  readonly #openChannels = new Set<ChildProcess>();

  constructor(options: SupervisorOptions) {
    this.#config = options.config;
    this.#cpuIterationsPerMilli = options.cpuIterationsPerMilli;
    this.#sharedBuffer = options.config.model === 'process' ? undefined : newSharedStateBuffer();
    this.#sampler =
      options.config.model === 'offload' && options.config.otel.enabled
        ? new TraceSampler(options.config.otel.sampler)
        : undefined;
    this.#slots = Array.from({ length: options.config.workers }, (_, index) => ({
      index,
      handle: undefined,
      pid: 0,
      threadId: 0,
      alive: false,
      listening: false,
      stopping: false,
      lastHeartbeatMillis: 0,
      requestsBefore: 0,
      errorsBefore: 0,
      requests: 0,
      errors: 0,
      startedAt: 0,
      spawnedAtMillis: 0,
      wasServing: false,
      replacedCount: 0,
      replacing: undefined,
      quickDeaths: 0,
      busyTask: undefined,
    }));
  }

  async start(): Promise<void> {
    const config = this.#config;
    this.#host = readHostFacts(config.cgroupRoot);
    if (config.ownCgroup) this.#cgroup = locateFromSystem(config.cgroupRoot);
    const nodeSdkBench = (process.env['CONCLAB_INTERNAL_NODE_SDK_DIR'] ?? '') !== '';
    if (config.otel.enabled && !nodeSdkBench) {
      // Before any worker starts, so loading the SDK delays no worker's cold start.
      const started = await startSupervisorExporter(config);
      this.#exporter = started.exporter;
      this.#exportThread = started.thread;
    }
    this.#admin = http.createServer((req, res) => this.#onAdmin(req, res));
    this.#adminPort = await listen(this.#admin, config.host, config.adminPort);
    if (config.model === 'offload') {
      this.#acceptor = this.#createAcceptor();
      this.#port = await listen(this.#acceptor, config.host, config.port);
      for (const slot of this.#slots) this.#spawn(slot, 0);
    } else {
      // The first worker binds (maybe port 0); the rest join the port it got, with reusePort.
      const first = this.#slots[0]!;
      this.#spawn(first, config.port);
      await this.#waitFor(() => first.listening, 'worker 0 to listen');
      for (const slot of this.#slots.slice(1)) this.#spawn(slot, this.#port);
    }
    await this.#waitFor(() => this.#slots.every((s) => s.listening), 'all workers to start');
    this.#ready = true;
    this.#checkReadiness();
    this.#readinessTimer = setInterval(() => this.#checkReadiness(), READINESS_CHECK_MILLIS);
    this.#readinessTimer.unref();
    process.stdout.write(
      `${JSON.stringify({
        event: 'ready',
        port: this.#port,
        adminPort: this.#adminPort,
        pid: process.pid,
        model: config.model,
        workers: config.workers,
        cpuIterationsPerMilli: Math.round(this.#cpuIterationsPerMilli),
      })}\n`,
    );
    const fault = config.fault;
    if (fault !== undefined) {
      setTimeout(() => {
        if (!this.#shuttingDown) this.injectFault(fault.kind, fault.worker);
      }, fault.afterMillis).unref();
    }
  }

  async #waitFor(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + STARTUP_TIMEOUT_MILLIS;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${STARTUP_TIMEOUT_MILLIS} ms waiting for ${what}`);
      await sleep(5);
    }
  }

  #spawn(slot: Slot, listenPort: number): void {
    const config = this.#config;
    const init: WorkerInit = {
      index: slot.index,
      listenPort,
      cpuIterationsPerMilli: this.#cpuIterationsPerMilli,
      sharedState: this.#sharedBuffer,
      pool: config.model === 'offload',
    };
    slot.alive = true;
    slot.listening = false;
    slot.stopping = false;
    slot.startedAt = Date.now();
    slot.spawnedAtMillis = epochMillis();
    slot.lastHeartbeatMillis = Date.now();
    slot.requests = 0;
    slot.errors = 0;
    if (config.model === 'process') {
      const heapArgs = config.workerHeapMb === undefined ? [] : [`--max-old-space-size=${config.workerHeapMb}`];
      const child: ChildProcess = fork(MAIN_PATH, [], {
        env: { ...process.env, CONCLAB_INTERNAL_WORKER: JSON.stringify(init) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv: [...process.execArgv.filter((a) => !a.startsWith('--max-old-space-size')), ...heapArgs],
      });
      slot.pid = child.pid ?? 0;
      slot.threadId = 0;
      this.#openChannels.add(child);
      child.on('disconnect', () => this.#openChannels.delete(child));
      slot.handle = {
        send: (message) => {
          if (child.connected) child.send(message);
        },
        kill: () => child.kill('SIGKILL'),
      };
      child.on('message', (message) => this.#onMessage(slot, message as ToSupervisor));
      child.on('error', (error) =>
        logEvent('worker-error', { worker: slot.index, pid: slot.pid, error: error.message }),
      );
      child.on('exit', (code, signal) => this.#onExit(slot, code, signal, undefined));
    } else {
      const exporterPort: MessagePort | undefined =
        this.#exportThread === undefined ? undefined : connectToExportThread(this.#exportThread);
      const worker = new Worker(THREAD_ENTRY, {
        workerData: { config, init, exporterPort },
        transferList: exporterPort === undefined ? [] : [exporterPort],
        ...(config.workerHeapMb === undefined
          ? {}
          : { resourceLimits: { maxOldGenerationSizeMb: config.workerHeapMb } }),
      });
      slot.pid = process.pid;
      slot.threadId = worker.threadId;
      slot.handle = {
        send: (message) => worker.postMessage(message),
        kill: () => void worker.terminate(),
      };
      let failure: string | undefined;
      worker.on('message', (message) => this.#onMessage(slot, message as ToSupervisor));
      // An uncaught exception or heap exhaustion ends only this thread; 'exit' follows.
      worker.on('error', (error: Error & { code?: string }) => {
        failure = error.code ?? error.message;
      });
      worker.on('exit', (code) => this.#onExit(slot, code, null, failure));
    }
  }

  #onMessage(slot: Slot, message: ToSupervisor): void {
    switch (message.type) {
      case 'heartbeat':
        slot.lastHeartbeatMillis = Date.now();
        slot.requests = message.requests;
        slot.errors = message.errors;
        break;
      case 'listening':
        slot.listening = true;
        slot.lastHeartbeatMillis = Date.now();
        if (this.#port === 0 && message.port !== 0) this.#port = message.port;
        if (slot.replacing !== undefined) {
          this.#event({
            kind: 'worker-replaced',
            worker: slot.index,
            pid: message.pid,
            threadId: message.threadId,
            coldStartMillis: epochMillis() - slot.spawnedAtMillis,
            detail: `replaced pid ${slot.replacing.pid} thread ${slot.replacing.threadId}`,
          });
          logEvent('worker-replaced', {
            worker: slot.index,
            oldPid: slot.replacing.pid,
            oldThreadId: slot.replacing.threadId,
            pid: message.pid,
            threadId: message.threadId,
            replacedCount: slot.replacedCount,
            at: Date.now(),
          });
          slot.replacing = undefined;
        }
        if (this.#config.model === 'offload') this.#dispatch();
        this.#checkReadiness();
        break;
      case 'stopping':
        slot.stopping = true;
        // A worker told to stop by a signal means the whole service is being stopped.
        if (!this.#shuttingDown && this.#ready) void this.shutdown('worker-signal');
        break;
      case 'task-done':
        this.#onTaskDone(slot, message);
        break;
      case 'flushed':
        this.#onFlushed(slot.index, message.id, message.ok);
        break;
      case 'spans':
        this.#exporter?.add(message.source, spanBatch(message.batch), message.count);
        break;
      case 'abort':
        // A worker thread's native abort (faults.ts): the whole OS process, now.
        process.abort();
        break;
      default: {
        const reply = this.#stateOwner.handle(message);
        if (reply !== undefined) slot.handle?.send(reply);
      }
    }
  }

  #onExit(slot: Slot, code: number | null, signal: NodeJS.Signals | null, failure: string | undefined): void {
    slot.alive = false;
    slot.listening = false;
    slot.requestsBefore += slot.requests;
    slot.errorsBefore += slot.errors;
    slot.requests = 0;
    slot.errors = 0;
    slot.handle = undefined;
    const expected = slot.stopping || this.#shuttingDown;
    this.#event({
      kind: 'worker-exit',
      worker: slot.index,
      pid: slot.pid,
      threadId: slot.threadId,
      exit: exitDescription(code, signal, failure),
      ...(expected ? { detail: 'expected: the service is stopping' } : {}),
    });
    for (const [id, flush] of this.#flushes) if (flush.pending.has(slot.index)) this.#onFlushed(slot.index, id, false);
    this.#checkReadiness();
    logEvent('worker-exit', {
      worker: slot.index,
      pid: slot.pid,
      threadId: slot.threadId,
      code,
      signal,
      ...(failure === undefined ? {} : { error: failure }),
      expected,
      at: Date.now(),
    });
    if (slot.busyTask !== undefined) {
      const task = this.#tasks.get(slot.busyTask);
      this.#tasks.delete(slot.busyTask);
      slot.busyTask = undefined;
      task?.res.writeHead(502, { 'content-type': 'text/plain' }).end('worker died\n');
    }
    if (this.#shuttingDown || slot.stopping) return;
    if (!this.#ready) {
      logEvent('error', { message: `worker ${slot.index} exited during startup (code ${code}, signal ${signal})` });
      void this.shutdown('startup-failure', 1);
      return;
    }
    if (!this.#config.replaceWorkers) return;
    // Back off when a slot keeps dying right after start, so a crash loop cannot spin the CPU.
    slot.quickDeaths = Date.now() - slot.startedAt < 2000 ? slot.quickDeaths + 1 : 0;
    const delayMillis = slot.quickDeaths === 0 ? 0 : Math.min(5000, 100 * 2 ** slot.quickDeaths);
    const replacing = { pid: slot.pid, threadId: slot.threadId };
    setTimeout(() => {
      if (this.#shuttingDown) return;
      slot.replacedCount++;
      this.#restarts++;
      slot.replacing = replacing;
      this.#spawn(slot, this.#port);
    }, delayMillis).unref();
  }

  #serving(slot: Slot, now: number): boolean {
    return slot.alive && slot.listening && now - slot.lastHeartbeatMillis < HEARTBEAT_STALE_MILLIS;
  }

  /** Sends a fault to exactly one worker; returns an error message when that is impossible. */
  injectFault(kind: FaultKind, worker: number): string | undefined {
    const slot = this.#slots[worker];
    if (slot === undefined) return `worker ${worker} does not exist: indices are 0 to ${this.#slots.length - 1}`;
    if (!slot.alive || slot.handle === undefined) return `worker ${worker} is not running`;
    this.#event({ kind: 'fault', faultKind: kind, worker, pid: slot.pid, threadId: slot.threadId });
    logEvent('fault', { kind, worker, pid: slot.pid, threadId: slot.threadId, at: Date.now() });
    slot.handle.send({ type: 'fault', kind });
    return undefined;
  }

  #event(event: Omit<NewEvent, 'atMillis'>, atMillis = Date.now()): void {
    this.#events.add({ atMillis, ...event });
  }

  /**
   * Logs ready / not-ready transitions of the supervisor's readiness (what /readyz answers). A
   * not-ready names the worker that stopped serving since the last check, -1 when none can be
   * named (shutdown, or two checks apart).
   */
  #checkReadiness(): void {
    const now = Date.now();
    const serving = this.#slots.map((slot) => this.#serving(slot, now));
    const ready = this.#ready && !this.#shuttingDown && serving.every(Boolean);
    if (ready !== this.#loggedReady) {
      this.#loggedReady = ready;
      if (ready) {
        this.#readyAtMillis ??= now;
        this.#event({ kind: 'ready' }, now);
      } else {
        const stopped = this.#slots.findIndex((slot, i) => slot.wasServing && !serving[i]);
        this.#event(
          {
            kind: 'not-ready',
            worker: this.#shuttingDown ? -1 : stopped,
            ...(this.#shuttingDown ? { detail: 'shutting down' } : {}),
          },
          now,
        );
      }
    }
    this.#slots.forEach((slot, i) => {
      slot.wasServing = serving[i]!;
    });
  }

  /** pids of the worker processes that are running (process model; none under threads). */
  #workerPids(): number[] {
    return this.#config.model === 'process' ? this.#slots.filter((s) => s.alive && s.pid > 0).map((s) => s.pid) : [];
  }

  #usage(): CgroupUsage | null {
    const workerPids = this.#workerPids();
    if (!this.#config.ownCgroup) return readProcessTreeUsage(process.pid, workerPids, 'CONCLAB_OWN_CGROUP is not true');
    const cgroup = this.#cgroup ?? 'the cgroup was not located';
    const usage = typeof cgroup === 'string' ? cgroup : readCgroupUsage(cgroup);
    if (typeof usage !== 'string') return usage;
    return readProcessTreeUsage(process.pid, workerPids, `CONCLAB_OWN_CGROUP=true but ${usage}`);
  }

  #processes(): NonNullable<SupervisorStats['processes']> {
    if (this.#config.model !== 'process') {
      const memory = readProcessMemory(process.pid);
      return memory === undefined ? [] : [{ pid: process.pid, role: 'process', ...memory }];
    }
    const out: NonNullable<SupervisorStats['processes']> = [];
    const own = readProcessMemory(process.pid);
    if (own !== undefined) out.push({ pid: process.pid, role: 'supervisor', ...own });
    for (const slot of this.#slots) {
      if (!slot.alive || slot.pid === 0) continue;
      const memory = readProcessMemory(slot.pid);
      if (memory !== undefined) out.push({ pid: slot.pid, role: 'worker', worker: slot.index, ...memory });
    }
    return out;
  }

  stats(options: { since?: number; detail?: boolean } = {}): SupervisorStats {
    const now = Date.now();
    const config = this.#config;
    const shared =
      config.profile !== 'shared-state'
        ? undefined
        : this.#sharedBuffer === undefined
          ? { attempts: this.#stateOwner.attempts, value: this.#stateOwner.value }
          : readSharedBuffer(this.#sharedBuffer);
    const otel = config.otel;
    return {
      model: config.model,
      pid: process.pid,
      ...(config.replica === undefined ? {} : { replica: config.replica }),
      port: this.#port,
      adminPort: this.#adminPort,
      ready: this.#isReady(now),
      startedAtMillis: performance.timeOrigin,
      readyAtMillis: this.#readyAtMillis,
      restarts: this.#restarts,
      lostUpdates: shared === undefined ? 0 : shared.attempts - shared.value,
      sharedState: shared ?? null,
      cpuIterationsPerMilli: this.#cpuIterationsPerMilli,
      workers: this.#slots.map((slot) => ({
        worker: slot.index,
        pid: slot.pid,
        threadId: slot.threadId,
        requests: slot.requestsBefore + slot.requests,
        errors: slot.errorsBefore + slot.errors,
        alive: slot.alive,
        serving: this.#serving(slot, now),
        startedAt: slot.startedAt,
        replacedCount: slot.replacedCount,
      })),
      events: this.#events.since(options.since ?? 0),
      usage: this.#usage(),
      contextSwitches: readContextSwitches([process.pid, ...this.#workerPids()]),
      ...(options.detail === true ? { processes: this.#processes() } : {}),
      host: this.#host ?? readHostFacts(config.cgroupRoot),
      tracing: {
        enabled: otel.enabled,
        ...(otel.detail === undefined ? {} : { detail: otel.detail }),
        ...(otel.enabled ? { sampleRatio: otel.sampler.ratio } : {}),
      },
    };
  }

  #isReady(now: number): boolean {
    return this.#ready && !this.#shuttingDown && this.#slots.every((slot) => this.#serving(slot, now));
  }

  // ---- POST /flush: every worker hands over its spans, then the supervisor's exporter exports ----

  async #flush(timeoutMillis: number): Promise<AdminAnswer> {
    if (!this.#config.otel.enabled) return { status: 200, body: { flushed: true, workers: 0 } };
    const deadline = Date.now() + timeoutMillis;
    const targets = this.#slots.filter((slot) => slot.alive && slot.handle !== undefined && slot.listening);
    const workers = targets.length;
    const handedOver = await this.#askForSpans(targets, timeoutMillis);
    if (handedOver.done.length !== workers) {
      const { done, failed, pending } = handedOver;
      const error =
        pending.length > 0
          ? `workers ${pending.join(', ')} did not hand over their spans within ${timeoutMillis} ms`
          : `workers ${failed.join(', ')} could not hand over their spans (or ended)`;
      return { status: 504, body: { flushed: false, workers, done, failed, pending, error } };
    }
    // Every batch handed over arrived before its worker's answer (same channel), so the exporter has it.
    const exported = (await this.#exporter?.forceFlush(Math.max(1, deadline - Date.now()))) ?? true;
    if (exported) return { status: 200, body: { flushed: true, workers } };
    const error = `the span exporter did not export every span within ${timeoutMillis} ms (or the receiver refused them)`;
    return { status: 504, body: { flushed: false, workers, ...handedOver, error } };
  }

  /** Asks each target worker to hand over what it recorded; settles when all answered or at the bound. */
  #askForSpans(targets: Slot[], timeoutMillis: number): Promise<HandOverResult> {
    if (targets.length === 0) return Promise.resolve({ done: [], failed: [], pending: [] });
    const id = this.#nextFlush++;
    return new Promise((resolve) => {
      const flush: PendingFlush = {
        pending: new Set(targets.map((slot) => slot.index)),
        done: [],
        failed: [],
        settle: () => {
          clearTimeout(timer);
          this.#flushes.delete(id);
          resolve({ done: flush.done, failed: flush.failed, pending: [...flush.pending].sort((a, b) => a - b) });
        },
      };
      const timer = setTimeout(flush.settle, timeoutMillis);
      this.#flushes.set(id, flush);
      // An offload pool thread exports before it answers; it bounds that a little below ours.
      const workerBound = Math.max(1, Math.floor(timeoutMillis * 0.9));
      for (const slot of targets) slot.handle?.send({ type: 'flush', id, timeoutMillis: workerBound });
    });
  }

  #onFlushed(worker: number, id: number, ok: boolean): void {
    const flush = this.#flushes.get(id);
    if (flush === undefined || !flush.pending.delete(worker)) return;
    (ok ? flush.done : flush.failed).push(worker);
    if (flush.pending.size === 0) flush.settle();
  }

  // ---- admin endpoints ----

  #onAdmin(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    void this.#adminResponse(req.method ?? 'GET', new URL(req.url ?? '/', 'http://admin')).then(
      ({ status, body, after }) => {
        const text = JSON.stringify(body);
        if (after !== undefined) res.on('finish', after);
        res
          .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
          .end(text);
      },
      (error: Error) => {
        const text = JSON.stringify({ error: error.message });
        res.writeHead(500, { 'content-type': 'application/json' }).end(text);
      },
    );
  }

  async #adminResponse(method: string, url: URL): Promise<AdminAnswer> {
    if (method === 'GET' && url.pathname === '/healthz')
      return { status: 200, body: { status: 'ok', pid: process.pid } };
    if (method === 'GET' && url.pathname === '/readyz') {
      const now = Date.now();
      const serving = this.#slots.filter((slot) => this.#serving(slot, now)).length;
      const ready = this.#isReady(now);
      return { status: ready ? 200 : 503, body: { ready, serving, workers: this.#slots.length } };
    }
    if (method === 'GET' && url.pathname === '/stats') {
      const sinceRaw = url.searchParams.get('since');
      const since = sinceRaw === null ? 0 : Number(sinceRaw);
      if (!Number.isSafeInteger(since) || since < 0) {
        return {
          status: 400,
          body: { error: `since=${sinceRaw} is invalid: expected the nextSeq of an earlier answer (0 or more)` },
        };
      }
      const detailRaw = url.searchParams.get('detail');
      if (detailRaw !== null && !['0', '1', 'true', 'false'].includes(detailRaw)) {
        return { status: 400, body: { error: `detail=${detailRaw} is invalid: expected 1 or 0` } };
      }
      return { status: 200, body: this.stats({ since, detail: detailRaw === '1' || detailRaw === 'true' }) };
    }
    if (url.pathname === '/flush') {
      if (method !== 'POST') return { status: 405, body: { error: 'use POST /flush[?timeoutMillis=N]' } };
      const raw = url.searchParams.get('timeoutMillis');
      const timeoutMillis = raw === null ? DEFAULT_FLUSH_TIMEOUT_MILLIS : Number(raw);
      if (!Number.isInteger(timeoutMillis) || timeoutMillis < 1 || timeoutMillis > MAX_FLUSH_TIMEOUT_MILLIS) {
        const error = `timeoutMillis=${raw} is invalid: expected a whole number of ms from 1 to ${MAX_FLUSH_TIMEOUT_MILLIS}`;
        return { status: 400, body: { error } };
      }
      return this.#flush(timeoutMillis);
    }
    if (url.pathname === '/fault') {
      if (method !== 'POST') return { status: 405, body: { error: 'use POST /fault?kind=K&worker=I' } };
      const kind = url.searchParams.get('kind') ?? '';
      const workerRaw = url.searchParams.get('worker') ?? '0';
      const worker = Number(workerRaw);
      if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
        const error = `kind=${JSON.stringify(kind)} is invalid: expected one of ${FAULT_KINDS.join(', ')}`;
        return { status: 400, body: { error } };
      }
      if (!Number.isInteger(worker) || worker < 0 || worker >= this.#slots.length) {
        const error = `worker=${workerRaw} is invalid: expected an index from 0 to ${this.#slots.length - 1}`;
        return { status: 400, body: { error } };
      }
      if (!this.#slots[worker]!.alive) return { status: 409, body: { error: `worker ${worker} is not running` } };
      // 202 goes out first: an abort under the thread model ends this very process.
      const after = () => setTimeout(() => this.injectFault(kind as FaultKind, worker), 20);
      return { status: 202, body: { accepted: true, kind, worker }, after };
    }
    const error = `no admin endpoint ${method} ${url.pathname}; try GET /healthz, /readyz, /stats or POST /fault, /flush`;
    return { status: 404, body: { error } };
  }

  // ---- offload: one acceptor (this thread) hands each request to an idle pool thread ----

  #createAcceptor(): http.Server {
    const body = responseBody(this.#config.responseBytes);
    this.#offloadBody = body;
    const server = http.createServer((req, res) => {
      const arrivalEpochMillis = epochMillis();
      if (req.method !== 'GET' && req.method !== 'HEAD') req.resume();
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' }).end('ok\n');
        return;
      }
      if (this.#queue.length >= MAX_OFFLOAD_QUEUE) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('queue full\n');
        return;
      }
      const id = this.#nextTask++;
      const trace = this.#sampler === undefined ? undefined : decideFromHeaders(this.#sampler, req.rawHeaders);
      this.#tasks.set(id, { res, arrivalEpochMillis, trace, slot: undefined });
      this.#queue.push(id);
      this.#dispatch();
    });
    server.keepAliveTimeout = 5000;
    return server;
  }

  #offloadBody: Buffer = Buffer.alloc(0);
  readonly #offloadHeaderCache = new Map<number, Record<string, string>>();

  /** Headers naming the pool thread, built once per thread rather than per response. */
  #offloadHeaders(done: { worker: number; pid: number; threadId: number }): Record<string, string> {
    let headers = this.#offloadHeaderCache.get(done.threadId);
    if (headers === undefined) {
      headers = workerHeaders({ index: done.worker, pid: done.pid, threadId: done.threadId }, this.#offloadBody.length);
      this.#offloadHeaderCache.set(done.threadId, headers);
    }
    return headers;
  }

  #dispatch(): void {
    const n = this.#slots.length;
    while (this.#queue.length > 0) {
      let chosen: Slot | undefined;
      for (let k = 0; k < n; k++) {
        const slot = this.#slots[(this.#nextDispatch + k) % n]!;
        if (slot.alive && slot.listening && slot.busyTask === undefined) {
          chosen = slot;
          this.#nextDispatch = (slot.index + 1) % n;
          break;
        }
      }
      if (chosen === undefined) return;
      const id = this.#queue.shift()!;
      const task = this.#tasks.get(id);
      if (task === undefined) continue;
      task.slot = chosen.index;
      chosen.busyTask = id;
      chosen.handle?.send({ type: 'task', id, arrivalEpochMillis: task.arrivalEpochMillis, trace: task.trace });
    }
  }

  #onTaskDone(slot: Slot, message: Extract<ToSupervisor, { type: 'task-done' }>): void {
    if (slot.busyTask === message.id) slot.busyTask = undefined;
    const task = this.#tasks.get(message.id);
    this.#tasks.delete(message.id);
    if (task !== undefined) {
      if (message.status === 200) {
        task.res.writeHead(200, this.#offloadHeaders(message)).end(this.#offloadBody);
      } else {
        task.res.writeHead(message.status, { 'content-type': 'text/plain' }).end('work failed\n');
      }
    }
    this.#dispatch();
  }

  // ---- shutdown ----

  /** Stops accepting, drains, lets workers flush their spans, and exits within the bound. */
  async shutdown(reason: string, exitCode = 0): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#checkReadiness();
    clearInterval(this.#readinessTimer);
    const started = Date.now();
    const deadline = started + this.#config.shutdownTimeoutMillis * 0.9;
    logEvent('shutdown', { reason, at: started });
    // Hard bound whatever happens below.
    setTimeout(() => {
      for (const slot of this.#slots) slot.handle?.kill();
      logEvent('stopped', { forced: true, at: Date.now() });
      process.exit(exitCode);
    }, this.#config.shutdownTimeoutMillis).unref();
    if (this.#acceptor !== undefined) {
      const acceptor = this.#acceptor;
      acceptor.close();
      while ((this.#tasks.size > 0 || acceptor.listening) && Date.now() < deadline) {
        acceptor.closeIdleConnections();
        await sleep(20);
      }
      acceptor.closeAllConnections();
    }
    for (const slot of this.#slots) slot.handle?.send({ type: 'shutdown' });
    while (this.#slots.some((slot) => slot.alive) && Date.now() < deadline) await sleep(20);
    for (const slot of this.#slots) if (slot.alive) slot.handle?.kill();
    const killDeadline = Date.now() + 1000;
    while (this.#slots.some((slot) => slot.alive) && Date.now() < killDeadline) await sleep(10);
    if (this.#exporter !== undefined) {
      // A worker process's last batches may still be in its IPC channel after its exit event.
      while (this.#openChannels.size > 0 && Date.now() < killDeadline) await sleep(10);
      await this.#exporter.shutdown(Math.max(200, deadline - Date.now()));
    }
    this.#admin?.closeAllConnections();
    this.#admin?.close();
    logEvent('stopped', { forced: false, millis: Date.now() - started, at: Date.now() });
    process.exit(exitCode);
  }
}

/** A batch as it came: transferred from a worker thread, or JSON from a worker process. */
function spanBatch(batch: SpanBatch | IpcSpanBatch): SpanBatch {
  return 'numbersBase64' in batch ? fromIpcBatch(batch) : batch;
}

function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
