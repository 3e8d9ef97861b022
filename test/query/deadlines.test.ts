import { describe, expect, it } from "bun:test";
import { DeadlineTimers } from "../../src/query/deadlines.ts";

describe("DeadlineTimers", () => {
  it("fires each unsettled entry once, at or after its deadline, across SLOs", async () => {
    const timers = new DeadlineTimers();
    const fired: string[] = [];
    const t0 = performance.now();
    const at: Record<string, number> = {};
    let lastFired!: () => void;
    const last = new Promise<void>((r) => (lastFired = r));
    const add = (name: string, ms: number, slo: number) =>
      timers.add(t0 + ms, slo, () => {
        fired.push(name);
        at[name] = performance.now() - t0;
        if (name === "d") lastFired();
      });
    add("a", 30, 30_000);
    const b = add("b", 35, 30_000);
    add("c", 10, 10_000);
    add("d", 40, 30_000);
    b.settle();
    // d has the latest deadline: once it fired, every other entry has fired or never will (b was settled).
    await last;
    // Each unsettled entry fired once; within one SLO in deadline order (across SLOs, entries that are both
    // overdue when a late timer runs may fire in either order).
    expect([...fired].sort()).toEqual(["a", "c", "d"]);
    expect(fired.indexOf("a")).toBeLessThan(fired.indexOf("d"));
    for (const [name, ms] of Object.entries({ a: 30, c: 10, d: 40 })) expect(at[name]!).toBeGreaterThanOrEqual(ms - 1);
  });

  it("fires nothing for entries settled in time, while an unsettled one behind them fires", async () => {
    const timers = new DeadlineTimers();
    let fired = 0;
    const t0 = performance.now();
    const entries = Array.from({ length: 3000 }, (_, i) => timers.add(t0 + 5 + i / 1000, 1, () => fired++));
    for (const e of entries) e.settle();
    // The sentinel's deadline comes after every settled one in the same FIFO: timers that never fire fail here.
    const sentinelAt = await new Promise<number>((resolve) => timers.add(t0 + 10, 1, () => resolve(performance.now() - t0)));
    expect(sentinelAt).toBeGreaterThanOrEqual(9);
    expect(fired).toBe(0);
  });

  it("lets go of a settled entry's callback (and what it holds) before the deadline passes", () => {
    const timers = new DeadlineTimers();
    const entry = timers.add(performance.now() + 60_000, 60_000_000, () => {});
    expect(entry.fire).toBeDefined();
    expect(entry.settle()).toBe(true);
    expect(entry.fire).toBeUndefined();
    expect(entry.settle()).toBe(false);
  });
});
