import { describe, expect, it } from "bun:test";
import { expectedWaitMs, retryAfterSeconds } from "../../src/batching/admission.ts";

/** A model taking 0.5 ms a row of its own time, 20 ms of round trip on top. */
const backlog = (queuedRows: number, replicas = 1) => ({
  queuedRows,
  replicas,
  batchRows: 100,
  modelMs: (n: number) => 0.5 * n,
  estimateMs: (n: number) => 20 + 0.5 * n,
});

describe("expectedWaitMs", () => {
  it("is the rows ahead at the model's drain rate, then the query's own batch", () => {
    // 400 rows at 2 rows/ms: 200 ms, then 20.5 ms for its own row.
    expect(expectedWaitMs(backlog(400), 1)).toBeCloseTo(220.5);
  });

  it("drains faster with more replicas", () => {
    expect(expectedWaitMs(backlog(400, 2), 1)).toBeCloseTo(120.5);
  });

  it("is only the query's own batch with an empty queue", () => {
    expect(expectedWaitMs(backlog(0), 10)).toBeCloseTo(25);
  });

  it("knows no drain rate while no replica is ready: only the query's own batch counts", () => {
    expect(expectedWaitMs(backlog(1000, 0), 1)).toBeCloseTo(20.5);
  });
});

describe("retryAfterSeconds", () => {
  it("is the wait beyond the query's budget, rounded up, at least one second", () => {
    expect(retryAfterSeconds(2500, 100)).toBe(3);
    expect(retryAfterSeconds(150, 100)).toBe(1);
    expect(retryAfterSeconds(150, -50)).toBe(1);
  });
});
