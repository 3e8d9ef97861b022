/**
 * End to end: every artifact kind deployed through the compiled binary and queried over HTTP. The Docker
 * runtime on a real engine has its own file, docker-runtime.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { FIXTURES, makeFixtures, PYTHON, ROOT, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
let server: Server;

/** `clipper deploy` of a fixture (a bare name is one of makeFixtures'); the harness's cliOk throws with stderr on failure. */
const deploy = (file: string, ...flags: string[]) => server.cliOk("deploy", ...(file ? [file.startsWith("/") ? file : join(fx.dir, file)] : []), ...flags);

beforeAll(async () => {
  server = await startServer();
});
afterAll(() => shutdown(server));

describe("Python runtime artifacts", () => {
  it("serves a joblib file", async () => {
    await deploy("sum.joblib", "--name", "jl", "--input-type", "integers");
    expect((await server.predict("jl", { input: [1, 2, 3] })).json).toMatchObject({ output: "6", default: false });
  });

  it("serves a cloudpickled closure (Clipper's deploy_python_closure), captured values included", async () => {
    await deploy("closure.pkl", "--name", "closure");
    expect((await server.predict("closure", { input: [1, 2] })).json).toMatchObject({ output: "103", default: false });
  });

  it("serves a Python file exposing predict(inputs), after calling its load()", async () => {
    await deploy(join(FIXTURES, "module_model.py"), "--name", "pyfile");
    expect(
      (
        await server.predict("pyfile", {
          input_batch: [
            [1, 2],
            [3, 4.5],
          ],
        })
      ).json.batch_predictions.map((p: { output: string }) => p.output),
    ).toEqual(["3.0", "7.5"]);
  });

  it("calls another method with --predict-method and nests list outputs as JSON", async () => {
    await deploy("hr.pkl", "--name", "hr-proba", "--predict-method", "predict_proba");
    const { json } = await server.predict("hr-proba", { input: fx.rows[0] });
    expect(Array.isArray(json.output)).toBe(true);
    expect(json.output).toHaveLength(2);
    expect(json.output[0] + json.output[1]).toBeCloseTo(1, 6);
  });
});

describe("Node runtime", () => {
  it("serves an ES module from the same binary, calling load() first", async () => {
    const out = await deploy(join(FIXTURES, "sum_model.mjs"), "--name", "node-sum");
    expect(out).toContain("starting 1 node replica");
    expect(
      (
        await server.predict("node-sum", {
          input_batch: [
            [1, 2, 3],
            [0.5, 0.25, 0],
          ],
        })
      ).json.batch_predictions.map((p: { output: string }) => p.output),
    ).toEqual(["6", "0.75"]);
    const containers = (await server.admin("get_all_containers", {})).json;
    expect(containers.find((c: { model_name: string }) => c.model_name === "node-sum").state).toBe("ready");
  });

  it("serves a TypeScript module with an async predict over strings", async () => {
    await deploy(join(FIXTURES, "length_model.ts"), "--name", "node-len", "--input-type", "strings");
    expect((await server.predict("node-len", { input: "hello" })).json).toMatchObject({ output: "5", default: false });
  });

  it("sends console output to the replica's log, not the protocol pipe", async () => {
    expect((await server.cli("logs", "node-sum", "--url", "$MGMT")).stdout).toContain("predicting 2 rows");
  });
});

describe("a runtime of your own", () => {
  it("runs the documented 60-line example with --command", async () => {
    const out = await deploy(
      "",
      "--command",
      `${PYTHON} ${join(ROOT, "examples/custom-runtime/upper_runtime.py")}`,
      "--name",
      "upper",
      "--input-type",
      "strings",
    );
    expect(out).toContain("starting 1 command replica");
    expect((await server.predict("upper", { input_batch: ["hello", "Clipper"] })).json.batch_predictions.map((p: { output: string }) => p.output)).toEqual([
      "HELLO",
      "CLIPPER",
    ]);
  });
});
