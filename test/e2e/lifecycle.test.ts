/** End to end: versions, zero-failure rollout and rollback under load, scaling, crashes, cleanup. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { makeFixtures, type Server, shutdown, startServer, waitUntil, alive, replicaPids } from "./harness.ts";
import { steadyLoad } from "./load.ts";

const fx = makeFixtures();
let server: Server;

const cli = (...args: string[]) => server.cliOk(...args);

/** Waits until the load has had `n` more answers than it has now (the traffic goes on meanwhile). */
async function moreAnswers(counts: { ok: number; defaults: number }, n: number): Promise<void> {
  const target = counts.ok + counts.defaults + n;
  expect(await waitUntil(() => counts.ok + counts.defaults >= target, 20_000)).toBeLessThan(Infinity);
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(() => shutdown(server));

describe("versions and rollback", () => {
  // The apps here get a 5 s SLO: these tests are about dropped queries, not latency, on a shared machine.
  it("switches versions under steady load without a single failed or default answer", async () => {
    await cli("deploy", join(fx.dir, "const-a.pkl"), "--name", "ab", "--version", "1", "--slo-micros", "5000000");
    const load = steadyLoad(`${server.queryUrl}/ab/predict`, () => ({ input: [Math.random()] }), 16);
    await moreAnswers(load.counts, 50);
    const deployStarted = performance.now();
    await cli("deploy", join(fx.dir, "const-b.pkl"), "--name", "ab", "--version", "2");
    expect(await waitUntil(() => (load.counts.outputs.get("b") ?? 0) >= 50, 20_000)).toBeLessThan(Infinity);
    const rollbackStarted = performance.now();
    await cli("rollback", "ab", "1");
    const aAtRollback = load.counts.outputs.get("a") ?? 0;
    expect(await waitUntil(() => (load.counts.outputs.get("a") ?? 0) >= aAtRollback + 50, 20_000)).toBeLessThan(Infinity);
    const counts = await load.stop();
    console.log(
      `rollout under load: sent ${counts.sent}, ok ${counts.ok}, defaults ${counts.defaults}, 5xx ${counts.errors5xx}, ` +
        `4xx ${counts.errors4xx}, failed ${counts.failed}, outputs ${JSON.stringify(Object.fromEntries(counts.outputs))}, ` +
        `deploy→first v2 answer ${(counts.firstSeen.get("b")! - deployStarted).toFixed(0)} ms`,
    );
    expect(counts.sent).toBeGreaterThan(100);
    expect(counts.ok).toBe(counts.sent);
    expect(counts.outputs.get("a")).toBeGreaterThan(0);
    expect(counts.outputs.get("b")).toBeGreaterThan(0);
    expect(counts.firstSeen.get("b")!).toBeGreaterThan(deployStarted);
    expect(rollbackStarted).toBeGreaterThan(deployStarted);
  });

  it("lists versions with the current one, deploy time, artifact hash and runtime versions", async () => {
    const list = JSON.parse(await cli("versions", "ab", "--json"));
    expect(list.map((m: { model_version: string; is_current: boolean }) => [m.model_version, m.is_current])).toEqual([
      ["1", true],
      ["2", false],
    ]);
    expect(list[1].artifact_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(list[1].runtime_info.packages["scikit-learn"]).toBe("1.7.2");
    expect(await cli("versions", "ab")).toMatch(/^VERSION\s+CURRENT\s+DEPLOYED/);
  });

  it("never serves a cached prediction of another version", async () => {
    const input = { input: [42] };
    expect((await server.predict("ab", input)).json).toMatchObject({ output: "a", model: { name: "ab", version: "1" } });
    await server.admin("set_model_version", { model_name: "ab", model_version: "2" });
    expect((await server.predict("ab", input)).json).toMatchObject({ output: "b", model: { name: "ab", version: "2" } });
    await server.admin("set_model_version", { model_name: "ab", model_version: "1" });
  });

  it("refuses a version that cannot load, and the current version keeps serving", async () => {
    const res = await server.cli("deploy", join(fx.dir, "garbage.pkl"), "--name", "ab", "--version", "3", "--url", "$MGMT");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("could not load the model");
    expect((await server.predict("ab", { input: [1] })).json).toMatchObject({ output: "a", default: false });
    expect(JSON.parse(await cli("versions", "ab", "--json"))).toHaveLength(2);
  });

  it("refuses a version whose first prediction fails, and the current version keeps serving", async () => {
    const res = await server.cli("deploy", join(fx.dir, "raising.pkl"), "--name", "ab", "--version", "4", "--url", "$MGMT");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("failed its first prediction");
    expect(res.stderr).toContain("this model always fails");
    expect((await server.predict("ab", { input: [2] })).json).toMatchObject({ output: "a", default: false });
  });
});

describe("replicas", () => {
  it("scales up and down live without dropping queries", async () => {
    await cli("deploy", join(fx.dir, "hr.pkl"), "--name", "hr-scale", "--slo-micros", "5000000");
    const load = steadyLoad(`${server.queryUrl}/hr-scale/predict`, () => ({ input: [Math.random() * 10, 2, 70, 3, 1] }), 8);
    await cli("scale", "hr-scale", "3");
    expect(await replicaPids(server, "hr-scale")).toHaveLength(3);
    await moreAnswers(load.counts, 50);
    await cli("scale", "hr-scale", "1");
    await moreAnswers(load.counts, 50);
    const counts = await load.stop();
    expect(await replicaPids(server, "hr-scale")).toHaveLength(1);
    expect(counts.sent).toBeGreaterThan(50);
    expect(counts.ok).toBe(counts.sent);
  });

  it("replaces a replica killed with SIGKILL and answers every query meanwhile", async () => {
    await cli("scale", "hr-scale", "2");
    const [victim] = await replicaPids(server, "hr-scale");
    const load = steadyLoad(`${server.queryUrl}/hr-scale/predict`, () => ({ input: [Math.random() * 10, 2, 70, 3, 1] }), 16);
    await moreAnswers(load.counts, 50);
    process.kill(victim!, "SIGKILL");
    const replaced = async () => {
      const now = await replicaPids(server, "hr-scale");
      return now.length === 2 && !now.includes(victim!);
    };
    expect(await waitUntil(replaced, 20_000)).toBeLessThan(Infinity);
    await moreAnswers(load.counts, 50);
    const counts = await load.stop();
    expect(counts.errors5xx + counts.failed + counts.errors4xx).toBe(0);
    expect(counts.ok + counts.defaults).toBe(counts.sent);
  });

  it("marks a model whose replicas keep crashing as failed, with the last error in status", async () => {
    await cli("deploy", join(fx.dir, "crash.pkl"), "--name", "crashy", "--default-output", "safe");
    const until = performance.now() + 20_000;
    let state = "";
    while (performance.now() < until) {
      const { json } = await server.predict("crashy", { input: [1] });
      expect(json).toMatchObject({ output: "safe", default: true });
      state = JSON.parse(await cli("status", "--json")).models.find((m: { model_name: string }) => m.model_name === "crashy").state;
      if (state === "failed") break;
      await Bun.sleep(100);
    }
    expect(state).toBe("failed");
    expect(await cli("status")).toMatch(/crashy:1 last error: the runtime exited with code 1/);
  });

  it("shows a replica's captured stderr, including what the model printed", async () => {
    await cli("deploy", join(fx.dir, "loud.pkl"), "--name", "loud");
    expect((await server.predict("loud", { input: [1, 2] })).json).toMatchObject({ output: "2", default: false });
    expect(await waitUntil(async () => (await cli("logs", "loud")).includes("hello from predict 1"), 10_000)).toBeLessThan(Infinity);
  });
});

describe("links and cleanup", () => {
  it("unlinks, deletes apps and versions, and leaves no process or file behind", async () => {
    await cli("deploy", join(fx.dir, "const-a.pkl"), "--name", "tidy", "--version", "1");
    await cli("deploy", join(fx.dir, "const-b.pkl"), "--name", "tidy", "--version", "2");
    expect(await cli("stop-inactive", "tidy")).toContain("removed tidy:1");
    expect(JSON.parse(await cli("versions", "tidy", "--json"))).toHaveLength(1);
    await cli("unlink", "tidy", "tidy");
    expect((await server.predict("tidy", { input: [1] })).json.default_explanation).toBe("no model is linked to application 'tidy'");
    await cli("delete-app", "tidy");
    expect((await server.predict("tidy", { input: [1] })).status).toBe(404);
    const pids = await replicaPids(server, "tidy");
    expect(pids).toHaveLength(1);
    await cli("stop", "tidy");
    expect(await replicaPids(server, "tidy")).toHaveLength(0);
    expect(await waitUntil(() => !alive(pids[0]!), 10_000)).toBeLessThan(Infinity);
    expect(existsSync(join(server.dataDir, "logs", "tidy-2.log"))).toBe(false);
    expect((await server.admin("get_all_models", {})).json.filter((m: string) => m.startsWith("tidy:"))).toEqual([]);
  });

  it("keeps every change across a restart, with no orphan replicas", async () => {
    const dataDir = server.dataDir;
    const before = (await server.admin("get_all_containers", {})).json.map((c: { pid: number }) => c.pid);
    expect(before.length).toBeGreaterThan(0);
    await server.stop("SIGKILL");
    server = await startServer({ dataDir });
    // The replicas of the killed server die with it or are swept by the next start: none is left running.
    expect(await waitUntil(() => before.every((pid: number) => !alive(pid)), 10_000)).toBeLessThan(Infinity);
    const now = (await server.admin("get_all_containers", {})).json.map((c: { pid: number }) => c.pid) as number[];
    expect(now.filter((pid) => before.includes(pid))).toEqual([]);
    const versions = JSON.parse(await cli("versions", "ab", "--json"));
    expect(versions.find((m: { is_current: boolean }) => m.is_current).model_version).toBe("1");
    expect((await server.predict("ab", { input: [7] })).json).toMatchObject({ output: "a", default: false });
    expect(readdirSync(join(dataDir, "artifacts")).filter((f) => !f.startsWith("."))).toHaveLength(
      new Set((await server.admin("get_all_models", { verbose: true })).json.map((m: { artifact_sha256: string }) => m.artifact_sha256)).size,
    );
  });
});
