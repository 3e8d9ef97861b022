import { describe, expect, it } from "bun:test";
import { nextBatchSize } from "../../src/batching/batch-size-controller.ts";

describe("nextBatchSize", () => {
  it("grows additively while a full batch stays well under the SLO", () => {
    expect(nextBatchSize(8, true, 1_000, 100_000, 256)).toBe(12);
  });

  it("does not grow when the batch was not full", () => {
    expect(nextBatchSize(8, false, 1_000, 100_000, 256)).toBe(8);
  });

  it("cuts back multiplicatively when a batch takes too much of the SLO", () => {
    expect(nextBatchSize(100, true, 60_000, 100_000, 256)).toBe(75);
    expect(nextBatchSize(1, true, 90_000, 100_000, 256)).toBe(1);
  });

  it("never passes the ceiling", () => {
    expect(nextBatchSize(254, true, 10, 100_000, 256)).toBe(256);
  });
});
