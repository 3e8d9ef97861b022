/** The registry's guarantees: migrations bring a file to the current schema once, a transaction is all or nothing, one current version per model. */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ModelRecord, Registry } from "../../src/registry/registry.ts";

const dirs: string[] = [];
function fresh(): { registry: Registry; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "clipper-registry-"));
  dirs.push(dir);
  const path = join(dir, "registry.db");
  return { registry: new Registry(path), path };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const model = (name: string, version: string): Omit<ModelRecord, "createdAt" | "isCurrent"> => ({
  name,
  version,
  inputType: "doubles",
  runtime: "python",
  artifactSha256: "a".repeat(64),
  artifactName: "m.pkl",
  predictMethod: "predict",
  replicas: 1,
  runtimeInfo: { input_shape: [5] },
  options: {},
});

const app = (name: string) => ({ name, inputType: "doubles" as const, defaultOutput: "-1.0", sloMicros: 100_000, policy: "single" });

describe("Registry", () => {
  it("migrates a new file to the latest schema, and opening it again changes nothing", () => {
    const { registry, path } = fresh();
    registry.insertApp(app("hr"));
    registry.close();
    const version = (new Database(path).query("PRAGMA user_version").get() as { user_version: number }).user_version;
    expect(version).toBeGreaterThan(0);
    const again = new Registry(path);
    expect(again.apps().map((a) => a.name)).toEqual(["hr"]);
    again.close();
    expect((new Database(path).query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(version);
  });

  it("rolls a whole transaction back when one step fails", () => {
    const { registry } = fresh();
    registry.insertApp(app("a"));
    expect(() =>
      registry.transaction(() => {
        registry.insertApp(app("b"));
        registry.insertApp(app("a")); // the name is taken: the insert of b goes too
      }),
    ).toThrow();
    expect(registry.apps().map((a) => a.name)).toEqual(["a"]);
  });

  it("keeps exactly one current version per model, and setCurrent moves it", () => {
    const { registry } = fresh();
    registry.insertCurrentModel(model("m", "1"));
    registry.insertCurrentModel(model("m", "2"));
    expect(registry.versions("m").map((v) => [v.version, v.isCurrent])).toEqual([
      ["1", false],
      ["2", true],
    ]);
    registry.setCurrent("m", "1");
    expect(registry.currentModel("m")?.version).toBe("1");
    expect(registry.versions("m").filter((v) => v.isCurrent)).toHaveLength(1);
    expect(registry.model("m", "2")?.runtimeInfo).toEqual({ input_shape: [5] });
  });

  it("links are unique, listed in order, and go with their app", () => {
    const { registry } = fresh();
    registry.insertApp(app("x"));
    registry.insertLink("x", "m2");
    registry.insertLink("x", "m1");
    registry.insertLink("x", "m1");
    expect(registry.linkedModels("x")).toEqual(["m1", "m2"]);
    expect(registry.appsOfModel("m1")).toEqual(["x"]);
    registry.deleteApp("x");
    expect(registry.appsOfModel("m1")).toEqual([]);
  });

  it("stores policy configuration as JSON and reads it back", () => {
    const { registry } = fresh();
    registry.insertApp(app("p"));
    registry.setPolicy("p", "exp3", { weights: { a: 1, b: 0.25 } });
    expect(registry.app("p")).toMatchObject({ policy: "exp3", policyConfig: { weights: { a: 1, b: 0.25 } } });
  });

  it("knows whether an artifact is still used by some version", () => {
    const { registry } = fresh();
    registry.insertCurrentModel(model("m", "1"));
    expect(registry.artifactInUse("a".repeat(64))).toBe(true);
    registry.deleteModelVersion("m", "1");
    expect(registry.artifactInUse("a".repeat(64))).toBe(false);
  });
});
