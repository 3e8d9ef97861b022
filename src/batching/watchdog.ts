/**
 * The hung-model watchdog: how long a batch may run before its replica is taken to hang, the watch over the
 * batches in flight, and the quarantine of inputs that hung a model on their own (identical inputs, by
 * their cache key, get the default at once for a while instead of taking the model down again).
 */

/** A batch may run this many times the version's recent 99th percentile batch time… */
export const HANG_FACTOR = 20;
/** …but never less than this, so that a pause of the machine (GC, a busy core) is not taken for a hang. */
export const HANG_FLOOR_MS = 300;

/**
 * Milliseconds after which a batch is a hang: the model's own override when it has one; else HANG_FACTOR ×
 * its recent p99 batch time, at least HANG_FLOOR_MS, at most `ceilingMs` (the server's predict timeout, also
 * what a version that has answered nothing yet gets: its first batch may load lazily).
 */
export function hangThresholdMs(p99Ms: number, known: boolean, ceilingMs: number, overrideMs?: number): number {
  if (overrideMs !== undefined) return overrideMs;
  if (!known) return ceilingMs;
  return Math.min(ceilingMs, Math.max(HANG_FLOOR_MS, HANG_FACTOR * p99Ms));
}

/** How often the watchdog looks at the batches in flight. */
const TICK_MS = 25;

/** A batch on its way to replica R: what the watchdog watches. */
export interface InFlight<R, B> {
  readonly replica: R;
  readonly batch: B;
  readonly startedMs: number;
  /** When the runtime could start on it: when it was sent, or when the batch ahead of it was answered. */
  runningSinceMs: number;
  readonly thresholdMs: number;
  /** Set when the watchdog found it hung (its replica is being killed). */
  hung: boolean;
}

/**
 * The batches in flight on a version's replicas, checked by one timer while any is. Runtimes answer in
 * order, so only the oldest batch of a replica is running: those behind it wait their turn and hang nothing.
 */
export class HangWatchdog<R, B> {
  readonly #inflight = new Set<InFlight<R, B>>();
  #timer: Timer | undefined;

  constructor(readonly onHang: (batch: InFlight<R, B>) => void) {}

  get size(): number {
    return this.#inflight.size;
  }

  watch(replica: R, batch: B, startedMs: number, thresholdMs: number): InFlight<R, B> {
    const watched = { replica, batch, startedMs, runningSinceMs: startedMs, thresholdMs, hung: false };
    this.#inflight.add(watched);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.check(performance.now()), TICK_MS);
      this.#timer.unref?.();
    }
    return watched;
  }

  /** The batch came back (answered or failed): the one behind it on the replica runs from now. */
  answered(batch: InFlight<R, B>, nowMs: number): void {
    this.#inflight.delete(batch);
    for (const b of this.#inflight) if (b.replica === batch.replica && b.runningSinceMs < nowMs) b.runningSinceMs = nowMs;
  }

  /** Finds the running batches past their threshold (the timer calls it; tests may too). */
  check(nowMs: number): void {
    if (this.#inflight.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const running = new Map<R, InFlight<R, B>>();
    for (const b of this.#inflight) {
      const first = running.get(b.replica);
      if (!first || b.startedMs < first.startedMs) running.set(b.replica, b);
    }
    for (const b of running.values()) {
      if (b.hung || nowMs - b.runningSinceMs < b.thresholdMs) continue;
      b.hung = true;
      this.onHang(b);
    }
  }
}

export interface QuarantineEntry {
  readonly key: string;
  readonly reason: string;
  readonly untilMs: number;
}

/** Inputs that hung a model version by themselves, each until its time is up; bounded (the oldest goes first). */
export class Quarantine {
  readonly #entries = new Map<string, QuarantineEntry>();

  constructor(
    readonly durationMs: number,
    readonly maxEntries = 1024,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  add(key: string, reason: string, nowMs: number): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { key, reason, untilMs: nowMs + this.durationMs });
  }

  /** Why `key` is quarantined, or undefined when it is not (any more). */
  reason(key: string, nowMs: number): string | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.untilMs <= nowMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.reason;
  }

  /** The live entries, for status and metrics. */
  list(nowMs: number): QuarantineEntry[] {
    for (const [k, e] of this.#entries) if (e.untilMs <= nowMs) this.#entries.delete(k);
    return [...this.#entries.values()];
  }
}
