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

  it("names the field when the file is wrong", async () => {
    const res = await apply(servers[0]!, "models:\n  - name: Bad Name\n    version: 1\n    artifact: x\n");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("models.0.name: must be 1-63 lowercase letters");
  });
});
