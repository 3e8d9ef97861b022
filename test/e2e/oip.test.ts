/** End to end: the Open Inference Protocol (V2) over REST (JSON and binary tensor data) and gRPC, driven by Triton's Python clients. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { makeFixtures, PYTHON, ROOT, type Server, shutdown, startServer } from "./harness.ts";
import { clientPython, runClient } from "./oip/client.ts";
import { binaryValues } from "./oip/grpc-client.ts";

const fx = makeFixtures();
const TEXTS = ["great quality, love it", "broke after a day, awful", "excellent value", "do not buy"];
let server: Server;
let textExpected: string[];
const QUERY_TOKEN = "v2-query-token-0123456789";

beforeAll(async () => {
  server = await startServer({ grpc: true });
  const dep = await server.cli("deploy", join(fx.dir, "hr.pkl"), "--name", "hr-dt", "--app", "hr-hiring", "--url", "$MGMT");
  if (dep.code !== 0) throw new Error(dep.stderr);
  const made = Bun.spawnSync([PYTHON, join(ROOT, "test/e2e/oip/make_text_model.py"), join(fx.dir, "reviews.pkl"), JSON.stringify(TEXTS)]);
  if (made.exitCode !== 0) throw new Error(made.stderr.toString());
  textExpected = JSON.parse(made.stdout.toString()).expected;
  await server.cliOk("deploy", join(fx.dir, "reviews.pkl"), "--name", "reviews", "--input-type", "strings");
  await server.cliOk("register-app", "guarded-hr", "--input-type", "doubles", "--query-token", QUERY_TOKEN);
  await server.cliOk("link", "guarded-hr", "hr-dt");
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
    const status = protocol === "http" ? { notFound: "404", invalid: "400" } : { notFound: "StatusCode.NOT_FOUND", invalid: "StatusCode.INVALID_ARGUMENT" };
    expect(seen.unknown_model.status).toBe(status.notFound);
    expect(seen.unknown_model.message).toContain("no application named 'no-such-app'");
    expect(seen.wrong_datatype.status).toBe(status.invalid);
    expect(seen.wrong_datatype.message).toContain("inputs[0].datatype 'BYTES' does not fit the app's input type doubles");
    expect(seen.wrong_shape.status).toBe(status.invalid);
    expect(seen.wrong_shape.message).toContain("inputs[0] has 64 bytes of FP64 data but its shape needs 80");
  });
});

describe.each(["http", "grpc"] as const)("an app with a query token, Triton's %s client", (protocol) => {
  it("answers model ready, metadata and infer with the token in the authorization header (gRPC metadata), and refuses all three without it", async () => {
    const address = protocol === "http" ? server.queryUrl.replace("http://", "") : server.grpcAddress!;
    const rows = fx.rows.slice(0, 4);
    const seen = await runClient("triton_token_check.py", protocol, address, "guarded-hr", QUERY_TOKEN, JSON.stringify(rows));
    expect(seen.with_token.ready).toEqual({ ok: true });
    expect(seen.with_token.metadata.ok).toMatchObject({ name: "guarded-hr", versions: ["1"] });
    expect(seen.with_token.infer).toEqual({ ok: fx.hrExpected.slice(0, 4) });
    const refused = protocol === "http" ? "401" : "StatusCode.UNAUTHENTICATED";
    for (const call of ["metadata", "infer"]) {
      expect(seen.without[call].status).toBe(refused);
      expect(seen.without[call].message).toContain("application 'guarded-hr' needs its query token");
    }
    // Triton's HTTP client reports a refused readiness as false (it reads only the status code), gRPC's as the status.
    if (protocol === "http") {
      expect(seen.without.ready).toEqual({ ok: false });
      const ready = (auth?: string) => fetch(`${server.queryUrl}/v2/models/guarded-hr/ready`, { headers: auth ? { authorization: auth } : {} });
      expect((await ready()).status).toBe(401);
      expect((await ready(`Bearer ${QUERY_TOKEN}`)).status).toBe(200);
      expect(await ready(`Bearer ${QUERY_TOKEN}`).then((r) => r.json())).toEqual({ name: "guarded-hr", ready: true });
    } else {
      expect(seen.without.ready.status).toBe(refused);
    }
  });
});

describe("Open Inference Protocol", () => {
  it("serves Triton's HTTP client: health, metadata, infer with and without a version, V2 errors", () => {
    const rows = fx.rows.slice(0, 8);
    const res = Bun.spawnSync([
      clientPython(),
      join(ROOT, "test/e2e/oip/client_check.py"),
      server.queryUrl.replace("http://", ""),
      "hr-hiring",
      JSON.stringify(rows),
    ]);
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

  it("answers bad binary framing with a 400 naming what is wrong", async () => {
    const post = async (header: unknown, binary: Uint8Array, declared?: number) => {
      const json = Buffer.from(JSON.stringify(header));
      const res = await fetch(`${server.queryUrl}/v2/models/hr-hiring/infer`, {
        method: "POST",
        body: Buffer.concat([json, binary]),
        headers: { "inference-header-content-length": String(declared ?? json.length), "content-type": "application/octet-stream" },
      });
      return { status: res.status, error: ((await res.json()) as { error: string }).error };
    };
    const rows = Buffer.from(new Float64Array(fx.rows.slice(0, 2).flat()).buffer);
    const tensor = (size: number, datatype = "FP64", shape = [2, 5]) => ({
      inputs: [{ name: "input", shape, datatype, parameters: { binary_data_size: size } }],
    });
    expect(await post(tensor(80), rows, 10_000)).toEqual({
      status: 400,
      error: `Inference-Header-Content-Length is 10000 but the body has only ${JSON.stringify(tensor(80)).length + 80} bytes`,
    });
    expect(await post(tensor(88), rows)).toEqual({
      status: 400,
      error: "inputs[0].parameters.binary_data_size is 88 but 80 bytes of binary data follow the JSON header",
    });
    expect(await post(tensor(72), rows.subarray(0, 72))).toEqual({ status: 400, error: "inputs[0] has 72 bytes of FP64 data but its shape needs 80" });
    expect(await post(tensor(80, "BYTES", [2]), rows)).toEqual({ status: 400, error: "inputs[0].datatype 'BYTES' does not fit the app's input type doubles" });
    expect(await post(tensor(2 ** 53), rows)).toMatchObject({ status: 400 });
    const lying = Buffer.alloc(8);
    lying.writeUInt32LE(0xffffffff, 0);
    const res = await fetch(`${server.queryUrl}/v2/models/reviews/infer`, {
      method: "POST",
      headers: { "inference-header-content-length": String(JSON.stringify(tensor(8, "BYTES", [1])).length) },
      body: Buffer.concat([Buffer.from(JSON.stringify(tensor(8, "BYTES", [1]))), lying]),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("inputs[0]: BYTES element 0 claims 4294967295 bytes but only 4 follow");
  });

  it("answers binary output, after a JSON part of the length its header gives, when an output asks for binary_data", async () => {
    const rows = fx.rows.slice(0, 3);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: "input", shape: [3, 5], datatype: "FP64", parameters: { binary_data_size: 120 } }],
        outputs: [{ name: "output", parameters: { binary_data: true } }],
      }),
    );
    const res = await fetch(`${server.queryUrl}/v2/models/hr-hiring/infer`, {
      method: "POST",
      headers: { "inference-header-content-length": String(header.length) },
      body: Buffer.concat([header, Buffer.from(new Float64Array(rows.flat()).buffer)]),
    });
    const body = Buffer.from(await res.arrayBuffer());
    const jsonLength = Number(res.headers.get("inference-header-content-length"));
    const head = JSON.parse(body.subarray(0, jsonLength).toString());
    // The tree's labels as the runtime packed them (int64): the model's own numbers, not their text.
    expect(head.outputs).toEqual([{ name: "output", shape: [3], datatype: "INT64", parameters: { binary_data_size: 24 } }]);
    expect(body.length - jsonLength).toBe(24);
    expect(binaryValues("INT64", [3], body.subarray(jsonLength))).toEqual(fx.hrExpected.slice(0, 3).map(Number));
  });

  it("goes through the cache and the same metrics as /{app}/predict", async () => {
    const before = ((await (await fetch(`${server.queryUrl}/metrics.json`)).json()) as { apps: Record<string, { queries: number }> }).apps["hr-hiring"]!
      .queries;
    await fetch(`${server.queryUrl}/v2/models/hr-hiring/infer`, {
      method: "POST",
      body: JSON.stringify({ inputs: [{ name: "input", shape: [1, 5], datatype: "FP64", data: fx.rows[3] }] }),
    });
    const after = ((await (await fetch(`${server.queryUrl}/metrics.json`)).json()) as { apps: Record<string, { queries: number }> }).apps["hr-hiring"]!.queries;
    expect(after - before).toBe(1);
  });
});
