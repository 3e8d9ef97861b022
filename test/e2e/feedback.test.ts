/**
 * End to end: exp3 feedback is learned in memory and written to the registry within 500 ms, so a SIGKILL
 * loses at most that window and a SIGTERM loses nothing.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { makeFixtures, type Server, shutdown, startServer, waitUntil } from "./harness.ts";

const fx = makeFixtures();
let server: Server;

/** Sends one labelled input; returns the weights its answer carries. */
async function update(i: number): Promise<Record<string, number>> {
  const res = await fetch(`${server.queryUrl}/fb/update`, { method: "POST", body: JSON.stringify({ input: fx.rows[i], label: fx.hrExpected[i] }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { weights: Record<string, number> }).weights;
}

/**
 * Sends `n` labelled inputs, 8 at a time, then one alone; returns the weights of that last answer. (Among
 * concurrent updates the answer the client reads last need not be the update applied last, so only a
 * final update sent alone says what the server holds.)
 */
async function feedback(n: number): Promise<Record<string, number>> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n - 1) await update(next++ % fx.rows.length);
    }),
  );
  return update(next % fx.rows.length);
}

/** The weights the registry file holds now (what a restart would read). */
function storedWeights(dataDir: string): Record<string, number> | undefined {
  const db = new Database(join(dataDir, "registry.db"), { readonly: true });
  try {
    const row = db.query("SELECT policy_config FROM apps WHERE name = 'fb'").get() as { policy_config: string } | null;
    return row ? (JSON.parse(row.policy_config) as { weights?: Record<string, number> }).weights : undefined;
  } finally {
    db.close();
  }
}

const appWeights = async () => (await server.admin("get_application", { name: "fb" })).json.policy_config.weights as Record<string, number>;

beforeAll(async () => {
  server = await startServer();
  await server.cliOk("deploy", join(fx.dir, "hr.pkl"), "--name", "fb-good", "--app", "fb", "--slo-micros", "5000000");
  await server.cliOk("deploy", join(fx.dir, "const-0.pkl"), "--name", "fb-zero");
  await server.cliOk("policy", "fb", "exp3");
  expect((await server.admin("add_model_links", { app_name: "fb", model_names: ["fb-zero"] })).status).toBe(200);
});
afterAll(() => shutdown(server));

describe("exp3 feedback persistence", () => {
  it("serves learned weights at once and writes them to the registry within the 500 ms window", async () => {
    const weights = await feedback(200);
    expect(weights["fb-good"]).toBeGreaterThan(weights["fb-zero"]!);
    expect(await appWeights()).toEqual(weights);
    const tookMs = await waitUntil(() => JSON.stringify(storedWeights(server.dataDir)) === JSON.stringify(weights), 5000);
    console.log(`feedback: weights reached the registry file ${tookMs.toFixed(0)} ms after the last answer`);
    expect(tookMs).toBeLessThan(5000);
  });

  it("loses nothing on SIGTERM", async () => {
    const weights = await feedback(100);
    const dataDir = server.dataDir;
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(storedWeights(dataDir)).toEqual(weights);
    server = await startServer({ dataDir });
    expect(await appWeights()).toEqual(weights);
  });

  it("loses at most the last window on SIGKILL", async () => {
    const written = await feedback(100);
    expect(await waitUntil(() => JSON.stringify(storedWeights(server.dataDir)) === JSON.stringify(written), 5000)).toBeLessThan(5000);
    const latest = await feedback(20);
    const dataDir = server.dataDir;
    await server.stop("SIGKILL");
    server = await startServer({ dataDir });
    const restored = await appWeights();
    console.log(
      `feedback: after SIGKILL the registry had ${JSON.stringify(restored) === JSON.stringify(latest) ? "every" : "all but the last window's"} update`,
    );
    expect([JSON.stringify(written), JSON.stringify(latest)]).toContain(JSON.stringify(restored));
  });
});
