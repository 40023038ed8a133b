// Messages between the supervisor and its workers, the same for an IPC channel (process model)
// and a worker_threads port (thread and offload models).
import type { FaultKind } from './config.ts';
import type { TraceStart } from './sampling.ts';
import type { IpcSpanBatch, SpanBatch, SpanSource } from './span-recorder.ts';

export type ToWorker =
  | { type: 'fault'; kind: FaultKind }
  | { type: 'shutdown' }
  | { type: 'state-reply'; id: number; value: number }
  /** Offload: the acceptor decided sampling; `trace` is set only for a traced request. */
  | { type: 'task'; id: number; arrivalEpochMillis: number; trace: TraceStart | undefined }
  /** Hand over every recorded span, then answer `flushed` with the same id. */
  | { type: 'flush'; id: number; timeoutMillis: number };

export type ToSupervisor =
  | { type: 'listening'; port: number; pid: number; threadId: number }
  | { type: 'heartbeat'; requests: number; errors: number; inFlight: number }
  | { type: 'stopping' }
  | { type: 'state-incr'; id: number }
  | { type: 'state-get'; id: number }
  | { type: 'state-set'; id: number; value: number }
  | { type: 'task-done'; id: number; status: number; result: number; worker: number; pid: number; threadId: number }
  /**
   * ok: every span this worker recorded was handed over (to the supervisor on this very channel,
   * so they arrive before this answer; an offload pool thread: exported by the export thread).
   */
  | { type: 'flushed'; id: number; ok: boolean }
  /**
   * Recorded spans for the supervisor's exporter, a batch at a time: a worker thread transfers
   * the SpanBatch, a worker process sends it as an IpcSpanBatch (its IPC channel is JSON).
   */
  | { type: 'spans'; source: SpanSource; count: number; batch: SpanBatch | IpcSpanBatch }
  /** A worker thread's native abort: the supervisor calls process.abort() at once (faults.ts). */
  | { type: 'abort' };

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
