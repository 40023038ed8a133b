// A shared budget of bytes held in memory by requests being read. Memory is bounded by bytes
// actually held, not by a number of request slots: a client trickling a body a byte at a time
// holds a few bytes of the budget, never a slot that a real export then waits for.

/** One request's share of a ByteBudget; release() returns all of it. */
export interface ByteLease {
  /** Takes `bytes` more; false (nothing taken) when the budget cannot give them. */
  take(bytes: number): boolean;
  /** Bytes this lease holds. */
  readonly held: number;
  /** Gives back everything this lease holds; idempotent. */
  release(): void;
}

export class ByteBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`ByteBudget: limit must be a positive integer`);
    this.limit = limit;
  }

  /** Bytes held by all leases. */
  get used(): number {
    return this.#used;
  }

  lease(): ByteLease {
    let held = 0;
    return {
      take: (bytes: number) => {
        if (this.#used + bytes > this.limit) return false;
        this.#used += bytes;
        held += bytes;
        return true;
      },
      get held() {
        return held;
      },
      release: () => {
        this.#used -= held;
        held = 0;
      },
    };
  }
}
