/**
 * Autoscaling through the compiled binary: a model that costs 2 ms a row, deployed with --min-replicas 1
 * --max-replicas 3, under 128 connections: the queue's wait nears the SLO, replicas are added up to 3 and the
 * goodput (predictions within the SLO per second) rises with them; once the load drops, the replicas that are
 * no longer busy are drained and stopped after the calm window, back to 1, without losing a query.
 *
 * Why 128 connections and not the 64: closed-loop callers wait for their answers, so by Little's law a
 * query takes connections / capacity. With 64 callers and 2 replicas (1,000 rows/s) that is 64 ms, inside the
 * 100 ms SLO: two replicas are enough, the queue's wait stays under half the SLO, and the autoscaler rightly
 * stops at 2 (it reached 3 only when a pause made some query wait longer: 1 run in 5 stayed at 2 for 15 s).
 * 128 callers need 128 ms at 2 replicas (the queue sheds) and 85 ms at 3.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { FIXTURES, type Server, settledInvariants, shutdown, startServer, waitUntil } from "./harness.ts";
import { steadyLoad } from "./load.ts";

let server: Server | undefined;
afterAll(() => shutdown(server));

const CALM_WINDOW = "3s";

async function replicas(s: Server): Promise<{ ready: number; all: number }> {
  const list = (await s.admin("get_all_containers", {})).json as { model_name: string; state: string }[];
  const mine = list.filter((c) => c.model_name === "cost");
  return { ready: mine.filter((c) => c.state === "ready").length, all: mine.length };
}

describe("autoscale", () => {
  it("adds replicas up to the range's top while queries wait near their SLO, goodput rises, and it goes back to 1 after the load", async () => {
    server = await startServer({ args: ["--scale-down-after", CALM_WINDOW] });
    const s = server;
    await s.cliOk(
      "deploy",
      join(FIXTURES, "cost_per_row.py"),
      "--name",
      "cost",
      "--app",
      "cost",
      "--slo-micros",
      "100000",
      "--min-replicas",
      "1",
      "--max-replicas",
      "3",
    );
    // The baseline: the range's top held at 1 for 3 s under the load, then 1..3 again (`clipper scale --min --max`).
    await s.cliOk("scale", "cost", "--min", "1", "--max", "1");
    let n = 0;
    const heavy = steadyLoad(`${s.queryUrl}/cost/predict`, () => ({ input: [n++, 1] }), 128, 20_000);
    await waitUntil(() => heavy.counts.ok > 0, 10_000);
    const ok0 = heavy.counts.ok;
    const t0 = performance.now();
    await Bun.sleep(3000);
    const one = ((heavy.counts.ok - ok0) * 1000) / (performance.now() - t0);
    expect((await replicas(s)).all).toBe(1);
    await s.cliOk("scale", "cost", "--min", "1", "--max", "3");
    const reached = await waitUntil(async () => (await replicas(s)).ready === 3, 15_000);
    if (reached === Infinity)
      console.log(`scaling events: ${JSON.stringify((await s.admin("status")).json.scaling_events)}; ${JSON.stringify(await replicas(s))}`);
    expect(reached).toBeLessThan(Infinity);
    // Goodput at 3 replicas, over 3 s.
    const ok3 = heavy.counts.ok;
    const t3 = performance.now();
    await Bun.sleep(3000);
    const three = ((heavy.counts.ok - ok3) * 1000) / (performance.now() - t3);
    const atThree = await replicas(s);
    if (atThree.ready !== 3) console.log(`scaling events: ${JSON.stringify((await s.admin("status")).json.scaling_events)}`);
    expect(atThree.ready).toBe(3);
    const heavyCounts = await heavy.stop();
    console.log(`goodput: ${one.toFixed(0)}/s with 1 replica, ${three.toFixed(0)}/s with 3 (${heavyCounts.ok} predictions, ${heavyCounts.defaults} defaults)`);
    expect(three).toBeGreaterThan(one * 1.5);

    // One connection goes on while the extra replicas are drained: back to 1 within the calm window (and some
    // slack for a loaded machine), and no query a replica had accepted is lost.
    const light = steadyLoad(`${s.queryUrl}/cost/predict`, () => ({ input: [n++, 2] }), 1, 60_000);
    const backMs = await waitUntil(async () => {
      const r = await replicas(s);
      return r.all === 1 && r.ready === 1;
    }, 30_000);
    const lightCounts = await light.stop();
    expect(backMs).toBeLessThan(Infinity);
    // Under the heavy load admission control may refuse queries (a 503 with Retry-After): that is overload, not loss.
    expect(heavyCounts.failed).toBe(0);
    expect({ errors: lightCounts.errors5xx + lightCounts.errors4xx, failed: lightCounts.failed }).toEqual({ errors: 0, failed: 0 });
    expect(lightCounts.ok).toBeGreaterThan(0);

    const events = (await s.admin("status")).json.scaling_events as { model: string; action: string; to: number; reason: string }[];
    // What the autoscaler did, printed before the checks so that a failure on a loaded machine can be read.
    console.log(
      `scaling events: ${JSON.stringify(events)}; light load: ${JSON.stringify({ ...lightCounts, outputs: undefined, firstSeen: undefined, reasons: [...lightCounts.reasons] })}; heavy failed ${heavyCounts.failed}`,
    );
    expect(events.filter((e) => e.action === "up").map((e) => e.to)).toEqual([2, 3]);
    expect(events.find((e) => e.action === "up")!.reason).toMatch(
      /^(the oldest query waited \d+ ms, \d+% of its SLO|admission control refused queries: the queue could not answer them within their SLO)$/,
    );
    expect(events.at(-1)).toMatchObject({ model: "cost:1", action: "down", to: 1 });
    expect(events.at(-1)!.reason).toMatch(/^at most [01] of [23] replicas were busy over the last 3 s$/);
    const log = s.log();
    expect(log).toContain('"event":"scaling"');
    expect((await settledInvariants(s)).violations).toEqual([]);
  }, 120_000);
});
