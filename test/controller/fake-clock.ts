// A FAKE clock for the controller's background loops (operator/controller/clock.ts): time
// moves only when a test calls advance(), and due timers run in due order, synchronously, as
// they pass. A test then states "not yet at 29 ms, delivered at 30 ms" without sleeping,
// whatever the load of the machine.
import type { Clock, TimerHandle } from '../../operator/controller/clock.ts';

interface Pending {
  id: number;
  dueMillis: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  #nowMillis: number;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(startMillis = Date.parse('2026-01-01T00:00:00Z')) {
    this.#nowMillis = startMillis;
  }

  now(): number {
    return this.#nowMillis;
  }

  setTimeout(fn: () => void, delayMillis: number): TimerHandle {
    const id = this.#nextId++;
    this.#pending.set(id, { id, dueMillis: this.#nowMillis + Math.max(0, delayMillis), fn });
    return { id } as TimerHandle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.#pending.delete((handle as { id: number }).id);
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Moves time forward, running every timer that falls due on the way, earliest first. */
  advance(millis: number): void {
    const target = this.#nowMillis + millis;
    for (let guard = 0; guard < 100_000; guard++) {
      const next = [...this.#pending.values()]
        .filter((p) => p.dueMillis <= target)
        .sort((a, b) => a.dueMillis - b.dueMillis || a.id - b.id)[0];
      if (!next) {
        this.#nowMillis = target;
        return;
      }
      this.#pending.delete(next.id);
      this.#nowMillis = next.dueMillis;
      next.fn();
    }
    throw new Error('FakeClock.advance: more than 100000 timers ran; a timer re-arms itself at delay 0?');
  }
}
