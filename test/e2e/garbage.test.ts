/**
 * End to end, garbage: an upload never deployed, an environment no model uses and a half-written upload go
 * with `clipper gc` (which says what it freed), what a model uses stays, a young upload stays under the
 * grace period; a removed version's metric series disappear from /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nodeModel, type Server, settledInvariants, shutdown, startServer, tempDir } from "./harness.ts";

let server: Server;
const dir = tempDir("clipper-garbage-");

beforeAll(async () => {
  server = await startServer({ args: ["--python-spares", "0"] });
});
afterAll(() => shutdown(server));

const upload = async (bytes: string) =>
  (
    (await (await fetch(`${server.mgmtUrl}/admin/artifacts`, { method: "PUT", headers: { authorization: `Bearer ${server.token}` }, body: bytes })).json()) as {
      sha256: string;
    }
  ).sha256;
const artifacts = () => readdirSync(join(server.dataDir, "artifacts"));

describe("garbage collection", () => {
  it("removes unreferenced uploads, unused environments and half-written uploads, keeps what is used or young, and says what it freed", async () => {
    await server.cliOk("deploy", nodeModel(dir, "kept", "kept"), "--name", "kept");
    const used = ((await server.admin("get_model_versions", { model_name: "kept" })).json as { artifact_sha256: string }[])[0]!.artifact_sha256;
    const old = await upload("an upload nobody deployed");
    const young = await upload("an upload a deploy is about to use");
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(join(server.dataDir, "artifacts", old), hourAgo, hourAgo);
    const env = join(server.dataDir, "envs", "0123456789abcdef");
    mkdirSync(join(env, "lib"), { recursive: true });
    writeFileSync(join(env, "lib", "site.py"), "x".repeat(5000));
    writeFileSync(join(env, ".ready"), "{}");
    utimesSync(join(env, ".ready"), hourAgo, hourAgo);
    const partial = join(server.dataDir, "artifacts", ".upload-1-leftover");
    writeFileSync(partial, "half");
    utimesSync(partial, hourAgo, hourAgo);

    const out = await server.cliOk("gc", "--grace-seconds", "600");
    expect(out).toContain(`artifact ${old}`);
    expect(out).toContain("environment 0123456789abcdef");
    expect(out).toMatch(/removed 1 unreferenced artifact, 1 unused environment and 1 half-written upload: [\d.]+ KiB freed/);
    expect(artifacts()).not.toContain(old);
    expect(artifacts()).toContain(used);
    expect(artifacts()).toContain(young);
    expect(existsSync(env)).toBe(false);
    expect(existsSync(partial)).toBe(false);
    expect((await server.predict("kept", { input: [1] })).json).toMatchObject({ output: "kept", default: false });
    expect((await settledInvariants(server)).violations).toEqual([]);
  });

  it("drops a removed version's metric series from /metrics", async () => {
    await server.cliOk("deploy", nodeModel(dir, "gone", "gone"), "--name", "gone");
    expect((await server.predict("gone", { input: [1] })).json.default).toBe(false);
    const series = async () =>
      (await (await fetch(`${server.queryUrl}/metrics`, { headers: { accept: "text/plain" } })).text()).split("\n").filter((l) => l.includes('model="gone:1"'));
    const summary = async () => (await (await fetch(`${server.queryUrl}/metrics.json`)).json()) as { models: Record<string, unknown> };
    expect(Object.keys((await summary()).models)).toContain("gone:1");
    expect((await series()).length).toBeGreaterThan(0);
    await server.cliOk("stop", "gone");
    expect(await series()).toEqual([]);
    expect(Object.keys((await summary()).models)).not.toContain("gone:1");
  });
});
