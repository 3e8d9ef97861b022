/**
 * The memory budget through the compiled binary: twelve models whose replicas each hold ~200 MB, a budget of
 * 1200 MB, each model queried in turn twice. Every model answers (a bounded number of retries); the resident
 * memory of the replicas and warm spares, sampled from /proc every 100 ms by the test itself, never exceeds the
 * budget by more than one replica; and the versions that give their replica back are the least recently used ones, in order.
 * Docker replicas on the real engine count with their container's memory (what `docker stats` says), not only
 * their `docker run` client's: three 200 MB containers under a 600 MB budget evict the least recently used.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { docker, dockerMissing, RUNTIME_IMAGE } from "./docker.ts";
import { FIXTURES, makeFixtures, replicaPids, type Server, settledInvariants, shutdown, startServer, waitFor, waitUntil } from "./harness.ts";

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
    // The test's own sampler: every 100 ms, the resident memory of all the server's children, warm spares
    // included (the budget counts them), and how many of them were spares.
    let peakSumMb = 0;
    let peakReplicaMb = 0;
    let sparesSeen = 0;
    const sampler = (async () => {
      while (sampling) {
        const spares = ((await s.admin("status").catch(() => undefined))?.json.memory?.spare_pids ?? []) as number[];
        let sum = 0;
        for (const pid of children(s.proc.pid)) {
          const mb = rssMb(pid);
          sum += mb;
          if (spares.includes(pid)) sparesSeen = Math.max(sparesSeen, 1);
          else peakReplicaMb = Math.max(peakReplicaMb, mb);
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
      `peak memory of replicas and spares ${peakSumMb.toFixed(0)} MiB of a ${BUDGET_MB} MiB budget (largest replica ${peakReplicaMb.toFixed(0)} MiB), ` +
        `${status.memory.evictions} evictions, ${status.memory.spares_shed} spares killed for room, tries per query ${Math.max(...attempts)} at most`,
    );
    expect(peakReplicaMb).toBeGreaterThan(200);
    expect(sparesSeen).toBe(1);
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

describe("memory budget and warm spares", () => {
  it("counts the warm spares, kills them first when the room is needed, and starts none without room", async () => {
    const s = await startServer({ args: ["--memory-budget-mb", "4000"] });
    try {
      type Mem = {
        used_mb: number;
        replicas_mb: number;
        spares_mb: number;
        evictions: number;
        spares_shed: number;
        spares: { pid: number; memory_mb: number }[];
      };
      const memory = async () => (await s.admin("status")).json.memory as Mem;
      await s.cliOk("deploy", join(FIXTURES, "big_resident.py"), "--name", "keep", "--app", "keep", "--slo-micros", "30000000", "--min-replicas", "0");
      // The replica holds its 200 MB, and a warm spare waits beside it: both counted.
      const both = await waitFor(async () => {
        const m = await memory();
        return m.replicas_mb > 200 && m.spares.length > 0 && m.spares.every((x) => x.memory_mb > 0) ? m : undefined;
      }, 60_000);
      if (!both) throw new Error(`no replica and measured spare: ${JSON.stringify(await memory())}`);
      expect(both.spares_mb).toBe(both.spares.reduce((a, x) => a + x.memory_mb, 0));
      expect(Math.abs(both.used_mb - (both.replicas_mb + both.spares_mb))).toBeLessThanOrEqual(1);
      const sparePids = both.spares.map((x) => x.pid);

      // A budget with room for the replica but for no spare beside it: the spares go, the replica stays.
      const budgetMb = both.replicas_mb + Math.max(10, Math.floor(Math.min(...both.spares.map((x) => x.memory_mb)) / 2));
      expect((await s.admin("set_server_limits", { memory_budget_mb: budgetMb })).status).toBe(200);
      const after = await memory();
      expect(after).toMatchObject({ evictions: 0, spares: [] });
      expect(after.spares_shed).toBeGreaterThanOrEqual(sparePids.length);
      expect(after.used_mb).toBeLessThanOrEqual(budgetMb);
      expect(await waitUntil(() => sparePids.every((pid) => !children(s.proc.pid).includes(pid)), 10_000)).toBeLessThan(Infinity);
      expect((await s.predict("keep", { input: [1, 2] })).json).toMatchObject({ output: "3.0", default: false });
      expect((await replicaPids(s, "keep")).length).toBe(1);
      // No spare starts while it would not fit (the autoscaler's ticks try every 100 ms): none comes back while queries run.
      for (let i = 0; i < 20; i++) expect((await s.predict("keep", { input: [i, 1] })).json.default).toBe(false);
      expect((await memory()).spares).toEqual([]);

      // Room again: a spare is started into it.
      await s.admin("set_server_limits", { memory_budget_mb: 4000 });
      expect(await waitFor(async () => ((await memory()).spares.length > 0 ? true : undefined), 30_000)).toBe(true);
      expect((await settledInvariants(s)).violations).toEqual([]);
    } finally {
      await shutdown(s);
    }
  }, 180_000);
});

const dockerSkip = dockerMissing(RUNTIME_IMAGE);
if (dockerSkip) console.log(`Docker memory budget test skipped: ${dockerSkip}`);

describe.skipIf(dockerSkip !== undefined)("memory budget with Docker replicas", () => {
  it("counts each container's memory as docker stats does, and evicts the least recently used container to stay under the budget", async () => {
    const fx = makeFixtures();
    const budgetMb = 600;
    const s = await startServer({ args: ["--memory-budget-mb", String(budgetMb)] });
    try {
      await dockerBudget(s, fx.dir, budgetMb);
    } finally {
      await shutdown(s);
    }
  }, 300_000);
});

async function dockerBudget(s: Server, fixtures: string, budgetMb: number): Promise<void> {
  type Replica = { replica_id: string; model_id: string; memory_mb: number };
  const replicas = async (): Promise<Replica[]> => (await s.admin("status")).json.memory.replicas;
  const container = async (model: string): Promise<string> =>
    (await s.admin("get_all_containers", {})).json.find((c: { model_name: string }) => c.model_name === model).container;
  for (let i = 0; i < 3; i++) {
    await s.cliOk(
      "deploy",
      join(fixtures, "portable", "resident.pkl"),
      "--image",
      RUNTIME_IMAGE,
      "--name",
      `dres${i}`,
      "--app",
      `dres${i}`,
      "--slo-micros",
      "60000000",
      "--min-replicas",
      "0",
    );
    // Its replica is measured with its container: the 200 MB the model wrote, beside what `docker stats` reports.
    const mine = await waitFor(async () => (await replicas()).find((r) => r.model_id === `dres${i}:1` && r.memory_mb >= 200), 30_000);
    if (!mine) throw new Error(`dres${i}'s replica never showed its container's 200 MB: ${JSON.stringify(await replicas())}`);
    const stats = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", await container(`dres${i}`));
    const statsMib = Number(/^([\d.]+)MiB/.exec(stats.stdout)?.[1]);
    console.log(`dres${i}: status ${mine.memory_mb} MiB (container and its docker run client), docker stats ${statsMib} MiB (container)`);
    expect(statsMib).toBeGreaterThan(200);
    // The docker run client (tens of MiB) is counted on top of the container.
    expect(mine.memory_mb).toBeGreaterThanOrEqual(statsMib - 10);
    expect(mine.memory_mb).toBeLessThan(statsMib + 100);
  }
  // Two such replicas fit in 600 MB, three do not: deploying the third took back the first (least recently used).
  const status = (await s.admin("status")).json;
  const evicted = (status.scaling_events as { model: string; action: string }[]).filter((e) => e.action === "evict").map((e) => e.model);
  expect(evicted[0]).toBe("dres0:1");
  expect(status.memory.used_mb).toBeLessThanOrEqual(budgetMb);
  expect((await replicas()).map((r) => r.model_id).sort()).not.toContain("dres0:1");
  // The evicted model answers again (a cold start), taking back the next least recently used.
  const r = await s.predict("dres0", { input: [1, 2] });
  expect(r.json).toMatchObject({ output: "3.0", default: false });
  expect(
    (await s.admin("status")).json.scaling_events.filter((e: { action: string }) => e.action === "evict").map((e: { model: string }) => e.model),
  ).toContain("dres1:1");
  expect((await settledInvariants(s)).violations).toEqual([]);
}
