/** Raw V2 tensor bytes: every fixed-size datatype little-endian, BYTES length-prefixed, sizes checked before reading. */
import { describe, expect, it } from "bun:test";
import { bytesElementsAsData, decodeRaw, encodeBytesTensor, typedRows } from "../../src/query/oip-tensor.ts";

const le = (write: (v: DataView) => void, bytes: number) => {
  const b = new Uint8Array(bytes);
  write(new DataView(b.buffer));
  return b;
};

describe("decodeRaw", () => {
  it("reads each fixed-size datatype as little-endian numbers", () => {
    expect(
      decodeRaw(
        le((v) => {
          v.setFloat64(0, 1.5, true);
          v.setFloat64(8, -2, true);
        }, 16),
        "FP64",
        2,
        "t",
      ),
    ).toEqual([1.5, -2]);
    expect(
      decodeRaw(
        le((v) => v.setFloat32(0, 0.25, true), 4),
        "FP32",
        1,
        "t",
      ),
    ).toEqual([0.25]);
    expect(
      decodeRaw(
        le((v) => {
          v.setUint16(0, 0x3c00, true);
          v.setUint16(2, 0xc000, true);
          v.setUint16(4, 0x0001, true);
        }, 6),
        "FP16",
        3,
        "t",
      ),
    ).toEqual([1, -2, 2 ** -24]);
    expect(
      decodeRaw(
        le((v) => v.setBigInt64(0, -7n, true), 8),
        "INT64",
        1,
        "t",
      ),
    ).toEqual([-7]);
    expect(
      decodeRaw(
        le((v) => v.setUint32(0, 4_000_000_000, true), 4),
        "UINT32",
        1,
        "t",
      ),
    ).toEqual([4_000_000_000]);
    expect(
      decodeRaw(
        le((v) => v.setInt16(0, -300, true), 2),
        "INT16",
        1,
        "t",
      ),
    ).toEqual([-300]);
    expect(decodeRaw(new Uint8Array([0, 1, 7]), "BOOL", 3, "t")).toEqual([0, 1, 1]);
    expect(decodeRaw(new Uint8Array([255]), "INT8", 1, "t")).toEqual([-1]);
  });

  it("reads from an unaligned view into a larger buffer", () => {
    const whole = new Uint8Array(1 + 8);
    new DataView(whole.buffer).setFloat64(1, 3.25, true);
    expect(decodeRaw(whole.subarray(1), "FP64", 1, "t")).toEqual([3.25]);
  });

  it("refuses bytes that do not fit the shape, naming both sizes", () => {
    expect(() => decodeRaw(new Uint8Array(12), "FP64", 2, "inputs[0]")).toThrow("inputs[0] has 12 bytes of FP64 data but its shape needs 16");
  });

  it("splits BYTES elements and refuses lengths that lie", () => {
    const two = Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from("hi"), Buffer.from([0, 0, 0, 0])]);
    expect(decodeRaw(two, "BYTES", 2, "t").map((e) => Buffer.from(e as Uint8Array).toString())).toEqual(["hi", ""]);
    expect(() => decodeRaw(Buffer.from([255, 255, 255, 255, 1]), "BYTES", 1, "t")).toThrow("t: BYTES element 0 claims 4294967295 bytes but only 1 follow");
    expect(() => decodeRaw(Buffer.from([1, 0]), "BYTES", 1, "t")).toThrow("t: BYTES element 0 is cut short in its 4-byte length");
    expect(() => decodeRaw(two, "BYTES", 1, "t")).toThrow("t has more BYTES data than its shape's 1 elements");
    expect(() => decodeRaw(two, "BYTES", 3, "t")).toThrow("t has 2 BYTES elements but its shape needs 3");
  });
});

describe("BYTES", () => {
  it("round-trips strings through encodeBytesTensor, multi-byte UTF-8 included", () => {
    const values = ["1", "", "héllo", '{"a":1}'];
    const decoded = decodeRaw(encodeBytesTensor(values), "BYTES", values.length, "t") as Uint8Array[];
    expect(bytesElementsAsData(decoded, "strings", "t")).toEqual(values);
  });

  it("gives a bytes app base64 and refuses text that is not UTF-8 for a strings app", () => {
    expect(bytesElementsAsData([new Uint8Array([0, 255])], "bytes", "t")).toEqual(["AP8="]);
    expect(() => bytesElementsAsData([new Uint8Array([0xc3])], "strings", "t")).toThrow("t element 0 is not valid UTF-8");
  });
});

describe("typedRows", () => {
  it("gives rows that are views of the app's type into the bytes (one copy when unaligned), keyed by their bytes", () => {
    const values = new Float64Array([1, 2, 3, 4, 5, 6]);
    const unaligned = new Uint8Array(49);
    unaligned.set(new Uint8Array(values.buffer), 1);
    for (const raw of [new Uint8Array(values.buffer), unaligned.subarray(1)]) {
      const parsed = typedRows(raw, "doubles", 3, 2, true, "inputs[0]");
      expect(parsed.rows.map((r) => r instanceof Float64Array)).toEqual([true, true, true]);
      expect(parsed.rows.map((r) => Array.from(r as Float64Array))).toEqual([
        [1, 2],
        [3, 4],
        [5, 6],
      ]);
      expect(new Set(parsed.keys).size).toBe(3);
      expect(parsed.keys[0]).toBe(typedRows(new Uint8Array(values.buffer.slice(0, 16)), "doubles", 1, 2, true, "x").keys[0]);
    }
    expect(() => typedRows(new Uint8Array(8), "floats", 1, 3, false, "inputs[0]")).toThrow("inputs[0] has 8 bytes of FP32 data but its shape needs 12");
  });
});
