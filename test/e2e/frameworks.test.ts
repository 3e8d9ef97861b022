/**
 * End to end: every model format clipper serves with no wrapper (TorchScript, torch.export, SavedModel, Keras,
 * XGBoost, LightGBM, ONNX, MLflow), each a small model made by the real framework in this test. Each is
 * deployed with `clipper deploy PATH` alone, answers 50 rows over REST and V2 as the framework does in-process,
 * and a corrupted artifact of each gives the framework's own load error and registers nothing. Directory
 * artifacts travel as tars: unsafe archives are refused before anything is written.
 *
 * The server's Python is .venv-frameworks (scripts/lib/frameworks-venv, from test/requirements-frameworks.txt),
 * so the formats' packages come from the server's Python.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { cleanup, FIXTURES, ROOT, type Server, shutdown, startServer, tempDir } from "./harness.ts";
import { PYTHON as SERVER_DEFAULT_PYTHON } from "./harness.ts";
import { missingRequirement } from "../provisioned.ts";

const PY = join(ROOT, ".venv-frameworks/bin/python");
const HAVE_FRAMEWORKS =
  missingRequirement(existsSync(PY) ? undefined : `no frameworks environment at ${PY} (scripts/lib/frameworks-venv makes it)`) === undefined;
const work = tempDir("clipper-frameworks-");

type Made = {
  path: string;
  bad_path?: string;
  rows: number[][];
  expected: unknown[];
  load_error?: string;
  tensor?: number[][][][];
  argmax?: number[];
  feature_names?: string[];
};
const made: Record<string, Made> & { tars?: Record<string, string> } = {};
let server: Server | undefined;

beforeAll(async () => {
  if (!HAVE_FRAMEWORKS) return;
  // One process per framework family: PyTorch and TensorFlow in one process fight over OpenMP and can hang.
  const groups = ["torchscript,cnn,torch-export", "savedmodel,keras", "xgboost,lightgbm,onnx,mlflow-sklearn,mlflow-pyfunc,tars"];
  for (const [i, names] of groups.entries()) {
    const out = join(work, `group-${i}`);
    const proc = Bun.spawn([PY, join(FIXTURES, "make_framework_models.py"), out, names], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, OMP_NUM_THREADS: "1" },
    });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, new Response(proc.stdout).text()]);
    if (code !== 0) throw new Error(`make_framework_models.py ${names} failed:\n${stderr.slice(-3000)}`);
    Object.assign(made, JSON.parse(readFileSync(join(out, "models.json"), "utf8")));
  }
  server = await startServer({ env: { CLIPPER_PYTHON: PY, CLIPPER_REPLICA_START_TIMEOUT_MS: "120000" } });
}, 300_000);

afterAll(async () => {
  await shutdown(server);
  cleanup(work);
});

/** An output as a value: JSON text (a vector) parsed, a number's string as a number. */
function value(o: unknown): unknown {
  if (typeof o !== "string") return o;
  try {
    return JSON.parse(o);
  } catch {
    return o;
  }
}

/** Equal within `rel` relative error (numbers, or lists of them), else exactly. */
function close(actual: unknown, expected: unknown, rel: number): boolean {
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => close(actual[i], e, rel));
  if (typeof expected === "number") {
    const a = Number(actual);
    return rel === 0 ? a === expected : Math.abs(a - expected) <= rel * Math.max(1e-6, Math.abs(expected));
  }
  return String(actual) === String(expected);
}

function expectAll(outputs: unknown[], expected: unknown[], rel: number): void {
  expect(outputs.length).toBe(expected.length);
  const wrong = outputs.map((o, i) => [i, value(o), expected[i]] as const).filter(([, a, e]) => !close(a, e, rel));
  expect(wrong).toEqual([]);
}

/** 50 rows over REST (one input_batch) and V2 (one [50, K] tensor, or `tensor` as given). */
async function predictBoth(app: string, m: Made, rel: number, expected: unknown[] = m.expected): Promise<void> {
  const rest = await server!.predict(app, { input_batch: m.rows });
  expect(rest.status).toBe(200);
  const answers = rest.json.batch_predictions as { output: unknown; default: boolean }[];
  expect(answers.filter((a) => a.default)).toEqual([]);
  expectAll(
    answers.map((a) => a.output),
    expected,
    rel,
  );
  const width = m.rows[0]!.length;
  const res = await fetch(`${server!.queryUrl}/v2/models/${app}/infer`, {
    method: "POST",
    body: JSON.stringify({ inputs: [{ name: "input", shape: [m.rows.length, width], datatype: "FP64", data: m.rows.flat() }] }),
  });
  const v2 = (await res.json()) as { outputs: { data: string[] }[] };
  expect(res.status).toBe(200);
  expectAll(v2.outputs[0]!.data, expected, rel);
}

