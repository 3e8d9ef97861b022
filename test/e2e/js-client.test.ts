/** The JavaScript client (clients/js, imported as the package export "clipper/client") against the compiled binary: every method, errors, the HR example in Bun and Node. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ClipperConnection, ClipperError } from "clipper/client";
import { cleanup, makeFixtures, ROOT, type Server, startServer, tempDir } from "./harness.ts";

const fx = makeFixtures();
const CANDIDATES = fx.rows.slice(-3);
const HR_PKL = join(fx.dir, "hr.pkl");
const APP = "js-hr";
const MODEL = "js-hr-dt";
let server: Server;
let conn: ClipperConnection;

// The token must come from the data directory's file, as it does for a user who set nothing.
delete process.env.CLIPPER_TOKEN;

/** The ClipperError a call rejects with (fails the test when it resolves or throws anything else). */
async function rejection(call: () => Promise<unknown>): Promise<ClipperError> {
  try {
    await call();
  } catch (err) {
    if (err instanceof ClipperError) return err;
    throw err;
  }
  throw new Error("expected a ClipperError, but the call succeeded");
}

async function run(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(args, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  server = await startServer();
  conn = new ClipperConnection({ url: server.mgmtUrl, queryUrl: server.queryUrl, dataDir: server.dataDir });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (server) cleanup(server.dataDir);
});

