// Entry of a worker_thread (thread model, offload pool): wires the MessagePort to runWorker.
import { type MessagePort, parentPort, threadId, workerData } from 'node:worker_threads';
import type { WorkloadConfig } from './config.ts';
import type { ToSupervisor, ToWorker, WorkerInit } from './messages.ts';
import { runWorker } from './worker.ts';

const { config, init, exporterPort } = workerData as {
  config: WorkloadConfig;
  init: WorkerInit;
  /** Offload pool, traced: a port straight to the supervisor's span-export thread. */
  exporterPort: MessagePort | undefined;
};
const port = parentPort!;
await runWorker(
  config,
  init,
  {
    send: (message: ToSupervisor) => port.postMessage(message),
    // The column buffer is transferred, not copied.
    sendSpans: (source, batch, count) =>
      port.postMessage({ type: 'spans', source, count, batch } satisfies ToSupervisor, [batch.numbers.buffer]),
    onMessage: (listener: (message: ToWorker) => void) => port.on('message', listener),
  },
  { index: init.index, pid: process.pid, threadId },
  exporterPort,
);
