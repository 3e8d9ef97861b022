/** The CLI's tables: columns padded to their widest cell, headers first, every row on one line. */
import { describe, expect, it } from "bun:test";
import { table } from "../../src/cli/table.ts";

describe("table", () => {
  it("pads each column to its widest cell", () => {
    const lines = table(
      ["APP", "MODELS"],
      [
        ["hr-hiring", "hr-decision-tree"],
        ["ab", "a, b"],
      ],
    ).split("\n");
    expect(lines[0]).toMatch(/^APP\s+MODELS$/);
    const column = lines[0]!.indexOf("MODELS");
    expect(lines[1]!.indexOf("hr-decision-tree")).toBe(column);
    expect(lines[2]!.indexOf("a, b")).toBe(column);
  });

  it("shows values that are not strings", () => {
    expect(table(["N", "OK"], [[3, true]])).toContain("3");
  });
});
