// A worker: one HTTP server on the shared port (process and thread models) or one thread of the
// offload pool. The same code runs in a child process and in a worker_thread; only the channel
// to the supervisor differs (IPC or a MessagePort).
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MessagePort } from 'node:worker_threads';
import type { WorkloadConfig } from './config.ts';
import { fireFault } from './faults.ts';
import { epochMillis } from './log.ts';
import type { ToSupervisor, ToWorker, WorkerInit } from './messages.ts';
import { TraceSampler, type TraceStart } from './sampling.ts';
import { ProcessSharedState, type SharedStateClient, ThreadSharedState, type WorkCosts } from './shared-state.ts';
import type { WorkerIdentity } from './span-attributes.ts';
import { ExportThreadClient } from './span-export.ts';
import { type SpanBatch, SpanRecorder, type SpanSource } from './span-recorder.ts';
import { performWork, planWork } from './work.ts';

export interface WorkerChannel {
  send(message: ToSupervisor): void;
  /**
   * Hands a batch of recorded spans to the supervisor on this same channel (so a later
   * `flushed` arrives after it); a promise when the write completes later (IPC).
   */
  sendSpans(source: SpanSource, batch: SpanBatch, count: number): void | Promise<void>;
  onMessage(listener: (message: ToWorker) => void): void;
}

// Heartbeats carry the counters and prove the event loop turns; rare enough to cost ~nothing idle.
const HEARTBEAT_MILLIS = 250;

/** Response headers naming the worker, shared by every model (offload writes them in the acceptor). */
export function workerHeaders(identity: WorkerIdentity, bodyBytes: number): Record<string, string> {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(bodyBytes),
    'x-conclab-worker': String(identity.index),
    'x-conclab-pid': String(identity.pid),
    'x-conclab-thread': String(identity.threadId),
  };
}

export function responseBody(bytes: number): Buffer {
  return Buffer.alloc(bytes, 'x');
}

/**
 * The sampling decision for one request from its raw headers (traceparent, tracestate);
 * undefined when it is not traced. rawHeaders is scanned because reading req.headers would
 * build the whole lowercased header object for every request, traced or not.
 */
export function decideFromHeaders(sampler: TraceSampler, raw: string[]): TraceStart | undefined {
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === 11 && key.toLowerCase() === 'traceparent') traceparent = raw[i + 1];
    else if (key.length === 10 && (key.charCodeAt(0) | 32) === 116 && key.toLowerCase() === 'tracestate')
      tracestate = raw[i + 1];
  }
  return sampler.decide(traceparent, tracestate);
}

/** Where a worker's spans go; span handles are opaque to the serving code. */
interface SpanSink {
  start(decided: TraceStart, arrivalEpochMillis: number, workStartEpochMillis: number): unknown;
  end(span: unknown, status: number, sharedStateCostMillis: number | undefined, endEpochMillis: number): void;
  /** Hands over every recorded span; true once they are handed over (offload: exported). */
  flush(timeoutMillis: number): Promise<boolean>;
}

/**
 * The serving isolate records spans and hands them, in batches, to the workload's one exporter
 * in the supervisor's process (span-export.ts): over the channel to the supervisor, or straight
 * to the span-export thread when the supervisor gave this thread a port to it (offload pool).
 * CONCLAB_INTERNAL_NODE_SDK_DIR (bench only) makes the spans with NodeSDK in this isolate instead.
 */
async function spanSink(
  config: WorkloadConfig,
  identity: WorkerIdentity,
  channel: WorkerChannel,
  exporterPort: MessagePort | undefined,
): Promise<SpanSink | undefined> {
  if (!config.otel.enabled) return undefined;
  const nodeSdkDir = process.env['CONCLAB_INTERNAL_NODE_SDK_DIR'];
  if (nodeSdkDir !== undefined && nodeSdkDir !== '') {
    const { NodeSdkTracer } = await import('./tracing-node-sdk.ts');
    const tracer = new NodeSdkTracer(nodeSdkDir, config, identity);
    return {
      start: (d, a, w) => tracer.start(d, a, w),
      end: (span, status, cost) => tracer.end(span as ReturnType<typeof tracer.start>, status, cost),
      flush: (ms) => tracer.forceFlush(ms),
    };
  }
  const source: SpanSource = { index: identity.index, pid: identity.pid, threadId: identity.threadId };
  const exporter = exporterPort === undefined ? undefined : new ExportThreadClient(exporterPort);
  const recorder = new SpanRecorder(
    exporter === undefined
      ? (batch, count) => channel.sendSpans(source, batch, count)
      : (batch, count) => exporter.add(source, batch, count),
  );
  return {
    start: (d, a, w) => recorder.start(d, a, w),
    end: (span, status, cost, end) => recorder.end(span as ReturnType<typeof recorder.start>, status, cost, end),
    flush: async (ms) => {
      await recorder.handOver();
      return exporter === undefined ? true : exporter.forceFlush(ms);
    },
  };
}

