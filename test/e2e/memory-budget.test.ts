/**
 * The memory budget through the compiled binary: twelve models whose replicas each hold ~200 MB, a budget of
 * 1200 MB, each model queried in turn twice. Every model answers (a bounded number of retries); the replicas'
 * resident memory, sampled from /proc every 100 ms by the test itself, never exceeds the budget by more than one
 * replica; and the versions that give their replica back are the least recently used ones, in order.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, type Server, settledInvariants, shutdown, startServer } from "./harness.ts";

let server: Server | undefined;
let sampling = true;
afterAll(() => {
  sampling = false;
  return shutdown(server);
});

const MODELS = 12;
const BUDGET_MB = 1200;
const name = (i: number) => `big${i}`;

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The server's child processes (Linux /proc). */
function children(parent: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === parent && fields[0] !== "Z") out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

describe("memory budget", () => {
  it("keeps twelve 200 MB models within 1200 MB by evicting the least recently used, and every model answers", async () => {
    server = await startServer({ args: ["--memory-budget-mb", String(BUDGET_MB)] });
    const s = server;
    // The test's own sampler: every 100 ms, the resident memory of the server's children but the warm spare.
    let peakSumMb = 0;
    let peakReplicaMb = 0;
    const sampler = (async () => {
      while (sampling) {
        const spare = ((await s.admin("status").catch(() => undefined))?.json.memory?.spare_pid ?? null) as number | null;
        let sum = 0;
        for (const pid of children(s.proc.pid)) {
          if (pid === spare) continue;
          const mb = rssMb(pid);
          sum += mb;
          peakReplicaMb = Math.max(peakReplicaMb, mb);
        }
        peakSumMb = Math.max(peakSumMb, sum);
        await Bun.sleep(100);
      }
    })();

    for (let i = 0; i < MODELS; i++) {
      await s.cliOk("deploy", join(FIXTURES, "big_resident.py"), "--name", name(i), "--app", name(i), "--slo-micros", "30000000", "--min-replicas", "0");
    }
    const attempts: number[] = [];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < MODELS; i++) {
        let tries = 0;
        for (;;) {
          tries++;
          const r = await s.predict(name(i), { input: [round, i] });
          if (r.status === 200 && !r.json.default) {
            expect(r.json.output).toBe((round + i).toFixed(1));
            break;
          }
          if (tries >= 3) throw new Error(`model ${name(i)} did not answer in ${tries} tries: ${JSON.stringify(r.json)}`);
          await Bun.sleep(500);
        }
        attempts.push(tries);
      }
    }
    sampling = false;
    await sampler;
    const status = (await s.admin("status")).json;
    console.log(
      `peak replica memory ${peakSumMb.toFixed(0)} MiB of a ${BUDGET_MB} MiB budget (largest replica ${peakReplicaMb.toFixed(0)} MiB), ` +
        `${status.memory.evictions} evictions, tries per query ${Math.max(...attempts)} at most`,
    );
    expect(peakReplicaMb).toBeGreaterThan(200);
    expect(peakSumMb).toBeLessThanOrEqual(BUDGET_MB + peakReplicaMb);
    expect(status.memory).toMatchObject({ budget_mb: BUDGET_MB });
    expect(status.memory.used_mb).toBeLessThanOrEqual(BUDGET_MB);

    // Least recently used first: models were deployed and queried round-robin, so each eviction takes the next model.
    const evicted = (status.scaling_events as { model: string; action: string; reason: string }[]).filter((e) => e.action === "evict");
    expect(evicted.length).toBeGreaterThan(MODELS);
    expect(evicted[0]!.reason).toMatch(/^least recently used \(last query \d+ s ago\): model big\d+:1 needed about \d+ MiB/);
    const order = evicted.map((e) => Number(/^big(\d+):1$/.exec(e.model)![1]));
    for (let k = 1; k < order.length; k++) expect([order[k - 1], order[k]]).toEqual([order[k - 1], (order[k - 1]! + 1) % MODELS]);
    expect((await settledInvariants(s)).violations).toEqual([]);
  }, 300_000);
});
