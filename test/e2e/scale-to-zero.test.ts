/**
 * Scale to zero through the compiled binary: a version deployed with --min-replicas 0 stops its replicas after
 * the idle timeout and keeps its artifact, links and registry rows; the next query starts a replica (a cold
 * start: the default with the reason `cold start` when its SLO is shorter than the start, the prediction when it
 * is longer) and the queries after it are predicted; a restarted server does not start the idle version.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, replicaPids, type Server, settledInvariants, shutdown, startServer, waitUntil } from "./harness.ts";

let server: Server | undefined;
afterAll(() => shutdown(server));

const ARGS = ["--idle-timeout", "2s"];

async function model(s: Server) {
  return (await s.admin("get_all_models", { verbose: true })).json.find((m: { model_name: string }) => m.model_name === "zero");
}

/** What must not change while a version is at zero: its rows, its artifact, its links. */
async function kept(s: Server) {
  const m = await model(s);
  const links = (await s.admin("get_linked_models", { app_name: "zero-wait" })).json;
  return {
    version: m.model_version,
    current: m.is_current,
    sha: m.artifact_sha256,
    min: m.min_replicas,
    max: m.max_replicas,
    created: m.created_at,
    links,
    artifact: existsSync(join(s.dataDir, "artifacts", m.artifact_sha256)),
  };
}

const atZero = async (s: Server) => (await replicaPids(s, "zero")).length === 0 && (await model(s)).state === "idle";

describe("scale to zero", () => {
  it("stops an idle version, starts it on its next query, keeps its artifact and links, and stays at zero across a restart", async () => {
    server = await startServer({ args: ARGS });
    const s = server;
    await s.cliOk("deploy", join(FIXTURES, "module_model.py"), "--name", "zero", "--app", "zero-wait", "--slo-micros", "30000000", "--min-replicas", "0");
    // A second app on the same model whose SLO (1 ms) is shorter than any start.
    await s.cliOk("register-app", "zero-fast", "--input-type", "doubles", "--slo-micros", "1000");
    await s.cliOk("link", "zero-fast", "zero");
    expect((await s.predict("zero-wait", { input: [1, 2] })).json).toMatchObject({ output: "3.0", default: false });
    const before = await kept(s);
    expect(before).toMatchObject({ current: true, min: 0, max: 1, artifact: true, links: ["zero"] });

    // No query for the idle timeout: the replica stops.
    expect(await waitUntil(() => atZero(s), 30_000)).toBeLessThan(Infinity);
    expect(await kept(s)).toEqual(before);
    const status = (await s.admin("status")).json;
    expect(status.scaling_events).toContainEqual(
      expect.objectContaining({ model: "zero:1", action: "zero", to: 0, reason: expect.stringMatching(/^no query for \d+ s/) }),
    );
    expect(status.applications.find((a: { name: string }) => a.name === "zero-wait").ready).toBe(true);
    expect((await settledInvariants(s)).violations).toEqual([]);

    // The first query cannot wait 1 ms for a replica: the default, with the reason; the ones after it are predicted.
    const first = (await s.predict("zero-fast", { input: [7, 8] })).json; // not cached
    expect(first).toMatchObject({ default: true, default_explanation: expect.stringMatching(/^cold start/) });
    let predicted: { output: unknown } | undefined;
    await waitUntil(async () => {
      const r = (await s.predict("zero-wait", { input: [2, 3] })).json;
      if (!r.default) predicted = r;
      return !r.default;
    }, 30_000);
    expect(predicted).toMatchObject({ output: "5.0" });
    const m = await model(s);
    // Started from the warm spare of its kind (one always waits without a memory budget: a taken one is replaced at once).
    expect(m).toMatchObject({ state: "ready", running_replicas: 1, cold_starts: 1, cold_starts_from_spare: 1 });
    expect(m.last_cold_start.ms).toBeGreaterThan(0);
    expect(m.last_cold_start.spare).toBe(true);
    expect(await kept(s)).toEqual(before);

    // At zero again, a query whose SLO allows the start waits for it and gets the prediction.
    await waitUntil(() => atZero(s), 30_000);
    expect((await s.predict("zero-wait", { input: [4, 5] })).json).toMatchObject({ output: "9.0", default: false });
    expect(await model(s)).toMatchObject({ cold_starts: 2, cold_starts_from_spare: 2 });
    const metrics = await (await fetch(`${s.queryUrl}/metrics`, { headers: { accept: "text/plain" } })).text();
    expect(metrics).toMatch(/clipper_scaling_decisions_total\{model="zero:1",action="cold start"\} 2/);

    // A restart does not start the idle version; its next query does.
    await waitUntil(() => atZero(s), 30_000);
    await s.stop();
    server = await startServer({ dataDir: s.dataDir, args: ARGS });
    const t = server;
    expect(await replicaPids(t, "zero")).toEqual([]);
    expect((await model(t)).state).toBe("idle");
    expect(t.log()).toContain("at zero replicas");
    expect(await kept(t)).toEqual(before);
    expect((await t.predict("zero-wait", { input: [1, 1] })).json).toMatchObject({ output: "2.0", default: false });
    expect((await settledInvariants(t)).violations).toEqual([]);
  }, 150_000);
});
