// Entry of a worker_thread (thread model, offload pool): wires the MessagePort to runWorker.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { WorkloadConfig } from './config.ts';
import type { ToSupervisor, ToWorker, WorkerInit } from './messages.ts';
import { runWorker } from './worker.ts';

const { config, init } = workerData as { config: WorkloadConfig; init: WorkerInit };
const port = parentPort!;
await runWorker(
  config,
  init,
  {
    send: (message: ToSupervisor) => port.postMessage(message),
    onMessage: (listener: (message: ToWorker) => void) => port.on('message', listener),
  },
  { index: init.index, pid: process.pid, threadId },
);