/**
 * `clipper deploy PATH` with no more than the test's flags. The app is registered first with a long SLO: on a
 * shared 2-core machine a 50-row batch can take longer than the default 100 ms, and a default answer is not
 * what these tests are about.
 */
async function deployOk(path: string, ...flags: string[]): Promise<string> {
  const nameAt = flags.indexOf("--name");
  const name = nameAt >= 0 ? flags[nameAt + 1]! : basename(path).replace(/\.[^.]*$/, "");
  await server!.cliOk("register-app", name, "--input-type", "doubles", "--slo-micros", "30000000");
  return server!.cliOk("deploy", path, ...flags);
}

/** A corrupted artifact: the deploy fails with the framework's own error, and no model is registered. */
async function expectLoadError(name: string, m: Made, ...flags: string[]): Promise<void> {
  const res = await server!.cli("deploy", m.bad_path!, "--name", name, ...flags, "--url", server!.mgmtUrl);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain(m.load_error!);
  const models = await server!.admin("get_all_models", { verbose: true });
  expect((models.json as { model_name: string }[]).map((x) => x.model_name)).not.toContain(name);
}

const FLOAT_REL = 1e-5;

describe.skipIf(!HAVE_FRAMEWORKS)("model formats (.venv-frameworks; scripts/lib/frameworks-venv makes it)", () => {
  it("TorchScript: an MLP from a .pt file, its packages from the server's Python", async () => {
    const out = await deployOk(made.torchscript!.path);
    expect(out).toContain("torchscript");
    expect(out).toContain("the server's Python");
    await predictBoth("mlp", made.torchscript!, FLOAT_REL);
    await expectLoadError("bad-torchscript", made.torchscript!);
  });

  it("TorchScript: a tiny CNN with --input-shape 1,8,8 answers flat rows and [N, 1, 8, 8] V2 tensors", async () => {
    const cnn = made.cnn!;
    await deployOk(cnn.path, "--input-shape", "1,8,8");
    const status = await server!.admin("get_model", { model_name: "cnn", model_version: "1" });
    expect(status.json.runtime_info.input_shape).toEqual([1, 8, 8]);
    await predictBoth("cnn", cnn, FLOAT_REL);
    const res = await fetch(`${server!.queryUrl}/v2/models/cnn/infer`, {
      method: "POST",
      body: JSON.stringify({ inputs: [{ name: "input", shape: [cnn.rows.length, 1, 8, 8], datatype: "FP32", data: cnn.tensor }] }),
    });
    expect(res.status).toBe(200);
    expectAll(((await res.json()) as { outputs: { data: string[] }[] }).outputs[0]!.data, cnn.expected, FLOAT_REL);
  });

  it("torch.export: a .pt2 program, its input shape read from the program", async () => {
    await deployOk(made["torch-export"]!.path, "--name", "exported");
    const m = await server!.admin("get_model", { model_name: "exported", model_version: "1" });
    expect(m.json.runtime_info).toMatchObject({ format: "torch-export", input_shape: [5] });
    await predictBoth("exported", made["torch-export"]!, FLOAT_REL);
    await expectLoadError("bad-exported", made["torch-export"]!);
  });

  it("XGBoost: a model.json Booster, exact probabilities, and --output argmax answers the class", async () => {
    const x = made.xgboost!;
    await deployOk(x.path);
    await predictBoth("boosted", x, 0);
    await deployOk(x.path, "--name", "boosted-class", "--output", "argmax", "--threads", "2");
    await predictBoth("boosted-class", x, 0, x.argmax!.map(String));
    const status = await server!.admin("status");
    const models = status.json.models as { model_name: string; runtime_info: { threads: number } }[];
    expect(models.find((m) => m.model_name === "boosted-class")!.runtime_info.threads).toBe(2);
    expect(models.find((m) => m.model_name === "boosted")!.runtime_info.threads).toBe(1);
    expect(await server!.cliOk("status")).toMatch(/boosted-class .*xgboost\s+2/);
    await expectLoadError("bad-xgboost", x);
  });

  it("LightGBM: a .txt Booster, exact predictions", async () => {
    await deployOk(made.lightgbm!.path);
    await predictBoth("regressor", made.lightgbm!, 0);
    await expectLoadError("bad-lightgbm", made.lightgbm!);
  });

  it("ONNX: a .onnx graph served by onnxruntime in the Python runtime", async () => {
    await deployOk(made.onnx!.path);
    await predictBoth("scorer", made.onnx!, FLOAT_REL);
    await expectLoadError("bad-onnx", made.onnx!);
  });

  it("Keras: a .keras file", async () => {
    await deployOk(made.keras!.path);
    await predictBoth("classifier", made.keras!, FLOAT_REL);
    await expectLoadError("bad-keras", made.keras!);
  });

  it("TensorFlow SavedModel: a directory, uploaded as a tar, its serving_default signature", async () => {
    const out = await deployOk(made.savedmodel!.path, "--name", "tf-scorer");
    expect(out).toContain("as a tar archive");
    expect(out).toContain("savedmodel");
    await predictBoth("tf-scorer", made.savedmodel!, FLOAT_REL);
    await expectLoadError("bad-savedmodel", made.savedmodel!);
  });

  it("MLflow: a model logged with mlflow.sklearn.log_model, fed a DataFrame with its signature's columns", async () => {
    const m = made["mlflow-sklearn"]!;
    await deployOk(m.path, "--name", "mlflow-lr");
    const info = await server!.admin("get_model", { model_name: "mlflow-lr", model_version: "1" });
    expect(info.json.runtime_info).toMatchObject({ format: "mlflow", feature_names: m.feature_names, input_shape: [5] });
    await predictBoth("mlflow-lr", m, 0);
    await expectLoadError("bad-mlflow", m);
  });

  it("clipper apply names a directory artifact (an MLflow model), packs it as deploy does, and a second apply changes nothing", async () => {
    const m = made["mlflow-sklearn"]!;
    const file = join(work, "clipper-dir.yaml");
    writeFileSync(
      file,
      `apps:\n  - name: applied-mlflow\n    input_type: doubles\n    latency_slo_micros: 30000000\nmodels:\n  - name: applied-mlflow\n    version: "1"\n    artifact: ${m.path}\n    links: [applied-mlflow]\n`,
    );
    const first = await server!.cli("apply", "-f", file, "--url", "$MGMT");
    expect(first.stderr).toBe("");
    expect(first.stdout).toContain("model applied-mlflow:1: deployed (1 replica)");
    const info = await server!.admin("get_model", { model_name: "applied-mlflow", model_version: "1" });
    expect(info.json.runtime_info).toMatchObject({ format: "mlflow", input_shape: [5] });
    await predictBoth("applied-mlflow", m, 0);
    expect((await server!.cliOk("apply", "-f", file)).trim()).toEndWith("nothing to change");
  });

  it("MLflow: a custom mlflow.pyfunc PythonModel", async () => {
    await deployOk(made["mlflow-pyfunc"]!.path, "--name", "mlflow-custom");
    await predictBoth("mlflow-custom", made["mlflow-pyfunc"]!, 1e-12);
  });

  it("refuses archives with '..', absolute paths, links out or devices, naming the entry, and writes nothing", async () => {
    const tars = made.tars!;
    const artifactsDir = join(server!.dataDir, "artifacts");
    const before = readdirSync(artifactsDir).sort();
    const cases: [string, string][] = [
      ["dotdot", "../escaped.txt"],
      ["absolute", "/tmp/clipper-absolute-escape.txt"],
      ["symlink", "link"],
      ["device", "dev"],
    ];
    for (const [name, entry] of cases) {
      const res = await fetch(`${server!.mgmtUrl}/admin/artifacts`, {
        method: "PUT",
        headers: { authorization: `Bearer ${server!.token}` },
        body: Bun.file(tars[name]!),
      });
      const body = (await res.json()) as { error: string };
      expect(res.status).toBe(400);
      expect(body.error).toContain(`archive entry '${entry}'`);
    }
    expect(readdirSync(artifactsDir).sort()).toEqual(before);
    expect(existsSync(join(server!.dataDir, "escaped.txt"))).toBe(false);
    expect(existsSync("/tmp/clipper-absolute-escape.txt")).toBe(false);
  });

  it("answers 400 naming the field when a format does not fit the artifact, or is unknown", async () => {
    const put = async (file: string) =>
      (
        (await fetch(`${server!.mgmtUrl}/admin/artifacts`, {
          method: "PUT",
          headers: { authorization: `Bearer ${server!.token}` },
          body: Bun.file(file),
        }).then((r) => r.json())) as { sha256: string }
      ).sha256;
    const sha = await put(made.lightgbm!.path);
    const deploy = (extra: Record<string, unknown>) =>
      server!.admin("add_model", { model_name: "misfit", artifact_sha256: sha, artifact_name: "regressor.txt", ...extra });
    const asDir = await deploy({ format: "savedmodel" });
    expect(asDir.status).toBe(400);
    expect(asDir.json.error).toContain("format: a savedmodel model is a directory");
    const unknown = await deploy({ format: "tensorrt" });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toStartWith("format:");
    const shape = await deploy({ input_shape: [0, 5] });
    expect(shape.status).toBe(400);
    expect(shape.json.error).toStartWith("input_shape.0:");
    const notAFormat = await server!.admin("add_model", {
      model_name: "misfit",
      artifact_sha256: await put(made.torchscript!.bad_path!),
      artifact_name: "model.pkl",
      input_shape: [5],
    });
    expect(notAFormat.status).toBe(400);
    expect(notAFormat.json.error).toContain("input_shape: only a model format");
  });

  it("deploy --help lists every format", async () => {
    const res = await server!.cli("deploy", "--help");
    for (const f of ["torchscript", "torch-export", "savedmodel", "keras", "xgboost", "lightgbm", "onnx", "mlflow"]) expect(res.stdout).toContain(f);
  });
});

