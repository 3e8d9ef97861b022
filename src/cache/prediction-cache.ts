/**
 * Prediction cache: an LRU of answers keyed by model, version and input, bounded both in entries and in
 * bytes (keys and answers, estimated), plus the in-flight table so identical queries that overlap share one
 * prediction. A key longer than MAX_KEY_CHARS is replaced by its SHA-256, so a 10 MB input costs the
 * cache a few dozen bytes, not 10 MB (its version prefix is kept: a version's entries can still be dropped).
 */
import { LRUCache } from "lru-cache";

/** A cached answer, in the shape of a row's outcome: a hit hands out the stored object, no copy. */
export interface CachedAnswer {
  readonly ok: true;
  readonly output: unknown;
}

/** Keys up to this long are kept as they are (the common row of a few numbers is well under it). */
export const MAX_KEY_CHARS = 256;
/** What an entry costs beyond its key and answer: the LRU's node, the map slot, the answer object. */
const ENTRY_OVERHEAD_BYTES = 160;

export class PredictionCache {
  hits = 0;
  misses = 0;
  readonly #lru: LRUCache<string, CachedAnswer> | undefined;
  readonly #inflight = new Map<string, Promise<unknown>>();

  /** `maxEntries` or `maxBytes` 0 turns caching and sharing off. */
  constructor(maxEntries: number, maxBytes = Number.MAX_SAFE_INTEGER) {
    this.#lru =
      maxEntries > 0 && maxBytes > 0
        ? new LRUCache({ max: maxEntries, maxSize: maxBytes, sizeCalculation: (answer, key) => entryBytes(key, answer.output) })
        : undefined;
  }

  get enabled(): boolean {
    return this.#lru !== undefined;
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }

  /** The estimated bytes held: never more than the bound. */
  get bytes(): number {
    return this.#lru?.calculatedSize ?? 0;
  }

  /** The cached answer for `key`, counted as a hit, or undefined (not counted: the caller computes and counts). */
  peek(key: string): CachedAnswer | undefined {
    const hit = this.#lru?.get(storedKey(key));
    if (hit !== undefined) this.hits++;
    return hit;
  }

  /** Stores an answer computed outside getOrCompute (rows of a batch request), counting the miss. */
  store(key: string, value: unknown): void {
    if (!this.#lru) return;
    this.misses++;
    this.#lru.set(storedKey(key), { ok: true, output: value });
  }

  /**
   * The answer for `key`: from the LRU, from an identical query in flight, or from `compute`.
   * Only successful answers are stored; a failure is shared by the queries waiting on it, then forgotten.
   */
  getOrCompute(key: string, compute: () => Promise<unknown>): Promise<unknown> {
    const lru = this.#lru;
    if (!lru) return compute();
    key = storedKey(key);
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

/**
 * The key as stored: as it is when short, else its version prefix (up to the NUL that ends it), a NUL and
 * the input's SHA-256. A short key whose input itself starts with a NUL is hashed too, so a stored short key
 * can never look like a hashed one.
 */
export function storedKey(key: string): string {
  if (key.length <= MAX_KEY_CHARS) {
    const nul = key.indexOf("\0");
    if (nul < 0 || key.charCodeAt(nul + 1) !== 0) return key;
  }
  const end = key.indexOf("\0") + 1;
  const hasher = new Bun.CryptoHasher("sha256");
  hasher.update(key.slice(end));
  return `${key.slice(0, end)}\0${hasher.digest("base64")}`;
}

/** What one entry costs, estimated: UTF-16 key, the answer's strings and numbers, a fixed overhead. */
function entryBytes(key: string, output: unknown): number {
  return ENTRY_OVERHEAD_BYTES + 2 * key.length + valueBytes(output, 0);
}

function valueBytes(v: unknown, depth: number): number {
  if (typeof v === "string") return 16 + 2 * v.length;
  if (v === null || typeof v !== "object") return 16;
  if (ArrayBuffer.isView(v)) return 64 + v.byteLength;
  if (depth > 8) return 64 + JSON.stringify(v).length * 2;
  let n = 32;
  if (Array.isArray(v)) for (const x of v) n += valueBytes(x, depth + 1);
  else for (const [k, x] of Object.entries(v)) n += 16 + 2 * k.length + valueBytes(x, depth + 1);
  return n;
}
