/** End to end through the compiled binary: deploy a real scikit-learn pickle, query it over HTTP, restart. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cleanup, fetchJson, makeFixtures, runCli, type Server, shutdown, startServer, tempDir } from "./harness.ts";

const fx = makeFixtures();
let server: Server;

beforeAll(async () => {
  server = await startServer();
});
afterAll(() => shutdown(server));

describe("deploy and predict", () => {
  it("deploys hr.pkl as model hr version 1 with app hr, and answers like scikit-learn", async () => {
    const dep = await server.cli("deploy", join(fx.dir, "hr.pkl"), "--url", "$MGMT");
    expect(dep.stderr).toBe("");
    expect(dep.code).toBe(0);
    expect(dep.stdout).toContain("uploading hr.pkl");
    expect(dep.stdout).toContain("starting 1 python replica");
    expect(dep.stdout).toMatch(/ready: model hr version 1 serves app hr/);
    for (let i = 0; i < fx.rows.length; i++) {
      const { status, json } = await server.predict("hr", { input: fx.rows[i] });
      expect(status).toBe(200);
      expect(json.default).toBe(false);
      expect(json.output).toBe(fx.hrExpected[i]!);
      expect(typeof json.query_id).toBe("number");
    }
  });

  it("answers input_batch with one prediction per row, equal to scikit-learn's", async () => {
    const { status, json } = await server.predict("hr", { input_batch: fx.rows });
    expect(status).toBe(200);
    expect(json.batch_predictions.map((p: { output: string }) => p.output)).toEqual(fx.hrExpected);
    expect(json.batch_predictions.every((p: { default: boolean }) => p.default === false)).toBe(true);
  });

  it("runs the tutorial's command sequence: register-app, deploy with flags and 2 replicas, link, predict", async () => {
    const reg = await server.cli(
      "register-app",
      "hr-hiring",
      "--input-type",
      "doubles",
      "--default-output",
      "-1.0",
      "--slo-micros",
      "100000",
      "--url",
      "$MGMT",
    );
    expect(reg.code).toBe(0);
    const dep = await server.cli(
      "deploy",
      join(fx.dir, "hr.pkl"),
      "--name",
      "hr-decision-tree",
      "--version",
      "2",
      "--app",
      "hr-hiring",
      "--input-type",
      "doubles",
      "--replicas",
      "2",
      "--url",
      "$MGMT",
    );
    expect(dep.code).toBe(0);
    expect(dep.stdout).toContain("starting 2 python replicas");
    const link = await server.cli("link", "hr-hiring", "hr-decision-tree", "--url", "$MGMT");
    expect(link.code).toBe(0);
    const pred = await server.cli("predict", "hr-hiring", "[5.0, 3.0, 85.0, 4.5, 2.0]", "--query-url", "$QUERY");
    expect(pred.code).toBe(0);
    const answer = JSON.parse(pred.stdout);
    expect(answer.output).toBe(fx.hrExpected[fx.rows.length - 3]!);
    expect(answer.default).toBe(false);
    const containers = (await server.admin("get_all_containers", {})).json;
    expect(containers.filter((c: { model_name: string }) => c.model_name === "hr-decision-tree")).toHaveLength(2);
  });

  it("lists apps, models and status as tables and as JSON", async () => {
    const apps = await server.cli("apps", "--url", "$MGMT");
    expect(apps.stdout).toMatch(/^NAME\s+INPUT TYPE/);
    expect(apps.stdout).toMatch(/hr-hiring\s+doubles\s+-1\.0\s+100000\s+default\s+single\s+hr-decision-tree/);
    const models = JSON.parse((await server.cli("models", "--json", "--url", "$MGMT")).stdout);
    const dt = models.find((m: { model_name: string }) => m.model_name === "hr-decision-tree");
    expect(dt.model_version).toBe("2");
    expect(dt.runtime_info.packages["scikit-learn"]).toBe("1.7.2");
    expect(dt.runtime_info.python).toMatch(/^3\./);
    const status = JSON.parse((await server.cli("status", "--json", "--url", "$MGMT")).stdout);
    expect(status.applications.find((a: { name: string }) => a.name === "hr-hiring").ready).toBe(true);
    const text = await server.cli("status", "--url", "$MGMT");
    expect(text.stdout).toMatch(/hr-decision-tree\s+2\s+\*\s+doubles\s+ready\s+2\/2/);
  });

  it("speaks Clipper's management routes and bodies", async () => {
    const post = (path: string, body: unknown = {}) => server.admin(path, body);
    expect((await post("add_app", { name: "clip", input_type: "doubles", default_output: "0", latency_slo_micros: 20000 })).status).toBe(200);
    expect((await post("get_application", { name: "clip" })).json).toMatchObject({
      name: "clip",
      input_type: "doubles",
      default_output: "0",
      latency_slo_micros: 20000,
    });
    expect((await post("add_model_links", { app_name: "clip", model_names: ["hr"] })).status).toBe(200);
    expect((await post("get_linked_models", { app_name: "clip" })).json).toEqual(["hr"]);
    expect((await post("get_all_applications")).json).toContain("clip");
    expect((await post("get_all_models")).json).toContain("hr:1");
    expect((await post("get_model", { model_name: "hr", model_version: 1 })).json.model_name).toBe("hr");
    expect(await (await fetch(`${server.mgmtUrl}/admin/ping`)).text()).toBe("pong");
    const bad = await post("add_app", { name: "Bad Name!", input_type: "doubles" });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^name: must be 1-63 lowercase/);
    const badType = await post("add_app", { name: "x", input_type: "tensors" });
    expect(badType.status).toBe(400);
    expect(badType.json.error).toMatch(/^input_type:/);
    expect((await post("add_app", { name: "clip", input_type: "doubles" })).status).toBe(409);
    // Clipper's answer to an unknown name: 200 and {} (its client returns None).
    const unknown = await post("get_application", { name: "nope" });
    expect([unknown.status, unknown.json]).toEqual([200, {}]);
  });

  it("serves a cached answer for a repeated query and counts hits at /metrics", async () => {
    const before = (await fetchJson(`${server.queryUrl}/metrics.json`)).cache;
    const input = { input: [3.0, 2.0, 77.0, 3.5, 1.0] };
    const first = await server.predict("hr", input);
    const second = await server.predict("hr", input);
    expect(second.json.output).toBe(first.json.output);
    const after = (await fetchJson(`${server.queryUrl}/metrics.json`)).cache;
    expect(after.misses - before.misses).toBe(1);
    expect(after.hits - before.hits).toBe(1);
  });

  it("coalesces concurrent queries into batches larger than one", async () => {
    const rows = Array.from({ length: 400 }, (_, i) => [i % 15, 1 + (i % 4), 40 + (i % 60) + 0.25, 1 + (i % 5), (i * 13) % 8]);
    const answers = await Promise.all(rows.map((r) => server.predict("hr-hiring", { input: r })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const metrics = await fetchJson(`${server.queryUrl}/metrics.json`);
    expect(metrics.models["hr-decision-tree:2"].max_batch_size).toBeGreaterThan(1);
  });

  it("answers /health and /ready", async () => {
    expect((await fetch(`${server.queryUrl}/health`)).status).toBe(200);
    const ready = await fetch(`${server.queryUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { ready: boolean }).ready).toBe(true);
  });
});

describe("bad queries", () => {
  const cases: [string, string, RegExp][] = [
    ["a body that is not JSON", "{not json", /not valid JSON/],
    ["a body that is an array", "[1,2]", /must be a JSON object/],
    ["no input field", '{"inputs": [1]}', /no 'input' or 'input_batch'/],
    ["a wrong type", '{"input": "hello"}', /input must be a non-empty array of finite numbers .* got the string "hello"/],
    ["a string inside the numbers", '{"input": [1, "2", 3]}', /input\[1\] is the string "2", not a finite number/],
    ["an empty input", '{"input": []}', /got an empty array/],
    ["a huge number", '{"input": [1e999, 1]}', /input\[0\] is the number Infinity/],
    ["a ragged batch", '{"input_batch": [[1,2,3,4,5],[1,2]]}', /input_batch\[1\] has 2 values; model hr version 1 expects 5/],
    ["an empty batch", '{"input_batch": []}', /non-empty array/],
  ];
  for (const [what, body, message] of cases) {
    it(`answers 400 naming what was expected for ${what}`, async () => {
      const { status, json } = await server.predict("hr", body);
      expect(status).toBe(400);
      expect(json.error).toMatch(message);
      expect(json).toHaveProperty("cause");
    });
  }

  it("answers 404 for an unknown app", async () => {
    const { status, json } = await server.predict("no-such-app", { input: [1] });
    expect(status).toBe(404);
    expect(json.error).toContain("no application named 'no-such-app'");
  });

  it("answers 413 for a body over the limit", async () => {
    const big = JSON.stringify({ input: Array.from({ length: 3_000_000 }, () => 1.5) });
    const res = await fetch(`${server.queryUrl}/hr/predict`, { method: "POST", body: big });
    expect(res.status).toBe(413);
  });
});

describe("the CLI", () => {
  it("prints help for every command", async () => {
    for (const cmd of ["serve", "deploy", "register-app", "link", "predict", "apps", "models", "status"]) {
      const res = await runCli([cmd, "--help"]);
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(`usage: clipper ${cmd}`);
    }
  });

  it("gives one clear line and a non-zero exit for a wrong flag", async () => {
    const res = await runCli(["apps", "--colour"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim().split("\n")).toHaveLength(1);
    expect(res.stderr).toContain("Unknown option '--colour'");
  });

  it("says so when no server is running", async () => {
    const res = await runCli(["apps", "--url", "http://127.0.0.1:9"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim()).toBe("clipper: cannot reach a clipper server at http://127.0.0.1:9 (is `clipper serve` running? set --url otherwise)");
  });
});

describe("restart", () => {
  it("restores every app, model and link from the registry and serves again", async () => {
    const dataDir = tempDir();
    const first = await (await import("./harness.ts")).startServer({ dataDir });
    expect((await first.cli("deploy", join(fx.dir, "hr.pkl"), "--name", "hr-dt", "--app", "hiring", "--url", "$MGMT")).code).toBe(0);
    expect(await first.stop("SIGKILL")).not.toBe(0);
    const second = await (await import("./harness.ts")).startServer({ dataDir });
    try {
      expect(second.log()).toContain("restored model hr-dt:1");
      const { json } = await second.predict("hiring", { input: fx.rows[0] });
      expect(json).toMatchObject({ output: fx.hrExpected[0], default: false });
      const apps = JSON.parse((await second.cli("apps", "--json", "--url", "$MGMT")).stdout);
      expect(apps).toEqual([expect.objectContaining({ name: "hiring", linked_models: ["hr-dt"] })]);
    } finally {
      expect(await second.stop()).toBe(0);
      cleanup(dataDir);
    }
  });
});

describe("failed deploys", () => {
  it("reports the runtime's own error for an unpicklable file and registers nothing", async () => {
    const s = await startServer();
    try {
      const dep = await s.cli("deploy", join(fx.dir, "garbage.pkl"), "--url", "$MGMT");
      expect(dep.code).not.toBe(0);
      expect(dep.stderr).toMatch(/could not load the model: UnpicklingError/);
      expect(JSON.parse((await s.cli("apps", "--json", "--url", "$MGMT")).stdout)).toEqual([]);
      expect(JSON.parse((await s.cli("models", "--json", "--url", "$MGMT")).stdout)).toEqual([]);
      expect(existsSync(join(s.dataDir, "artifacts"))).toBe(true);
    } finally {
      await s.stop();
      cleanup(s.dataDir);
    }
  });
});
