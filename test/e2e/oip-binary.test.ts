/**
 * End to end: binary V2 tensors of every datatype answer exactly what the same rows in JSON answer, with
 * binary or JSON output; the app's own datatype (FP64, FP32, INT32) passes through as bytes, checked for
 * width and non-finite values at the door and cached by its bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { FIXTURES, fetchJson, type Server, shutdown, startServer } from "./harness.ts";
import { bytesOutput, v2Grpc, type V2GrpcClient } from "./oip/grpc-client.ts";

let server: Server;
let grpc: V2GrpcClient;

beforeAll(async () => {
  server = await startServer({ grpc: true });
  grpc = v2Grpc(server.grpcAddress!);
  // The Node module answers the sum of each row: it sees the values as the runtime got them.
  for (const type of ["doubles", "floats", "integers"]) {
    await server.cliOk("deploy", join(FIXTURES, "pair_model.mjs"), "--name", `pair-${type}`, "--input-type", type, "--slo-micros", "10000000");
  }
}, 120_000);
afterAll(async () => {
  grpc?.close();
  await shutdown(server);
});

/** Little-endian bytes of `values` as `datatype`. */
function encode(datatype: string, values: number[]): Buffer {
  const sizes: Record<string, number> = {
    BOOL: 1,
    INT8: 1,
    UINT8: 1,
    INT16: 2,
    UINT16: 2,
    FP16: 2,
    INT32: 4,
    UINT32: 4,
    FP32: 4,
    INT64: 8,
    UINT64: 8,
    FP64: 8,
  };
  const size = sizes[datatype]!;
  const out = Buffer.alloc(values.length * size);
  values.forEach((v, i) => {
    const at = i * size;
    if (datatype === "BOOL" || datatype === "UINT8") out.writeUInt8(v, at);
    else if (datatype === "INT8") out.writeInt8(v, at);
    else if (datatype === "INT16") out.writeInt16LE(v, at);
    else if (datatype === "UINT16") out.writeUInt16LE(v, at);
    else if (datatype === "FP16")
      out.writeUInt16LE(v === 0 ? 0 : v === 1 ? 0x3c00 : v === 2 ? 0x4000 : 0x4200, at); // 0, 1, 2, 3
    else if (datatype === "INT32") out.writeInt32LE(v, at);
    else if (datatype === "UINT32") out.writeUInt32LE(v, at);
    else if (datatype === "FP32") out.writeFloatLE(v, at);
    else if (datatype === "INT64") out.writeBigInt64LE(BigInt(v), at);
    else if (datatype === "UINT64") out.writeBigUInt64LE(BigInt(v), at);
    else out.writeDoubleLE(v, at);
  });
  return out;
}

async function infer(app: string, datatype: string, rows: number[][], how: { binaryIn: boolean; binaryOut: boolean }) {
  const shape = [rows.length, rows[0]!.length];
  const flat = rows.flat();
  const raw = how.binaryIn ? encode(datatype, flat) : undefined;
  const input = raw
    ? { name: "input", shape, datatype, parameters: { binary_data_size: raw.length } }
    : { name: "input", shape, datatype, data: datatype === "BOOL" ? flat.map((v) => v === 1) : flat };
  const header = Buffer.from(JSON.stringify({ inputs: [input], ...(how.binaryOut ? { parameters: { binary_data_output: true } } : {}) }));
  const res = await fetch(`${server.queryUrl}/v2/models/${app}/infer`, {
    method: "POST",
    headers: raw ? { "inference-header-content-length": String(header.length) } : {},
    body: raw ? Buffer.concat([header, raw]) : header,
  });
  const body = Buffer.from(await res.arrayBuffer());
  const jsonLength = Number(res.headers.get("inference-header-content-length") ?? body.length);
  const head = JSON.parse(body.subarray(0, jsonLength).toString());
  if (res.status !== 200) return { status: res.status, error: head.error as string };
  if (!how.binaryOut) return { status: 200, outputs: head.outputs[0].data as string[] };
  const outputs: string[] = [];
  for (let at = jsonLength; at < body.length; at += 4 + body.readUInt32LE(at)) outputs.push(body.subarray(at + 4, at + 4 + body.readUInt32LE(at)).toString());
  return { status: 200, outputs };
}

