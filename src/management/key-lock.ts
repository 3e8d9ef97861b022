/**
 * One writer per key: management operations on the same model (or app) run one at a time, in order of
 * arrival; operations on different keys run in parallel. A caller behind a long operation waits at most
 * `maxWaitMs` and then gets a 409 naming the operation in progress and how long it has run.
 * Invariant: a holder that throws releases the key like one that returns; a waiter that gives up leaves
 * the order of the others unchanged. Nested holds go one way only (a model's, then an app's: a deploy that
 * links), so two operations never wait on each other.
 */
import { ConflictError } from "../errors.ts";

interface Waiter {
  readonly what: string;
  readonly grant: () => void;
  /** Set when the waiter gave up: it is skipped when its turn comes. */
  abandoned: boolean;
}

interface Held {
  what: string;
  sinceMs: number;
  readonly waiters: Waiter[];
}

export class KeyLock {
  readonly #held = new Map<string, Held>();

  constructor(private readonly maxWaitMs = 120_000) {}

  /** What holds `key` now ("deploy of m version 2"), or undefined when it is free. */
  holder(key: string): string | undefined {
    return this.#held.get(key)?.what;
  }

  /** The operations holding a key right now, each with its key ("model m: deploy of model m"). */
  holders(): string[] {
    return [...this.#held].map(([key, h]) => `${key}: ${h.what}`);
  }

  /** Runs `fn` holding `key`; `what` names the operation to callers that wait behind it (for at most `maxWaitMs`). */
  async run<T>(key: string, what: string, fn: () => Promise<T> | T, maxWaitMs = this.maxWaitMs): Promise<T> {
    await this.#acquire(key, what, maxWaitMs);
    try {
      return await fn();
    } finally {
      this.#release(key);
    }
  }

  #acquire(key: string, what: string, maxWaitMs: number): Promise<void> {
    const held = this.#held.get(key);
    if (!held) {
      this.#held.set(key, { what, sinceMs: performance.now(), waiters: [] });
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        what,
        abandoned: false,
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = Number.isFinite(maxWaitMs)
        ? setTimeout(() => {
            waiter.abandoned = true;
            const now = this.#held.get(key);
            const running = now ? `${now.what} has run for ${((performance.now() - now.sinceMs) / 1000).toFixed(1)} s` : "another operation";
            reject(
              new ConflictError(
                `${key} is busy: ${running}, and ${what} waited ${(maxWaitMs / 1000).toFixed(0)} s behind it`,
                "try again when it has finished (see `clipper status`)",
              ),
            );
          }, maxWaitMs)
        : undefined;
      held.waiters.push(waiter);
    });
  }

  #release(key: string): void {
    const held = this.#held.get(key);
    if (!held) return;
    let next = held.waiters.shift();
    while (next?.abandoned) next = held.waiters.shift();
    if (!next) {
      this.#held.delete(key);
      return;
    }
    held.what = next.what;
    held.sinceMs = performance.now();
    next.grant();
  }
}
