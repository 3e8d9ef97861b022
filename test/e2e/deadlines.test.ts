/**
 * End to end: a client's own deadline (REST `Clipper-Timeout-Ms`, V2 `timeout` in µs, gRPC `grpc-timeout`)
 * is honoured: a query with 20 ms against a model that takes 60 ms a batch is answered by then and never
 * predicted; shared in-flight work belongs to all its waiters; readiness turns false while the only replica
 * hangs or restarts. Compiled binary, real Python replicas; traffic to 127.0.0.1 only, bounded.
 */
import { Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { FIXTURES, fetchJson, type Server, shutdown, startServer, waitUntil } from "./harness.ts";
import { fp64Infer, v2Grpc } from "./oip/grpc-client.ts";

/** Why a query with 20 ms gets the default from a model that takes 60 ms: refused on arrival, shed, or timed out. */
const REASON =
  /^(overload: model sleepy:1 cannot answer in time \(expected wait \d+ ms, \d+ ms left\)|deadline: cannot be met|no prediction within the client's timeout of 20 ms)/;

/** Rows the model has been sent so far (its batches' rows). */
const rowsSent = async (s: Server, key: string): Promise<number> => (await fetchJson(`${s.queryUrl}/metrics.json`)).models[key]?.rows ?? 0;
let probe = 1000;
/**
 * Proves the rows with a deadline were never sent: a query without one (a fresh input, not cached) goes through
 * the same queue after them, and once it is answered exactly one more row has reached the model.
 */
const neverSent = async (s: Server, before: number): Promise<void> => {
  const n = probe++;
  expect((await s.predict("sleepy", { input: [n, 0] })).json).toMatchObject({ output: `${n}.0`, default: false });
  expect(await rowsSent(s, "sleepy:1")).toBe(before + 1);
};

const timed = async <T>(run: () => Promise<T>) => {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
};

describe("client deadlines", () => {
  let s: Server;
  beforeAll(async () => {
    s = await startServer({ grpc: true });
    // SLO 1 s: the client's 20 ms is the deadline that counts.
    await s.cliOk("deploy", join(FIXTURES, "sleepy.py"), "--name", "sleepy", "--slo-micros", "1000000");
    // The model's speed is learned from its answers (the estimates are used after 8 batches).
    for (let i = 0; i < 10; i++) expect((await s.predict("sleepy", { input: [i, 0] })).json.default).toBe(false);
  });
  afterAll(() => shutdown(s));

  it("REST: Clipper-Timeout-Ms 20 gets the default by ~20 ms with the reason, and the row is never predicted", async () => {
    const before = await rowsSent(s, "sleepy:1");
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        timed(async () => {
          const res = await fetch(`${s.queryUrl}/sleepy/predict`, {
            method: "POST",
            headers: { "Clipper-Timeout-Ms": "20" },
            body: JSON.stringify({ input: [100 + i, 1] }),
          });
          return (await res.json()) as { default: boolean; default_explanation: string };
        }),
      ),
    );
    console.log(`REST with a 20 ms timeout: answered in ${answers.map((a) => a.ms.toFixed(0)).join(", ")} ms: ${answers[0]!.value.default_explanation}`);
    for (const a of answers) {
      expect(a.value).toMatchObject({ default: true, default_explanation: expect.stringMatching(REASON) });
      expect(a.ms).toBeLessThan(20 + 150);
    }
    // Not predicted after its deadline: the model got none of these rows.
    await neverSent(s, before);
    // Without the header the same app predicts.
    expect((await s.predict("sleepy", { input: [9, 9] })).json).toMatchObject({ output: "9.0", default: false });
  });

  it("REST: a malformed Clipper-Timeout-Ms is a 400 naming it", async () => {
    const res = await fetch(`${s.queryUrl}/sleepy/predict`, {
      method: "POST",
      headers: { "Clipper-Timeout-Ms": "soon" },
      body: JSON.stringify({ input: [1, 1] }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain("Clipper-Timeout-Ms");
  });

  it("V2 REST: parameters.timeout of 20000 µs gets the default row by ~20 ms, never predicted", async () => {
    const before = await rowsSent(s, "sleepy:1");
    const { value, ms } = await timed(
      async () =>
        (await fetch(`${s.queryUrl}/v2/models/sleepy/infer`, {
          method: "POST",
          body: JSON.stringify({ parameters: { timeout: 20_000 }, inputs: [{ name: "x", shape: [1, 2], datatype: "FP64", data: [200, 1] }] }),
        }).then((r) => r.json())) as { outputs: { data: string[] }[]; parameters?: { default_rows?: string } },
    );
    expect(value.outputs[0]!.data).toEqual(["-1.0"]);
    expect(JSON.parse(value.parameters?.default_rows ?? "[]")).toEqual([{ row: 0, explanation: expect.stringMatching(REASON) }]);
    expect(ms).toBeLessThan(20 + 150);
    await neverSent(s, before);
    const bad = await fetch(`${s.queryUrl}/v2/models/sleepy/infer`, {
      method: "POST",
      body: JSON.stringify({ parameters: { timeout: -5 }, inputs: [{ name: "x", shape: [1, 2], datatype: "FP64", data: [200, 1] }] }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain("parameters.timeout");
  });

  it("gRPC: a 20 ms deadline gets DEADLINE_EXCEEDED (or the default row) by ~20 ms, and the row is never predicted", async () => {
    const grpc = v2Grpc(s.grpcAddress!);
    try {
      const before = await rowsSent(s, "sleepy:1");
      const { value, ms } = await timed(
        () =>
          new Promise<{ code: number; rows?: string }>((resolve) => {
            (grpc.client as any).ModelInfer(
              fp64Infer("sleepy", [[300, 1]]),
              new Metadata(),
              { deadline: Date.now() + 20 },
              (err: { code: number } | null, v: any) => resolve(err ? { code: err.code } : { code: 0, rows: v.parameters?.default_rows?.string_param }),
            );
          }),
      );
      console.log(
        `gRPC with a 20 ms deadline: ${value.code === 0 ? `the default (default_rows ${value.rows})` : `status ${value.code}`} in ${ms.toFixed(0)} ms`,
      );
      expect(value.code === status.DEADLINE_EXCEEDED || (value.code === 0 && JSON.parse(value.rows ?? "[]")[0]?.row === 0)).toBe(true);
      expect(ms).toBeLessThan(20 + 150);
      await neverSent(s, before);
      // Without a deadline the same call predicts.
      const ok = await grpc.call("ModelInfer", fp64Infer("sleepy", [[301, 1]]));
      expect(ok.ok).toBe(true);
    } finally {
      grpc.close();
    }
  });

  it("gRPC: a call the client cancels while it waits in the queue is dropped, never predicted", async () => {
    const grpc = v2Grpc(s.grpcAddress!);
    try {
      // The queue forgets the overload of the tests above (a slow model then gets one batch in flight at a time).
      await Bun.sleep(1100);
      const before = await rowsSent(s, "sleepy:1");
      const gone = (await fetchJson(`${s.queryUrl}/metrics.json`)).models["sleepy:1"].client_gone;
      // The replica is busy with one batch (60 ms); the call queued behind it is cancelled.
      const busy = s.predict("sleepy", { input: [400, 1] });
      await Bun.sleep(10);
      const call = (grpc.client as any).ModelInfer(fp64Infer("sleepy", [[401, 1]]), new Metadata(), () => undefined);
      await Bun.sleep(20);
      call.cancel();
      await busy;
      expect(await waitUntil(async () => (await fetchJson(`${s.queryUrl}/metrics.json`)).models["sleepy:1"].client_gone > gone, 3000)).toBeLessThan(3000);
      expect(await rowsSent(s, "sleepy:1")).toBe(before + 1);
    } finally {
      grpc.close();
    }
  });
});

describe("shared in-flight work", () => {
  let s: Server;
  beforeAll(async () => {
    s = await startServer();
    await s.cliOk("deploy", join(FIXTURES, "sleepy.py"), "--name", "shared", "--slo-micros", "2000000");
    for (let i = 0; i < 10; i++) await s.predict("shared", { input: [i, 0] });
  });
  afterAll(() => shutdown(s));

  const ask = (input: number[], init: RequestInit = {}) =>
    fetch(`${s.queryUrl}/shared/predict`, { method: "POST", body: JSON.stringify({ input }), ...init }).then((r) => r.json()) as Promise<{
      output: string;
      default: boolean;
      default_explanation?: string;
    }>;

  it("two callers of the same row, the first disconnects: the second gets the prediction", async () => {
    // The replica is busy; both callers of [500, 1] wait for it on one shared computation.
    const busy = ask([499, 1]);
    await Bun.sleep(5);
    const first = new AbortController();
    const leaving = ask([500, 1], { signal: first.signal }).catch(() => "gone");
    await Bun.sleep(5);
    const second = ask([500, 1]);
    first.abort();
    expect(await leaving).toBe("gone");
    expect(await second).toMatchObject({ output: "500.0", default: false });
    await busy;
  });

  it("a waiter whose deadline passes gets the default while the other keeps waiting and gets the prediction", async () => {
    const busy = ask([599, 1]);
    await Bun.sleep(5);
    const short = ask([600, 1], { headers: { "Clipper-Timeout-Ms": "30" } });
    await Bun.sleep(5);
    const patient = ask([600, 1]);
    expect(await short).toMatchObject({ default: true });
    expect(await patient).toMatchObject({ output: "600.0", default: false });
    await busy;
  });
});

describe("readiness of a model whose only replica hangs", () => {
  it("turns false while the replica is hung or restarting, and back when one is ready", async () => {
    // No warm Node spare: the replacement then takes a cold start (0.2 s or more) instead of ~10 ms, a window
    // the poller below is sure to see (with a spare, /ready is false only for those ms, as truthfully).
    const s = await startServer({ args: ["--node-spares", "0"] });
    try {
      await s.cliOk("deploy", join(FIXTURES, "hang_on_13.mjs"), "--name", "hangready");
      for (let i = 0; i < 10; i++) await s.predict("hangready", { input: [i, 0] });
      expect((await fetch(`${s.queryUrl}/v2/models/hangready/ready`)).status).toBe(200);
      const seen: number[] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          seen.push((await fetch(`${s.queryUrl}/ready`)).status, (await fetch(`${s.queryUrl}/v2/models/hangready/ready`)).status);
          await Bun.sleep(10);
        }
      })();
      await s.predict("hangready", { input: [13, 0] });
      const back = await waitUntil(async () => seen.includes(503) && (await fetch(`${s.queryUrl}/v2/models/hangready/ready`)).status === 200, 20_000);
      polling = false;
      await poller;
      expect(seen).toContain(503);
      expect(back).toBeLessThan(20_000);
      expect((await fetch(`${s.queryUrl}/ready`)).status).toBe(200);
    } finally {
      await shutdown(s);
    }
  }, 60_000);
});
