/** The query snapshot: what the registry says, shaped for the request path; feedback gives a new snapshot with one app's weights changed. */
import { afterEach, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSnapshot, withWeights } from "../../src/query/snapshot.ts";
import { Registry } from "../../src/registry/registry.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function registry(): Registry {
  const dir = mkdtempSync(join(tmpdir(), "clipper-snapshot-"));
  dirs.push(dir);
  const r = new Registry(join(dir, "registry.db"));
  for (const [name, version] of [
    ["a", "1"],
    ["a", "2"],
    ["b", "1"],
    ["s", "1"],
  ] as const) {
    r.insertCurrentModel({
      name,
      version,
      inputType: "doubles",
      runtime: "python",
      artifactSha256: "0".repeat(64),
      artifactName: "m.pkl",
      predictMethod: "predict",
      replicas: 1,
      runtimeInfo: {},
      options: {},
    });
  }
  r.insertApp({ name: "ab", inputType: "doubles", defaultOutput: "-1.0", sloMicros: 100_000, policy: "split" });
  r.setPolicy("ab", "split", { weights: { a: 3, b: 1 } });
  r.insertLink("ab", "a");
  r.insertLink("ab", "b");
  r.insertApp({ name: "sh", inputType: "doubles", defaultOutput: '"none"', sloMicros: 100_000, policy: "shadow" });
  r.setPolicy("sh", "shadow", { primary: "a", shadow: "s" });
  r.insertLink("sh", "a");
  r.insertLink("sh", "s");
  return r;
}

describe("buildSnapshot", () => {
  it("routes each app to the current versions of its linked models, with their weights and cache prefixes", () => {
    const route = buildSnapshot(registry()).apps.get("ab")!;
    expect(route.candidates.map((c) => c.key)).toEqual(["a:2", "b:1"]);
    expect(route.weights).toEqual([3, 1]);
    expect(route.candidates[0]).toMatchObject({ json: '{"name":"a","version":"2"}', cachePrefix: "a:2\u0000" });
    expect(route.defaultOutputJson).toBe('"-1.0"');
  });

  it("under shadow, answers from the primary and copies to the shadow", () => {
    const route = buildSnapshot(registry()).apps.get("sh")!;
    expect(route.candidates.map((c) => c.name)).toEqual(["a"]);
    expect(route.shadow?.key).toBe("s:1");
    expect(route.linked.map((c) => c.name)).toEqual(["a", "s"]);
  });

  it("withWeights gives a new snapshot with one app's weights and leaves the one queries hold untouched", () => {
    const snapshot = buildSnapshot(registry());
    const before = snapshot.apps.get("ab")!;
    const other = snapshot.apps.get("sh");
    const next = withWeights(snapshot, "ab", { a: 0.5, b: 1 });
    expect(next.apps.get("ab")!.weights).toEqual([0.5, 1]);
    expect(next.apps.get("ab")!.app.policyConfig).toEqual({ weights: { a: 0.5, b: 1 } });
    expect(next.apps.get("sh")).toBe(other);
    // The old snapshot (what a query in flight routes by) did not move.
    expect(snapshot.apps.get("ab")).toBe(before);
    expect(before.weights).toEqual([3, 1]);
    expect(withWeights(snapshot, "nope", { a: 1 })).toBe(snapshot);
  });
});
