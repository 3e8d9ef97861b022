/** The ModelInferRequest reader gives what the generic protobuf decoder gives, with typed contents as typed arrays. */
import { describe, expect, it } from "bun:test";
import { decodeInferRequest, MalformedMessage } from "../../src/grpc/infer-request.ts";
import { modelInfer as infer } from "./proto.ts";

const plain = (v: unknown): unknown => (ArrayBuffer.isView(v) && !(v instanceof Uint8Array) ? Array.from(v as unknown as ArrayLike<number>) : v);

describe("decodeInferRequest", () => {
  it("reads every field the service uses as the generic decoder does, typed contents as typed arrays", () => {
    const message = {
      model_name: "hr",
      model_version: "2",
      id: "req-1",
      parameters: { p: { string_param: "x" }, timeout: { int64_param: 20000 }, flag: { bool_param: true }, neg: { int64_param: -3 } },
      inputs: [
        {
          name: "input",
          datatype: "FP64",
          shape: [2, 3],
          parameters: { q: { bool_param: true } },
          contents: {
            fp64_contents: [0.5, -1.25, 3e300, 0, 7, -0],
            fp32_contents: [1.5, -2],
            int_contents: [-1, 2147483647, -2147483648],
            int64_contents: [-5, 2 ** 40, 9007199254740991],
            uint_contents: [4294967295, 0],
            uint64_contents: [2 ** 50],
            bool_contents: [true, false, true],
            bytes_contents: [Buffer.from("héllo"), Buffer.alloc(0)],
          },
        },
      ],
      outputs: [{ name: "output", parameters: {} }],
      raw_input_contents: [Buffer.from([1, 2, 3])],
    };
    const bytes = infer.requestSerialize(message);
    const mine = decodeInferRequest(bytes);
    const generic = infer.requestDeserialize(bytes);
    expect(mine.inputs![0]!.contents!.fp64_contents).toBeInstanceOf(Float64Array);
    expect(mine.inputs![0]!.contents!.int_contents).toBeInstanceOf(Int32Array);
    const c = mine.inputs![0]!.contents!;
    const g = generic.inputs[0].contents;
    for (const field of ["fp64_contents", "fp32_contents", "int_contents", "int64_contents", "uint_contents", "uint64_contents"] as const) {
      expect(plain(c[field])).toEqual(g[field]);
    }
    expect(Array.from(c.bool_contents!)).toEqual(g.bool_contents.map((b: boolean) => (b ? 1 : 0)));
    expect(c.bytes_contents!.map((b) => Buffer.from(b).toString())).toEqual(g.bytes_contents.map((b: Buffer) => b.toString()));
    expect(mine.parameters).toEqual(generic.parameters);
    expect(mine.parameters!.timeout!.int64_param).toBe(20000);
    expect({ ...mine, inputs: undefined, raw_input_contents: undefined, parameters: undefined }).toEqual({
      model_name: "hr",
      model_version: "2",
      id: "req-1",
      outputs: [{ name: "output" }],
    } as never);
    expect(mine.inputs![0]!.shape).toEqual([2, 3]);
    expect(Array.from(mine.raw_input_contents![0]!)).toEqual([1, 2, 3]);
  });

  it("refuses bytes that are not such a message, so the caller can let the generic decoder say why", () => {
    expect(() => decodeInferRequest(Buffer.from([0x2a, 0x10, 1]))).toThrow(MalformedMessage);
    expect(() => decodeInferRequest(Buffer.from([0x0f]))).toThrow(MalformedMessage);
  });
});
