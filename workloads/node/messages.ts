// Messages between the supervisor and its workers, the same for an IPC channel (process model)
// and a worker_threads port (thread and offload models).
import type { FaultKind } from './config.ts';

/** Trace context carried from the offload acceptor to the pool (propagation.inject output). */
export type Carrier = Record<string, string>;

export type ToWorker =
  | { type: 'fault'; kind: FaultKind }
  | { type: 'shutdown' }
  | { type: 'state-reply'; id: number; value: number }
  | { type: 'task'; id: number; arrivalEpochMillis: number; carrier: Carrier };

export type ToSupervisor =
  | { type: 'listening'; port: number; pid: number; threadId: number }
  | { type: 'heartbeat'; requests: number; errors: number; inFlight: number }
  | { type: 'stopping' }
  | { type: 'state-incr'; id: number }
  | { type: 'state-get'; id: number }
  | { type: 'state-set'; id: number; value: number }
  | { type: 'task-done'; id: number; status: number; result: number; worker: number; pid: number; threadId: number };

/** What a worker is told at start (environment for processes, workerData for threads). */
export interface WorkerInit {
  index: number;
  /** Port to bind with reusePort; 0 for the first worker when the config asks for a free port. */
  listenPort: number;
  cpuIterationsPerMilli: number;
  /** Thread and offload models: the shared-state buffer (see shared-state.ts). */
  sharedState: SharedArrayBuffer | undefined;
  /** Offload pool workers do not listen; they take tasks from the acceptor. */
  pool: boolean;
}
