import { describe, expect, it } from "bun:test";
import { planBatch, type Waiting } from "../../src/batching/scheduler.ts";

/** Queries of one row each with these deadlines (ms from now = 0), in deadline order. */
const queue = (...deadlines: number[]): Waiting[] => deadlines.map((d) => ({ rows: { length: 1 }, deadlineMs: d }));
const rowsOf = (q: Waiting[]) => q.reduce((n, w) => n + w.rows.length, 0);
/** A model taking 10 ms a batch plus 1 ms a row. */
const est = (rows: number) => 10 + rows;

describe("planBatch", () => {
  it("keeps the deadline order on a calm day: the oldest go first, nothing is shed", () => {
    const q = queue(50, 60, 70);
    expect(planBatch(q, 0, rowsOf(q), 0, est, 64)).toEqual({ shed: 0, newestFirst: false, take: 3, rows: 3 });
  });

  it("answers at once the queries that cannot make their deadline even alone, and sends the rest", () => {
    const q = queue(5, 10.5, 40, 50);
    // 5 ms and 10.5 ms left: a batch of one takes 11 ms.
    expect(planBatch(q, 0, rowsOf(q), 0, est, 64)).toEqual({ shed: 2, newestFirst: false, take: 2, rows: 2 });
  });

  it("sizes the batch to finish before the earliest deadline in it, and answers those who cannot wait for it", () => {
    const q = queue(...Array.from({ length: 10 }, () => 15));
    // 15 ms left: 10 + rows ≤ 15 holds for 5 rows; the other 5 cannot wait 15 ms and then take 11.
    expect(planBatch(q, 0, rowsOf(q), 0, est, 64)).toEqual({ shed: 5, newestFirst: true, take: 5, rows: 5 });
  });

  it("never sends more than the row limit unless one query alone has more", () => {
    const q = queue(...Array.from({ length: 10 }, () => 1000));
    expect(planBatch(q, 0, rowsOf(q), 0, est, 4)).toMatchObject({ take: 4, rows: 4 });
    const big: Waiting[] = [{ rows: { length: 9 }, deadlineMs: 1000 }];
    expect(planBatch(big, 0, 9, 0, est, 4)).toMatchObject({ take: 1, rows: 9 });
  });

  it("under overload takes the newest first, and answers the old ones that cannot wait for this batch", () => {
    // 40 old rows with 20 ms left and 40 new rows with 90 ms left: a full batch of 64 (74 ms) cannot make the oldest's deadline.
    const q = queue(...Array.from({ length: 40 }, () => 20), ...Array.from({ length: 40 }, () => 90));
    const plan = planBatch(q, 0, rowsOf(q), 0, est, 64);
    expect(plan.newestFirst).toBe(true);
    // The batch takes at most half the newest's 90 ms: 35 rows (45 ms); the old ones (20 ms left) cannot wait
    // 45 ms and then take 11: all shed. The 5 new rows left over go in the next batch.
    expect(plan).toEqual({ shed: 40, newestFirst: true, take: 35, rows: 35 });
  });

  it("under overload leaves the newest half their time, unless even one query needs more (a model slow per call)", () => {
    // 200 rows with 100 ms left, the oldest with 62: a full batch cannot make it, so the newest go; half of 100 ms is 40 rows.
    const q = queue(62, ...Array.from({ length: 200 }, () => 100));
    expect(planBatch(q, 0, rowsOf(q), 0, est, 64)).toMatchObject({ newestFirst: true, take: 40, rows: 40 });
    // A model that takes 60 ms a call: one query alone needs more than half, so the batch may take all of their time.
    const slow = (rows: number) => 60 + rows / 10;
    expect(planBatch(q, 0, rowsOf(q), 0, slow, 64)).toMatchObject({ newestFirst: true, take: 64, rows: 64 });
  });

  it("keeps the old queries that can still be served after the newest batch", () => {
    // One-row queries with 8.5 ms left, then two five-row queries with 100 ms left; 8 rows a batch at most.
    const q: Waiting[] = [...queue(8.5, 8.5, 8.5), { rows: { length: 5 }, deadlineMs: 100 }, { rows: { length: 5 }, deadlineMs: 100 }];
    const fast = (rows: number) => 1 + rows;
    // A full batch (9 ms) cannot make 8.5 ms: the newest five rows go (6 ms); the old rows can wait that and take 2 ms.
    expect(planBatch(q, 0, rowsOf(q), 0, fast, 8)).toEqual({ shed: 0, newestFirst: true, take: 1, rows: 5 });
  });

  it("starts from the queue's head and sends everything while nothing is known of the model", () => {
    const q = queue(1, 2, 3, 4);
    expect(planBatch(q, 2, 2, 0, () => 0, 64)).toEqual({ shed: 0, newestFirst: false, take: 2, rows: 2 });
  });
});
