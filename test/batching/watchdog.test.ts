import { describe, expect, it } from "bun:test";
import { BatchLatency } from "../../src/batching/batch-latency.ts";
import { HANG_FLOOR_MS, hangThresholdMs, Quarantine } from "../../src/batching/watchdog.ts";

describe("hangThresholdMs", () => {
  it("is twenty times the version's p99 batch time, never under the floor, never over the ceiling", () => {
    expect(hangThresholdMs(50, true, 30_000)).toBe(1000);
    expect(hangThresholdMs(2, true, 30_000)).toBe(HANG_FLOOR_MS);
    expect(hangThresholdMs(5000, true, 30_000)).toBe(30_000);
  });

  it("is the ceiling for a version that has answered nothing yet (its first batch may load lazily)", () => {
    expect(hangThresholdMs(0, false, 30_000)).toBe(30_000);
  });

  it("is the model's own override when it has one", () => {
    expect(hangThresholdMs(50, true, 30_000, 250)).toBe(250);
  });

  it("follows the p99 of what the version's batches took", () => {
    const latency = new BatchLatency();
    // Nearest rank: of 100 batches the p99 is the 99th fastest, so one slow batch alone does not move it; two do.
    for (let i = 0; i < 100; i++) latency.observe(10, 4, i === 99 ? 40 : 5);
    expect(latency.p99Ms).toBe(5);
    latency.observe(10, 4, 40);
    expect(latency.p99Ms).toBe(40);
    expect(hangThresholdMs(latency.p99Ms, latency.known, 30_000)).toBe(800);
  });
});

describe("Quarantine", () => {
  it("holds an input for its time, then lets it go", () => {
    const q = new Quarantine(1000);
    q.add("13,1", "quarantined: this input made model h:1 hang for 0.4 s", 0);
    expect(q.reason("13,1", 999)).toContain("hang for 0.4 s");
    expect(q.reason("14,1", 999)).toBeUndefined();
    expect(q.reason("13,1", 1000)).toBeUndefined();
    expect(q.size).toBe(0);
  });

  it("is bounded: the oldest entry goes first", () => {
    const q = new Quarantine(1000, 2);
    q.add("a", "a", 0);
    q.add("b", "b", 0);
    q.add("c", "c", 0);
    expect(q.list(1).map((e) => e.key)).toEqual(["b", "c"]);
  });
});

describe("BatchLatency", () => {
  it("fits a fixed part and a part per row, for the round trip and for the model's own time", () => {
    const latency = new BatchLatency();
    for (let i = 0; i < 200; i++) {
      const rows = 1 + (i % 50);
      latency.observe(rows, 0.5 * rows, 20 + 0.5 * rows);
    }
    expect(latency.modelMs(100)).toBeCloseTo(50, 0);
    expect(latency.estimateMs(100)).toBeCloseTo(70, 0);
    expect(Math.abs(latency.rowsWithin(100, 1024) - 160)).toBeLessThanOrEqual(1);
  });

  it("takes batches of one size as a time proportional to the rows", () => {
    const latency = new BatchLatency();
    for (let i = 0; i < 10; i++) latency.observe(10, 5, 10);
    expect(latency.estimateMs(20)).toBeCloseTo(20);
    expect(latency.modelMs(20)).toBeCloseTo(10);
  });
});
