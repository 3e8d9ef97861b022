/** The canary verdict alone: rolled back as soon as a threshold is crossed, promoted when its window passes, and nothing decided on too few rows. */
import { describe, expect, it } from "bun:test";
import { judge, MIN_CANARY_ROWS } from "../../src/management/canary-writes.ts";
import { CanaryWindow } from "../../src/query/canary.ts";
import type { CanaryRecord } from "../../src/registry/registry.ts";

const record = (thresholds: CanaryRecord["thresholds"], windowMs = 60_000): CanaryRecord => ({
  model: "m",
  version: "2",
  previous: "1",
  share: 0.2,
  windowMs,
  thresholds,
  state: "running",
  reason: "",
  startedAt: new Date().toISOString(),
  endedAt: undefined,
});

/** A window of `n` rows where the canary fails on `failEvery`-th rows and disagrees on `differEvery`-th, with latencies. */
function window(n: number, { failEvery = 0, differEvery = 0, canaryMicros = 1000, currentMicros = 1000 } = {}) {
  const w = new CanaryWindow();
  for (let i = 0; i < n; i++) {
    const fails = failEvery > 0 && i % failEvery === 0;
    const differs = differEvery > 0 && i % differEvery === 0;
    w.record(
      [[i]],
      [{ ok: true, output: "a" }],
      [fails ? { ok: false, reason: "raised" } : { ok: true, output: differs ? "b" : "a" }],
      currentMicros,
      canaryMicros,
    );
  }
  return w.summary();
}

describe("judge", () => {
  it("rolls back on the error rate as soon as enough rows have come", () => {
    const r = record({ maxErrorRate: 0.05 });
    expect(judge(r, window(MIN_CANARY_ROWS - 1, { failEvery: 3 }), 1000).action).toBe("wait");
    const v = judge(r, window(MIN_CANARY_ROWS, { failEvery: 3 }), 1000);
    expect(v).toMatchObject({ action: "rollback" });
    expect((v as { reason: string }).reason).toContain("--max-error-rate");
  });

  it("rolls back on agreement and on the p99 ratio when those thresholds are set", () => {
    expect(judge(record({ maxErrorRate: 1, minAgreement: 0.95 }), window(100, { differEvery: 10 }), 1000)).toMatchObject({ action: "rollback" });
    expect(judge(record({ maxErrorRate: 1 }), window(100, { differEvery: 10 }), 1000).action).toBe("wait");
    expect(judge(record({ maxErrorRate: 1, maxP99Ratio: 2 }), window(100, { canaryMicros: 3000 }), 1000)).toMatchObject({ action: "rollback" });
    expect(judge(record({ maxErrorRate: 1, maxP99Ratio: 2 }), window(100, { canaryMicros: 1500 }), 1000).action).toBe("wait");
  });

  it("promotes when the window passes within the thresholds, and rolls back a window with too few rows", () => {
    const r = record({ maxErrorRate: 0.05, minAgreement: 0.9 }, 10_000);
    expect(judge(r, window(100), 9_999).action).toBe("wait");
    expect(judge(r, window(100), 10_000)).toMatchObject({ action: "promote" });
    expect(judge(r, window(5), 10_000)).toMatchObject({ action: "rollback" });
  });

  it("counts the current version's failures apart from the canary's, and agreement only where both answered", () => {
    const w = new CanaryWindow();
    w.record(
      [[1], [2]],
      [
        { ok: false, reason: "x" },
        { ok: true, output: 1 },
      ],
      [
        { ok: true, output: 1 },
        { ok: true, output: 2 },
      ],
      10,
      10,
    );
    expect(w.summary()).toMatchObject({ rows: 2, canary_failed: 0, current_failed: 1, compared: 1, agreement: 0 });
    expect(w.summary().disagreements).toEqual([{ input: [2], current: 1, canary: 2 }]);
  });
});
