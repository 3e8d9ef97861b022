import { expect, it } from "bun:test";
import { ModelQueue } from "../../src/batching/model-queue.ts";
import type { Replica } from "../../src/runtime/replica.ts";

/** A stand-in replica that answers every batch at once with one output per row, recording batch sizes. */
function fakeReplica(sizes: number[]): Replica {
  const r = {
    state: "ready", inflightBatches: 0, outstandingRows: 0,
    predict(_message: unknown, rows: number) {
      sizes.push(rows);
      return Promise.resolve({ outputs: Array.from({ length: rows }, () => "1"), predictMicros: 1 });
    },
  };
  return r as unknown as Replica;
}

it("grows the batch limit past a request's size when requests of 100 rows arrive together", async () => {
  const sizes: number[] = [];
  const queue = new ModelQueue("m:1", "doubles", 256);
  queue.replicas = [fakeReplica(sizes)];
  const rows = Array.from({ length: 100 }, () => [1, 2, 3]);
  // Rounds of 8 concurrent 100-row requests: once the limit passes 200, two requests share a batch.
  for (let round = 0; round < 60; round++) {
    await Promise.all(Array.from({ length: 8 }, () => queue.enqueueRows(rows, performance.now() + 10_000, 100_000)));
  }
  expect(queue.batchSize).toBeGreaterThanOrEqual(200);
  expect(sizes.slice(-8).some((n) => n >= 200)).toBe(true);
});
