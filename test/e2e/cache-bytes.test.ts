/**
 * End to end: the prediction cache is bounded by bytes (--cache-bytes) under large inputs and large answers;
 * a long input is kept as its hash, so ten 1 MB inputs cost the cache bytes, not megabytes.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchJson, makeFixtures, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
const CACHE_BYTES = 1_000_000;
let server: Server;

beforeAll(async () => {
  server = await startServer({ args: ["--python-spares", "0", "--cache-bytes", String(CACHE_BYTES)] });
  await server.cliOk("deploy", join(fx.dir, "length.pkl"), "--name", "length", "--input-type", "strings", "--slo-micros", "20000000");
  // Answers of about 100 KB each (50,000 characters): ten of them fill the bound.
  const wide = join(server.dataDir, "wide_model.mjs");
  writeFileSync(wide, 'export function predict(inputs) { return inputs.map((row) => "w".repeat(50000) + row[0]); }\n');
  await server.cliOk("deploy", wide, "--name", "wide", "--slo-micros", "20000000");
}, 120_000);
afterAll(() => shutdown(server));

const cacheStats = async () => (await fetchJson(`${server.queryUrl}/metrics.json`)).cache;
const cacheBytes = async () => {
  const text = await (await fetch(`${server.queryUrl}/metrics`, { headers: { accept: "text/plain" } })).text();
  return Number(/^clipper_cache_bytes (\d+)/m.exec(text)![1]);
};

describe("the prediction cache's byte bound", () => {
  it("keeps large inputs as their hashes: ten 1 MB strings are cached, answered again from the cache, in a few KB", async () => {
    const inputs = Array.from({ length: 10 }, (_, i) => String(i).repeat(1_000_000));
    for (const input of inputs) expect((await server.predict("length", { input })).json).toMatchObject({ output: "1000000", default: false });
    const before = await cacheStats();
    for (const input of inputs) expect((await server.predict("length", { input })).json).toMatchObject({ output: "1000000", default: false });
    expect((await cacheStats()).hits - before.hits).toBe(10);
    expect(await cacheBytes()).toBeLessThan(10_000);
  });

  it("holds no more than --cache-bytes of large answers, dropping the least recently used", async () => {
    for (let i = 0; i < 40; i++) expect((await server.predict("wide", { input: [i] })).json.default).toBe(false);
    const bytes = await cacheBytes();
    const { entries } = await cacheStats();
    console.log(`40 answers of 100 KB: the cache holds ${entries} entries, ${bytes} bytes (bound ${CACHE_BYTES})`);
    expect(bytes).toBeLessThanOrEqual(CACHE_BYTES);
    expect(bytes).toBeGreaterThan(CACHE_BYTES / 2);
    // The newest answer is still there, the oldest is not.
    const before = (await cacheStats()).hits;
    await server.predict("wide", { input: [39] });
    expect((await cacheStats()).hits).toBe(before + 1);
    await server.predict("wide", { input: [0] });
    expect((await cacheStats()).hits).toBe(before + 1);
  });

  it("refuses a --cache-bytes that is not a whole number, naming the flag's variable", async () => {
    const res = await server.cli("serve", "--cache-bytes", "lots", "--data-dir", join(server.dataDir, "other"));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("CLIPPER_CACHE_BYTES");
  });
});
