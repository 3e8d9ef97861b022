/**
 * End to end, a full disk: the data directory on a small tmpfs. An upload that overflows mid-stream, a
 * registry write on a full disk and an environment build that runs out of space each get a clear 507 naming
 * the data directory, leave no partial file, and the model already deployed keeps predicting throughout.
 * Needs root (mount -t tmpfs), which scripts/test does not provision: skipped elsewhere, with the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from "node:fs";
import { join } from "node:path";
import { nodeModel, PYTHON, type Server, settledInvariants, startServer, tempDir, waitUntil } from "./harness.ts";

const root = tempDir("clipper-diskfull-");
const dataDir = join(root, "data");
const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", root]).exitCode === 0;
if (!mounted && process.env.CI === "true")
  throw new Error("disk-full tests: mount -t tmpfs failed, and CI runs as root (scripts/test provisions nothing else for them)");
const describeMounted = mounted ? describe : describe.skip;
if (!mounted) console.warn("disk-full tests skipped: mount -t tmpfs needs root (or CAP_SYS_ADMIN)");

let server: Server;
const counts = { predicted: 0, defaults: 0, errors: 0, reasons: new Set<string>() };
let querying = true;
let loop: Promise<void> = Promise.resolve();

const freeBytes = () => {
  const s = statfsSync(root);
  return s.bavail * s.bsize;
};
/** Fills the disk until `leaveBytes` are free (0: until a write fails). */
function fill(name: string, leaveBytes: number): void {
  const fd = openSync(join(root, name), "a");
  try {
    for (const chunk of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const buf = Buffer.alloc(chunk, 1);
      while (freeBytes() - chunk >= leaveBytes) writeSync(fd, buf);
    }
  } catch {
    // Full.
  } finally {
    closeSync(fd);
  }
}
const leftovers = () => readdirSync(join(dataDir, "artifacts")).filter((f) => f.startsWith("."));
const predictedMore = async (than: number) => expect(await waitUntil(() => counts.predicted > than + 20, 10_000)).toBeLessThan(Infinity);

beforeAll(async () => {
  if (!mounted) return;
  mkdirSync(dataDir);
  server = await startServer({ dataDir, args: ["--python-spares", "0"] });
  await server.cliOk("deploy", nodeModel(tempDir(), "full-model", "kept"), "--name", "d", "--app", "da", "--slo-micros", "5000000");
  loop = (async () => {
    while (querying) {
      const res = await fetch(`${server.queryUrl}/da/predict`, { method: "POST", body: JSON.stringify({ input: [1] }) }).catch(() => undefined);
      if (res?.status !== 200) {
        counts.errors++;
        continue;
      }
      const json = (await res.json()) as { default: boolean; default_explanation?: string };
      if (json.default) {
        counts.defaults++;
        counts.reasons.add(json.default_explanation ?? "");
      } else counts.predicted++;
    }
  })();
});

afterAll(async () => {
  querying = false;
  await loop;
  if (!mounted) return;
  await server?.stop();
  Bun.spawnSync(["umount", root]);
  rmSync(root, { recursive: true, force: true });
});

describeMounted("a full disk", () => {
  it("refuses an upload that overflows mid-stream with a 507 naming the data directory, and keeps no partial file", async () => {
    fill("filler-a", 3 << 20);
    const before = counts.predicted;
    const res = await fetch(`${server.mgmtUrl}/admin/artifacts`, {
      method: "PUT",
      headers: { authorization: `Bearer ${server.token}` },
      body: new Blob([crypto.getRandomValues(new Uint8Array(4.8 * 1024 * 1024))]),
    });
    const body = (await res.json()) as { error: string; code: string };
    expect(res.status).toBe(507);
    expect(body.code).toBe("insufficient_storage");
    expect(body.error).toContain(`the data directory ${dataDir} is out of space`);
    expect(leftovers()).toEqual([]);
    expect(server.proc.exitCode).toBeNull();
    await predictedMore(before);
  });

  it("answers registry writes on a full disk with 507, never 500, and keeps serving", async () => {
    fill("filler-b", 0);
    const before = counts.predicted;
    const statuses: number[] = [];
    let refused: { error: string } | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const res = await server.admin("add_app", { name: `full-${i}`, input_type: "doubles" });
      statuses.push(res.status);
      if (res.status !== 200) refused = res.json;
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([507]);
    expect(refused!.error).toContain(`the data directory ${dataDir} is out of space`);
    // A deploy on the full disk (of the artifact already stored) is all or nothing: 507 and nothing kept, or done.
    const { artifact_sha256 } = ((await server.admin("get_model_versions", { model_name: "d" })).json as { artifact_sha256: string }[])[0]!;
    const deploy = await server.admin("add_model", { model_name: "d2", runtime: "node", artifact_name: "m.mjs", artifact_sha256 });
    expect([200, 507]).toContain(deploy.status);
    if (deploy.status === 507) expect((await server.admin("get_model_versions", { model_name: "d2" })).status).toBe(404);
    expect(server.proc.exitCode).toBeNull();
    await predictedMore(before);
  });

  it("answers an environment build that runs out of space with 507 and removes the half-built environment", async () => {
    rmSync(join(root, "filler-b"));
    fill("filler-c", 4 << 20);
    const before = counts.predicted;
    const upload = await fetch(`${server.mgmtUrl}/admin/artifacts`, {
      method: "PUT",
      headers: { authorization: `Bearer ${server.token}` },
      body: "not a pickle",
    });
    const { sha256 } = (await upload.json()) as { sha256: string };
    const numpy = Bun.spawnSync([PYTHON, "-c", "import numpy; print(numpy.__version__)"]).stdout.toString().trim();
    const res = await server.admin("add_model", { model_name: "envd", artifact_name: "model.pkl", artifact_sha256: sha256, pkgs: [`numpy==${numpy}`] });
    expect(res.status).toBe(507);
    expect(res.json.code).toBe("insufficient_storage");
    expect(res.json.error).toContain(`the data directory ${dataDir} is out of space`);
    const envs = join(dataDir, "envs");
    expect(existsSync(envs) ? readdirSync(envs) : []).toEqual([]);
    expect(leftovers()).toEqual([]);
    await predictedMore(before);
  });

  it("kept predicting throughout, with no error and no default, and every invariant holds once space is back", async () => {
    for (const f of ["filler-a", "filler-c"]) rmSync(join(root, f), { force: true });
    expect(counts.errors).toBe(0);
    expect([...counts.reasons]).toEqual([]);
    expect(counts.defaults).toBe(0);
    expect(counts.predicted).toBeGreaterThan(60);
    const report = await settledInvariants(server);
    expect(report.violations).toEqual([]);
    expect(server.log()).not.toContain('"event":"uncaught"');
  });
});
