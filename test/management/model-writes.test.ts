/**
 * Model writes, all or nothing and one writer per model: a failure injected at each step of an operation
 * (artifact write, environment build, replica start, first prediction, registry write, retire) leaves the
 * registry and the runtimes in agreement, and the interleavings of the issue (deploy then rollback during
 * the old version's drain, two deploys at once, scale or stop during a deploy) end in a state where the
 * invariant check passes. The runtimes are a fake with the manager's shape (real ones: test/e2e/consistency.test.ts).
 */
import { describe, expect, it } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PredictionCache } from "../../src/cache/prediction-cache.ts";
import { InsufficientStorageError, RuntimeFailure } from "../../src/errors.ts";
import { Logger } from "../../src/log.ts";
import { AddModel, parseBody } from "../../src/management/schemas.ts";
import { ManagementService } from "../../src/management/service.ts";
import type { ModelRecord } from "../../src/registry/registry.ts";
import { FakeRuntimes, type World, world } from "./world.ts";

const body = (over: Record<string, unknown>) => parseBody(AddModel, { model_name: "m", runtime: "node", artifact_name: "m.mjs", ...over });

/** The settled state: no operation in progress and every invariant holds (artifacts count as old at once). */
function expectConsistent(w: World): void {
  const report = w.m.checkInvariants({ artifactGraceMs: 0, processes: false });
  expect(report.violations).toEqual([]);
  expect(report.busy).toEqual([]);
}

const current = (w: World, name = "m") => w.registry.currentModel(name)?.version;
const running = (w: World) => w.runtimes.pools().map((p) => p.key);

describe("all or nothing: a failure at each step of a deploy", () => {
  it("artifact write: an upload that fails mid-stream on a full disk is a 507 naming the data directory, and leaves no partial file", async () => {
    const w = world();
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(64 * 1024));
        c.error(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
      },
    });
    const err = await w.artifacts.put(stream).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientStorageError);
    expect((err as Error).message).toContain(`the data directory ${w.dataDir} is out of space`);
    expect(readdirSync(join(w.dataDir, "artifacts"))).toEqual([]);
  });

  it("environment build: nothing is started or registered, the journal is closed and the unused upload is removed", async () => {
    const w = world();
    const sha = await w.upload("model bytes");
    w.envs.ensure = async () => {
      throw new InsufficientStorageError(`the data directory ${w.dataDir} is out of space`);
    };
    await expect(w.m.addModel(body({ runtime: "python", artifact_name: "model.pkl", artifact_sha256: sha, pkgs: ["numpy==2.0.0"] }))).rejects.toThrow(
      "out of space",
    );
    expect(w.runtimes.starts).toEqual([]);
    expect(w.registry.models()).toEqual([]);
    expect(existsSync(join(w.dataDir, "artifacts", sha))).toBe(false);
    expectConsistent(w);
  });

  it("replica start: nothing is registered and the version it replaces keeps serving", async () => {
    const w = world();
    const sha = await w.upload("v1");
    await w.m.addModel(body({ artifact_sha256: sha, app: { name: "a" } }));
    w.runtimes.failStart = (m) => (m.version === "2" ? new RuntimeFailure("the runtime exited with code 1") : undefined);
    const sha2 = await w.upload("v2");
    await expect(w.m.addModel(body({ artifact_sha256: sha2 }))).rejects.toThrow("exited with code 1");
    expect(current(w)).toBe("1");
    expect(running(w)).toEqual(["m:1"]);
    expect(existsSync(join(w.dataDir, "artifacts", sha2))).toBe(false);
    expect(existsSync(join(w.dataDir, "artifacts", sha))).toBe(true);
    expectConsistent(w);
  });

  it("first prediction: the new version is stopped, nothing is registered, the old one serves", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    w.failProbe = true;
    await expect(w.m.addModel(body({ artifact_sha256: await w.upload("v2") }))).rejects.toThrow("failed its first prediction");
    expect(running(w)).toEqual(["m:1"]);
    expect(w.registry.versions("m").map((v) => v.version)).toEqual(["1"]);
    expectConsistent(w);
  });

  it("registry write: the started replicas are stopped, the error is a 507, and the journal is closed", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    const insert = w.registry.insertCurrentModel.bind(w.registry);
    w.registry.insertCurrentModel = () => {
      throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    };
    const err = await w.m.addModel(body({ artifact_sha256: await w.upload("v2") })).catch((e: unknown) => e);
    w.registry.insertCurrentModel = insert;
    expect(err).toBeInstanceOf(InsufficientStorageError);
    expect((err as Error).message).toContain(w.dataDir);
    expect(w.runtimes.starts).toEqual(["m:1", "m:2"]);
    expect(running(w)).toEqual(["m:1"]);
    expect(current(w)).toBe("1");
    expectConsistent(w);
  });

  it("linking at commit: an app changed meanwhile to another input type refuses the deploy, and its replicas stop", async () => {
    const w = world();
    await w.m.addApp({ name: "a", input_type: "strings", default_output: "-1", latency_slo_micros: 100_000, cache: true, overload: "default" });
    await expect(w.m.addModel(body({ artifact_sha256: await w.upload("v1"), app: { name: "a" } }))).rejects.toThrow("takes strings");
    expect(running(w)).toEqual([]);
    expectConsistent(w);
  });

  it("retire: a drain that never ends still stops the old version after it (the manager bounds the wait)", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    let finishDrain!: () => void;
    w.runtimes.drain = new Promise((r) => (finishDrain = r));
    const deploy = w.m.addModel(body({ artifact_sha256: await w.upload("v2") }));
    while (current(w) !== "2") await Bun.sleep(1);
    expect(w.m.checkInvariants({ artifactGraceMs: 0, processes: false }).busy).toEqual(["retiring m:1"]);
    finishDrain();
    await deploy;
    expect(running(w)).toEqual(["m:2"]);
    expectConsistent(w);
  });

  it("retire: a stop that fails is logged, leaves the new version current, and the invariant check names the leftover", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    w.runtimes.failStop = (key) => (key === "m:1" ? new Error("kill failed") : undefined);
    await w.m.addModel(body({ artifact_sha256: await w.upload("v2") }));
    expect(current(w)).toBe("2");
    expect(w.m.checkInvariants({ artifactGraceMs: 0, processes: false }).violations).toEqual(["model m:1 runs but is not current and is not being retired"]);
  });
});

