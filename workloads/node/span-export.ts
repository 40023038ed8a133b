// Starting the span-export thread (span-export-thread.ts) and connecting serving threads to it.
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { WorkloadConfig } from './config.ts';

const ENTRY = new URL('./span-export-thread.ts', import.meta.url);

/** Starts the process's span-export thread; it never keeps the process alive on its own. */
export function startSpanExportThread(config: WorkloadConfig): Worker {
  const worker = new Worker(ENTRY, { workerData: { config } });
  worker.unref();
  return worker;
}

/** A port for one more serving thread: the other end is handed to the export thread. */
export function connectToExporter(exporter: Worker): MessagePort {
  const { port1, port2 } = new MessageChannel();
  exporter.postMessage({ type: 'port', port: port1 }, [port1]);
  return port2;
}
