/**
 * The selection policies' shared contract: every policy, given the same routing and random number, picks the
 * same candidate (no hidden state); the probabilities it draws from sum to 1; and exp3's feedback moves
 * weight toward the model that was right.
 */
import { describe, expect, it } from "bun:test";
import {
  type AppRouting,
  EXP3_GAMMA,
  exp3Probabilities,
  exp3Update,
  type ModelChoice,
  POLICIES,
  type PolicyName,
  selectModel,
} from "../../src/policy/select.ts";

const choice = (name: string): ModelChoice => ({
  name,
  version: "1",
  key: `${name}:1`,
  json: `{"name":"${name}","version":"1"}`,
  cachePrefix: `${name}:1\u0000`,
});
const CANDIDATES = [choice("a"), choice("b"), choice("c")];

/** Freezes a routing all the way down: a policy that writes to it throws (modules run in strict mode). */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function routing(policy: PolicyName, weights = [1, 2, 7]): AppRouting {
  const candidates = policy === "single" || policy === "shadow" ? CANDIDATES.slice(0, 1) : CANDIDATES;
  return { policy, candidates, weights: weights.slice(0, candidates.length), shadow: policy === "shadow" ? choice("s") : undefined };
}

/** How often each candidate is picked over `n` evenly spaced random numbers in [0, 1). */
function shares(r: AppRouting, n = 10_000): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const name = selectModel(r, (i + 0.5) / n)!.name;
    counts[name] = (counts[name] ?? 0) + 1 / n;
  }
  return counts;
}

describe.each(POLICIES.map((p) => [p]))("policy %s", (policy) => {
  it("is a pure function of the routing and the random number: no state carried between calls, no change to the routing", () => {
    const r = deepFreeze(routing(policy));
    const before = JSON.stringify(r);
    const grid = Array.from({ length: 101 }, (_, i) => Math.min(i / 100, 0.999));
    const first = grid.map((x) => selectModel(r, x)?.name);
    // State changes in between: other routings of every policy with other weights, and exp3 learning.
    for (const other of POLICIES)
      for (const w of [
        [5, 1, 1],
        [0, 0, 1],
        [1, 1, 1],
      ])
        for (const x of grid) selectModel(routing(other, w), x);
    exp3Update([1, 1, 1], [1, 0, 0]);
    // The same routing, and an equal copy of it, pick exactly what they picked before.
    expect(grid.map((x) => selectModel(r, x)?.name)).toEqual(first);
    expect(grid.map((x) => selectModel(structuredClone(r), x)?.name)).toEqual(first);
    expect(JSON.stringify(r)).toBe(before);
    // And the picks follow the weights (a constant function would pass the checks above).
    if (policy === "split" || policy === "exp3") expect(new Set(first).size).toBe(3);
  });

  it("always picks one of its candidates", () => {
    const r = routing(policy);
    for (let x = 0; x < 1; x += 0.01) expect(r.candidates).toContain(selectModel(r, x)!);
  });

  it("picks nothing when no model is linked", () => {
    expect(selectModel({ policy, candidates: [], weights: [], shadow: undefined }, 0.5)).toBeUndefined();
  });

  it("draws from shares that sum to 1", () => {
    const total = Object.values(shares(routing(policy))).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(1, 6);
  });
});

describe("split", () => {
  it("follows its weights", () => {
    const s = shares(routing("split", [1, 2, 7]));
    expect(s.a).toBeCloseTo(0.1, 3);
    expect(s.b).toBeCloseTo(0.2, 3);
    expect(s.c).toBeCloseTo(0.7, 3);
  });

  it("shares evenly when every weight is 0", () => {
    const s = shares(routing("split", [0, 0, 0]));
    for (const name of ["a", "b", "c"]) expect(s[name]).toBeCloseTo(1 / 3, 3);
  });
});

describe("exp3", () => {
  it("keeps exploring: every arm has at least γ/K", () => {
    const p = exp3Probabilities([1, 1e-9, 1e-9]);
    for (const x of p) expect(x).toBeGreaterThanOrEqual(EXP3_GAMMA / 3 - 1e-12);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it("moves weight toward the arm that was right, and keeps the largest weight at 1", () => {
    let w = [1, 1, 1];
    for (let i = 0; i < 20; i++) w = exp3Update(w, [1, 0, 0]);
    expect(w[0]).toBe(1);
    expect(w[1]!).toBeLessThan(w[0]!);
    expect(w[1]).toBeCloseTo(w[2]!, 12);
    const s = shares({ ...routing("exp3"), weights: w });
    expect(s.a!).toBeGreaterThan(s.b! * 2);
  });

  it("leaves the weights as they were when every arm was equally right", () => {
    expect(exp3Update([0.5, 1, 0.25], [1, 1, 1])).toEqual([0.5, 1, 0.25]);
  });
});
