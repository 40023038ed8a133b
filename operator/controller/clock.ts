// The time source of the controller's background loops (work-queue delays, informer
// watchdog, leader-election retries), as one small seam: production uses the real clock and
// unref'd timers, tests inject a FAKE clock they step by hand, so a test of "delivered after
// 30 ms" asserts the order of events instead of sleeping and hoping the machine is quiet.

export interface TimerHandle {
  readonly __timer?: never;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `delayMillis`; the timer never keeps the process alive. */
  setTimeout(fn: () => void, delayMillis: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

export const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout(fn, delayMillis) {
    const t = setTimeout(fn, delayMillis);
    t.unref();
    return t as unknown as TimerHandle;
  },
  clearTimeout(handle) {
    if (handle) clearTimeout(handle as unknown as NodeJS.Timeout);
  },
};
