/** The soak test's quick mode must pass: no 5xx, no lost request, counts that add up (no timing is asserted). */
import { describe, expect, it } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, ROOT, tempDir } from "./e2e/harness.ts";

interface SoakCounts {
  sent: number;
  ok: number;
  defaults: number;
  errors4xx: number;
  errors5xx: number;
  otherStatus: number;
  failed: number;
}

describe("scripts/soak --quick", () => {
  it("serves steady load through a deploy and a rollback without a 5xx and writes a report whose counts add up", async () => {
    const out = tempDir("clipper-soak-test-");
    const proc = Bun.spawn([join(ROOT, "scripts/soak"), "--quick", "--out", out], { stdout: "pipe", stderr: "pipe", cwd: ROOT });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, tail: code === 0 ? "" : (stdout + stderr).slice(-3000) }).toEqual({ code: 0, tail: "" });

    const report = readFileSync(join(out, "soak.md"), "utf8");
    expect(report).toContain("**Verdict: PASS**");
    expect(report).toMatch(/^\| 5xx \| 0 \|$/m);
    expect(report).toMatch(/^\| connection failures \(of which timeouts\) \| 0 \(0\) \|$/m);

    const { counts, events } = JSON.parse(readFileSync(join(out, "soak.json"), "utf8")) as { counts: SoakCounts; events: { kind: string; code: number }[] };
    expect(counts.sent).toBeGreaterThan(0);
    expect(counts.ok + counts.defaults + counts.errors4xx + counts.errors5xx + counts.otherStatus + counts.failed).toBe(counts.sent);
    expect(counts.errors5xx).toBe(0);
    expect(events.map((e) => [e.kind, e.code])).toEqual([
      ["deploy", 0],
      ["rollback", 0],
    ]);
    expect(existsSync(join(out, "soak-rss.svg"))).toBe(true);
    cleanup(out);
  });
});
