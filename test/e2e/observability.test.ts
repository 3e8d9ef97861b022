/** End to end: GET /metrics in Prometheus text format, parsed by the official Python client's parser. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { cleanup, makeFixtures, PYTHON, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
let server: Server;

beforeAll(async () => {
  server = await startServer();
  const dep = await server.cli("deploy", join(fx.dir, "hr.pkl"), "--name", "hr", "--url", "$MGMT");
  if (dep.code !== 0) throw new Error(dep.stderr);
  await Promise.all(fx.rows.map((r) => server.predict("hr", { input: r })));
  await server.predict("hr", { input_batch: fx.rows });
  await server.predict("hr", "{broken");
});
afterAll(() => shutdown(server));

/** Parses Prometheus text with prometheus_client's parser; returns [name, labels, value] per sample. */
function parsePrometheus(text: string): [string, Record<string, string>, number][] {
  const script = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))`;
  const res = Bun.spawnSync([PYTHON, "-c", script], { stdin: new TextEncoder().encode(text) });
  if (res.exitCode !== 0) throw new Error(`the Prometheus parser refused the output: ${res.stderr.toString()}`);
  return JSON.parse(res.stdout.toString());
}

const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

describe("GET /metrics", () => {
  it("is valid Prometheus text with query, latency, batch, cache, queue and replica series", async () => {
    // The Accept header Prometheus's scraper sends.
    const res = await fetch(`${server.queryUrl}/metrics`, { headers: { accept: PROMETHEUS_ACCEPT } });
    expect(res.headers.get("content-type")).toContain("text/plain");
    const samples = parsePrometheus(await res.text());
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.filter(([n, l]) => n === name && Object.entries(labels).every(([k, v]) => l[k] === v)).reduce((a, [, , v]) => a + v, 0);
    expect(value("clipper_queries_total", { app: "hr", outcome: "prediction" })).toBe(fx.rows.length * 2);
    expect(value("clipper_queries_total", { app: "hr", outcome: "rejected" })).toBe(1);
    expect(value("clipper_query_duration_seconds_count", { app: "hr" })).toBe(fx.rows.length + 1);
    expect(value("clipper_batch_size_rows_sum", { model: "hr:1" })).toBe(fx.rows.length * 2 - value("clipper_cache_hits_total"));
    expect(value("clipper_runtime_predict_duration_seconds_count", { model: "hr:1" })).toBeGreaterThan(0);
    expect(value("clipper_replicas", { model: "hr:1", state: "ready" })).toBe(1);
    expect(samples.some(([n, l]) => n === "clipper_queue_depth" && l.model === "hr:1")).toBe(true);
    expect(value("clipper_cache_misses_total")).toBeGreaterThan(0);
  });

  it("answers Clipper's metrics JSON to a client that states no text preference", async () => {
    for (const accept of [undefined, "*/*", "application/json"]) {
      const res = await fetch(`${server.queryUrl}/metrics`, { headers: accept ? { accept } : {} });
      expect(res.headers.get("content-type")).toContain("application/json");
      const json = (await res.json()) as { counters: Record<string, { count: string }>[]; histograms: unknown[] };
      const hr = json.counters.find((c) => "app:hr:num_predictions" in c)!;
      expect(Number(hr["app:hr:num_predictions"]!.count)).toBe(fx.rows.length * 2);
      expect(json.histograms.length).toBeGreaterThan(0);
    }
  });

  it("keeps a JSON summary at /metrics.json", async () => {
    const json = (await (await fetch(`${server.queryUrl}/metrics.json`)).json()) as { models: Record<string, { mean_batch_size: number }> };
    expect(json.models["hr:1"]!.mean_batch_size).toBeGreaterThan(0);
  });
});

describe("API documentation", () => {
  it("serves the OpenAPI document and the interactive page on both ports, without a token", async () => {
    for (const base of [server.queryUrl, server.mgmtUrl]) {
      const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; servers: { url: string }[]; paths: Record<string, unknown> };
      expect(doc.openapi).toBe("3.1.0");
      expect(doc.servers.map((s) => s.url)).toEqual([server.queryUrl, server.mgmtUrl]);
      expect(Object.keys(doc.paths)).toContain("/{app}/predict");
      const page = await fetch(`${base}/docs`);
      expect(page.headers.get("content-type")).toContain("text/html");
      expect(await page.text()).toContain("/openapi.json");
    }
  });
});

describe("logs", () => {
  it("writes one JSON object per line, with the request id on the lines of a query's path", async () => {
    const s = await startServer({ env: { CLIPPER_LOG_LEVEL: "debug" } });
    try {
      await s.admin("add_app", { name: "lonely", input_type: "doubles" });
      const res = await fetch(`${s.queryUrl}/lonely/predict`, { method: "POST", body: '{"input": [1]}', headers: { "x-request-id": "req-42" } });
      expect(res.headers.get("x-request-id")).toBe("req-42");
      const ok = await fetch(`${s.queryUrl}/lonely/predict`, { method: "POST", body: '{"input": [1]}' });
      expect(ok.headers.get("x-request-id")).toMatch(/^[0-9a-z]+-[0-9a-z]+$/);
      await Bun.sleep(100);
      const lines = s
        .log()
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const l of lines) expect(Object.keys(l).slice(0, 4)).toEqual(["ts", "level", "event", "msg"]);
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: "warn",
          event: "default_answer",
          request_id: "req-42",
          app: "lonely",
          msg: "no model is linked to application 'lonely'",
        }),
      );
      expect(lines.some((l) => l.event === "listening" && typeof l.query_url === "string")).toBe(true);
    } finally {
      await s.stop();
      cleanup(s.dataDir);
    }
  });

  it("writes aligned lines for people with --log-format pretty", async () => {
    const s = await startServer({ args: ["--log-format", "pretty"] });
    try {
      expect(s.log()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[clipper\] query API on http/m);
    } finally {
      await s.stop();
      cleanup(s.dataDir);
    }
  });
});
