/**
 * Prediction cache: a bounded LRU of answers keyed by model, version and input,
 * plus the in-flight table so identical queries that overlap share one prediction.
 */
import { LRUCache } from "lru-cache";

/** A cached answer, in the shape of a row's outcome: a hit hands out the stored object, no copy. */
export interface CachedAnswer {
  readonly ok: true;
  readonly output: unknown;
}

export class PredictionCache {
  hits = 0;
  misses = 0;
  readonly #lru: LRUCache<string, CachedAnswer> | undefined;
  readonly #inflight = new Map<string, Promise<unknown>>();

  /** `maxEntries` 0 turns caching and sharing off. */
  constructor(maxEntries: number) {
    this.#lru = maxEntries > 0 ? new LRUCache({ max: maxEntries }) : undefined;
  }

  get enabled(): boolean {
    return this.#lru !== undefined;
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }

  /** The cached answer for `key`, counted as a hit, or undefined (not counted: the caller computes and counts). */
  peek(key: string): CachedAnswer | undefined {
    const hit = this.#lru?.get(key);
    if (hit !== undefined) this.hits++;
    return hit;
  }

  /** Stores an answer computed outside getOrCompute (rows of a batch request), counting the miss. */
  store(key: string, value: unknown): void {
    if (!this.#lru) return;
    this.misses++;
    this.#lru.set(key, { ok: true, output: value });
  }

  /**
   * The answer for `key`: from the LRU, from an identical query in flight, or from `compute`.
   * Only successful answers are stored; a failure is shared by the queries waiting on it, then forgotten.
   */
  getOrCompute(key: string, compute: () => Promise<unknown>): Promise<unknown> {
    const lru = this.#lru;
    if (!lru) return compute();
    const hit = lru.get(key);
    if (hit !== undefined) {
      this.hits++;
      return Promise.resolve(hit.output);
    }
    const pending = this.#inflight.get(key);
    if (pending) {
      this.hits++;
      return pending;
    }
    this.misses++;
    const promise = compute().then(
      (v) => {
        this.#inflight.delete(key);
        lru.set(key, { ok: true, output: v });
        return v;
      },
      (err: unknown) => {
        this.#inflight.delete(key);
        throw err;
      },
    );
    this.#inflight.set(key, promise);
    return promise;
  }

  /** Drops every entry of one model version (its key prefix), e.g. when it is removed. */
  evictPrefix(prefix: string): void {
    if (!this.#lru) return;
    for (const key of this.#lru.keys()) if (key.startsWith(prefix)) this.#lru.delete(key);
  }
}