export async function runWorker(
  config: WorkloadConfig,
  init: WorkerInit,
  channel: WorkerChannel,
  identity: WorkerIdentity,
  exporterPort?: MessagePort,
): Promise<{ shutdown: () => Promise<void> }> {
  const tracer = await spanSink(config, identity, channel, exporterPort);
  // Sampling is decided before any span object exists (sampling.ts).
  const sampler = tracer === undefined ? undefined : new TraceSampler(config.otel.sampler);
  let processState: ProcessSharedState | undefined;
  let sharedState: SharedStateClient | undefined;
  if (config.profile === 'shared-state') {
    if (init.sharedState !== undefined) sharedState = new ThreadSharedState(init.sharedState, config.racy);
    else sharedState = processState = new ProcessSharedState((m) => channel.send(m), config.racy);
  }
  const plan = planWork({
    profile: config.profile,
    cpuMillis: config.cpuMillis,
    ioMillis: config.ioMillis,
    cpuIterationsPerMilli: init.cpuIterationsPerMilli,
    sharedState,
  });
  const body = responseBody(config.responseBytes);
  const headers = workerHeaders(identity, body.length);
  let requests = 0;
  let errors = 0;
  let inFlight = 0;
  let stopping = false;

  const heartbeat = () => channel.send({ type: 'heartbeat', requests, errors, inFlight });
  const heartbeatTimer = setInterval(heartbeat, HEARTBEAT_MILLIS);
  heartbeatTimer.unref();

  /** Runs the work and reports the outcome; the one path every model shares. */
  function serve(
    decided: TraceStart | undefined,
    arrivalEpochMillis: number,
    done: (status: number, result: number) => void,
  ): void {
    requests++;
    inFlight++;
    const span = decided === undefined ? undefined : tracer!.start(decided, arrivalEpochMillis, epochMillis());
    const costs: WorkCosts | undefined =
      span === undefined || plan.sharedState === undefined ? undefined : { sharedStateMillis: undefined };
    const finish = (status: number, result: number) => {
      inFlight--;
      if (status >= 500) errors++;
      if (span !== undefined) tracer!.end(span, status, costs?.sharedStateMillis, epochMillis());
      done(status, result);
    };
    let outcome: number | Promise<number>;
    try {
      outcome = performWork(plan, requests, costs);
    } catch {
      finish(500, 0);
      return;
    }
    if (typeof outcome === 'number') finish(200, outcome);
    else
      outcome.then(
        (result) => finish(200, result),
        () => finish(500, 0),
      );
  }

  let server: http.Server | undefined;
  if (init.pool) {
    channel.send({ type: 'listening', port: 0, pid: identity.pid, threadId: identity.threadId });
  } else {
    server = http.createServer((req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') req.resume();
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' }).end('ok\n');
        return;
      }
      // Clock and headers are read only when tracing, the clock only for a traced request.
      const decided = sampler === undefined ? undefined : decideFromHeaders(sampler, req.rawHeaders);
      const arrival = decided === undefined ? 0 : epochMillis();
      serve(decided, arrival, (status) => {
        if (status === 200) {
          res.writeHead(200, headers).end(body);
        } else {
          res.writeHead(status, { 'content-type': 'text/plain' }).end('work failed\n');
        }
      });
    });
    server.keepAliveTimeout = 5000;
    server.listen({ host: config.host, port: init.listenPort, reusePort: true }, () => {
      const address = server!.address();
      const port = typeof address === 'object' && address !== null ? address.port : init.listenPort;
      channel.send({ type: 'listening', port, pid: identity.pid, threadId: identity.threadId });
    });
  }

  async function shutdown(): Promise<void> {
    if (stopping) return;
    stopping = true;
    channel.send({ type: 'stopping' });
    const deadline = Date.now() + config.shutdownTimeoutMillis * 0.8;
    if (server !== undefined) {
      let closed = false;
      server.close(() => {
        closed = true;
      });
      // Drain: idle keep-alive connections are closed now, busy ones once their response is out.
      while ((!closed || inFlight > 0) && Date.now() < deadline) {
        server.closeIdleConnections();
        await sleep(20);
      }
      server.closeAllConnections();
    } else {
      while (inFlight > 0 && Date.now() < deadline) await sleep(20);
    }
    clearInterval(heartbeatTimer);
    heartbeat();
    // Spans go to the supervisor's exporter, which outlives this worker and exports them.
    await tracer?.flush(Math.max(200, deadline - Date.now()));
    process.exit(0);
  }

  channel.onMessage((message) => {
    if (processState?.onMessage(message)) return;
    switch (message.type) {
      case 'fault':
        fireFault(message.kind, () => channel.send({ type: 'abort' }));
        break;
      case 'shutdown':
        void shutdown();
        break;
      case 'flush': {
        const { id, timeoutMillis } = message;
        if (tracer === undefined) channel.send({ type: 'flushed', id, ok: true });
        else void tracer.flush(timeoutMillis).then((ok) => channel.send({ type: 'flushed', id, ok }));
        break;
      }
      case 'task': {
        const { id } = message;
        serve(tracer === undefined ? undefined : message.trace, message.arrivalEpochMillis, (status, result) =>
          channel.send({
            type: 'task-done',
            id,
            status,
            result,
            worker: identity.index,
            pid: identity.pid,
            threadId: identity.threadId,
          }),
        );
        break;
      }
      default:
        break;
    }
  });
  return { shutdown };
}
