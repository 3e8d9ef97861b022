/**
 * End to end: one client's bad input, or a row the model raises on, never costs another query its prediction.
 * Real Python replicas behind the compiled binary; traffic to 127.0.0.1 only, bounded in count.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { FIXTURES, fetchJson, makeFixtures, type Server, shutdown, startServer, waitUntil, replicaPids } from "./harness.ts";

const fx = makeFixtures();

/** Runs `clients` loops of `perClient` predicts each; `body(client, i)` makes each body; returns every answer. */
async function clients(url: string, count: number, perClient: number, body: (client: number, i: number) => unknown) {
  const answers: { client: number; body: any; status: number; json: any }[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, client) => {
      for (let i = 0; i < perClient; i++) {
        const b = body(client, i);
        const res = await fetch(url, { method: "POST", body: JSON.stringify(b) });
        answers.push({ client, body: b, status: res.status, json: await res.json() });
      }
    }),
  );
  return answers;
}

const modelStats = async (s: Server, key: string) => (await fetchJson(`${s.queryUrl}/metrics.json`)).models[key];
describe("fault isolation", () => {
  let s: Server;
  beforeAll(async () => {
    s = await startServer();
    await s.cliOk("deploy", join(fx.dir, "hr.pkl"), "--name", "hr", "--slo-micros", "2000000");
    await s.cliOk("deploy", join(fx.dir, "picky.pkl"), "--name", "picky", "--slo-micros", "5000000");
    await s.cliOk("deploy", join(fx.dir, "raising.pkl"), "--name", "raising", "--slo-micros", "5000000");
  });
  afterAll(() => shutdown(s));

  it("reports the model's row width (scikit-learn's n_features_in_) in the model's runtime info", async () => {
    const info = (await s.admin("get_model", { model_name: "hr", model_version: "1" })).json;
    expect(info.runtime_info.input_shape).toEqual([5]);
  });

  it("answers rows of the wrong width 400, naming both widths, before they can share a batch", async () => {
    const one = await s.predict("hr", { input: [1, 2, 3] });
    expect(one.status).toBe(400);
    expect(one.json.error).toBe("input has 3 values; model hr version 1 expects 5");
    const rows = Array.from({ length: 100 }, () => [1, 2, 70, 3, 1]);
    rows[57] = [1, 2, 3];
    const batch = await s.predict("hr", { input_batch: rows });
    expect(batch.status).toBe(400);
    expect(batch.json.error).toBe("input_batch[57] has 3 values; model hr version 1 expects 5");
    const first = await s.predict("hr", {
      input_batch: [
        [1, 2, 3],
        [1, 2, 70, 3, 1],
      ],
    });
    expect(first.json.error).toBe("input_batch[0] has 3 values; model hr version 1 expects 5");
    const v2 = await fetch(`${s.queryUrl}/v2/models/hr/infer`, {
      method: "POST",
      body: JSON.stringify({ inputs: [{ name: "x", shape: [2, 3], datatype: "FP64", data: [1, 2, 3, 4, 5, 6] }] }),
    });
    expect(v2.status).toBe(400);
    expect(((await v2.json()) as { error: string }).error).toBe("each row of inputs[0] has 3 values; model hr version 1 expects 5");
  });

  it("checks the width a Node module declares with its inputShape export", async () => {
    await s.cliOk("deploy", join(FIXTURES, "pair_model.mjs"), "--name", "pair");
    expect((await s.admin("get_model", { model_name: "pair", model_version: "1" })).json.runtime_info.input_shape).toEqual([2]);
    expect((await s.predict("pair", { input: [3, 4] })).json).toMatchObject({ output: "12", default: false });
    const bad = await s.predict("pair", { input: [3, 4, 5] });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe("input has 3 values; model pair version 1 expects 2");
  });

  it("answers other bad inputs 400 naming the field: infinity, a string among numbers", async () => {
    const inf = await s.predict("hr", '{"input": [1, 2, 1e999, 3, 1]}');
    expect(inf.status).toBe(400);
    expect(inf.json.error).toContain("input[2]");
    const str = await s.predict("hr", {
      input_batch: [
        [1, 2, 70, 3, 1],
        [1, "two", 70, 3, 1],
      ],
    });
    expect(str.status).toBe(400);
    expect(str.json.error).toContain("input_batch[1][1]");
  });

  it("mixed traffic: 12 clients send good rows and 4 send 3-wide rows at once; no good query gets a default", async () => {
    const answers = await clients(`${s.queryUrl}/hr/predict`, 16, 200, (client, i) =>
      client < 12 ? { input: fx.rows[(client * 7 + i) % fx.rows.length] } : { input: [client, i, 3] },
    );
    const good = answers.filter((a) => a.client < 12);
    const bad = answers.filter((a) => a.client >= 12);
    const goodDefaults = good.filter((a) => a.status !== 200 || a.json.default).length;
    const wrong = good.filter((a) => a.status === 200 && !a.json.default && a.json.output !== fx.hrExpected[fx.rows.indexOf(a.body.input)]).length;
    const bad400 = bad.filter((a) => a.status === 400 && a.json.error === "input has 3 values; model hr version 1 expects 5").length;
    console.log(`mixed traffic: ${good.length} good queries, ${goodDefaults} got a default, ${wrong} wrong; ${bad.length} bad queries, ${bad400} answered 400`);
    expect(answers.length).toBeGreaterThanOrEqual(3000);
    expect(goodDefaults).toBe(0);
    expect(wrong).toBe(0);
    expect(bad400).toBe(bad.length);
  });

  it("a model that raises on some rows: only those rows get the default (with its message), the replica lives on", async () => {
    const [pid] = await replicaPids(s, "picky");
    const before = await modelStats(s, "picky:1");
    // 5% of the rows start with 13, which makes the closure raise for any batch holding one.
    const answers = await clients(`${s.queryUrl}/picky/predict`, 16, 120, (client, i) => ({
      input: [(client * 120 + i) % 20 === 7 ? 13 : client, i, 1, 2, 3],
    }));
    const thirteens = answers.filter((a) => a.body.input[0] === 13);
    const others = answers.filter((a) => a.body.input[0] !== 13);
    const othersPredicted = others.filter(
      (a) => a.status === 200 && !a.json.default && a.json.output === String(a.body.input.reduce((x: number, y: number) => x + y, 0)),
    ).length;
    const thirteensDefault = thirteens.filter(
      (a) => a.status === 200 && a.json.default && a.json.default_explanation.includes("13 is not a valid first value"),
    ).length;
    const after = await modelStats(s, "picky:1");
    console.log(
      `raising rows: ${others.length} other queries, ${othersPredicted} predicted; ${thirteens.length} raising queries, ` +
        `${thirteensDefault} defaults with the model's message; ${after.batch_splits - (before?.batch_splits ?? 0)} splits`,
    );
    expect(othersPredicted).toBe(others.length);
    expect(thirteensDefault).toBe(thirteens.length);
    // Identical rows in flight share one prediction (the cache), so fewer rows than queries may fail.
    const failedRows = after.isolated_row_failures - (before?.isolated_row_failures ?? 0);
    expect(failedRows).toBeGreaterThan(0);
    expect(failedRows).toBeLessThanOrEqual(thirteens.length);
    expect(await replicaPids(s, "picky")).toEqual([pid!]);
  });

  it("an input_batch with a raising row keeps the predictions of its other rows", async () => {
    const rows = Array.from({ length: 40 }, (_, i) => [i === 17 ? 13 : 20 + i, 1, 1, 1, 1]);
    const { status, json } = await s.predict("picky", { input_batch: rows });
    expect(status).toBe(200);
    json.batch_predictions.forEach((p: { default: boolean; output: string; default_explanation?: string }, i: number) => {
      if (i === 17) {
        expect(p.default).toBe(true);
        expect(p.default_explanation).toContain("13 is not a valid first value");
      } else {
        expect(p).toMatchObject({ default: false, output: String(24 + i) });
      }
    });
    const metrics = await (await fetch(`${s.queryUrl}/metrics`, { headers: { accept: "text/plain" } })).text();
    // The Python runtime speaks protocol version 2: it isolated the row itself, the server split nothing.
    expect(metrics).not.toMatch(/clipper_batch_splits_total\{model="picky:1"\} [1-9]/);
    expect(metrics).toMatch(/clipper_isolated_row_failures_total\{model="picky:1"\} [1-9]/);
  });

  it("a model that raises on every row is answered at once after the first split level, without restarts", async () => {
    const [pid] = await replicaPids(s, "raising");
    const answers = await clients(`${s.queryUrl}/raising/predict`, 16, 40, (client, i) => ({ input: [client, i, 1, 2, 3] }));
    const stats = await modelStats(s, "raising:1");
    console.log(`raising on every row: ${answers.length} queries, ${stats.batch_splits} splits, ${stats.isolated_row_failures} failed rows`);
    expect(answers.every((a) => a.status === 200 && a.json.default && a.json.default_explanation.includes("this model always fails"))).toBe(true);
    // Split all the way down, each of the 640 rows would cost a split of its own (about 600 in all).
    expect(stats.batch_splits).toBeLessThan(answers.length / 2);
    expect(await replicaPids(s, "raising")).toEqual([pid!]);
  });
});

