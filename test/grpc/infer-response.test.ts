/** The hand-written ModelInferResponse frame decodes, with the generic protobuf decoder, to exactly what was written. */
import { describe, expect, it } from "bun:test";
import { encodeInferResponseFrame } from "../../src/grpc/infer-response.ts";
import { modelInfer as infer } from "./proto.ts";

describe("encodeInferResponseFrame", () => {
  it("writes the gRPC prefix and every field as protobuf: names, parameters of each kind, shape, raw bytes", () => {
    const raw = Buffer.from(new Float64Array([1.5, -2, 1e300]).buffer);
    const frame = encodeInferResponseFrame({
      model_name: "hr",
      model_version: "12",
      id: "réq-1",
      parameters: { default_rows: { string_param: '[{"row":0}]' }, models_total: { int64_param: 300 }, confidence: { double_param: 0.25 } },
      output: { name: "output", datatype: "FP64", shape: [3, 1, 200] },
      raw,
    });
    expect(frame[0]).toBe(0);
    expect(frame.readUInt32BE(1)).toBe(frame.length - 5);
    const decoded = infer.responseDeserialize(frame.subarray(5));
    expect(decoded).toEqual({
      model_name: "hr",
      model_version: "12",
      id: "réq-1",
      parameters: {
        default_rows: { string_param: '[{"row":0}]', parameter_choice: "string_param" },
        models_total: { int64_param: 300, parameter_choice: "int64_param" },
        confidence: { double_param: 0.25, parameter_choice: "double_param" },
      },
      outputs: [{ name: "output", datatype: "FP64", shape: [3, 1, 200] }],
      raw_output_contents: [raw],
    });
  });

  it("leaves out empty strings as protobuf does, and carries an empty tensor", () => {
    const frame = encodeInferResponseFrame({
      model_name: "m",
      model_version: "",
      id: "",
      parameters: {},
      output: { name: "output", datatype: "BYTES", shape: [0] },
      raw: new Uint8Array(0),
    });
    expect(infer.responseDeserialize(frame.subarray(5))).toEqual({
      model_name: "m",
      outputs: [{ name: "output", datatype: "BYTES", shape: [0] }],
      raw_output_contents: [Buffer.alloc(0)],
    });
  });
});
