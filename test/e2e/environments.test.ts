/** End to end: a model pickled with another scikit-learn runs in its own environment beside one on the default. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { makeFixtures, ROOT, type Server, shutdown, startServer, tempDir } from "./harness.ts";

const fx = makeFixtures();
const OLD_SKLEARN = "scikit-learn==1.6.1";
let server: Server;

beforeAll(async () => {
  server = await startServer();
});
afterAll(() => shutdown(server));

async function waitForEnvironment(id: string): Promise<{ state: string; python: string; error: string | null }> {
  for (;;) {
    const { json } = await server.admin(`environments/${id}`);
    if (json.state !== "building") return json;
    await Bun.sleep(250);
  }
}

describe("per-model environments", () => {
  it("serves a model pickled with scikit-learn 1.6.1 in its own environment beside one on 1.7.2", async () => {
    const started = performance.now();
    const { json: build } = await server.admin("environments", { pkgs: [OLD_SKLEARN] });
    const env = await waitForEnvironment(build.id);
    expect(env.state).toBe("ready");
    const buildSecs = (performance.now() - started) / 1000;

    // Train the same tree with the environment's own scikit-learn.
    const oldPkl = join(tempDir(), "hr-161.pkl");
    const train = Bun.spawnSync([env.python, join(ROOT, "examples/hr/train.py"), oldPkl]);
    expect(train.exitCode).toBe(0);

    const t0 = performance.now();
    const dep = await server.cli("deploy", oldPkl, "--name", "hr-old", "--url", "$MGMT", "--pkgs", OLD_SKLEARN);
    const cachedSecs = (performance.now() - t0) / 1000;
    expect(dep.stderr).toBe("");
    expect(dep.stdout).toContain(`environment for ${OLD_SKLEARN}: cached`);
    expect(dep.stdout).toContain("scikit-learn 1.6.1");
    expect((await server.cli("deploy", join(fx.dir, "hr.pkl"), "--name", "hr-new", "--url", "$MGMT")).stdout).toContain("scikit-learn 1.7.2");

    const [old, now] = await Promise.all([server.predict("hr-old", { input_batch: fx.rows }), server.predict("hr-new", { input_batch: fx.rows })]);
    expect(old.json.batch_predictions.map((p: { output: string }) => p.output)).toEqual(fx.hrExpected);
    expect(now.json.batch_predictions.map((p: { output: string }) => p.output)).toEqual(fx.hrExpected);
    const models = JSON.parse((await server.cli("models", "--json", "--url", "$MGMT")).stdout);
    expect(models.find((m: { model_name: string }) => m.model_name === "hr-old").runtime_info.packages["scikit-learn"]).toBe("1.6.1");
    console.log(`environment build (uncached) ${buildSecs.toFixed(1)} s; deploy with the environment cached ${cachedSecs.toFixed(2)} s`);
  });

  it("serves LightGBM and XGBoost scikit-learn wrappers from joblib files in their environment", async () => {
    const pkgs = ["lightgbm==4.6.0", "xgboost-cpu==3.1.1", "scikit-learn==1.7.2"];
    const { json: build } = await server.admin("environments", { pkgs });
    const env = await waitForEnvironment(build.id);
    expect(env.state).toBe("ready");
    const out = tempDir();
    const train = Bun.spawnSync([env.python, join(ROOT, "test/fixtures/train_boosted.py"), out, JSON.stringify(fx.rows)]);
    expect(train.stderr.toString()).not.toContain("Error");
    const expected = JSON.parse(train.stdout.toString()) as Record<string, string[]>;
    for (const name of ["lgbm", "xgb"]) {
      const dep = await server.cli("deploy", join(out, `${name}.joblib`), "--name", name, "--url", "$MGMT", "--pkgs", ...pkgs);
      expect(dep.stderr).toBe("");
      const { json } = await server.predict(name, { input_batch: fx.rows });
      expect(json.batch_predictions.map((p: { output: string }) => p.output)).toEqual(expected[name]!);
    }
    const models = JSON.parse((await server.cli("models", "--json", "--url", "$MGMT")).stdout);
    expect(models.find((m: { model_name: string }) => m.model_name === "xgb").runtime_info.packages["xgboost-cpu"]).toBe("3.1.1");
  });

  it("reports the installer's own message when a package cannot be installed", async () => {
    const res = await server.cli("deploy", join(fx.dir, "hr.pkl"), "--name", "hr-broken", "--url", "$MGMT", "--pkgs", "clipper-no-such-package-xyz==9.9.9");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("building the environment failed");
    expect(res.stderr).toMatch(/clipper-no-such-package-xyz/);
    expect((await server.admin("get_all_models", {})).json).not.toContain("hr-broken:1");
  });

  it("refuses a requirement that is not a package name and version", async () => {
    const { status, json } = await server.admin("environments", { pkgs: ["--index-url=http://example.com/x"] });
    expect(status).toBe(400);
    expect(json.error).toContain("is not a package requirement");
  });
});