describe("all or nothing: scale, switch and remove", () => {
  it("a scale whose runtime fails leaves the registry's count and the runtime's the same", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1"), replicas: 2 }));
    w.runtimes.failScale = new RuntimeFailure("the runtime exited with code 1");
    await expect(w.m.setNumReplicas("m", 4)).rejects.toThrow("exited");
    expect(w.registry.model("m", "1")!.replicas).toBe(2);
    expectConsistent(w);
  });

  it("a scale whose registry write fails goes back to the registry's count", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1"), replicas: 2 }));
    w.registry.setReplicas = () => {
      throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    };
    await expect(w.m.setNumReplicas("m", 3)).rejects.toBeInstanceOf(InsufficientStorageError);
    expect(w.runtimes.pools()[0]!.wanted).toBe(2);
    expectConsistent(w);
  });

  it("a rollback whose start fails keeps the current version current and running", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    await w.m.addModel(body({ artifact_sha256: await w.upload("v2") }));
    w.runtimes.failStart = () => new RuntimeFailure("the runtime exited with code 1");
    await expect(w.m.setModelVersion("m", "1")).rejects.toThrow("exited");
    expect(current(w)).toBe("2");
    expect(running(w)).toEqual(["m:2"]);
    expectConsistent(w);
  });

  it("a rollback whose registry write fails stops the version it started", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    await w.m.addModel(body({ artifact_sha256: await w.upload("v2") }));
    w.registry.setCurrent = () => {
      throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    };
    await expect(w.m.setModelVersion("m", "1")).rejects.toBeInstanceOf(InsufficientStorageError);
    expect(running(w)).toEqual(["m:2"]);
    expectConsistent(w);
  });

  it("a removal whose registry write fails stops nothing", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    w.registry.deleteModelVersion = () => {
      throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    };
    await expect(w.m.deleteVersionedModel("m", "1")).rejects.toBeInstanceOf(InsufficientStorageError);
    expect(running(w)).toEqual(["m:1"]);
    expectConsistent(w);
  });

  it("a failed deploy never removes an artifact a concurrent deploy of another model is using", async () => {
    const w = world();
    const sha = await w.upload("shared bytes");
    let startB!: () => void;
    const bStarted = new Promise<void>((r) => (startB = r));
    let releaseB!: () => void;
    const bHeld = new Promise<void>((r) => (releaseB = r));
    w.runtimes.failStart = (m) => (m.name === "a" ? new RuntimeFailure("a does not load") : undefined);
    const start = w.runtimes.start.bind(w.runtimes);
    w.runtimes.start = async (m: ModelRecord) => {
      if (m.name === "b") {
        startB();
        await bHeld;
      }
      return start(m);
    };
    const b = w.m.addModel(body({ model_name: "b", artifact_sha256: sha }));
    await bStarted;
    await expect(w.m.addModel(body({ model_name: "a", artifact_sha256: sha }))).rejects.toThrow("does not load");
    expect(existsSync(join(w.dataDir, "artifacts", sha))).toBe(true);
    releaseB();
    await b;
    expect(current(w, "b")).toBe("1");
    expectConsistent(w);
  });
});

