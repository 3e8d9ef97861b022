/** End to end: `clipper apply -f` makes servers match a file, idempotently, so identical servers converge. */
import { afterAll, describe, expect, it } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, makeFixtures, type Server, startServer, tempDir } from "./harness.ts";

const fx = makeFixtures();
const dir = tempDir("clipper-apply-");
copyFileSync(join(fx.dir, "hr.pkl"), join(dir, "hr.pkl"));
copyFileSync(join(fx.dir, "const-a.pkl"), join(dir, "const-a.pkl"));
const servers: Server[] = [];

const config = (replicas: number, version = "1", artifact = "./hr.pkl") => `
apps:
  - name: hr-hiring
    input_type: doubles
    default_output: "-1.0"
    latency_slo_micros: 100000
    capture: { sample: 0.5, max_mb: 10, stats_window_seconds: 60 }
models:
  - name: hr-decision-tree
    version: "${version}"
    artifact: ${artifact}
    replicas: ${replicas}
    links: [hr-hiring]
`;

afterAll(async () => {
  for (const s of servers) {
    await s.stop();
    cleanup(s.dataDir);
  }
  cleanup(dir);
});

async function apply(s: Server, yaml: string) {
  const file = join(dir, "clipper.yaml");
  writeFileSync(file, yaml);
  return s.cli("apply", "-f", file, "--url", "$MGMT");
}

describe("clipper apply", () => {
  it("brings two fresh servers to the same state, and a second apply changes nothing", async () => {
    servers.push(await startServer(), await startServer());
    for (const s of servers) {
      const first = await apply(s, config(2));
      expect(first.stderr).toBe("");
      expect(first.stdout).toContain("app hr-hiring: created");
      expect(first.stdout).toContain("model hr-decision-tree:1: deployed (2 replicas)");
      expect(first.stdout).toContain("link hr-hiring → hr-decision-tree: created");
      expect(first.stdout).toContain("app hr-hiring: capture 50.0%");
      expect((await s.admin("capture?app_name=hr-hiring")).json).toMatchObject({ sample: 0.5, max_bytes: 10 * 1024 * 1024, stats_window_ms: 60_000 });
      expect((await apply(s, config(2))).stdout.trim()).toEndWith("nothing to change");
    }
    const states = await Promise.all(
      servers.map(async (s) => {
        const apps = (await s.admin("get_all_applications", { verbose: true })).json;
        const models = (await s.admin("get_all_models", { verbose: true })).json.map((m: Record<string, unknown>) => [
          m.model_name,
          m.model_version,
          m.is_current,
          m.replicas,
          m.ready_replicas,
          m.artifact_sha256,
        ]);
        return { apps, models };
      }),
    );
    expect(states[0]).toEqual(states[1]!);
    for (const s of servers) {
      expect((await s.predict("hr-hiring", { input: fx.rows[0] })).json).toMatchObject({ output: fx.hrExpected[0], default: false });
    }
  });

  it("scales, rolls forward to a new version, and refuses a changed artifact under an old version", async () => {
    const s = servers[0]!;
    expect((await apply(s, config(1))).stdout).toContain("scaled to 1 replicas");
    expect((await apply(s, config(1, "2", "./const-a.pkl"))).stdout).toContain("model hr-decision-tree:2: deployed");
    expect((await s.predict("hr-hiring", { input: [1, 2, 3, 4, 5] })).json.output).toBe("a");
    expect((await apply(s, config(1, "1"))).stdout).toContain("version 1 made current");
    const refused = await apply(s, config(1, "1", "./const-a.pkl"));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("exists with another artifact");
  });

  it("sets the memory budget and the idle timeout of its server: section live; a lower budget evicts idle versions at once", async () => {
    const s = servers[1]!;
    const withServer = (budget: number, idle: string) => `
server:
  memory_budget_mb: ${budget}
  idle_timeout: ${idle}
models:
  - name: lazy
    version: "1"
    artifact: ./const-a.pkl
    min_replicas: 0
    max_replicas: 1
`;
    const first = await apply(s, withServer(4096, "2m"));
    expect(first.stderr).toBe("");
    expect(first.stdout).toContain("server: memory budget 4096 MiB");
    expect(first.stdout).toContain("server: idle timeout 120000 ms");
    expect((await s.admin("status")).json.limits).toEqual({ memory_budget_mb: 4096, idle_timeout_ms: 120_000 });
    expect(await s.cliOk("status")).toMatch(/replica memory: \d+ MiB \(4096 MiB budget\), \d+ eviction\(s\); idle timeout 120 s/);
    expect((await apply(s, withServer(4096, "120s"))).stdout.trim()).toEndWith("nothing to change");
    // The deploy's replica is up (its probe); a budget of 1 MiB takes it back at once: it is idle and may go to zero.
    expect((await s.admin("status")).json.memory.replicas.some((r: { model_id: string }) => r.model_id === "lazy:1")).toBe(true);
    expect((await apply(s, withServer(1, "120s"))).stdout).toContain("server: memory budget 1 MiB");
    const status = (await s.admin("status")).json;
    expect(status.memory.replicas.filter((r: { model_id: string }) => r.model_id === "lazy:1")).toEqual([]);
    expect(status.scaling_events.find((e: { model: string; action: string }) => e.model === "lazy:1" && e.action === "evict").reason).toContain(
      "the memory budget was lowered to 1 MiB",
    );
    // Bad values name their field; the API refuses an empty change.
    const bad = await apply(s, withServer(-1, "2m"));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("server.memory_budget_mb:");
    const badIdle = await apply(s, withServer(100, "soon"));
    expect(badIdle.code).not.toBe(0);
    expect(badIdle.stderr).toContain("server.idle_timeout: must be a duration such as 300s, 5m or 1500ms, got 'soon'");
    const empty = await s.admin("set_server_limits", {});
    expect(empty.status).toBe(400);
    expect(JSON.stringify(empty.json)).toContain("memory_budget_mb");
    expect((await s.admin("set_server_limits", { memory_budget_mb: 0 })).json).toEqual({ memory_budget_mb: 0, idle_timeout_ms: 120_000 });
  });

  it("names the field when the file is wrong", async () => {
    const res = await apply(servers[0]!, "models:\n  - name: Bad Name\n    version: 1\n    artifact: x\n");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("models.0.name: must be 1-63 lowercase letters");
  });
});
