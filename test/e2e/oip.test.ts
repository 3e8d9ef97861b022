/** End to end: the Open Inference Protocol (V2) REST API, driven by Triton's Python HTTP client. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeFixtures, ROOT, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
const VENV = join(ROOT, ".venv-oip");
let server: Server;

/** A virtual environment with the pinned V2 client, made once and reused. */
function clientPython(): string {
  const python = join(VENV, "bin", "python");
  const stamp = join(VENV, ".ready");
  if (!existsSync(stamp)) {
    const mk = Bun.spawnSync(["python3", "-m", "venv", VENV]);
    if (mk.exitCode !== 0) throw new Error(mk.stderr.toString());
    const pip = Bun.spawnSync([join(VENV, "bin", "pip"), "install", "--quiet", "-r", join(ROOT, "test/e2e/oip/requirements.txt")]);
    if (pip.exitCode !== 0) throw new Error(`installing the V2 client failed: ${pip.stderr.toString()}`);
    Bun.write(stamp, "ok\n");
  }
  return python;
}

beforeAll(async () => {
  server = await startServer();
  const dep = await server.cli("deploy", join(fx.dir, "hr.pkl"), "--name", "hr-dt", "--app", "hr-hiring", "--url", "$MGMT");
  if (dep.code !== 0) throw new Error(dep.stderr);
});
afterAll(() => shutdown(server));

describe("Open Inference Protocol", () => {
  it("serves Triton's HTTP client: health, metadata, infer with and without a version, V2 errors", () => {
    const rows = fx.rows.slice(0, 8);
    const res = Bun.spawnSync([clientPython(), join(ROOT, "test/e2e/oip/client_check.py"), server.queryUrl.replace("http://", ""), "hr-hiring", JSON.stringify(rows)]);
    expect(res.stderr.toString()).toBe("");
    const seen = JSON.parse(res.stdout.toString());
    expect(seen).toMatchObject({ live: true, ready: true, model_ready: true });
    expect(seen.metadata).toMatchObject({ name: "hr-hiring", versions: ["1"], inputs: [{ name: "input", datatype: "FP64", shape: [-1, -1] }] });
    expect(seen.outputs).toEqual(fx.hrExpected.slice(0, 8));
    expect(seen.versioned_outputs).toEqual(fx.hrExpected.slice(0, 8));
    expect(seen.response).toMatchObject({ model_name: "hr-hiring", model_version: "1", id: "req-1" });
    expect(seen.bad_datatype_error).toContain("does not fit the app's input type doubles");
    expect(seen.unknown_model_error).toContain("no application named 'no-such-app'");
  });

  it("accepts nested data and answers V2 error bodies for a wrong shape", async () => {
    const post = (body: unknown) => fetch(`${server.queryUrl}/v2/models/hr-hiring/infer`, { method: "POST", body: JSON.stringify(body) });
    const ok = await post({ inputs: [{ name: "input", shape: [2, 5], datatype: "FP64", data: [fx.rows[0], fx.rows[1]] }] });
    expect(((await ok.json()) as { outputs: { data: string[] }[] }).outputs[0]!.data).toEqual(fx.hrExpected.slice(0, 2));
    const bad = await post({ inputs: [{ name: "input", shape: [2, 5], datatype: "FP64", data: [1, 2, 3] }] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe("inputs[0].data has 3 values but shape [2,5] needs 10");
  });

  it("goes through the cache and the same metrics as /{app}/predict", async () => {
    const before = ((await (await fetch(`${server.queryUrl}/metrics.json`)).json()) as { apps: Record<string, { queries: number }> }).apps["hr-hiring"]!.queries;
    await fetch(`${server.queryUrl}/v2/models/hr-hiring/infer`, {
      method: "POST", body: JSON.stringify({ inputs: [{ name: "input", shape: [1, 5], datatype: "FP64", data: fx.rows[3] }] }),
    });
    const after = ((await (await fetch(`${server.queryUrl}/metrics.json`)).json()) as { apps: Record<string, { queries: number }> }).apps["hr-hiring"]!.queries;
    expect(after - before).toBe(1);
  });
});