describe("ClipperConnection against clipper serve", () => {
  it("connects with the token file of the data directory and reports the query address", async () => {
    await conn.connect();
    expect(conn.connected).toBe(true);
    expect(conn.getQueryAddr()).toBe(new URL(server.queryUrl).host);
    expect(new ClipperConnection().getQueryAddr()).toBe("127.0.0.1:1337");
  });

  it("rejects with a 401 ClipperError that names where the refused token came from", async () => {
    const err = await rejection(() => new ClipperConnection({ url: server.mgmtUrl, token: "not-the-token" }).connect());
    expect(err).toMatchObject({ name: "ClipperError", status: 401, code: "unauthorized" });
    expect(err.message).toContain("failed with 401");
    expect(err.message).toContain("the server refused the token from the token option");
    expect(err.cause).toContain("Authorization: Bearer");
  });

  it("says it cannot reach a server that is not running, and that no token was found", async () => {
    const down = await rejection(() => new ClipperConnection({ url: "http://127.0.0.1:9", timeoutMs: 5_000 }).connect());
    expect(down.status).toBeNull();
    expect(down.message).toContain("could not reach clipper at http://127.0.0.1:9");
    expect(down.message).toContain("is `clipper serve` running there?");
    expect(down.cause).toBeInstanceOf(Error);
    const empty = tempDir();
    const noToken = await rejection(() => new ClipperConnection({ url: server.mgmtUrl, dataDir: empty }).getAllApps());
    cleanup(empty);
    expect(noToken.message).toStartWith("no management token:");
    expect(() => new ClipperConnection({ url: "ftp://example.com" })).toThrow(ClipperError);
  });

  it("names the timeout when the server does not answer in time", async () => {
    const silent = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Promise<Response>(() => undefined) });
    try {
      const err = await rejection(() => new ClipperConnection({ url: `http://127.0.0.1:${silent.port}`, timeoutMs: 200 }).connect());
      expect(err.message).toContain("no answer within 200 ms");
    } finally {
      void silent.stop(true);
    }
  });

  it("registers an app, deploys hr.pkl, links it and predicts like scikit-learn, one by one and in a batch", async () => {
    expect(await conn.getAppInfo(APP)).toBeNull();
    const app = await conn.registerApplication(APP, "doubles", "-1.0", 100_000);
    expect(app).toMatchObject({ name: APP, input_type: "doubles", default_output: "-1.0", policy: "single", linked_models: [] });
    const deployed = await conn.deployModel({ name: MODEL, version: 1, inputType: "doubles", modelPath: HR_PKL });
    expect(deployed).toMatchObject({ model_name: MODEL, model_version: "1", state: "ready", ready_replicas: 1, artifact_name: "hr.pkl", runtime: "python" });
    expect(deployed.runtime_info.kind).toBe("python");
    expect(await conn.linkModelToApp(APP, MODEL)).toEqual([MODEL]);
    const answers = await Promise.all(fx.rows.map((row) => conn.predict(APP, row)));
    expect(answers.map((a) => a.output)).toEqual(fx.hrExpected);
    expect(answers[0]).toMatchObject({ default: false, model: { name: MODEL, version: "1" } });
    const batch = await conn.predictBatch(APP, fx.rows);
    expect(batch.map((a) => a.output)).toEqual(fx.hrExpected);
    expect(batch.every((a) => a.default === false)).toBe(true);
  });

  it("lists apps and models, verbose or not, and answers null for unknown ones", async () => {
    expect(await conn.getAllApps()).toEqual([APP]);
    expect((await conn.getAllApps(true))[0]).toMatchObject({ name: APP, linked_models: [MODEL], latency_slo_micros: 100_000 });
    expect(await conn.getAppInfo(APP)).toMatchObject({ name: APP, input_type: "doubles", policy: "single", linked_models: [MODEL] });
    expect(await conn.getAppInfo("no-such-app")).toBeNull();
    expect(await conn.getAllModels()).toEqual([`${MODEL}:1`]);
    expect((await conn.getAllModels(true)).map((m) => [m.model_name, m.model_version, m.is_current])).toEqual([[MODEL, "1", true]]);
    expect(await conn.getModelInfo(MODEL, 1)).toMatchObject({ model_name: MODEL, model_version: "1", state: "ready", predict_method: "predict" });
    expect(await conn.getModelInfo(MODEL, 42)).toBeNull();
    expect(await conn.getLinkedModels(APP)).toEqual([MODEL]);
  });

  it("deploys a second version from bytes, rolls back with setModelVersion, scales and removes the inactive one", async () => {
    const v2 = await conn.deployModel({ name: MODEL, version: 2, bytes: readFileSync(join(fx.dir, "const-a.pkl")), artifactName: "const-a.pkl" });
    expect(v2).toMatchObject({ model_version: "2", is_current: true, state: "ready" });
    expect(await conn.predict(APP, CANDIDATES[0]!)).toMatchObject({ output: "a", model: { name: MODEL, version: "2" } });
    expect(await conn.setModelVersion(MODEL, 1)).toMatchObject({ model_version: "1", is_current: true });
    expect((await conn.predict(APP, CANDIDATES[0]!)).output).toBe(fx.hrExpected.at(-3)!);
    expect(await conn.setNumReplicas(MODEL, 2)).toMatchObject({ replicas: 2 });
    const replicas = (await conn.getAllModelReplicas()).filter((r) => r.startsWith(`${MODEL}:`));
    expect(replicas).toHaveLength(2);
    for (const r of replicas) expect(r).toMatch(/^js-hr-dt:1:\d+$/);
    const verbose = (await conn.getAllModelReplicas(true)).filter((r) => r.model_name === MODEL);
    expect(verbose.map((r) => r.state)).toEqual(["ready", "ready"]);
    expect(await conn.stopInactiveModelVersions(MODEL)).toEqual([`${MODEL}:2`]);
    expect(await conn.getAllModels()).toEqual([`${MODEL}:1`]);
  });

  it("splits traffic by weight with setPolicy and rewards the right model on feedback, learning under exp3", async () => {
    await conn.deployModel({ name: "js-const-b", version: 1, modelPath: join(fx.dir, "const-b.pkl") });
    const split = await conn.setPolicy(APP, "split", { weights: { [MODEL]: 0, "js-const-b": 1 } });
    expect(split).toMatchObject({ policy: "split", policy_config: { weights: { [MODEL]: 0, "js-const-b": 1 } } });
    expect([...split.linked_models].sort()).toEqual(["js-const-b", MODEL]);
    const outputs = await Promise.all(CANDIDATES.map(async (c) => (await conn.predict(APP, c)).output));
    expect(outputs).toEqual(["b", "b", "b"]);
    const label = fx.hrExpected.at(-1)!;
    const feedback = await conn.feedback(APP, CANDIDATES[2]!, label);
    expect(feedback).toEqual({ app_name: APP, rewards: { [MODEL]: 1, "js-const-b": 0 }, weights: null });
    await conn.setPolicy(APP, "exp3");
    const learned = await conn.feedback(APP, CANDIDATES[2]!, label);
    expect(learned.weights![MODEL]!).toBeGreaterThan(learned.weights!["js-const-b"]!);
  });

  it("infers the node runtime for a .mjs artifact and base64-encodes bytes inputs", async () => {
    const sum = await conn.deployModel({
      name: "js-sum",
      bytes: readFileSync(join(ROOT, "test/fixtures/sum_model.mjs")),
      artifactName: "sum.mjs",
      appName: "js-sum",
    });
    expect(sum).toMatchObject({ runtime: "node", model_version: "1", state: "ready" });
    expect((await conn.predict("js-sum", [1, 2, 3.5])).output).toBe("6.5");
    await conn.deployModel({ name: "js-len", version: "b1", inputType: "bytes", modelPath: join(fx.dir, "length.pkl"), appName: "js-len" });
    expect((await conn.predict("js-len", new Uint8Array([0, 1, 2, 255, 254]))).output).toBe("5");
    expect(await conn.stopModels(["js-sum", "js-len"])).toEqual(["js-sum", "js-len"]);
    await conn.deleteApplication("js-sum");
    await conn.deleteApplication("js-len");
  });

  it("rejects with ClipperError carrying the server's error, cause, code and status", async () => {
    const unknownApp = await rejection(() => conn.predict("no-such-app", [1, 2, 3, 4, 5]));
    expect(unknownApp).toMatchObject({ status: 404, error: "no application named 'no-such-app'" });
    expect(unknownApp.cause).toContain("register it");
    expect(unknownApp.code).toBeString();
    expect(await rejection(() => conn.registerApplication(APP, "doubles"))).toMatchObject({ status: 409, error: `application '${APP}' already exists` });
    const badName = await rejection(() => conn.registerApplication("Bad_Name", "doubles"));
    expect(badName.status).toBe(400);
    expect(badName.error).toMatch(/^name: must be 1-63 lowercase/);
    expect(await rejection(() => conn.setModelVersion(MODEL, 42))).toMatchObject({ status: 404, error: `no model ${MODEL} version 42` });
    const missing = await rejection(() => conn.deployModel({ name: "nope", modelPath: join(fx.dir, "missing.pkl") }));
    expect(missing.status).toBeNull();
    expect(missing.message).toContain("is not a file");
    const badInput = await rejection(() => conn.predict(APP, "not numbers"));
    expect(badInput).toMatchObject({ status: 400, code: "bad_request" });
    expect(badInput.message).toStartWith(`POST ${server.queryUrl}/${APP}/predict failed with 400: `);
  });

  it("unlinks, deletes a version and the app, and stops the model", async () => {
    expect(await conn.unlinkModelFromApp(APP, "js-const-b")).toEqual([MODEL]);
    await conn.deleteVersionedModel("js-const-b", 1);
    expect(await conn.getModelInfo("js-const-b", 1)).toBeNull();
    await conn.deleteApplication(APP);
    expect(await conn.getAllApps()).toEqual([]);
    expect(await conn.stopModels(MODEL)).toEqual([MODEL]);
    expect(await conn.getAllModels()).toEqual([]);
  });
});

