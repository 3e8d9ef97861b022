/** A packed output row shows as the text a protocol-2 runtime sent: Python's str() of the value, or a list of numbers. */
import { describe, expect, it } from "bun:test";
import { OutputTensor, plainOutput, TensorRow } from "../../src/domain.ts";

const rows = (dtype: "f8" | "f4" | "i8" | "u8" | "i1", values: ArrayLike<number | bigint>, width = 0) => {
  const Typed = { f8: Float64Array, f4: Float32Array, i8: BigInt64Array, u8: BigUint64Array, i1: Int8Array }[dtype];
  const data = new Uint8Array(new (Typed as any)(values).buffer);
  const t = new OutputTensor(dtype, values.length / (width || 1), width, data);
  return Array.from({ length: t.rows }, (_, i) => plainOutput(new TensorRow(t, i)));
};

describe("TensorRow", () => {
  it("shows floats as Python's repr does (facts of CPython 3: repr(1.0) == '1.0', repr(1e16) == '1e+16', repr(1e-05) == '1e-05')", () => {
    expect(
      rows("f8", [1, 0.1, 1e-5, 1e-4, 1.5e-7, 1e16, 9999999999999998, 1e22, 123.456, -0, 0, -2.5, Infinity, -Infinity, 5e-324, 1.7976931348623157e308]),
    ).toEqual([
      "1.0",
      "0.1",
      "1e-05",
      "0.0001",
      "1.5e-07",
      "1e+16",
      "9999999999999998.0",
      "1e+22",
      "123.456",
      "-0.0",
      "0.0",
      "-2.5",
      "inf",
      "-inf",
      "5e-324",
      "1.7976931348623157e+308",
    ]);
    // float32 values go through Python's float (a double): repr(float(np.float32(0.1))) == '0.10000000149011612'.
    expect(rows("f4", [0.1, 3])).toEqual(["0.10000000149011612", "3.0"]);
  });

  it("shows integers exactly (int64 and uint64 past 2^53 too), and rows of a [rows, k] tensor as lists", () => {
    expect(rows("i8", [1n, -9007199254740993n])).toEqual(["1", "-9007199254740993"]);
    expect(rows("u8", [18446744073709551615n])).toEqual(["18446744073709551615"]);
    expect(rows("i1", [-128, 127])).toEqual(["-128", "127"]);
    expect(rows("f8", [0.5, 1, 2, 3], 2)).toEqual([
      [0.5, 1],
      [2, 3],
    ]);
    expect(JSON.stringify({ output: new TensorRow(new OutputTensor("f8", 1, 0, new Uint8Array(new Float64Array([2]).buffer)), 0) })).toBe('{"output":"2.0"}');
  });
});
