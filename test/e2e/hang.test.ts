/**
 * End to end, issue 21's drill (scripts/lib/hang-drill.ts): a model that hangs on one pathological input.
 * 12 clients query it for 20 s; at 5 s one query sends the input that hangs; the watchdog kills the replica
 * (a batch far past the version's own batch times), replaces it from a warm spare, tries the hang's
 * batch-mates one by one on a probe replica and quarantines the input, so the others lose at most about a
 * second of answers and sending the input again (at 12 s) costs nothing. The same for the Python, Node and
 * Docker runtimes.
 * Real replicas behind the compiled binary; traffic to 127.0.0.1 only, bounded in time.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { docker, dockerMissing, RUNTIME_IMAGE } from "./docker.ts";
import { loadavg } from "node:os";
import { describeDrill, hangDrill, hangTimeline, ISSUE_DRILL } from "../../scripts/lib/hang-drill.ts";
import { FIXTURES, makeFixtures, replicaPids, type Server, shutdown, startServer, waitFor } from "./harness.ts";

const fx = makeFixtures();
const SLO_MS = 100;

/**
 * True once a warm Python spare (on the host, or in a Docker version's spare container) has imported
 * scikit-learn and waits on its stdin for a `load` frame: the drill then measures a replacement from a warm
 * spare, not one from a spare still warming (on a machine at load 10 a spare container takes several seconds
 * after the deploy; a hang meanwhile measured 2.6 s of defaults).
 */
const WARM = `for p in /proc/[0-9]*; do grep -q sklearn/utils $p/maps 2>/dev/null && grep -qE 'pipe_read|unix_stream_read' $p/wchan 2>/dev/null && grep -qa -- --standby $p/cmdline && echo \${p#/proc/}; done; true`;
async function spareWarm(s: Server, runtime: string): Promise<boolean> {
  if (runtime === "node") return true;
  if (runtime === "python") {
    // This server's spare: its worker script lies in the server's data directory (other servers may run here),
    // and it is no replica (a replica that started from a spare keeps `--standby` in its command line).
    const replicas = await replicaPids(s);
    const found = Bun.spawnSync(["sh", "-c", WARM.replace("-- --standby", `-- ${s.dataDir}`)])
      .stdout.toString()
      .split("\n")
      .map(Number);
    return found.some((pid) => pid > 0 && !replicas.includes(pid));
  }
  const spare = docker("ps", "--filter", `label=clipper.data-dir=${s.dataDir}`, "--format", '{{.Names}} {{.Label "clipper.replica"}}')
    .stdout.split("\n")
    .find((line) => line.endsWith("#spare"))
    ?.split(" ")[0];
  return spare !== undefined && docker("exec", spare, "sh", "-c", WARM).stdout.trim() !== "";
}

async function expectContained(s: Server, app: string, model: string, runtime: string) {
  expect(await waitFor(async () => ((await spareWarm(s, runtime)) ? true : undefined), 60_000)).toBe(true);
  const pidsBefore = await replicaPids(s, model);
  const d = await hangDrill(`${s.queryUrl}/${app}/predict`, ISSUE_DRILL);
  const t = hangTimeline(s.log(), model, d);
  console.log(`${describeDrill(runtime, ISSUE_DRILL, d, t)} (load average ${loadavg()[0]!.toFixed(2)})`);
  const quarantine = new RegExp(`^quarantined: this input made model ${model}:1 hang for \\d+\\.\\d s$`);
  // The issue's bounds for the other clients: at most about a second of defaults, at most 5% of their queries lost.
  expect(d.outage.ms).toBeLessThan(1000);
  expect(d.lostShare).toBeLessThan(0.05);
  // The hanging query gets the default at its SLO (the default is given when the SLO runs out; a little for a busy machine).
  expect(d.first.isDefault).toBe(true);
  expect(d.first.atMs - d.first.sentMs).toBeLessThan(SLO_MS + 150);
  // Sending it again costs nothing: answered the default with the quarantine's reason at once, or, when the probe
  // that tries the hung batch's rows alone has not judged it yet (its replica's cold start on a loaded machine),
  // the default at its SLO while it waits for the verdict (on the first sending's computation in flight, or on
  // the probe); either way it reaches no replica of the traffic:
  // exactly one replica was replaced (probes are not), and the others lose nothing more.
  expect(d.again.isDefault).toBe(true);
  const judged = t.quarantinedMs !== undefined && t.quarantinedMs < d.again.sentMs - d.first.sentMs;
  if (judged) {
    expect(d.again.reason).toMatch(quarantine);
    expect(d.again.atMs - d.again.sentMs).toBeLessThan(SLO_MS);
  } else {
    expect(d.again.atMs - d.again.sentMs).toBeLessThan(SLO_MS + 150);
  }
  expect(t.replacedMs).toHaveLength(1);
  expect(t.replacedMs[0]!.spare).toBe(true);
  expect(d.gapAfterAgain.ms).toBeLessThan(300);
  // The replica was replaced (from a warm spare where the runtime has one), the input quarantined; status,
  // /metrics and the log say what happened.
  const status = await waitFor(async () => {
    const m = (await s.admin("status")).json.models.find((m: { model_name: string }) => m.model_name === model);
    return m.quarantined.length > 0 ? m : undefined;
  }, 30_000);
  expect(status).toBeDefined();
  expect(status.hangs).toBeGreaterThanOrEqual(1);
  expect(status.quarantined).toEqual([{ reason: expect.stringMatching(quarantine), seconds_left: expect.any(Number) }]);
  expect(status.last_error).toMatch(/^hung: the runtime did not answer a batch of \d+ rows? within \d+ ms/);
  expect(status.state).toBe("ready");
  expect((await replicaPids(s, model)).some((p) => pidsBefore.includes(p))).toBe(false);
  const metrics = await (await fetch(`${s.queryUrl}/metrics`, { headers: { accept: "text/plain" } })).text();
  expect(metrics).toMatch(new RegExp(`clipper_replica_hangs_total\\{model="${model}:1"\\} [1-9]`));
  expect(metrics).toMatch(new RegExp(`clipper_quarantined_inputs_total\\{model="${model}:1"\\} 1`));
  // (Sent again before the verdict, the input joins the first sending's computation in flight, which waits there.)
  if (judged) expect(metrics).toMatch(new RegExp(`clipper_shed_queries_total\\{model="${model}:1",reason="quarantined"\\} [1-9]`));
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
