/** End to end: the per-application cache switch (Clipper's register_application(cache=...)), kept across a restart. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { fetchJson, makeFixtures, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
let server: Server;

beforeAll(async () => {
  server = await startServer({ args: ["--python-spares", "0"] });
  for (const [name, cache] of [
    ["cached", true],
    ["uncached", false],
  ] as const) {
    const res = await server.admin("add_app", { name, input_type: "doubles", cache });
    if (res.status !== 200) throw new Error(JSON.stringify(res.json));
  }
  await server.cliOk("deploy", join(fx.dir, "hr.pkl"), "--name", "hr", "--app", "cached");
  await server.cliOk("link", "uncached", "hr");
}, 120_000);
afterAll(() => shutdown(server));

async function hitsAfterTwoQueries(app: string): Promise<number> {
  const before = (await fetchJson(`${server.queryUrl}/metrics.json`)).cache;
  const input = { input: [4.0, 3.0, 81.0, 4.0, 2.0 + Math.random()] };
  const [a, b] = [await server.predict(app, input), await server.predict(app, input)];
  expect(a.json.output).toBe(b.json.output);
  const after = (await fetchJson(`${server.queryUrl}/metrics.json`)).cache;
  return after.hits - before.hits;
}

describe("register_application(cache=...)", () => {
  it("answers a repeated query from the cache only for an app registered with cache on", async () => {
    expect(await hitsAfterTwoQueries("cached")).toBe(1);
    expect(await hitsAfterTwoQueries("uncached")).toBe(0);
    expect((await server.admin("get_application", { name: "uncached" })).json.cache).toBe(false);
  });

  it("refuses a cache that is not a boolean, naming the field", async () => {
    const res = await server.admin("add_app", { name: "bad", input_type: "doubles", cache: "no" });
    expect(res.status).toBe(400);
    expect(res.json.error).toStartWith("cache: ");
  });

  it("keeps the switch across a restart", async () => {
    const dataDir = server.dataDir;
    await server.stop();
    server = await startServer({ dataDir, args: ["--python-spares", "0"] });
    expect((await server.admin("get_application", { name: "uncached" })).json.cache).toBe(false);
    expect(await hitsAfterTwoQueries("uncached")).toBe(0);
    expect(await hitsAfterTwoQueries("cached")).toBe(1);
  }, 60_000);
});
