/**
 * Deadline timers for queries without a timer per query: queries of one SLO arrive with non-decreasing
 * deadlines, so each SLO keeps a FIFO and one shared timer is armed for the earliest head.
 * Invariant: an entry fires at most once, and never after it was settled.
 */

/**
 * One query's deadline. Settling it (the answer came first) also drops `fire`, and with it everything the
 * query's callback holds: a settled entry waits in its FIFO until the SLO has passed, and would otherwise keep
 * the query's promise and rows alive that long, into the old generation, for a full collection to free.
 */
export class Deadline {
  settled = false;
  constructor(
    readonly at: number,
    public fire: (() => void) | undefined,
  ) {}

  /** Marks the query answered; false when it already was (by its answer or its deadline). */
  settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.fire = undefined;
    return true;
  }
}

export class DeadlineTimers {
  readonly #fifos = new Map<number, { items: Deadline[]; head: number }>();
  #timer: Timer | undefined;
  #armedAt = Infinity;

  /** Calls `fire` at performance.now() >= `at` unless the returned entry is settled first. */
  add(at: number, sloMicros: number, fire: () => void): Deadline {
    const entry = new Deadline(at, fire);
    let fifo = this.#fifos.get(sloMicros);
    if (!fifo) this.#fifos.set(sloMicros, (fifo = { items: [], head: 0 }));
    fifo.items.push(entry);
    if (at < this.#armedAt) this.#arm(at);
    return entry;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#armedAt = at;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, at - performance.now()));
  }

  #expire(): void {
    this.#armedAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [slo, fifo] of this.#fifos) {
      const { items } = fifo;
      while (fifo.head < items.length) {
        const e = items[fifo.head]!;
        if (e.settled) {
          fifo.head++;
          continue;
        }
        if (e.at > now) break;
        fifo.head++;
        const fire = e.fire;
        e.settle();
        fire?.();
      }
      if (fifo.head === items.length) {
        this.#fifos.delete(slo);
        continue;
      }
      if (fifo.head > 1024) {
        fifo.items = items.slice(fifo.head);
        fifo.head = 0;
      }
      // The next live head: settled entries ahead of it are skipped at the next expiry.
      for (let i = fifo.head; i < fifo.items.length; i++) {
        if (!fifo.items[i]!.settled) {
          if (fifo.items[i]!.at < next) next = fifo.items[i]!.at;
          break;
        }
      }
    }
    if (next !== Infinity) this.#arm(next);
  }
}
