// Messages between the supervisor and its workers, the same for an IPC channel (process model)
// and a worker_threads port (thread and offload models).
import type { FaultKind } from './config.ts';
import type { TraceStart } from './sampling.ts';

export type ToWorker =
  | { type: 'fault'; kind: FaultKind }
  | { type: 'shutdown' }
  | { type: 'state-reply'; id: number; value: number }
  /** Offload: the acceptor decided sampling; `trace` is set only for a traced request. */
  | { type: 'task'; id: number; arrivalEpochMillis: number; trace: TraceStart | undefined }
  /** Force-flush the span processor and answer `flushed` with the same id. */
  | { type: 'flush'; id: number; timeoutMillis: number };

export type ToSupervisor =
  | { type: 'listening'; port: number; pid: number; threadId: number }
  | { type: 'heartbeat'; requests: number; errors: number; inFlight: number }
  | { type: 'stopping' }
  | { type: 'state-incr'; id: number }
  | { type: 'state-get'; id: number }
  | { type: 'state-set'; id: number; value: number }
  | { type: 'task-done'; id: number; status: number; result: number; worker: number; pid: number; threadId: number }
  /** ok: every queued span was exported (true as well when this worker records no spans). */
  | { type: 'flushed'; id: number; ok: boolean };

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
