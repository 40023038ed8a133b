// The shared-state profile: every request updates one record shared by all workers.
// Threads share memory (a SharedArrayBuffer guarded by an Atomics spin/wait lock); processes
// cannot, so they ask the state owner (the supervisor) over IPC. Racy mode drops the lock
// (threads) or splits the update into get + set messages (processes) and counts lost updates.
import type { ToSupervisor, ToWorker } from './messages.ts';

const LOCK = 0;
const ATTEMPTS = 1;
const FIRST_SLOT = 2;
/** Fields of the shared record; an update increments all of them, so it is not one instruction. */
export const RECORD_SLOTS = 16;

export function newSharedStateBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer((FIRST_SLOT + RECORD_SLOTS) * Int32Array.BYTES_PER_ELEMENT);
}

/** attempts: updates started; value: updates that survived. lost = attempts - value. */
export interface SharedStateTotals {
  attempts: number;
  value: number;
}

export function readSharedBuffer(buffer: SharedArrayBuffer): SharedStateTotals {
  const cells = new Int32Array(buffer);
  return { attempts: Atomics.load(cells, ATTEMPTS), value: Atomics.load(cells, FIRST_SLOT) };
}

/** Where a traced request gets the cost of its update (span attribute conclab.shared_state_cost_ms). */
export interface WorkCosts {
  /** Threads: lock wait + hold; processes: IPC round trip(s) to the state owner. In ms. */
  sharedStateMillis: number | undefined;
}

export interface SharedStateClient {
  /** Measures the update's cost into `costs` when given (only traced requests pass it). */
  update(costs?: WorkCosts): undefined | Promise<void>;
}

export class ThreadSharedState implements SharedStateClient {
  readonly #cells: Int32Array;
  readonly #racy: boolean;
  constructor(buffer: SharedArrayBuffer, racy: boolean) {
    this.#cells = new Int32Array(buffer);
    this.#racy = racy;
  }

  update(costs?: WorkCosts): undefined {
    const cells = this.#cells;
    const started = costs === undefined ? 0 : performance.now();
    Atomics.add(cells, ATTEMPTS, 1);
    if (this.#racy) {
      // Read-modify-write without the lock: concurrent updates overwrite each other.
      const snapshot = cells.slice(FIRST_SLOT, FIRST_SLOT + RECORD_SLOTS);
      for (let i = 0; i < RECORD_SLOTS; i++) cells[FIRST_SLOT + i] = (snapshot[i] ?? 0) + 1;
      if (costs !== undefined) costs.sharedStateMillis = performance.now() - started;
      return undefined;
    }
    // Mutex: 0 free, 1 held. Spin briefly, then sleep on the cell until the holder notifies.
    let spins = 0;
    while (Atomics.compareExchange(cells, LOCK, 0, 1) !== 0) {
      if (++spins > 100) Atomics.wait(cells, LOCK, 1, 1);
    }
    for (let i = 0; i < RECORD_SLOTS; i++) cells[FIRST_SLOT + i] = (cells[FIRST_SLOT + i] ?? 0) + 1;
    Atomics.store(cells, LOCK, 0);
    Atomics.notify(cells, LOCK, 1);
    if (costs !== undefined) costs.sharedStateMillis = performance.now() - started;
    return undefined;
  }
}

/** Process side: the state lives in the supervisor; one request/response pair per message id. */
export class ProcessSharedState implements SharedStateClient {
  readonly #send: (message: ToSupervisor) => void;
  readonly #racy: boolean;
  readonly #pending = new Map<number, (value: number) => void>();
  #nextId = 1;
  constructor(send: (message: ToSupervisor) => void, racy: boolean) {
    this.#send = send;
    this.#racy = racy;
  }

  /** Feed every message from the supervisor; returns true when it was a state reply. */
  onMessage(message: ToWorker): boolean {
    if (message.type !== 'state-reply') return false;
    const resolve = this.#pending.get(message.id);
    this.#pending.delete(message.id);
    resolve?.(message.value);
    return true;
  }

  #ask(build: (id: number) => ToSupervisor): Promise<number> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#send(build(id));
    });
  }

  async update(costs?: WorkCosts): Promise<void> {
    const started = costs === undefined ? 0 : performance.now();
    if (!this.#racy) {
      await this.#ask((id) => ({ type: 'state-incr', id }));
    } else {
      const value = await this.#ask((id) => ({ type: 'state-get', id }));
      await this.#ask((id) => ({ type: 'state-set', id, value: value + 1 }));
    }
    if (costs !== undefined) costs.sharedStateMillis = performance.now() - started;
  }
}

/** The supervisor's half for the process model: it owns the record and answers in order. */
export class StateOwner {
  attempts = 0;
  value = 0;
  /** Returns the reply to send, or undefined when the message is not about state. */
  handle(message: ToSupervisor): ToWorker | undefined {
    switch (message.type) {
      case 'state-incr':
        this.attempts++;
        this.value++;
        return { type: 'state-reply', id: message.id, value: this.value };
      case 'state-get':
        this.attempts++;
        return { type: 'state-reply', id: message.id, value: this.value };
      case 'state-set':
        this.value = message.value;
        return { type: 'state-reply', id: message.id, value: this.value };
      default:
        return undefined;
    }
  }
}