describe("clients/js/examples/hr.ts", () => {
  const example = join(ROOT, "clients/js/examples/hr.ts");
  const env = () => ({ CLIPPER_DATA_DIR: server.dataDir, CLIPPER_TOKEN: "" });

  function expectTutorialOutput(stdout: string) {
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toBe(`hr-hiring serves ["hr-decision-tree"] at ${new URL(server.queryUrl).host}`);
    CANDIDATES.forEach((c, i) => expect(lines[i + 1]).toStartWith(`${JSON.stringify(c)} -> ${fx.hrExpected.at(i - 3)} (`));
  }

  it("registers hr-hiring, deploys hr.pkl as hr-decision-tree v1 and prints the three candidates' predictions, twice", async () => {
    const args = [process.execPath, example, HR_PKL, server.mgmtUrl, server.queryUrl];
    const first = await run(args, env());
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expectTutorialOutput(first.stdout);
    expect((await server.admin("get_model", { model_name: "hr-decision-tree", model_version: "1" })).json).toMatchObject({ is_current: true, state: "ready" });
    const again = await run(args, env());
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
  });

  it("prints one line and exits 1 when the token is wrong", async () => {
    const res = await run([process.execPath, example, HR_PKL, server.mgmtUrl], { CLIPPER_TOKEN: "wrong" });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: (GET|POST) /);
    expect(res.stderr).toContain("401");
    expect(res.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("runs in Node once bundled: the client needs nothing but the platform's fetch (and node:fs for files)", async () => {
    const node = Bun.which("node");
    if (!node) {
      console.warn("node is not on PATH: the Node run of the example is not exercised");
      return;
    }
    const outdir = tempDir("clipper-js-client-");
    try {
      const built = await Bun.build({ entrypoints: [example], outdir, target: "node", format: "esm", naming: "hr.mjs" });
      expect(built.success).toBe(true);
      const res = await run([node, join(outdir, "hr.mjs"), HR_PKL, server.mgmtUrl, server.queryUrl], env());
      expect(res.stderr).toBe("");
      expect(res.code).toBe(0);
      expectTutorialOutput(res.stdout);
    } finally {
      cleanup(outdir);
    }
  });
});
