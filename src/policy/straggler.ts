/**
 * Straggler mitigation for the ensemble: which models are worth asking for a query with so much time left.
 * Each model's recent answer times (late answers included: they are measured when they arrive) are kept; a
 * model whose fastest recent answer took longer than the query has left is not fed the query, except for one
 * probe every `probeIntervalMs`, so that its times stay current and it is asked again once it is fast again.
 */

/**
 * Answer times kept per model. A model is left out only when every one of them was too slow: a model that is
 * late half the time (one of the benchmark's stragglers) still has a vote in the answers it makes in time.
 */
export const RECENT_ANSWERS = 32;

interface Times {
  readonly ms: number[];
  next: number;
  lastProbeMs: number;
}

export class StragglerGuard {
  readonly #times = new Map<string, Times>();

  constructor(private readonly probeIntervalMs = 1000) {}

  /** A model (by key) answered, or failed, `elapsedMs` after it was asked. */
  observe(key: string, elapsedMs: number): void {
    let t = this.#times.get(key);
    if (!t) this.#times.set(key, (t = { ms: [], next: 0, lastProbeMs: -Infinity }));
    t.ms[t.next] = elapsedMs;
    t.next = (t.next + 1) % RECENT_ANSWERS;
  }

  /** The fastest recent answer of a model, or undefined when it has none yet. */
  fastestMs(key: string): number | undefined {
    const t = this.#times.get(key);
    return t && t.ms.length > 0 ? Math.min(...t.ms) : undefined;
  }

  /** Whether to ask model `key` with `remainingMs` left; a probe (the answer true for a slow model) is counted as sent at `nowMs`. */
  shouldAsk(key: string, remainingMs: number, nowMs: number): boolean {
    const t = this.#times.get(key);
    if (!t || t.ms.length === 0) return true;
    if (Math.min(...t.ms) <= remainingMs) return true;
    if (nowMs - t.lastProbeMs < this.probeIntervalMs) return false;
    t.lastProbeMs = nowMs;
    return true;
  }

  /** Forgets a model version (it was deleted). */
  forget(key: string): void {
    this.#times.delete(key);
  }
}
