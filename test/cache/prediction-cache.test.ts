import { describe, expect, it } from "bun:test";
import { PredictionCache } from "../../src/cache/prediction-cache.ts";

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
});
