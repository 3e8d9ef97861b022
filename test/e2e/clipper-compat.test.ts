/** End to end: Clipper's add_model body (batch_size, labels, NO_CONTAINER) and its errors, through the management API. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fetchJson, makeFixtures, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
let server: Server;

beforeAll(async () => {
  server = await startServer({ args: ["--python-spares", "0"] });
  const put = await fetch(`${server.mgmtUrl}/admin/artifacts`, {
    method: "PUT",
    headers: { authorization: `Bearer ${server.token}` },
    body: readFileSync(join(fx.dir, "hr.pkl")),
  });
  const { sha256 } = (await put.json()) as { sha256: string };
  const res = await server.admin("add_model", {
    model_name: "capped",
    model_version: "1",
    input_type: "doubles",
    artifact_sha256: sha256,
    artifact_name: "hr.pkl",
    labels: ["a", "b"],
    batch_size: 3,
    app: { name: "capped" },
  });
  if (res.status !== 200) throw new Error(JSON.stringify(res.json));
}, 120_000);
afterAll(() => shutdown(server));

describe("Clipper's add_model body", () => {
  it("caps the model's batches at batch_size and keeps its labels", async () => {
    const res = await server.predict("capped", { input_batch: fx.rows.slice(0, 20) });
    expect(res.json.batch_predictions.map((p: { output: string }) => p.output)).toEqual(fx.hrExpected.slice(0, 20));
    const m = (await fetchJson(`${server.queryUrl}/metrics.json`)).models["capped:1"];
    expect(m.max_batch_size).toBeLessThanOrEqual(3);
    expect(m.batches).toBeGreaterThanOrEqual(7);
    expect((await server.admin("get_model", { model_name: "capped", model_version: "1" })).json).toMatchObject({
      labels: ["a", "b"],
      batch_size: 3,
      is_current_version: true,
    });
  });

  it("registers NO_CONTAINER once, refuses to scale it, and keeps it across a restart", async () => {
    const body = {
      model_name: "bare",
      model_version: "1",
      input_type: "doubles",
      container_name: "NO_CONTAINER",
      labels: [],
      model_data_path: "DEPRECATED",
      batch_size: -1,
    };
    expect((await server.admin("add_model", body)).status).toBe(200);
    expect((await server.admin("add_model", body)).status).toBe(409);
    const scale = await server.admin("set_num_replicas", { model_name: "bare", num_replicas: 2 });
    expect(scale.status).toBe(409);
    expect(scale.json.error).toContain("registered without containers");
    const dataDir = server.dataDir;
    await server.stop();
    server = await startServer({ dataDir, args: ["--python-spares", "0"] });
    expect((await server.admin("get_model", { model_name: "bare", model_version: "1" })).json).toMatchObject({
      container_name: "NO_CONTAINER",
      status: "registered",
      replicas: 0,
    });
  }, 60_000);

  it("answers 400 naming the field for a bad Clipper body", async () => {
    const base = { model_name: "bad", model_version: "1", input_type: "doubles" };
    for (const [extra, field] of [
      [{ container_name: "Not An Image!" }, "container_name"],
      [{ container_name: "NO_CONTAINER", batch_size: 0 }, "batch_size"],
      [{ container_name: "NO_CONTAINER", labels: "x" }, "labels"],
      [{ container_name: "NO_CONTAINER", model_data_path: 5 }, "model_data_path"],
    ] as const) {
      const res = await server.admin("add_model", { ...base, ...extra });
      expect(res.status).toBe(400);
      expect(res.json.error).toStartWith(`${field}: `);
    }
  });

  it("lists replicas as Clipper's strings with verbose false and answers Clipper's {} for an unknown one", async () => {
    expect((await server.admin("get_all_containers", { verbose: false })).json).toEqual(["capped:1:1"]);
    expect((await server.admin("get_container", { model_name: "capped", model_version: "1", replica_id: 1 })).json).toMatchObject({
      model_id: "capped:1",
      model_replica_id: 1,
      status: "ready",
    });
    const unknown = await server.admin("get_container", { model_name: "capped", model_version: "1", replica_id: 9 });
    expect([unknown.status, unknown.json]).toEqual([200, {}]);
  });
});
