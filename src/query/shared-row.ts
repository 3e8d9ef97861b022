/**
 * One single-row prediction in flight that several queries wait on (the cache's in-flight sharing). It
 * belongs to all its waiters: the queue sees it gone only when every waiter has gone (answered, past its
 * deadline, or its client disconnected), and when the queue sheds it for a deadline that one waiter had
 * while another still has time, it is queued again with the latest deadline of those still waiting.
 */
import { ShedError } from "../errors.ts";
import type { Row } from "../domain.ts";
import type { Abortable, ModelQueue } from "../batching/model-queue.ts";

export class Waiter {
  done = false;
  constructor(
    readonly deadlineMs: number,
    readonly signal: AbortSignal | undefined,
  ) {}

  /** This waiter has its answer (or its default): it no longer holds the computation. */
  leave(): void {
    this.done = true;
  }

  get waiting(): boolean {
    return !this.done && !this.signal?.aborted;
  }
}

export class SharedRow implements Abortable {
  readonly #waiters: Waiter[] = [];

  join(deadlineMs: number, signal: AbortSignal | undefined): Waiter {
    const w = new Waiter(deadlineMs, signal);
    this.#waiters.push(w);
    return w;
  }

  /** True when no waiter waits any more: the queue drops the row instead of predicting it. */
  get aborted(): boolean {
    for (const w of this.#waiters) if (w.waiting) return false;
    return true;
  }

  /** The latest deadline among the waiters still waiting (-Infinity when none). */
  get latestDeadlineMs(): number {
    let latest = -Infinity;
    for (const w of this.#waiters) if (w.waiting && w.deadlineMs > latest) latest = w.deadlineMs;
    return latest;
  }

  /** Predicts the row through `queue` for as long as some waiter has time for it. */
  compute(queue: ModelQueue, row: Row, sloMicros: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let sentWithMs = this.latestDeadlineMs;
      const send = () =>
        queue.submit(
          [row],
          sentWithMs,
          sloMicros,
          this,
          (outputs, start) => resolve(outputs[start]),
          (err) => {
            const latest = this.latestDeadlineMs;
            // Shed for a deadline a waiter that has gone had, while another waits longer: queued again for it.
            if (err instanceof ShedError && err.reason === "deadline" && latest > sentWithMs && latest > performance.now()) {
              sentWithMs = latest;
              send();
            } else {
              reject(err);
            }
          },
        );
      send();
    });
  }
}
