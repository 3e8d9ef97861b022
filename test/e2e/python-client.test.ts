/** The Python client (clients/python, imported as clipper_admin) against the compiled binary: every method, the HR example, its unit tests. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { cleanup, makeFixtures, PYTHON, ROOT, type Server, startServer } from "./harness.ts";

const fx = makeFixtures();
const CANDIDATES = fx.rows.slice(-3);
let server: Server;
/** What clients/python/tests/e2e_script.py printed: one entry per method it called. */
let out: any;
let scriptLog = "";

async function run(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(args, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  // Installs the client into the Python the tests (and the server) use; reinstalling is idempotent.
  // python -m pip: a copied venv's bin/pip script may point at another interpreter.
  const pip = await run([PYTHON, "-m", "pip", "install", "--quiet", "./clients/python"]);
  if (pip.code !== 0) throw new Error(`pip install ./clients/python failed:\n${pip.stderr}`);
  server = await startServer();
  const script = await run(
    [PYTHON, "clients/python/tests/e2e_script.py", server.mgmtUrl, server.queryUrl, server.dataDir, join(fx.dir, "hr.pkl"), JSON.stringify(CANDIDATES)],
    { CLIPPER_TOKEN: "" },
  );
  scriptLog = script.stderr;
  if (script.code !== 0) throw new Error(`e2e_script.py failed:\n${script.stderr}\nserver log:\n${server.log()}`);
  out = JSON.parse(script.stdout.trim().split("\n").at(-1)!);
}, 240_000);

afterAll(async () => {
  await server?.stop();
  if (server) cleanup(server.dataDir);
});

describe("clipper_admin.ClipperConnection against clipper serve", () => {
  it("connects with the token of the data directory and names a refused token or an unreachable server", () => {
    expect(out.connected).toBe(true);
    expect(out.query_addr).toBe(new URL(server.queryUrl).host);
    expect(out.bad_token).toMatchObject({ raised: "ClipperException", status: 401, code: "unauthorized" });
    expect(out.bad_token.message).toContain("the server refused the token from the token argument");
    expect(out.unreachable.raised).toBe("ClipperException");
    expect(out.unreachable.message).toContain("could not reach clipper at http://127.0.0.1:9");
  });

  it("registers an app, deploys hr.pkl, links it and predicts like scikit-learn, one by one and in a batch", () => {
    expect(out.app).toBeNull();
    expect(out.deployed).toEqual({ model_name: "py-hr-dt", model_version: "1", state: "ready", ready_replicas: 1, artifact_name: "hr.pkl" });
    expect(out.linked).toEqual(["py-hr-dt"]);
    expect(out.predictions).toEqual(fx.hrExpected.slice(-3));
    expect(out.batch).toEqual(fx.hrExpected.slice(-3));
    expect(out.defaults).toEqual([false, false, false]);
  });

  it("registers an app with a query token that its predict sends; a query without it is refused for the query token", () => {
    expect(out.guarded_prediction).toBe(fx.hrExpected.at(-3)!);
    expect(out.guarded_batch).toEqual(fx.hrExpected.slice(-3));
    expect(out.guarded_given).toBe(fx.hrExpected.at(-3)!);
    expect(out.guarded_without).toMatchObject({ raised: "ClipperException", status: 401, code: "unauthorized" });
    expect(out.guarded_without.message).toContain("application 'py-guarded' needs its query token: no query token was sent");
    expect(out.guarded_wrong.message).toContain("needs its query token: the query token sent was refused");
    for (const refused of [out.guarded_without, out.guarded_wrong]) expect(refused.message).not.toContain("management");
  });

  it("lists apps and models, verbose or not, and answers None for unknown ones", () => {
    expect(out.apps).toEqual(["py-hr"]);
    expect(out.apps_verbose[0]).toMatchObject({ name: "py-hr", linked_models: ["py-hr-dt"], latency_slo_micros: 100000 });
    expect(out.app_info).toMatchObject({ name: "py-hr", input_type: "doubles", default_output: "-1.0", policy: "single" });
    expect(out.app_info_unknown).toBeNull();
    expect(out.models).toEqual(["py-hr-dt:1"]);
    expect(out.models_verbose).toEqual([{ model_name: "py-hr-dt", model_version: "1", is_current: true }]);
    expect(out.model_info).toMatchObject({ model_name: "py-hr-dt", model_version: "1", state: "ready", predict_method: "predict" });
    expect(out.model_info_unknown).toBeNull();
    expect(out.linked_models).toEqual(["py-hr-dt"]);
  });

  it("deploys a second version, rolls back to the first, scales it and removes the inactive one", () => {
    expect(out.v2_current).toBe(true);
    expect(out.rollback).toBe(true);
    expect(out.current_after_rollback).toEqual(["1"]);
    expect(out.scaled).toBe(2);
    expect(out.replicas).toHaveLength(2);
    for (const r of out.replicas) expect(r).toMatch(/^py-hr-dt:1:\d+$/);
    expect(out.replicas_verbose_states).toEqual(["ready", "ready"]);
    expect(out.stopped_inactive).toEqual(["py-hr-dt:2"]);
    expect(out.after_rollback_prediction).toBe(fx.hrExpected.at(-3)!);
    expect(out.num_replicas).toBe(2);
    // get_clipper_logs writes one file per model version (the replicas' stderr, from GET /admin/logs).
    expect(out.log_files).toEqual(["py-hr-dt_1.log"]);
  });

  it("raises ClipperException carrying the server's error, cause and status", () => {
    expect(out.duplicate_app).toMatchObject({ raised: "ClipperException", status: 409, error: "application 'py-hr' already exists" });
    expect(out.bad_name).toMatchObject({ raised: "ClipperException", status: 400 });
    expect(out.bad_name.error).toMatch(/^name: must be 1-63 lowercase/);
    expect(out.bad_name.cause).toBeTruthy();
    expect(out.unknown_app_query).toMatchObject({ raised: "ClipperException", status: 404, error: "no application named 'no-such-app'" });
    expect(out.unknown_app_query.cause).toContain("register it");
    expect(out.unknown_version).toMatchObject({ raised: "ClipperException", status: 404, error: "no model py-hr-dt version 42" });
    expect(out.missing_file).toMatchObject({ raised: "ClipperException", status: null });
    expect(out.missing_file.message).toContain("is not a file");
  });

  it("deploys Python closures (deploy_python_closure, deployers.python.create_endpoint) when cloudpickle is installed", () => {
    if (out.closure.skipped) {
      console.warn(`deploy_python_closure not exercised: ${out.closure.skipped} in .venv`);
      expect(scriptLog).toContain("SKIPPED deploy_python_closure");
      return;
    }
    expect(out.closure.state).toBe("ready");
    expect(out.closure.sum).toBe("6.5");
    expect(out.closure.sum_batch).toEqual(["1.5", "4.5"]);
    expect(out.closure.len).toBe("5");
    expect(out.closure.len_linked).toEqual(["py-len"]);
  });

  it("unlinks, deletes the app and stops the model", () => {
    expect(out.unlinked).toEqual([]);
    expect(out.apps_after_delete).toEqual([]);
    expect(out.stopped).toEqual(["py-hr-dt"]);
    expect(out.models_after_stop).toEqual([]);
  });
});

