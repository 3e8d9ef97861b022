/** The README's first command: scripts/demo runs the HR example end to end (on free ports here). */
import { describe, expect, it } from "bun:test";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT } from "./e2e/harness.ts";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
      .listen(0, "127.0.0.1", () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      })
      .on("error", reject);
  });
}

describe("scripts/demo", () => {
  it("trains, serves, registers, deploys, links and predicts the tutorial's three candidates, then stops", async () => {
    const env = {
      ...process.env,
      CLIPPER_QUERY_PORT: String(await freePort()),
      CLIPPER_MGMT_PORT: String(await freePort()),
      CLIPPER_GRPC_PORT: String(await freePort()),
    };
    const proc = Bun.spawn([join(ROOT, "scripts/demo")], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, tail: code === 0 ? "" : (out + err).slice(-2000) }).toEqual({ code: 0, tail: "" });
    expect(out).toContain("[5.0, 3.0, 85.0, 4.5, 2.0] -> 1 (hire)");
    expect(out).toContain("[2.0, 2.0, 70.0, 3.0, 1.0] -> 0 (do not hire)");
    expect(out).toContain("[8.0, 4.0, 95.0, 5.0, 3.0] -> 1 (hire)");
    expect(out).toMatch(/hr-decision-tree\s+1\s+\*\s+doubles\s+ready/);
    expect(out).toContain("demo finished");
  });
});
