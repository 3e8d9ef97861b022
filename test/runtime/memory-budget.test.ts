/** The memory budget's choices: the estimate of a new replica and the least recently used version that may give one back. */
import { describe, expect, it } from "bun:test";
import { type BudgetPool, chooseVictim, estimateMb } from "../../src/runtime/memory-budget.ts";

const pool = (key: string, over: Partial<BudgetPool> = {}): BudgetPool => ({
  key,
  replicas: 1,
  min: 0,
  idle: true,
  lastQueryMs: 0,
  peakReplicaMb: 0,
  ...over,
});

describe("chooseVictim", () => {
  it("takes the least recently queried version", () => {
    const pools = [pool("a", { lastQueryMs: 30 }), pool("b", { lastQueryMs: 10 }), pool("c", { lastQueryMs: 20 })];
    expect(chooseVictim(pools, "x")?.key).toBe("b");
  });

  it("never the version that needs the room, one at its minimum, or one with queries waiting or in flight", () => {
    const pools = [
      pool("self", { lastQueryMs: 0 }),
      pool("at-min", { lastQueryMs: 1, min: 1 }),
      pool("busy", { lastQueryMs: 2, idle: false }),
      pool("at-zero", { lastQueryMs: 3, replicas: 0 }),
      pool("ok", { lastQueryMs: 50, replicas: 2, min: 1 }),
    ];
    expect(chooseVictim(pools, "self")?.key).toBe("ok");
    expect(chooseVictim(pools.slice(0, 4), "self")).toBeUndefined();
  });
});

describe("estimateMb", () => {
  it("is what the version's replicas took, else the mean of the others, else 0", () => {
    const others = [pool("a", { peakReplicaMb: 100 }), pool("b", { peakReplicaMb: 300 })];
    expect(estimateMb(pool("n", { peakReplicaMb: 250 }), others)).toBe(250);
    expect(estimateMb(pool("n"), others)).toBe(200);
    expect(estimateMb(pool("n"), [])).toBe(0);
  });
});
