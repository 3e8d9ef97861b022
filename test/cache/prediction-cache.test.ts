import { describe, expect, it } from "bun:test";
import { MAX_KEY_CHARS, PredictionCache, storedKey } from "../../src/cache/prediction-cache.ts";

describe("PredictionCache", () => {
  it("shares one computation among identical queries in flight and caches the answer", async () => {
    const cache = new PredictionCache(10);
    let calls = 0;
    const compute = async () => {
      calls++;
      await Bun.sleep(5);
      return "1";
    };
    const answers = await Promise.all([cache.getOrCompute("k", compute), cache.getOrCompute("k", compute)]);
    expect(answers).toEqual(["1", "1"]);
    expect(await cache.getOrCompute("k", compute)).toBe("1");
    expect(calls).toBe(1);
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 2, misses: 1 });
  });

  it("does not keep failures", async () => {
    const cache = new PredictionCache(10);
    await expect(cache.getOrCompute("k", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await cache.getOrCompute("k", async () => "ok")).toBe("ok");
  });

  it("evicts the least recently used entry past its bound", async () => {
    const cache = new PredictionCache(2);
    for (const k of ["a", "b", "c"]) await cache.getOrCompute(k, async () => k);
    expect(cache.size).toBe(2);
    let recomputed = false;
    await cache.getOrCompute("a", async () => {
      recomputed = true;
      return "a";
    });
    expect(recomputed).toBe(true);
  });

  it("computes every time when turned off", async () => {
    const cache = new PredictionCache(0);
    let calls = 0;
    await cache.getOrCompute("k", async () => ++calls);
    await cache.getOrCompute("k", async () => ++calls);
    expect(calls).toBe(2);
  });

  it("holds no more bytes than its bound, evicting the least recently used answers", () => {
    const cache = new PredictionCache(1000, 100_000);
    for (let i = 0; i < 50; i++) cache.store(`m:1\0${i}`, "x".repeat(10_000));
    expect(cache.bytes).toBeLessThanOrEqual(100_000);
    expect(cache.size).toBeGreaterThan(0);
    expect(cache.size).toBeLessThan(5);
    expect(cache.peek("m:1\x0049")?.output).toBe("x".repeat(10_000));
    expect(cache.peek("m:1\x000")).toBeUndefined();
    // An answer larger than the whole bound is not kept at all.
    cache.store("m:1\0huge", "y".repeat(100_000));
    expect(cache.peek("m:1\0huge")).toBeUndefined();
    expect(cache.bytes).toBeLessThanOrEqual(100_000);
  });

  it("keeps a long input as its SHA-256 under its version's prefix: small, distinct, still evicted with its version", () => {
    const long = (c: string) => `m:1\0${c.repeat(1_000_000)}`;
    expect(storedKey(long("a")).length).toBeLessThan(64);
    expect(storedKey(long("a"))).not.toBe(storedKey(long("b")));
    expect(storedKey("m:1\x001,2,3")).toBe("m:1\x001,2,3");
    expect(storedKey(`m:1\0${"z".repeat(MAX_KEY_CHARS)}`).startsWith("m:1\0\0")).toBe(true);
    // A short input that starts with a NUL is hashed too, so it cannot pose as a hashed key.
    expect(storedKey("m:1\0\0abc")).not.toBe("m:1\0\0abc");
    const cache = new PredictionCache(1000, 10_000);
    for (let i = 0; i < 20; i++) cache.store(long(String(i % 10)), String(i));
    expect(cache.size).toBe(10);
    expect(cache.bytes).toBeLessThan(10_000);
    expect(cache.peek(long("3"))?.output).toBe("13");
    cache.evictPrefix("m:1\0");
    expect(cache.size).toBe(0);
  });
});