describe("one writer per model: the interleavings of the issue", () => {
  it("deploy v2 while v1 drains a long batch, then rollback to v1: v1 ends current and running", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1"), app: { name: "a" } }));
    let finishDrain!: () => void;
    w.runtimes.drain = new Promise((r) => (finishDrain = r));
    const deploy = w.m.addModel(body({ artifact_sha256: await w.upload("v2") }));
    while (current(w) !== "2") await Bun.sleep(1);
    // The rollback retires v2 in turn, behind the same long drain: it has switched once v1 is current.
    const rollback = w.m.setModelVersion("m", "1");
    while (current(w) !== "1") await Bun.sleep(1);
    finishDrain();
    await Promise.all([deploy, rollback]);
    expect(current(w)).toBe("1");
    expect(running(w)).toEqual(["m:1"]);
    expect(w.m.snapshot.apps.get("a")!.candidates.map((c) => c.key)).toEqual(["m:1"]);
    expectConsistent(w);
  });

  it("a rollback that arrives while a deploy starts its replicas waits for it, then wins", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const start = w.runtimes.start.bind(w.runtimes);
    w.runtimes.start = async (m: ModelRecord) => {
      if (m.version === "2") await held;
      return start(m);
    };
    const deploy = w.m.addModel(body({ artifact_sha256: await w.upload("v2") }));
    while (!w.m.checkInvariants({ processes: false }).busy.some((b) => b.includes("deploy"))) await Bun.sleep(1);
    const rollback = w.m.setModelVersion("m", "1");
    release();
    await Promise.all([deploy, rollback]);
    expect(current(w)).toBe("1");
    expect(running(w)).toEqual(["m:1"]);
    expectConsistent(w);
  });

  it("two deploys at once get distinct versions, and the later one ends current with nothing else running", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    const [a, b] = await Promise.all([
      w.m.addModel(body({ artifact_sha256: await w.upload("x") })),
      w.m.addModel(body({ artifact_sha256: await w.upload("y") })),
    ]);
    expect(new Set([a.model_version, b.model_version])).toEqual(new Set(["2", "3"]));
    expect(current(w)).toBe("3");
    expect(running(w)).toEqual(["m:3"]);
    expectConsistent(w);
  });

  it("a scale during a deploy applies to the version current when its turn comes", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    const deploy = w.m.addModel(body({ artifact_sha256: await w.upload("v2") }));
    const scale = w.m.setNumReplicas("m", 3);
    await Promise.all([deploy, scale]);
    expect(w.registry.model("m", "2")!.replicas).toBe(3);
    expectConsistent(w);
  });

  it("a stop during a deploy runs after it and removes every version, the new one too", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1"), app: { name: "a" } }));
    const deploy = w.m.addModel(body({ artifact_sha256: await w.upload("v2") }));
    const stop = w.m.stopModels(["m"]);
    await Promise.all([deploy, stop]);
    expect(w.registry.versions("m")).toEqual([]);
    expect(running(w)).toEqual([]);
    expect(readdirSync(join(w.dataDir, "artifacts"))).toEqual([]);
    expectConsistent(w);
  });

  it("a restart after a crash mid-deploy says the deploy was rolled back and closes the journal", async () => {
    const w = world();
    await w.m.addModel(body({ artifact_sha256: await w.upload("v1") }));
    w.registry.beginOperation("deploy", "m", "2");
    const lines: string[] = [];
    const logger = new Logger("json", "info");
    logger.warn = (_event: string, message: string) => void lines.push(message);
    logger.info = () => undefined;
    const restarted = new ManagementService(w.registry, new FakeRuntimes(), w.artifacts, new PredictionCache(16), w.envs, {
      dataDir: w.dataDir,
      logger,
      firstPrediction: async () => undefined,
    });
    await restarted.restore();
    restarted.close();
    expect(lines).toContain(
      "deploy of model m version 2 was cut short by the previous run's end: rolled back: nothing of it was committed, version 1 is current",
    );
    expect(w.registry.openOperations()).toEqual([]);
  });
});
