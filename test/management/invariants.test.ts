/** The invariant check catches each kind of disagreement it is there for (a check that never fails proves nothing). */
import { describe, expect, it } from "bun:test";
import { utimesSync } from "node:fs";
import { join } from "node:path";
import { AddModel, parseBody } from "../../src/management/schemas.ts";
import type { ModelRecord } from "../../src/registry/registry.ts";
import { type World, world } from "./world.ts";

const body = (over: Record<string, unknown>) => parseBody(AddModel, { model_name: "m", runtime: "node", artifact_name: "m.mjs", ...over });
const check = (w: World, processes = false) => w.m.checkInvariants({ artifactGraceMs: 60_000, processes });

async function deployed(): Promise<World> {
  const w = world();
  await w.m.addModel(body({ artifact_sha256: await w.upload("v1"), app: { name: "a" } }));
  expect(check(w)).toMatchObject({ ok: true, violations: [] });
  return w;
}

describe("checkInvariants", () => {
  it("names a current version that is not running", async () => {
    const w = await deployed();
    await w.runtimes.stop("m:1");
    expect(check(w).violations).toEqual(["model m:1 is current with 1..1 replica(s) wanted, but it is not running"]);
  });

  it("names a replica count the runtime and the registry disagree on", async () => {
    const w = await deployed();
    await w.runtimes.scale("m:1", 2);
    expect(check(w).violations).toEqual([
      "model m:1 runs with the range 2..2 but the registry says 1..1",
      "model m:1 wants 2 replica(s), outside its range 1..1",
      "model m:1 has 2 replica(s) ready or starting, outside its range 1..1",
    ]);
  });

  it("accepts a version anywhere in its replica range, and one scaled to zero; names one outside its range", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1"), min_replicas: 0, max_replicas: 3, app: { name: "a" } }));
    expect(check(w)).toMatchObject({ ok: true, violations: [] });
    w.runtimes.setLive("m:1", 0); // the idle timeout stopped its replicas
    expect(check(w)).toMatchObject({ ok: true, violations: [] });
    w.runtimes.setLive("m:1", 3); // the autoscaler added two
    expect(check(w)).toMatchObject({ ok: true, violations: [] });
    w.runtimes.setLive("m:1", 4);
    expect(check(w).violations).toEqual([
      "model m:1 wants 4 replica(s), outside its range 0..3",
      "model m:1 has 4 replica(s) ready or starting, outside its range 0..3",
    ]);
  });

  it("names a version that runs without a registry row, and one that runs without being current", async () => {
    const w = await deployed();
    const stray = { ...w.registry.model("m", "1")!, version: "9" } as ModelRecord;
    await w.runtimes.start(stray);
    await w.m.addModel(body({ artifact_sha256: await w.upload("v2") }));
    await w.runtimes.start(w.registry.model("m", "1")!);
    expect(check(w).violations).toEqual(["model m:9 runs 1 replica(s) but has no registry row", "model m:1 runs but is not current and is not being retired"]);
  });

  it("names an unreferenced artifact older than the grace period, and not a young one", async () => {
    const w = await deployed();
    const old = await w.upload("nobody deploys this");
    await w.upload("nor this, but it is young");
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(join(w.dataDir, "artifacts", old), hourAgo, hourAgo);
    const violations = check(w).violations;
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(new RegExp(`^artifact ${old} is referenced by nothing and 3\\d{3} s old$`));
  });

  it("names a snapshot that does not follow the registry", async () => {
    const w = await deployed();
    w.registry.deleteLink("a", "m");
    expect(check(w).violations).toEqual([
      expect.stringMatching(/^application 'a' routes by .*"candidates":\["m:1"\].* but the registry says .*"candidates":\[\]/),
    ]);
  });

  it("names an operation left open in the journal when nothing is in progress", async () => {
    const w = await deployed();
    w.registry.beginOperation("deploy", "m", "2");
    expect(check(w).violations).toEqual(["the journal has deploy of model m version 2 open, and no operation is in progress"]);
  });

  it("names a child process of the server that no replica lists", async () => {
    const w = await deployed();
    const stray = Bun.spawn(["sleep", "30"]);
    try {
      expect(check(w, true).violations).toContainEqual(
        expect.stringMatching(new RegExp(`^process ${stray.pid} \\(sleep 30\\) is a child of the server that no replica lists$`)),
      );
    } finally {
      stray.kill();
    }
  });
});
