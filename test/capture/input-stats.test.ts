/** Input statistics alone: windows close by time and rows, the first is the reference, a shift raises the drift score and a stable input does not. */
import { describe, expect, it } from "bun:test";
import { InputStats, MIN_WINDOW_ROWS, psi } from "../../src/capture/input-stats.ts";

/** A standard normal draw (Box–Muller). */
const normal = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());

describe("InputStats", () => {
  it("keeps per-feature count, mean, min/max and quantiles of a window, the first complete one as reference", () => {
    let now = 0;
    const s = new InputStats(() => now);
    s.configure("a", 1000);
    s.add(
      "a",
      Array.from({ length: 200 }, (_, i) => [i, 1]),
    );
    expect(s.stats("a")!.window).toMatchObject({ rows: 200, complete: false });
    now = 1000;
    s.add("a", [[5, 1]]);
    const st = s.stats("a")!;
    expect(st.reference).toEqual({ source: "first window", rows: 200 });
    expect(st.window.complete).toBe(true);
    expect(st.window.features[0]).toMatchObject({ count: 200, mean: 99.5, min: 0, max: 199, p50: 99 });
    expect(st.window.features[1]).toMatchObject({ count: 200, mean: 1, min: 1, max: 1 });
  });

  it("closes no window with fewer than the minimum rows, however long it has lasted", () => {
    let now = 0;
    const s = new InputStats(() => now);
    s.configure("a", 1000);
    s.add(
      "a",
      Array.from({ length: MIN_WINDOW_ROWS - 1 }, () => [1]),
    );
    now = 10_000;
    expect(s.stats("a")!.reference.source).toBe("none yet");
  });

  it("scores a shifted input as drift and a stable one as none", () => {
    let now = 0;
    const s = new InputStats(() => now);
    s.configure("a", 1000);
    const windowOf = (shift: number) => {
      s.add(
        "a",
        Array.from({ length: 1000 }, () => [normal() + shift, normal()]),
      );
      now += 1000;
      s.add("a", []);
    };
    windowOf(0); // the reference
    windowOf(0);
    const stable = s.stats("a")!.drift!;
    expect(stable.score).toBeLessThan(0.1);
    windowOf(1.5);
    const shifted = s.stats("a")!.drift!;
    expect(shifted.score).toBeGreaterThan(0.25);
    expect(shifted.by_feature[0]).toBe(shifted.score);
    expect(shifted.by_feature[1]).toBeLessThan(0.1);
  });

  it("takes a reference from rows given instead of the first window", () => {
    const s = new InputStats(() => 0);
    s.configure("a", 1000);
    expect(
      s.setReference(
        "a",
        Array.from({ length: 500 }, () => [normal() + 3]),
      ),
    ).toBe(500);
    expect(s.stats("a")!.reference).toEqual({ source: "file", rows: 500 });
  });

  it("psi is zero for one sample against itself", () => {
    const x = Array.from({ length: 1000 }, normal);
    expect(psi(x, x)).toBeCloseTo(0, 10);
  });
});
