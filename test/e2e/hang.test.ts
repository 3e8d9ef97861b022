/**
 * End to end: a model that hangs on one pathological input. 12 clients query it; one query sends the input
 * that hangs; the watchdog kills the replica (a batch far past the version's own batch times), replaces it,
 * retries the hang's batch-mates one by one and quarantines the input, so the others lose about a second of
 * answers and sending the input again costs nothing. The same for the Python, Node and Docker runtimes.
 * Real replicas behind the compiled binary; traffic to 127.0.0.1 only, bounded in time.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { dockerMissing, RUNTIME_IMAGE } from "./docker.ts";
import { loadavg } from "node:os";
import { describeDrill, hangDrill, hangTimeline, ISSUE_DRILL } from "../../scripts/lib/hang-drill.ts";
import { FIXTURES, makeFixtures, replicaPids, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
const SLO_MS = 100;

async function expectContained(s: Server, app: string, model: string, runtime: string) {
  const pidsBefore = await replicaPids(s, model);
  const d = await hangDrill(`${s.queryUrl}/${app}/predict`, ISSUE_DRILL);
  console.log(`${describeDrill(runtime, ISSUE_DRILL, d, hangTimeline(s.log(), model, d))} (load average ${loadavg()[0]!.toFixed(2)})`);
  // The hanging query gets the default within its SLO (and a bit for a busy machine).
  expect(d.first.isDefault).toBe(true);
  expect(d.first.atMs - d.first.sentMs).toBeLessThan(SLO_MS + 150);
  // Again: quarantined, answered at once, and the others lose nothing more (the machine's hiccups aside).
  expect(d.again).toMatchObject({
    isDefault: true,
    reason: expect.stringMatching(new RegExp(`^quarantined: this input made model ${model}:1 hang for \\d+\\.\\d s$`)),
  });
  expect(d.again.atMs - d.again.sentMs).toBeLessThan(SLO_MS);
  expect(d.gapAfterAgain.ms).toBeLessThan(Math.max(300, d.outage.ms / 2));
  // The others: a short outage, a small share lost (bounds with room for a shared 2-core machine; the numbers are logged).
  expect(d.lostShare).toBeLessThan(0.05);
  // A replacement costs a cold start where there is no warm spare (Node: a process, Docker: a container).
  // (Measured on a quieter moment: Python ~0.3–2 s, Node ~1–2 s, Docker ~3–4 s; the bounds leave room for a
  // machine whose load average reached 14.)
  expect(d.outage.ms).toBeLessThan(runtime === "docker" ? 12_000 : 8000);
  // The replica was replaced, and status, /metrics and the log say what happened.
  const status = (await s.admin("status")).json.models.find((m: { model_name: string }) => m.model_name === model);
  expect(status.hangs).toBeGreaterThanOrEqual(1);
  expect(status.quarantined).toEqual([{ reason: d.again.reason, seconds_left: expect.any(Number) }]);
  expect(status.last_error).toMatch(/^hung: the runtime did not answer a batch of \d+ rows? within \d+ ms/);
  expect(status.state).toBe("ready");
  if (runtime !== "docker") expect((await replicaPids(s, model)).some((p) => pidsBefore.includes(p))).toBe(false);
  const metrics = await (await fetch(`${s.queryUrl}/metrics`, { headers: { accept: "text/plain" } })).text();
  expect(metrics).toMatch(new RegExp(`clipper_replica_hangs_total\\{model="${model}:1"\\} [1-9]`));
  expect(metrics).toMatch(new RegExp(`clipper_quarantined_inputs_total\\{model="${model}:1"\\} 1`));
  expect(metrics).toMatch(new RegExp(`clipper_shed_queries_total\\{model="${model}:1",reason="quarantined"\\} [1-9]`));
}

describe("a model that hangs on one input", () => {
  let s: Server;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => shutdown(s));

  it("Python: costs the other queries about a second, once; the input is quarantined", async () => {
    await s.cliOk("deploy", join(FIXTURES, "hang_on_13.py"), "--name", "pyhang");
    await expectContained(s, "pyhang", "pyhang", "python");
  }, 60_000);

  it("Node: the same", async () => {
    await s.cliOk("deploy", join(FIXTURES, "hang_on_13.mjs"), "--name", "nodehang");
    await expectContained(s, "nodehang", "nodehang", "node");
  }, 60_000);

  const missing = dockerMissing(RUNTIME_IMAGE);
  it.skipIf(missing !== undefined)(
    `Docker: the container is killed and replaced the same way${missing ? ` (skipped: ${missing})` : ""}`,
    async () => {
      await s.cliOk("deploy", join(fx.dir, "portable", "hang13.pkl"), "--image", RUNTIME_IMAGE, "--name", "dockhang");
      await expectContained(s, "dockhang", "dockhang", "docker");
    },
    120_000,
  );
});
