/** gRPC typed contents → the values of a V2 tensor: the field that fits the datatype, and nothing else. */
import { describe, expect, it } from "bun:test";
import { contentsData, hasContents } from "../../src/grpc/contents.ts";

describe("contentsData", () => {
  it("reads fp64, fp32 and int contents for numeric apps", () => {
    expect(contentsData({ fp64_contents: [1.5, 2] }, "FP64", "doubles", "inputs[0].contents")).toEqual([1.5, 2]);
    expect(contentsData({ fp32_contents: [0.25] }, "FP32", "floats", "inputs[0].contents")).toEqual([0.25]);
    expect(contentsData({ int_contents: [3, 4] }, "INT32", "integers", "inputs[0].contents")).toEqual([3, 4]);
  });

  it("reads bytes contents for a strings app", () => {
    const out = contentsData({ bytes_contents: [Buffer.from("héllo")] }, "BYTES", "strings", "inputs[0].contents");
    expect(out.map((v) => (typeof v === "string" ? v : Buffer.from(v as Uint8Array).toString()))).toEqual(["héllo"]);
  });

  it("knows when a tensor carries no contents", () => {
    expect(hasContents(undefined)).toBe(false);
    expect(hasContents({})).toBe(false);
    expect(hasContents({ fp64_contents: [1] })).toBe(true);
  });
});