const ROWS = [
  [1, 2],
  [3, 0],
  [2, 2],
];
/** Not exact in binary32: only FP64 carries them as JSON does (and a floats app rounds both the same way). */
const FRACTIONS64 = [
  [0.1, 0.2],
  [1.5, -2.25],
  [1e-7, 3.3],
];
/** Exact in binary32, so FP32 bytes and JSON numbers are the same values. */
const FRACTIONS32 = [
  [0.5, 0.25],
  [1.5, -2.25],
  [3.125, 0.0078125],
];
const CASES: [string, string, number[][]][] = [
  ["doubles", "FP64", FRACTIONS64],
  ["doubles", "FP32", FRACTIONS32],
  ["doubles", "FP16", ROWS],
  ["doubles", "INT8", ROWS],
  ["doubles", "INT64", ROWS],
  ["doubles", "UINT16", ROWS],
  ["floats", "FP32", FRACTIONS64],
  ["floats", "FP64", FRACTIONS64],
  ["integers", "INT32", ROWS],
  ["integers", "INT16", ROWS],
  ["integers", "UINT8", ROWS],
  ["integers", "UINT32", ROWS],
  [
    "integers",
    "BOOL",
    [
      [1, 0],
      [0, 0],
      [1, 1],
    ],
  ],
];

describe("binary V2 tensors", () => {
  it.each(CASES)("a %s app answers %s binary in, binary or JSON out, as it answers the rows in JSON", async (type, datatype, rows) => {
    // FP16 has no JSON form in the V2 spec's sense here: its rows are compared with the same values as FP32.
    const jsonType = datatype === "FP16" ? "FP32" : datatype;
    const json = await infer(`pair-${type}`, jsonType, rows, { binaryIn: false, binaryOut: false });
    expect(json.status).toBe(200);
    expect(json.outputs!.length).toBe(3);
    for (const binaryOut of [false, true]) {
      expect(await infer(`pair-${type}`, datatype, rows, { binaryIn: true, binaryOut })).toEqual(json);
      expect(await infer(`pair-${type}`, jsonType, rows, { binaryIn: false, binaryOut })).toEqual(json);
    }
  });

  it.each(CASES)("a %s app answers %s over gRPC, raw or typed contents, as it answers the rows in JSON", async (type, datatype, rows) => {
    const jsonType = datatype === "FP16" ? "FP32" : datatype;
    const json = await infer(`pair-${type}`, jsonType, rows, { binaryIn: false, binaryOut: false });
    const FIELD: Record<string, string> = {
      FP64: "fp64_contents",
      FP32: "fp32_contents",
      INT8: "int_contents",
      INT16: "int_contents",
      INT32: "int_contents",
      INT64: "int64_contents",
      UINT8: "uint_contents",
      UINT16: "uint_contents",
      UINT32: "uint_contents",
      UINT64: "uint64_contents",
      BOOL: "bool_contents",
    };
    const input = { name: "input", datatype, shape: [rows.length, rows[0]!.length] };
    const flat = rows.flat();
    const calls = [{ model_name: `pair-${type}`, inputs: [input], raw_input_contents: [encode(datatype, flat)] }];
    if (FIELD[datatype])
      calls.push({
        model_name: `pair-${type}`,
        inputs: [{ ...input, contents: { [FIELD[datatype]!]: datatype === "BOOL" ? flat.map((v) => v === 1) : flat } }],
      } as never);
    for (const call of calls) {
      const res = await grpc.call("ModelInfer", call);
      expect(res.ok && bytesOutput(res.value.raw_output_contents[0])).toEqual(json.outputs!);
    }
  });

  it("checks the width and refuses non-finite values of a tensor that passes through as bytes", async () => {
    const wide = await infer("pair-doubles", "FP64", [[1, 2, 3]], { binaryIn: true, binaryOut: false });
    expect(wide).toEqual({ status: 400, error: "each row of inputs[0] has 3 values; model pair-doubles version 1 expects 2" });
    const nan = await infer("pair-doubles", "FP64", [[1, Number.NaN]], { binaryIn: true, binaryOut: false });
    expect(nan).toEqual({ status: 400, error: "inputs[0].data[1] is NaN, not a finite number" });
    const inf = await infer("pair-floats", "FP32", [[Number.POSITIVE_INFINITY, 1]], { binaryIn: true, binaryOut: false });
    expect(inf).toEqual({ status: 400, error: "inputs[0].data[0] is Infinity, not a finite number" });
  });

  it("caches rows that pass through as bytes by their bytes", async () => {
    const rows = [[41.5, 0.5]];
    const before = (await fetchJson(`${server.queryUrl}/metrics.json`)).cache.hits;
    const a = await infer("pair-doubles", "FP64", rows, { binaryIn: true, binaryOut: false });
    const b = await infer("pair-doubles", "FP64", rows, { binaryIn: true, binaryOut: false });
    expect(a).toEqual({ status: 200, outputs: ["20.75"] });
    expect(b).toEqual(a);
    expect((await fetchJson(`${server.queryUrl}/metrics.json`)).cache.hits - before).toBe(1);
  });
});
