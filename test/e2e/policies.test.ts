/** End to end: split, exp3 and shadow selection policies through the compiled binary, kept across a restart. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { fetchJson, makeFixtures, type Server, shutdown, startServer, waitUntil } from "./harness.ts";

const fx = makeFixtures();
let server: Server;

const cli = (...args: string[]) => server.cliOk(...args);

/** Sends `n` queries, `concurrency` at a time, and counts outputs of non-default answers. */
async function count(app: string, n: number, input: () => unknown, concurrency = 32): Promise<Map<string, number>> {
  const outputs = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const { json } = await server.predict(app, { input: input() });
        expect(json.default).toBe(false);
        outputs.set(String(json.output), (outputs.get(String(json.output)) ?? 0) + 1);
      }
    }),
  );
  return outputs;
}

beforeAll(async () => {
  server = await startServer();
  // 5 s SLOs: these tests count which model answered, so a slow moment on a shared machine must not turn answers into defaults.
  await cli("deploy", join(fx.dir, "const-a.pkl"), "--name", "pa", "--app", "ab-test", "--slo-micros", "5000000");
  await cli("deploy", join(fx.dir, "const-b.pkl"), "--name", "pb");
  await cli("deploy", join(fx.dir, "const-a.pkl"), "--name", "pa2");
  await cli("deploy", join(fx.dir, "hr.pkl"), "--name", "hr-good", "--app", "bandit", "--slo-micros", "5000000");
  await cli("deploy", join(fx.dir, "const-0.pkl"), "--name", "always-zero");
});
afterAll(() => shutdown(server));

describe("split", () => {
  it("refuses a second model under 'single' and says how to proceed", async () => {
    const res = await server.cli("link", "ab-test", "pb", "--url", "$MGMT");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("already serves model 'pa' (policy 'single')");
  });

  it("splits 10,000 queries 90/10 within 2 percentage points and names the model that answered", async () => {
    expect(await cli("policy", "ab-test", "split", "pa=90", "pb=10")).toContain("uses policy split over pa, pb");
    const outputs = await count("ab-test", 10_000, () => [1]);
    const shareA = (outputs.get("a") ?? 0) / 10_000;
    console.log(`split 90/10 over 10,000 queries: a=${outputs.get("a")}, b=${outputs.get("b")}`);
    expect(Math.abs(shareA - 0.9)).toBeLessThan(0.02);
    const { json } = await server.predict("ab-test", { input: [1] });
    expect(json.model.name).toBe(json.output === "a" ? "pa" : "pb");
  });
});

describe("exp3", () => {
  it("learns from feedback to send most traffic to the more accurate model", async () => {
    await cli("policy", "bandit", "exp3");
    await server.admin("add_model_links", { app_name: "bandit", model_names: ["always-zero"] });
    const before = await count("bandit", 1000, () => fx.rows[0]);
    let weights: Record<string, number> = {};
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < fx.rows.length; i++) {
        const res = await fetch(`${server.queryUrl}/bandit/update`, {
          method: "POST",
          body: JSON.stringify({ input: fx.rows[i], label: fx.hrExpected[i] }),
        });
        expect(res.status).toBe(200);
        weights = ((await res.json()) as { weights: Record<string, number> }).weights;
      }
    }
    // hr-good answers like the labels; always-zero is right only when the label is "0".
    const row = fx.rows.findIndex((_, i) => fx.hrExpected[i] === "1");
    const after = await count("bandit", 2000, () => fx.rows[row]);
    const shareGood = (after.get("1") ?? 0) / 2000;
    console.log(
      `exp3: before feedback ${JSON.stringify(Object.fromEntries(before))}, weights ${JSON.stringify(weights)}, ` +
        `after: hr-good answered ${(shareGood * 100).toFixed(1)}%`,
    );
    expect(weights["hr-good"]).toBeGreaterThan(weights["always-zero"]!);
    expect(shareGood).toBeGreaterThan(0.8);
  });

  it("rejects feedback without a label", async () => {
    const res = await fetch(`${server.queryUrl}/bandit/update`, { method: "POST", body: JSON.stringify({ input: fx.rows[0] }) });
    expect(res.status).toBe(400);
  });
});

describe("shadow", () => {
  it("answers from the primary, sends copies to the shadow and counts agreement", async () => {
    await cli("register-app", "sh", "--input-type", "doubles", "--slo-micros", "5000000");
    await cli("policy", "sh", "shadow", "pa", "pb");
    const outputs = await count("sh", 50, () => [Math.random()], 8);
    expect([...outputs.keys()]).toEqual(["a"]);
    await cli("register-app", "sh2", "--input-type", "doubles", "--slo-micros", "5000000");
    await cli("policy", "sh2", "shadow", "pa", "pa2");
    await count("sh2", 50, () => [Math.random()], 8);
    // The shadow copies are answered off the response path: wait until both apps' comparisons are in.
    const counted = async () => {
      const s = (await fetchJson(`${server.queryUrl}/metrics.json`)).shadow;
      return (s.sh?.["pb:1"]?.disagree ?? 0) > 40 && (s.sh2?.["pa2:1"]?.agree ?? 0) > 40;
    };
    expect(await waitUntil(counted, 10_000)).toBeLessThan(Infinity);
    const shadow = (await fetchJson(`${server.queryUrl}/metrics.json`)).shadow;
    expect(shadow.sh["pb:1"].disagree).toBeGreaterThan(40);
    expect(shadow.sh["pb:1"].agree).toBe(0);
    expect(shadow.sh2["pa2:1"].agree).toBeGreaterThan(40);
  });
});

describe("restart", () => {
  it("keeps each app's policy and learned weights", async () => {
    const before = (await server.admin("get_application", { name: "bandit" })).json;
    const dataDir = server.dataDir;
    await server.stop();
    server = await startServer({ dataDir });
    const after = (await server.admin("get_application", { name: "bandit" })).json;
    expect(after.policy).toBe("exp3");
    expect(after.policy_config).toEqual(before.policy_config);
    expect((await server.admin("get_application", { name: "ab-test" })).json.policy_config).toEqual({ weights: { pa: 90, pb: 10 } });
  });
});
