/**
 * The suspects of a hang, tried apart from the traffic. When a batch of several rows hangs, one of its rows
 * (usually) hangs the model: each row must go again alone to find it, and the one that hangs would block
 * the replica that serves everyone else for another watchdog threshold and another replacement. So the
 * suspects go one at a time to a probe: a replica of the version started for them alone, which takes no
 * traffic and stops when they are done (the watchdog kills it when the culprit hangs it; the culprit is
 * quarantined then, and the suspects left go back to the queue as ordinary retries). When no probe can be
 * started, the suspects are retried among the traffic as before.
 */
import type { Part } from "./parts.ts";

/** What the probe needs of a replica. */
export interface ProbeReplica {
  readonly state: string;
  stop(): Promise<void>;
}

export interface ProbeHooks<R extends ProbeReplica> {
  /** Starts a replica that takes no traffic and resolves once it is ready; undefined when none can be started. */
  start(): Promise<R> | undefined;
  /** The cache key of a suspect's row: a query with the same input goes to the probe too while it is suspected. */
  key(part: Part): string;
  /** Sends one suspect row to the probe; the queue then calls done() with how it went. */
  send(replica: R, part: Part): void;
  /**
   * Suspects that go back among the traffic: still suspects when no probe could start (each must go alone to
   * find the culprit), ordinary retries once the culprit was found.
   */
  fallback(parts: Part[], culpritFound: boolean): void;
}

export class SuspectProbe<R extends ProbeReplica> {
  #suspects: Part[] = [];
  /** The keys of the suspects waiting or on the probe, with how many of each. */
  readonly #keys = new Map<string, number>();
  #current: Part | undefined;
  #replica: R | undefined;
  #starting = false;
  #busy = false;

  constructor(readonly hooks: ProbeHooks<R>) {}

  /** Suspects waiting or on the probe. */
  get pending(): number {
    return this.#suspects.length + (this.#busy ? 1 : 0);
  }

  /** True when `replica` is the probe. */
  owns(replica: unknown): boolean {
    return replica !== undefined && replica === this.#replica;
  }

  /** True while a suspect with this key waits or is on the probe. */
  suspected(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Takes the rows of a hung batch (or a query whose input is suspected), one suspect each. */
  add(parts: readonly Part[]): void {
    for (const p of parts) {
      for (let r = p.from; r < p.to; r++) {
        const single = { q: p.q, from: r, to: r + 1 };
        const key = this.hooks.key(single);
        this.#keys.set(key, (this.#keys.get(key) ?? 0) + 1);
        this.#suspects.push(single);
      }
    }
    this.#pump();
  }

  /**
   * The probe's suspect came back: `hung` when the watchdog killed the probe for it (it is the culprit: the
   * others go back to the queue), else the next suspect goes.
   */
  done(hung: boolean): void {
    this.#busy = false;
    if (this.#current) this.#forget(this.#current);
    this.#current = undefined;
    if (hung) {
      this.#replica = undefined;
      this.#fallBack(true);
      return;
    }
    this.#pump();
  }

  /** Stops the probe and settles the suspects with `err` (the version is going away). */
  drain(err: Error): void {
    for (const p of this.#suspects) p.q.reject(err);
    this.#suspects = [];
    this.#keys.clear();
    this.#stop();
  }

  #forget(p: Part): void {
    const key = this.hooks.key(p);
    const n = this.#keys.get(key) ?? 0;
    if (n <= 1) this.#keys.delete(key);
    else this.#keys.set(key, n - 1);
  }

  #pump(): void {
    if (this.#busy || this.#starting) return;
    if (this.#replica && this.#replica.state !== "ready") this.#replica = undefined;
    const next = this.#suspects.shift();
    if (!next) {
      this.#stop();
      return;
    }
    if (!this.#replica) {
      this.#suspects.unshift(next);
      const starting = this.hooks.start();
      if (!starting) {
        this.#fallBack(false);
        return;
      }
      this.#starting = true;
      starting.then(
        (replica) => {
          this.#starting = false;
          this.#replica = replica;
          this.#pump();
        },
        () => {
          this.#starting = false;
          this.#fallBack(false);
        },
      );
      return;
    }
    this.#busy = true;
    this.#current = next;
    this.hooks.send(this.#replica, next);
  }

  #fallBack(culpritFound: boolean): void {
    const parts = this.#suspects;
    this.#suspects = [];
    this.#keys.clear();
    this.#stop();
    if (parts.length > 0) this.hooks.fallback(parts, culpritFound);
  }

  #stop(): void {
    const replica = this.#replica;
    this.#replica = undefined;
    void replica?.stop();
  }
}
