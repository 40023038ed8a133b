// The workload's one span exporter per process tree, in the supervisor's process: where it runs,
// and the one interface the supervisor and serving threads use to reach it. Serving workers
// record spans in columns (span-recorder.ts) and hand batches over: worker threads by
// postMessage (the column buffer transferred), worker processes over their IPC channel to the
// supervisor, which feeds the exporter. Nothing here loads the SDK; span-pipeline.ts does, and
// only once tracing is on.
import { MessageChannel, type MessagePort, type TransferListItem, Worker } from 'node:worker_threads';
import type { Model, WorkloadConfig } from './config.ts';
import type { SpanBatch, SpanSource } from './span-recorder.ts';

/** What the supervisor (and an offload pool thread) does with spans; both placements honour it. */
export interface SpanExporter {
  add(source: SpanSource, batch: SpanBatch, count: number): void;
  /** Exports everything handed over so far; false when that failed or took longer than the bound. */
  forceFlush(timeoutMillis: number): Promise<boolean>;
  /** Exports what is left and stops. */
  shutdown(timeoutMillis: number): Promise<boolean>;
}

/**
 * Where the supervisor runs the SDK: in its own isolate when its main thread serves nothing
 * (process and thread models), else in one span-export thread of the supervisor's process
 * (offload: the main thread is the acceptor, and the SDK in the isolate that serves costs every
 * request, traced or not; README.md, "Telemetry").
 */
export function exporterPlacement(model: Model): 'supervisor-isolate' | 'export-thread' {
  return model === 'offload' ? 'export-thread' : 'supervisor-isolate';
}

export type ToExporter =
  | { type: 'spans'; source: SpanSource; batch: SpanBatch; count: number }
  | { type: 'flush'; id: number; timeoutMillis: number }
  | { type: 'shutdown'; id: number; timeoutMillis: number };

export type FromExporter = { type: 'flushed'; id: number; ok: boolean };

/** The span-export thread itself, or a MessagePort to it. */
interface ExporterChannel {
  postMessage(message: ToExporter | { type: 'port'; port: MessagePort }, transfer?: readonly TransferListItem[]): void;
  on(event: 'message', listener: (message: FromExporter) => void): unknown;
}

/** A SpanExporter that is a span-export thread, reached through its Worker or a port to it. */
export class ExportThreadClient implements SpanExporter {
  readonly #channel: ExporterChannel;
  readonly #replies = new Map<number, (ok: boolean) => void>();
  #nextId = 1;

  constructor(channel: ExporterChannel) {
    this.#channel = channel;
    channel.on('message', (message) => {
      const reply = this.#replies.get(message.id);
      this.#replies.delete(message.id);
      reply?.(message.ok);
    });
  }

  add(source: SpanSource, batch: SpanBatch, count: number): void {
    this.#channel.postMessage({ type: 'spans', source, batch, count }, [batch.numbers.buffer]);
  }

  forceFlush(timeoutMillis: number): Promise<boolean> {
    return this.#ask('flush', timeoutMillis);
  }

  shutdown(timeoutMillis: number): Promise<boolean> {
    return this.#ask('shutdown', timeoutMillis);
  }

  #ask(type: 'flush' | 'shutdown', timeoutMillis: number): Promise<boolean> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#replies.delete(id);
        resolve(false);
      }, timeoutMillis);
      this.#replies.set(id, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
      // The thread bounds its own work a little below ours, so its answer arrives in time.
      this.#channel.postMessage({ type, id, timeoutMillis: Math.max(1, Math.floor(timeoutMillis * 0.9)) });
    });
  }
}

const THREAD_ENTRY = new URL('./span-export-thread.ts', import.meta.url);

/** A span-export thread and a client for it; it never keeps the process alive on its own. */
export function startSpanExportThread(config: WorkloadConfig): { thread: Worker; exporter: ExportThreadClient } {
  const thread = new Worker(THREAD_ENTRY, { workerData: { config } });
  thread.unref();
  return { thread, exporter: new ExportThreadClient(thread) };
}

/** A port for one more serving thread straight to the span-export thread (offload pool threads). */
export function connectToExportThread(thread: Worker): MessagePort {
  const { port1, port2 } = new MessageChannel();
  thread.postMessage({ type: 'port', port: port1 }, [port1]);
  return port2;
}

/** The supervisor's exporter, where exporterPlacement puts it; loads the SDK. */
export async function startSupervisorExporter(
  config: WorkloadConfig,
): Promise<{ exporter: SpanExporter; thread: Worker | undefined }> {
  if (exporterPlacement(config.model) === 'export-thread') return startSpanExportThread(config);
  const { SpanPipeline } = await import('./span-pipeline.ts');
  return { exporter: new SpanPipeline(config), thread: undefined };
}