/** What test/fixtures/framework_deployers.py saw of one deployer: served like the framework, within float error. */
type DeployerSeen = { state: string; format: string; labels: string[]; rows: number; defaults: unknown[]; max_abs_diff: number; scale: number };

async function runDeployers(group: "torch" | "tf"): Promise<Record<string, DeployerSeen>> {
  const script = join(FIXTURES, "framework_deployers.py");
  const proc = Bun.spawn([PY, script, server!.mgmtUrl, server!.queryUrl, group], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, OMP_NUM_THREADS: "1", CLIPPER_TOKEN: "", CLIPPER_DATA_DIR: server!.dataDir },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`framework_deployers.py ${group} failed:\n${stderr.slice(-3000)}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

function expectServedLikeFramework(seen: DeployerSeen, format: string, labels: string[]): void {
  expect({ state: seen.state, format: seen.format, labels: seen.labels, rows: seen.rows, defaults: seen.defaults }).toEqual({
    state: "ready",
    format,
    labels,
    rows: 20,
    defaults: [],
  });
  expect(seen.max_abs_diff).toBeLessThanOrEqual(FLOAT_REL * Math.max(1, seen.scale));
}

describe.skipIf(!HAVE_FRAMEWORKS)("clients/python's framework deployers, each with a real model of its framework", () => {
  it("deployers.pytorch (TorchScript) and deployers.onnx (torch.onnx.export) predict as the torch model does", async () => {
    const seen = await runDeployers("torch");
    expectServedLikeFramework(seen.pytorch!, "torchscript", ["torch"]);
    expectServedLikeFramework(seen.onnx!, "onnx", ["onnx", "v1"]);
  }, 300_000);

  it("deployers.tensorflow (a SavedModel directory, sent as a tar) and deployers.keras predict as the framework does", async () => {
    const seen = await runDeployers("tf");
    expectServedLikeFramework(seen.tensorflow!, "savedmodel", ["tf"]);
    expectServedLikeFramework(seen.keras!, "keras", []);
  }, 300_000);
});

describe.skipIf(!HAVE_FRAMEWORKS)("a format whose packages the server's Python lacks", () => {
  it("deploys into an environment of the format's pinned packages, built from PyPI, and says so", async () => {
    // .venv (the runtime's own requirements) has no LightGBM: deploy builds an environment with lightgbm only.
    const plain = await startServer({ env: { CLIPPER_PYTHON: SERVER_DEFAULT_PYTHON } });
    try {
      const m = made.lightgbm!;
      await plain.cliOk("register-app", "regressor", "--input-type", "doubles", "--slo-micros", "30000000");
      const out = await plain.cliOk("deploy", m.path);
      expect(out).toContain("lightgbm 4.7.0 from an environment (format default)");
      const info = await plain.admin("get_model", { model_name: "regressor", model_version: "1" });
      expect(info.json.runtime_info.packages).not.toHaveProperty("torch");
      const rest = await plain.predict("regressor", { input_batch: m.rows });
      expectAll(
        (rest.json.batch_predictions as { output: unknown }[]).map((a) => a.output),
        m.expected,
        0,
      );
    } finally {
      await shutdown(plain);
    }
  }, 600_000);
});
