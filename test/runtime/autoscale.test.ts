/** The autoscaler's decision: up near the SLO, down after a calm window, to zero after the idle timeout, never flapping. */
import { describe, expect, it } from "bun:test";
import { BusyWindow, decide, type ScaleInput } from "../../src/runtime/autoscale.ts";

const base: ScaleInput = {
  nowMs: 100_000,
  replicas: 1,
  starting: 0,
  min: 1,
  max: 3,
  pressure: 0,
  waitMs: 0,
  busy: 1,
  queueIdle: true,
  lastQueryMs: 99_000,
  peakBusy: 1,
  lastChangeMs: 0,
  idleTimeoutMs: 300_000,
  scaleDownAfterMs: 30_000,
};

describe("decide", () => {
  it("adds a replica when the oldest query has waited half its SLO, and says so", () => {
    expect(decide({ ...base, pressure: 0.6, waitMs: 60, queueIdle: false })).toEqual({
      action: "up",
      to: 2,
      reason: "the oldest query waited 60 ms, 60% of its SLO",
    });
  });

  it("adds none while a replica is idle: the wait came from a pause that another replica would not fix", () => {
    expect(decide({ ...base, replicas: 2, busy: 1, pressure: 0.9, waitMs: 90, queueIdle: false })).toBeUndefined();
    expect(decide({ ...base, replicas: 2, busy: 2, pressure: 0.9, waitMs: 90, queueIdle: false })).toMatchObject({ action: "up", to: 3 });
    expect(decide({ ...base, busy: 0, pressure: 1, shed: true })).toBeUndefined();
  });

  it("adds none at the top of the range, while one is starting, or within a second of the last change", () => {
    expect(decide({ ...base, replicas: 3, pressure: 0.9, peakBusy: 3 })).toBeUndefined();
    expect(decide({ ...base, replicas: 2, starting: 1, pressure: 0.9, peakBusy: 1 })).toBeUndefined();
    expect(decide({ ...base, pressure: 0.9, lastChangeMs: base.nowMs - 500 })).toBeUndefined();
  });

  it("goes down to what was busy after a calm window, not before, and not below the minimum", () => {
    const calm = { ...base, replicas: 3, peakBusy: 1, lastChangeMs: base.nowMs - 30_000 };
    expect(decide(calm)).toMatchObject({ action: "down", to: 1, reason: "at most 1 of 3 replicas were busy over the last 30 s" });
    expect(decide({ ...calm, lastChangeMs: base.nowMs - 29_000 })).toBeUndefined();
    expect(decide({ ...calm, min: 2 })).toMatchObject({ action: "down", to: 2 });
    expect(decide({ ...calm, peakBusy: 3 })).toBeUndefined();
  });

  it("does not flap: the pressure between the two thresholds neither adds nor removes", () => {
    const between = { ...base, replicas: 2, peakBusy: 1, pressure: 0.3, lastChangeMs: base.nowMs - 60_000 };
    expect(decide(between)).toBeUndefined();
  });

  it("goes to zero after the idle timeout only with a minimum of 0, nothing waiting and nothing starting", () => {
    const idle = { ...base, min: 0, lastQueryMs: base.nowMs - 300_000 };
    expect(decide(idle)).toEqual({ action: "zero", to: 0, reason: "no query for 300 s (idle timeout 300 s)" });
    expect(decide({ ...idle, min: 1 })).toBeUndefined();
    expect(decide({ ...idle, queueIdle: false })).toBeUndefined();
    expect(decide({ ...idle, starting: 1 })).toBeUndefined();
    expect(decide({ ...idle, lastQueryMs: base.nowMs - 299_000 })).toBeUndefined();
  });

  it("leaves a version at zero alone: its next query starts a replica", () => {
    expect(decide({ ...base, min: 0, replicas: 0, pressure: 1 })).toBeUndefined();
  });
});

describe("BusyWindow", () => {
  it("keeps the peak of the samples within the window", () => {
    const w = new BusyWindow();
    w.add(0, 3, 1000);
    w.add(500, 1, 1000);
    expect(w.peak).toBe(3);
    w.add(1200, 0, 1000);
    expect(w.peak).toBe(1);
  });
});