describe("examples/hr/clipper_client_example.py", () => {
  it("registers hr-hiring, deploys hr.pkl as hr-decision-tree v1 and prints the three candidates' predictions", async () => {
    const args = [PYTHON, "examples/hr/clipper_client_example.py", join(fx.dir, "hr.pkl"), server.mgmtUrl, server.queryUrl];
    const env = { CLIPPER_DATA_DIR: server.dataDir, CLIPPER_TOKEN: "" };
    const first = await run(args, env);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const lines = first.stdout.trim().split("\n");
    expect(lines[0]).toBe(`hr-hiring serves ['hr-decision-tree'] at ${new URL(server.queryUrl).host}`);
    CANDIDATES.forEach((c, i) => expect(lines[i + 1]).toStartWith(`[${c.map((v) => v.toFixed(1)).join(", ")}] -> ${fx.hrExpected.at(i - 3)} (`));
    const info = (await server.admin("get_model", { model_name: "hr-decision-tree", model_version: "1" })).json;
    expect(info).toMatchObject({ is_current: true, state: "ready" });
    const again = await run(args, env);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
  });

  it("prints one line and exits 1 when the token is wrong", async () => {
    const res = await run([PYTHON, "examples/hr/clipper_client_example.py", join(fx.dir, "hr.pkl"), server.mgmtUrl], { CLIPPER_TOKEN: "wrong" });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: GET|^error: POST/);
    expect(res.stderr).toContain("401");
    expect(res.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("clients/python unit tests", () => {
  it("pass under python -m unittest", async () => {
    const res = await run([PYTHON, "-m", "unittest", "discover", "-s", "clients/python/tests"]);
    expect(res.stderr).toMatch(/\nOK/);
    expect(res.code).toBe(0);
  });
});