describe("client disconnects", () => {
  let s: Server;
  beforeAll(async () => {
    s = await startServer();
    // 0.5 s per batch: queries pile up behind the first batches while their clients give up.
    await s.cliOk("deploy", join(fx.dir, "slow.pkl"), "--name", "slow", "--slo-micros", "30000000");
  });
  afterAll(() => shutdown(s));

  it("drops the queries of 1,000 clients that gave up after 10 ms: not predicted, not counted as defaults", async () => {
    const { hostname, port } = new URL(s.queryUrl);
    // Each client writes a whole request on its own connection and closes it 10 ms later, unanswered.
    const results = await Promise.all(
      Array.from(
        { length: 1000 },
        (_, i) =>
          new Promise<string>((resolve) => {
            const body = JSON.stringify({ input: [i, 1, 2, 3, 4] });
            const request = `POST /slow/predict HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
            let answered = false;
            void Bun.connect({
              hostname,
              port: Number(port),
              socket: {
                open(sock) {
                  sock.write(request);
                  setTimeout(() => {
                    sock.end();
                    resolve(answered ? "answered" : "gave up");
                  }, 10);
                },
                data() {
                  answered = true;
                },
                error() {
                  resolve("error");
                },
              },
            }).catch(() => resolve("error"));
          }),
      ),
    );
    const gaveUp = results.filter((r) => r === "gave up").length;
    // Whatever was sent before the clients left finishes; then nothing waits and no replica has work.
    const idle = async () => {
      const prom = await (await fetch(`${s.queryUrl}/metrics`, { headers: { accept: "text/plain" } })).text();
      const containers = (await s.admin("get_all_containers", {})).json as { outstanding_rows: number }[];
      return /clipper_queue_depth\{model="slow:1"\} 0/.test(prom) && containers.every((c) => c.outstanding_rows === 0);
    };
    expect(await waitUntil(idle, 20_000)).toBeLessThan(Infinity);
    const stats = await modelStats(s, "slow:1");
    const app = (await fetchJson(`${s.queryUrl}/metrics.json`)).apps.slow;
    console.log(`disconnects: ${gaveUp} clients gave up; ${stats.client_gone} queries dropped, ${stats.rows} rows predicted in ${stats.batches} batches`);
    expect(gaveUp).toBeGreaterThan(900);
    // Only the first batches, sent before their clients left, were predicted: not a queue's worth of 0.5 s batches.
    expect(stats.rows).toBeLessThan(100);
    expect(stats.batches).toBeLessThan(10);
    expect(stats.client_gone).toBeGreaterThan(900);
    expect(app?.defaults ?? 0).toBe(0);
    // The server still answers a patient client.
    const ok = await s.predict("slow", { input: [1, 1, 1, 1, 1] });
    expect(ok.json).toMatchObject({ default: false, output: "5.0" });
  });
});
