/** Learned weights: in memory at once, written to the registry within the interval or on flush, never over a newer policy. */
import { afterEach, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PolicyState } from "../../src/management/policy-state.ts";
import { ContextWeights } from "../../src/policy/contexts.ts";
import { Registry } from "../../src/registry/registry.ts";

const dirs: string[] = [];
function registryWithExp3App(): Registry {
  const dir = mkdtempSync(join(tmpdir(), "clipper-policy-state-"));
  dirs.push(dir);
  const registry = new Registry(join(dir, "registry.db"));
  registry.insertApp({ name: "bandit", inputType: "doubles", defaultOutput: "-1.0", sloMicros: 100_000, policy: "exp3" });
  registry.setPolicy("bandit", "exp3", { weights: { a: 1, b: 1 } });
  return registry;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const stored = (r: Registry) => (r.app("bandit")!.policyConfig as { weights: Record<string, number> }).weights;

describe("PolicyState", () => {
  it("holds weights in memory until flush, then writes them in one go", () => {
    const r = registryWithExp3App();
    const state = new PolicyState(r, 60_000);
    state.record("bandit", { weights: { a: 1, b: 0.5 } });
    expect(state.pending("bandit")).toEqual({ weights: { a: 1, b: 0.5 } });
    expect(stored(r)).toEqual({ a: 1, b: 1 });
    state.flush();
    expect(stored(r)).toEqual({ a: 1, b: 0.5 });
    expect(state.pending("bandit")).toBeUndefined();
  });

  it("writes on its own within the interval", async () => {
    const r = registryWithExp3App();
    const state = new PolicyState(r, 20);
    state.record("bandit", { weights: { a: 0.25, b: 1 } });
    const started = performance.now();
    while (stored(r).a !== 0.25 && performance.now() - started < 2000) await Bun.sleep(5);
    expect(stored(r)).toEqual({ a: 0.25, b: 1 });
  });

  it("does not write over an app whose policy is no longer exp3, nor what was discarded", () => {
    const r = registryWithExp3App();
    const state = new PolicyState(r, 60_000);
    state.record("bandit", { weights: { a: 1, b: 0.1 } });
    r.setPolicy("bandit", "split", { weights: { a: 50, b: 50 } });
    state.flush();
    expect(r.app("bandit")).toMatchObject({ policy: "split", policyConfig: { weights: { a: 50, b: 50 } } });
    r.setPolicy("bandit", "exp3", { weights: { a: 1, b: 1 } });
    state.record("bandit", { weights: { a: 0.3, b: 1 } });
    state.discard("bandit");
    state.flush();
    expect(stored(r)).toEqual({ a: 1, b: 1 });
  });

  it("writes an ensemble's contexts as [context, weights] pairs beside its weights, and the app's weights unchanged", () => {
    const r = registryWithExp3App();
    r.setPolicy("bandit", "ensemble", { weights: { a: 1, b: 1 }, min_confidence: 0.9 });
    const state = new PolicyState(r, 60_000);
    const contexts = new ContextWeights(["a", "b"], 10);
    contexts.set("user-17", [0.5, 1]);
    state.record("bandit", { contexts });
    state.flush();
    expect(r.app("bandit")!.policyConfig).toEqual({ weights: { a: 1, b: 1 }, min_confidence: 0.9, contexts: [["user-17", { a: 0.5, b: 1 }]] });
  });
});
