import { describe, expect, it } from "bun:test";
import { ReplicaClock } from "../../src/batching/batch-latency.ts";

describe("ReplicaClock", () => {
  it("expects a batch sent behind others to start when they are done", () => {
    const clock = new ReplicaClock();
    const replica = {};
    expect(clock.finishMs(clock.aheadMs(replica, 0), 10)).toBe(10);
    clock.sent(replica, 0, 20);
    clock.sent(replica, 5, 10);
    // Busy until 30 (20 then 10): a batch of 10 ms sent at 10 comes back at 40, 30 ms from now.
    expect(clock.freeAtMs(replica, 10)).toBe(30);
    expect(clock.aheadMs(replica, 10)).toBe(20);
    expect(clock.finishMs(clock.aheadMs(replica, 10), 10)).toBe(30);
    // Another replica is free.
    expect(clock.finishMs(clock.aheadMs({}, 10), 10)).toBe(10);
  });

  it("re-anchors the batches behind at each answer, and learns how late answers come as its margin", () => {
    const clock = new ReplicaClock();
    const replica = {};
    const first = clock.sent(replica, 0, 20);
    const second = clock.sent(replica, 0, 20);
    // The first came back 5 ms late: the second started then, so it is expected at 45.
    clock.answered(replica, first, 25);
    expect(clock.freeAtMs(replica, 25)).toBe(45);
    expect(clock.marginMs).toBe(5);
    // The margin is added behind work ahead, not to an idle replica, nor when the caller weighs the expected time alone.
    expect(clock.finishMs(20, 10)).toBe(35);
    expect(clock.finishMs(0, 10)).toBe(10);
    expect(clock.finishMs(20, 10, false)).toBe(30);
    clock.answered(replica, second, 45);
    expect(clock.freeAtMs(replica, 45)).toBe(45);
    // Answers on time keep the margin to the late tail: the 95th percentile of the recent errors.
    for (let i = 0; i < 62; i++) {
      const s = clock.sent(replica, 1000 * i, 10);
      clock.answered(replica, s, 1000 * i + 10 + (i < 4 ? 8 : 0));
    }
    expect(clock.marginMs).toBe(8);
    for (let i = 0; i < 64; i++) {
      const s = clock.sent(replica, 1e6 + 1000 * i, 10);
      clock.answered(replica, s, 1e6 + 1000 * i + 10);
    }
    expect(clock.marginMs).toBe(0);
  });

  it("learns nothing from a failed batch or one sent before the model's speed was known", () => {
    const clock = new ReplicaClock();
    const replica = {};
    clock.answered(replica, clock.sent(replica, 0, 0), 500);
    clock.answered(replica, clock.sent(replica, 0, 10), 500, true);
    expect(clock.marginMs).toBe(0);
    expect(clock.freeAtMs(replica, 600)).toBe(600);
  });
});
