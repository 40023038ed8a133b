// The supervisor's event log: a bounded ring of the last events with sequence numbers, so the
// trial runner can poll GET /stats?since=SEQ and see every event exactly once (or learn that
// some were dropped). Pure: the supervisor supplies the clock.
import type { SupervisorEvent } from '../../operator/contracts/supervisor.ts';

export const EVENT_LOG_CAPACITY = 1000;

export type NewEvent = Omit<SupervisorEvent, 'seq'>;

export interface EventPage {
  nextSeq: number;
  items: SupervisorEvent[];
  truncated?: boolean;
}

export class EventLog {
  readonly #capacity: number;
  readonly #ring: SupervisorEvent[] = [];
  #nextSeq = 0;

  constructor(capacity = EVENT_LOG_CAPACITY) {
    this.#capacity = capacity;
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  add(event: NewEvent): SupervisorEvent {
    const stored: SupervisorEvent = { seq: this.#nextSeq++, ...event };
    this.#ring.push(stored);
    if (this.#ring.length > this.#capacity) this.#ring.shift();
    return stored;
  }

  /** Events with seq >= since; truncated when some of those were already dropped. */
  since(since = 0): EventPage {
    const oldest = this.#ring[0]?.seq ?? this.#nextSeq;
    const items = this.#ring.filter((e) => e.seq >= since);
    return since < oldest ? { nextSeq: this.#nextSeq, items, truncated: true } : { nextSeq: this.#nextSeq, items };
  }
}

/** "code 70", "signal SIGABRT" or "error: ..." for a worker-exit event. */
export function exitDescription(code: number | null, signal: string | null, failure: string | undefined): string {
  if (failure !== undefined) return `error: ${failure}`;
  if (signal !== null) return `signal ${signal}`;
  return `code ${code ?? 0}`;
}
