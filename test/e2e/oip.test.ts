/** End to end: the Open Inference Protocol (V2) over REST (JSON and binary tensor data) and gRPC, driven by Triton's Python clients. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { makeFixtures, PYTHON, ROOT, type Server, shutdown, startServer } from "./harness.ts";
import { clientPython, runClient } from "./oip/client.ts";

const fx = makeFixtures();
const TEXTS = ["great quality, love it", "broke after a day, awful", "excellent value", "do not buy"];
let server: Server;
let textExpected: string[];

beforeAll(async () => {
  server = await startServer({ grpc: true });
  const dep = await server.cli("deploy", join(fx.dir, "hr.pkl"), "--name", "hr-dt", "--app", "hr-hiring", "--url", "$MGMT");
  if (dep.code !== 0) throw new Error(dep.stderr);
  const made = Bun.spawnSync([PYTHON, join(ROOT, "test/e2e/oip/make_text_model.py"), join(fx.dir, "reviews.pkl"), JSON.stringify(TEXTS)]);
  if (made.exitCode !== 0) throw new Error(made.stderr.toString());
  textExpected = JSON.parse(made.stdout.toString()).expected;
  await server.cliOk("deploy", join(fx.dir, "reviews.pkl"), "--name", "reviews", "--input-type", "strings");
});
afterAll(() => shutdown(server));

/** What Triton's client (HTTP or gRPC, with its defaults) saw of every V2 call. */
async function tritonCheck(protocol: "http" | "grpc") {
  const address = protocol === "http" ? server.queryUrl.replace("http://", "") : server.grpcAddress!;
  return runClient("triton_check.py", protocol, address, "hr-hiring", JSON.stringify(fx.rows.slice(0, 12)), "reviews", JSON.stringify(TEXTS));
}

describe.each(["http", "grpc"] as const)("Open Inference Protocol, Triton's %s client with its defaults", (protocol) => {
  it("answers health, metadata, FP64 and FP32 rows and BYTES text as scikit-learn predicts them, and the documented errors", async () => {
    const seen = await tritonCheck(protocol);
    expect(seen).toMatchObject({ live: true, ready: true, model_ready: true });
    expect(seen.server_metadata).toMatchObject({ name: "clipper", extensions: ["binary_tensor_data"] });
    // gRPC's JSON form writes int64 shapes as strings.
    const any = protocol === "http" ? -1 : "-1";
    expect(seen.metadata).toMatchObject({ name: "hr-hiring", versions: ["1"], inputs: [{ name: "input", datatype: "FP64", shape: [any, any] }] });
    expect(seen.text_metadata).toMatchObject({ name: "reviews", inputs: [{ name: "input", datatype: "BYTES", shape: [any] }] });
    expect(seen.fp64).toEqual(fx.hrExpected.slice(0, 12));
    expect(seen.fp32).toEqual(fx.hrExpected.slice(0, 12));
    expect(seen.strings).toEqual(textExpected);
    expect(new Set(textExpected).size).toBe(2);
    expect(seen.response).toMatchObject({ model_name: "hr-hiring", model_version: "1", id: "req-7" });
    const status = protocol === "http"
      ? { notFound: "404", invalid: "400" }
      : { notFound: "StatusCode.NOT_FOUND", invalid: "StatusCode.INVALID_ARGUMENT" };
    expect(seen.unknown_model.status).toBe(status.notFound);
    expect(seen.unknown_model.message).toContain("no application named 'no-such-app'");
    expect(seen.wrong_datatype.status).toBe(status.invalid);
    expect(seen.wrong_datatype.message).toContain("inputs[0].datatype 'BYTES' does not fit the app's input type doubles");
    expect(seen.wrong_shape.status).toBe(status.invalid);
    expect(seen.wrong_shape.message).toContain("inputs[0] has 64 bytes of FP64 data but its shape needs 80");
  });
});

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
