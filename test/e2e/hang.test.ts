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
import { FIXTURES, makeFixtures, replicaPids, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
const CLIENTS = 12;
const WINDOW_MS = 12_000;
const HANG_AT_MS = 4000;
const AGAIN_AT_MS = 8000;
const SLO_MS = 100;

interface Answer {
  readonly client: number;
  readonly sentMs: number;
  readonly atMs: number;
  readonly isDefault: boolean;
  readonly reason: string | undefined;
}

const post = async (url: string, input: number[], t0: number, client = -1): Promise<Answer> => {
  const sentMs = performance.now() - t0;
  const res = await fetch(url, { method: "POST", body: JSON.stringify({ input }) });
  const json = (await res.json()) as { default?: boolean; default_explanation?: string };
  if (res.status !== 200) throw new Error(`answered ${res.status}: ${JSON.stringify(json)}`);
  return { client, sentMs, atMs: performance.now() - t0, isDefault: json.default === true, reason: json.default_explanation };
};

/** The drill: 12 clients for WINDOW_MS; the hanging input at HANG_AT_MS and again at AGAIN_AT_MS. */
async function drill(s: Server, app: string) {
  const url = `${s.queryUrl}/${app}/predict`;
  const t0 = performance.now();
  const others: Answer[] = [];
  // Every input new (a counter per client): answers come from the model, not the cache.
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = 0; performance.now() - t0 < WINDOW_MS; i++) others.push(await post(url, [20 + c * 1_000_000 + i, c], t0, c));
  });
  const hanging = (async () => {
    await Bun.sleep(HANG_AT_MS);
    const first = await post(url, [13, 0], t0);
    await Bun.sleep(Math.max(0, AGAIN_AT_MS - (performance.now() - t0)));
    const again = await post(url, [13, 0], t0);
    return { first, again };
  })();
  await Promise.all(clients);
  const { first, again } = await hanging;
  const defaults = others.filter((a) => a.isDefault);
  return {
    others: others.length,
    lost: defaults.length,
    lostShare: defaults.length / others.length,
    // The outage: the longest run of defaults a client got in a row, from the hanging query to the second sending.
    outage: longestDefaults(others, first.sentMs - 200, again.sentMs),
    // Sending it again: the longest such run after it (nothing hangs: a machine's hiccup at most).
    gapAfterAgain: longestDefaults(others, again.sentMs, WINDOW_MS),
    first,
    again,
    reasons: [...new Set(defaults.map((a) => a.reason))],
  };
}

/** The longest run of defaults one client got in a row among answers sent in [fromMs, toMs]: from its first query's sending to its last answer. */
function longestDefaults(answers: readonly Answer[], fromMs: number, toMs: number): { ms: number; endMs: number } {
  let longest = { ms: 0, endMs: fromMs };
  for (let c = 0; c < CLIENTS; c++) {
    let runStart: number | undefined;
    for (const a of answers) {
      if (a.client !== c || a.sentMs < fromMs || a.sentMs > toMs) continue;
      if (!a.isDefault) {
        runStart = undefined;
        continue;
      }
      runStart ??= a.sentMs;
      if (a.atMs - runStart > longest.ms) longest = { ms: a.atMs - runStart, endMs: a.atMs };
    }
  }
  return longest;
}

async function expectContained(s: Server, app: string, model: string, runtime: string) {
  const pidsBefore = await replicaPids(s, model);
  const d = await drill(s, app);
  console.log(
    `${runtime} hang drill (${CLIENTS} clients, ${WINDOW_MS / 1000} s): others answered ${d.others}, lost ${d.lost} (${(100 * d.lostShare).toFixed(2)}%), ` +
      `outage (longest run of defaults of one client) ${d.outage.ms.toFixed(0)} ms, ending ${(d.outage.endMs - d.first.sentMs).toFixed(0)} ms after the hanging query; ` +
      `longest run after sending it again ${d.gapAfterAgain.ms.toFixed(0)} ms; ` +
      `hanging query answered in ${(d.first.atMs - d.first.sentMs).toFixed(0)} ms (${d.first.reason}), again in ${(d.again.atMs - d.again.sentMs).toFixed(0)} ms (${d.again.reason}); reasons ${JSON.stringify(d.reasons)}`,
  );
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
