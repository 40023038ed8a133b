// Fault injection inside one worker. Each kind does what a real failure of that sort does; the
// effect on the service depends on the model (see README.md, "Faults per model").
import { isMainThread } from 'node:worker_threads';
import type { FaultKind } from './config.ts';

const LEAK_CHUNK_ELEMENTS = 131_072; // 1 MiB of doubles per chunk, kept in the JS heap
const LEAK_CHUNKS_PER_STEP = 16;
// Retained forever on purpose: the leak.
const hoard: number[][] = [];

function leakStep(): void {
  for (let i = 0; i < LEAK_CHUNKS_PER_STEP; i++) hoard.push(new Array<number>(LEAK_CHUNK_ELEMENTS).fill(i + 0.5));
  // Yield between steps so the worker keeps serving while it grows, as a real leak does.
  setImmediate(leakStep);
}

/**
 * Fires a fault in this worker. askMainThreadToAbort (worker threads): asks the main thread of
 * this process, the supervisor, to call process.abort().
 */
export function fireFault(kind: FaultKind, askMainThreadToAbort: () => void): void {
  switch (kind) {
    case 'exit':
      // In a worker thread this ends only the thread; in a process, the process.
      process.exit(70);
      break;
    case 'abort':
      // A native abort ends the whole OS process, as a crashing native addon does. Node refuses
      // process.abort() inside a worker_thread, so a thread asks the main thread to call it. Not
      // kill(own pid, SIGABRT): as PID 1 of a container's pid namespace the kernel drops a signal
      // whose action is the default when it is sent from inside the namespace, and the process
      // lived on. glibc's abort() raises SIGABRT and, when that is dropped, ends with a fault
      // the kernel forces through even to PID 1 (test/workloads/node/pid1.test.ts).
      if (isMainThread) process.abort();
      askMainThreadToAbort();
      // Serve nothing while the main thread aborts. Should it not (its event loop blocked), raise
      // the signal ourselves: enough everywhere but as PID 1.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);
      process.kill(process.pid, 'SIGABRT');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);
      break;
    case 'throw':
      setImmediate(() => {
        throw new Error('conclab injected fault: uncaught exception');
      });
      break;
    case 'hang':
      setImmediate(() => {
        let spins = 0;
        // A busy loop that never yields: the event loop of this worker stops.
        while (spins >= 0) spins = (spins + 1) % 1_000_000;
      });
      break;
    case 'leak':
      setImmediate(leakStep);
      break;
  }
}
