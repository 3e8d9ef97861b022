/**
 * End to end: a Python model whose batch answer is one numeric array (every numpy dtype the runtime packs, one
 * value a row or a vector a row) answers a binary V2 request and gRPC with a tensor of its own datatype, equal
 * to what the same rows answer in JSON; the JSON answers are the very text a runtime of protocol version 2 (which
 * sends each output as Python's str()) gives, proved against a second server whose runtimes speak version 2.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Server, shutdown, startServer, tempDir } from "./harness.ts";
import { binaryValues, inferOutput, v2Grpc, type V2GrpcClient } from "./oip/grpc-client.ts";

/** numpy dtype code → the V2 datatype of the binary answer. */
const DTYPES: Record<string, string> = {
  f8: "FP64",
  f4: "FP32",
  i8: "INT64",
  i4: "INT32",
  i2: "INT16",
  i1: "INT8",
  u8: "UINT64",
  u4: "UINT32",
  u2: "UINT16",
  u1: "UINT8",
};

// Floats chosen for the places where Python's str() and JS's number text differ: 1.0, 1e-05, 1e+16, 1e+22, 2.5e-07.
const ROWS = [
  [1, 0],
  [1, -5],
  [1, 16],
  [1, 22],
  [2.5, -7],
  [0.1, 0],
  [123.456, 3],
  [-3, 2],
];

let models: string;
let server: Server;
let old: Server;
let grpc: V2GrpcClient;

/** A module whose batch answer is one array of `code` (a vector of two a row when `wide`). */
function moduleFor(code: string, wide: boolean): string {
  const path = join(models, `out_${code}${wide ? "_wide" : ""}.py`);
  const values = code[0] === "f" ? "x[:, 0] * 10.0 ** x[:, 1]" : code[0] === "u" ? "np.abs(x[:, 0] * 7 + x[:, 1])" : "x[:, 0] * 7 + x[:, 1]";
  writeFileSync(
    path,
    [
      "import numpy as np",
      "",
      "def predict(inputs):",
      "    x = np.asarray(inputs, dtype=np.float64)",
      `    y = (${values}).astype("<${code}")`,
      `    return ${wide ? "np.stack([y, y], axis=1)" : "y"}`,
      "",
    ].join("\n"),
  );
  return path;
}

const apps = Object.keys(DTYPES).flatMap((code) => [
  { code, wide: false, name: `out-${code}` },
  { code, wide: true, name: `out-${code}-wide` },
]);

beforeAll(async () => {
  models = tempDir();
  server = await startServer({ grpc: true, args: ["--python-spares", "0"] });
  old = await startServer({ args: ["--python-spares", "0"], env: { CLIPPER_RUNTIME_PROTOCOL: "2" } });
  grpc = v2Grpc(server.grpcAddress!);
  const raising = join(models, "out_raising.py");
  writeFileSync(
    raising,
    "import numpy as np\n\ndef predict(inputs):\n    x = np.asarray(inputs)\n    if (x[:, 0] == 13).any():\n        raise ValueError('13')\n    return x[:, 0] * 10.0 ** x[:, 1]\n",
  );
  await server.cliOk("deploy", raising, "--name", "out-raising", "--input-type", "doubles", "--slo-micros", "20000000");
  for (const a of apps) {
    const path = moduleFor(a.code, a.wide);
    for (const s of [server, old]) await s.cliOk("deploy", path, "--name", a.name, "--input-type", "doubles", "--slo-micros", "20000000");
  }
}, 240_000);
afterAll(async () => {
  grpc?.close();
  await shutdown(server);
  await shutdown(old);
});

async function jsonAnswer(s: Server, app: string): Promise<string[]> {
  const res = await fetch(`${s.queryUrl}/v2/models/${app}/infer`, {
    method: "POST",
    body: JSON.stringify({ inputs: [{ name: "input", shape: [ROWS.length, 2], datatype: "FP64", data: ROWS.flat() }] }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { outputs: { datatype: string; data: string[] }[] };
  expect(body.outputs[0]!.datatype).toBe("BYTES");
  return body.outputs[0]!.data;
}

/** A binary V2 request of `rows` (FP64) asking for a binary answer: the output's datatype, shape and values, and the answer's default_rows. */
async function binaryAnswer(
  app: string,
  rows: number[][] = ROWS,
): Promise<{ datatype: string; shape: number[]; values: unknown[]; defaultRows: string | undefined }> {
  const raw = Buffer.from(new Float64Array(rows.flat()).buffer);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: "input", shape: [rows.length, 2], datatype: "FP64", parameters: { binary_data_size: raw.length } }],
      parameters: { binary_data_output: true },
    }),
  );
  const res = await fetch(`${server.queryUrl}/v2/models/${app}/infer`, {
    method: "POST",
    headers: { "inference-header-content-length": String(header.length) },
    body: Buffer.concat([header, raw]),
  });
  expect(res.status).toBe(200);
  const body = Buffer.from(await res.arrayBuffer());
  const at = Number(res.headers.get("inference-header-content-length"));
  const head = JSON.parse(body.subarray(0, at).toString()) as {
    outputs: { datatype: string; shape: number[]; parameters: { binary_data_size: number } }[];
    parameters?: { default_rows?: string };
  };
  const out = head.outputs[0]!;
  expect(out.parameters.binary_data_size).toBe(body.length - at);
  return {
    datatype: out.datatype,
    shape: out.shape,
    values: binaryValues(out.datatype, out.shape, body.subarray(at)),
    defaultRows: head.parameters?.default_rows,
  };
}

describe("binary outputs", () => {
  it("answers binary requests and gRPC with the model's own datatype, equal to the JSON answers, which are a version 2 runtime's text", async () => {
    for (const a of apps) {
      const json = await jsonAnswer(server, a.name);
      // The JSON text is what Python's str() made of each value under protocol version 2 (1.0, 1e-05, 1e+16).
      expect({ app: a.name, json }).toEqual({ app: a.name, json: await jsonAnswer(old, a.name) });
      const expected = json.map((t) => (a.wide ? (JSON.parse(t) as number[]) : Number(t)));
      const bin = await binaryAnswer(a.name);
      expect({ app: a.name, datatype: bin.datatype, shape: bin.shape }).toEqual({
        app: a.name,
        datatype: DTYPES[a.code]!,
        shape: a.wide ? [ROWS.length, 2] : [ROWS.length],
      });
      expect({ app: a.name, values: bin.values }).toEqual({ app: a.name, values: expected });
      const res = await grpc.call("ModelInfer", {
        model_name: a.name,
        inputs: [{ name: "input", datatype: "FP64", shape: [ROWS.length, 2] }],
        raw_input_contents: [Buffer.from(new Float64Array(ROWS.flat()).buffer)],
      });
      expect(res.ok).toBe(true);
      if (!res.ok) return;
      expect({ app: a.name, datatype: res.value.outputs[0].datatype, values: inferOutput(res.value) }).toEqual({
        app: a.name,
        datatype: DTYPES[a.code]!,
        values: expected,
      });
    }
  }, 120_000);

  it("answers BYTES when a row got the default (the model raised on it), the others' predictions as text", async () => {
    const answer = await binaryAnswer("out-raising", [...ROWS.slice(0, 3), [13, 0]]);
    expect(answer.datatype).toBe("BYTES");
    expect((JSON.parse(answer.defaultRows!) as { row: number }[]).map((d) => d.row)).toEqual([3]);
    expect(answer.values.slice(0, 3)).toEqual((await jsonAnswer(old, "out-f8")).slice(0, 3));
  });
});
