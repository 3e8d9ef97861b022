/** The benchmark's quick mode must work (a smoke test; no timing is asserted). */
import { describe, expect, it } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, ROOT, tempDir } from "./e2e/harness.ts";

describe("scripts/bench --quick", () => {
  it("runs clipper and the Bun limit under wrk and writes a report", async () => {
    const out = tempDir("clipper-bench-smoke-");
    const proc = Bun.spawn([join(ROOT, "scripts/bench"), "--quick", "--out", out], { stdout: "pipe", stderr: "pipe", cwd: ROOT });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, tail: code === 0 ? "" : (stdout + stderr).slice(-2000) }).toEqual({ code: 0, tail: "" });
    const report = readFileSync(join(out, "results.md"), "utf8");
    expect(report).toContain("clipper (cache off)");
    expect(report).toContain("Bun.serve limit");
    expect(existsSync(join(out, "results.json"))).toBe(true);
    cleanup(out);
  });
});

describe("scripts/bench --ensemble --from-json", () => {
  it("writes the report and the chart of a saved run again, with every table", async () => {
    const out = tempDir("clipper-bench-ensemble-");
    const proc = Bun.spawn([join(ROOT, "scripts/bench"), "--ensemble", "--from-json", join(ROOT, "bench/ensemble.json"), "--out", out], {
      stdout: "pipe",
      stderr: "pipe",
      cwd: ROOT,
    });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
    const report = readFileSync(join(out, "ensemble.md"), "utf8");
    expect(report).toContain("| ensemble, Exp4 weights after feedback |");
    expect(report).toContain("| share of answers at or above |");
    expect(report).toContain("| straggler mitigation (SLO 50 ms) |");
    expect(readFileSync(join(out, "ensemble.svg"), "utf8")).toStartWith("<svg");
    cleanup(out);
  });
});
