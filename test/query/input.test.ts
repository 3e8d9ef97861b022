import { describe, expect, it } from "bun:test";
import { parseQuery } from "../../src/query/input.ts";

describe("parseQuery", () => {
  it("accepts one doubles input and keys it by its values", () => {
    expect(parseQuery('{"input":[1,2.5,-3]}', "doubles")).toEqual({ rows: [[1, 2.5, -3]], keys: ["1,2.5,-3"], batch: false });
  });

  it("accepts a batch of equal-length rows", () => {
    const q = parseQuery('{"input_batch":[[1,2],[3,4]]}', "floats");
    expect(q.rows).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(q.batch).toBe(true);
  });

  it("rejects integers outside 32 bits and fractions", () => {
    expect(() => parseQuery('{"input":[2147483648]}', "integers")).toThrow("input[0] is the number 2147483648, not a 32-bit integer");
    expect(() => parseQuery('{"input":[1.5]}', "integers")).toThrow("not a 32-bit integer");
  });

  it("decodes base64 bytes and rejects text that is not base64", () => {
    const q = parseQuery('{"input":"AAEC"}', "bytes");
    expect([...(q.rows[0] as Uint8Array)]).toEqual([0, 1, 2]);
    expect(() => parseQuery('{"input":"AAE"}', "bytes")).toThrow("base64");
  });

  it("names the field and what was expected for nested junk", () => {
    expect(() => parseQuery('{"input":[[1]]}', "doubles")).toThrow("input[0] is an array of 1, not a finite number");
    expect(() => parseQuery('{"input":null}', "strings")).toThrow("input must be a string (the app's input type is strings), got null");
    expect(() => parseQuery("null", "doubles")).toThrow("request body must be a JSON object");
  });

  it("rejects a ragged batch, naming the row", () => {
    expect(() => parseQuery('{"input_batch":[[1],[1],[1,2]]}', "doubles")).toThrow("input_batch[2] has 2 values, input_batch[0] has 1");
  });
});
