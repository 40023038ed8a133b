// A de-duplicating work queue keyed by "namespace/name", with the semantics of client-go's
// workqueue: a key is queued at most once; a key being processed is never handed to a
// second worker; an add during processing re-queues it once processing is done. Requeues
// after failures are rate limited per key with backoff + jitter, and `forget` resets that.
import { type BackoffOptions, backoffDelayMillis, DEFAULT_BACKOFF } from './backoff.ts';
import { type Clock, REAL_CLOCK, type TimerHandle } from './clock.ts';

export interface WorkQueueOptions {
  backoff?: BackoffOptions;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
  /** Time source of delayed adds; default the real clock (tests step a FAKE one). */
  clock?: Clock;
}

export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  /** Pending delayed adds: key -> [due epoch millis, timer]. Only the earliest is kept. */
  readonly #delayed = new Map<string, { dueMillis: number; timer: TimerHandle }>();
  #waiters: ((key: string | undefined) => void)[] = [];
  #shuttingDown = false;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #clock: Clock;

  constructor(options: WorkQueueOptions = {}) {
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? REAL_CLOCK;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMillis: number): void {
    if (this.#shuttingDown) return;
    if (delayMillis <= 0) {
      this.add(key);
      return;
    }
    const dueMillis = this.#clock.now() + delayMillis;
    const pending = this.#delayed.get(key);
    if (pending && pending.dueMillis <= dueMillis) return;
    if (pending) this.#clock.clearTimeout(pending.timer);
    const timer = this.#clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMillis);
    this.#delayed.set(key, { dueMillis, timer });
  }

  /** Re-adds a key that failed, after a per-key exponential backoff; returns the delay used. */
  addRateLimited(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delay = backoffDelayMillis(failures, this.#backoff, this.#random);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the failure count of a key (after a success). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) return Promise.resolve(this.#take(key));
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks a key from get() as processed; re-queues it if it was added meanwhile. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
  }

  /** Keys waiting to be handed out (not counting delayed adds nor keys being processed). */
  get length(): number {
    return this.#queue.length;
  }

  /** Keys handed out by get() and not yet done(). */
  get processing(): number {
    return this.#processing.size;
  }

  /** When a delayed add of `key` is due (epoch millis), or undefined when none is pending. */
  dueMillis(key: string): number | undefined {
    return this.#delayed.get(key)?.dueMillis;
  }

  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) this.#clock.clearTimeout(timer);
    this.#delayed.clear();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(undefined);
  }

  #take(key: string): string {
    this.#dirty.delete(key);
    this.#processing.add(key);
    return key;
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(this.#take(key));
    else this.#queue.push(key);
  }
}
