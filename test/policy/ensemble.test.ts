/** The ensemble's pure parts: the weighted vote and its confidence, Exp4's update, per-context weights, the straggler guard. */
import { describe, expect, it } from "bun:test";
import { ContextWeights, weightsFor } from "../../src/policy/contexts.ts";
import { EXP4_MIN_WEIGHT, exp4Update } from "../../src/policy/exp4.ts";
import { RECENT_ANSWERS, StragglerGuard } from "../../src/policy/straggler.ts";
import { ABSTAIN, lowConfidenceReason, weightedVote } from "../../src/policy/vote.ts";

describe("weightedVote", () => {
  it("answers what most weight agrees on; an abstaining model counts as not agreeing", () => {
    // A and B say "1", C says "0", S did not answer: four equal weights.
    expect(weightedVote(["1", "1", "0", ABSTAIN], [1, 1, 1, 1])).toEqual({ output: "1", confidence: 0.5 });
  });

  it("lets weight outvote numbers", () => {
    expect(weightedVote(["1", "1", "0"], [0.1, 0.1, 1])).toEqual({ output: "0", confidence: 1 / 1.2 });
  });

  it("compares structured outputs by value and breaks ties by link order", () => {
    expect(weightedVote([{ a: 1 }, { a: 1 }, [2]], [1, 1, 1])!.output).toEqual({ a: 1 });
    expect(weightedVote(["x", "y"], [1, 1])!.output).toBe("x");
    expect(weightedVote(["y", "x"], [1, 1])!.output).toBe("y");
  });

  it("has no answer when nobody voted, and counts all-zero weights as equal", () => {
    expect(weightedVote([ABSTAIN, ABSTAIN], [1, 1])).toBeUndefined();
    expect(weightedVote(["a", "b", "a"], [0, 0, 0])).toEqual({ output: "a", confidence: 2 / 3 });
  });

  it("says why a low-confidence answer is the default", () => {
    expect(lowConfidenceReason(0.5, 0.9)).toBe("confidence 0.50 below 0.90");
  });
});

describe("exp4Update", () => {
  it("shrinks the weight of a model that was wrong and keeps the largest at 1", () => {
    const w = exp4Update([1, 1, 1], [0, 0, 1]);
    expect(w[0]).toBe(1);
    expect(w[1]).toBe(1);
    expect(w[2]).toBeLessThan(1);
  });

  it("after many losses a wrong model's weight is at the floor, from which it can recover", () => {
    let w = [1, 1];
    for (let i = 0; i < 2000; i++) w = exp4Update(w, [0, 1]);
    expect(w[1]).toBe(EXP4_MIN_WEIGHT);
    for (let i = 0; i < 2000; i++) w = exp4Update(w, [1, 0]);
    expect(w[1]).toBe(1);
    expect(w[0]).toBe(EXP4_MIN_WEIGHT);
  });
});

describe("ContextWeights", () => {
  it("keeps a context's weights apart and falls back to the app's for an unseen context", () => {
    const c = new ContextWeights(["a", "b"], 10);
    c.set("contrarian", [0.1, 1]);
    expect(weightsFor([1, 1], c, "contrarian")).toEqual([0.1, 1]);
    expect(weightsFor([1, 1], c, "someone-else")).toEqual([1, 1]);
    expect(weightsFor([1, 1], c, undefined)).toEqual([1, 1]);
  });

  it("drops the least recently used context beyond its bound; a read counts as a use", () => {
    const c = new ContextWeights(["a"], 2);
    c.set("x", [1]);
    c.set("y", [2]);
    c.get("x");
    c.set("z", [3]);
    expect(c.size).toBe(2);
    expect(c.get("y")).toBeUndefined();
    expect(c.get("x")).toEqual([1]);
    expect(c.evicted).toBe(1);
  });

  it("round-trips through its persisted form, in recency order, by model name", () => {
    const c = new ContextWeights(["a", "b"], 5);
    c.set("17", [0.5, 1]);
    c.set("user", [1, 0.25]);
    const stored = JSON.parse(JSON.stringify(c));
    expect(stored).toEqual([
      ["17", { a: 0.5, b: 1 }],
      ["user", { a: 1, b: 0.25 }],
    ]);
    // A model linked since then starts at 1; a model no longer linked is dropped.
    const back = new ContextWeights(["b", "c"], 5, stored);
    expect(back.get("17")).toEqual([1, 1]);
    expect(back.get("user")).toEqual([0.25, 1]);
    expect(back.evicted).toBe(0);
  });
});

describe("StragglerGuard", () => {
  it("asks a model it knows nothing of, and one whose fastest recent answer fits the time left", () => {
    const g = new StragglerGuard(1000);
    expect(g.shouldAsk("m", 100, 0)).toBe(true);
    g.observe("m", 30);
    g.observe("m", 500);
    expect(g.shouldAsk("m", 100, 0)).toBe(true);
  });

  it("does not feed a model whose recent answers all came too late, except one probe per interval", () => {
    const g = new StragglerGuard(1000);
    for (let i = 0; i < RECENT_ANSWERS; i++) g.observe("s", 500);
    expect(g.shouldAsk("s", 100, 10_000)).toBe(true); // the probe
    expect(g.shouldAsk("s", 100, 10_010)).toBe(false);
    expect(g.shouldAsk("s", 100, 10_900)).toBe(false);
    expect(g.shouldAsk("s", 100, 11_001)).toBe(true);
    // Fast again: one fast answer among the recent ones is enough.
    g.observe("s", 20);
    expect(g.shouldAsk("s", 100, 11_002)).toBe(true);
    expect(g.fastestMs("s")).toBe(20);
  });
});
