/** End to end: the warm Python spare (`--python-spares`) that Python replicas start from. */
import { afterEach, describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { makeFixtures, type Server, shutdown, startServer, replicaPids } from "./harness.ts";

const fx = makeFixtures();
let server: Server | undefined;
afterEach(() => shutdown(server));

/** PIDs of the processes whose command line names `dataDir`, with whether they are standing by. */
function processesOf(dataDir: string): { pid: number; standby: boolean }[] {
  const out: { pid: number; standby: boolean }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.some((a) => a.startsWith(dataDir)) && argv.some((a) => a.includes("clipper_worker")))
        out.push({ pid: Number(entry), standby: argv.includes("--standby") });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

async function until<T>(what: string, get: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe("warm Python spare", () => {
  it("is started with the server; the first Python replica is that process, and a new spare takes its place", async () => {
    server = await startServer();
    const s = server;
    const spare = await until("the spare", () => processesOf(s.dataDir).find((p) => p.standby)?.pid);
    await s.cliOk("deploy", join(fx.dir, "hr.pkl"), "--name", "hr");
    expect(await replicaPids(s)).toEqual([spare]);
    const res = await s.predict("hr", { input_batch: fx.rows });
    expect(res.json.batch_predictions.map((p: { output: string }) => p.output)).toEqual(fx.hrExpected);
    const next = await until("a new spare", () => processesOf(s.dataDir).find((p) => p.standby && p.pid !== spare)?.pid);

    // A replica that dies is replaced from the spare too.
    process.kill(spare, "SIGKILL");
    let replaced: number | undefined;
    for (let i = 0; i < 400 && replaced === undefined; i++) {
      const pids = await replicaPids(s);
      if (pids.length === 1 && pids[0] !== spare) replaced = pids[0];
      else await Bun.sleep(50);
    }
    expect(replaced).toBe(next);
    expect((await s.predict("hr", { input: fx.rows[0] })).json).toMatchObject({ output: fx.hrExpected[0], default: false });

    // Stopping the server leaves no worker behind, spare included.
    await s.stop();
    await until("every worker to exit", () => (processesOf(s.dataDir).length === 0 ? true : undefined), 5000);
  });

  it("is not started with --python-spares 0, and deploys still work", async () => {
    server = await startServer({ args: ["--python-spares", "0"] });
    await server.cliOk("deploy", join(fx.dir, "hr.pkl"), "--name", "hr");
    expect((await server.predict("hr", { input: fx.rows[0] })).json).toMatchObject({ output: fx.hrExpected[0], default: false });
    expect(processesOf(server.dataDir).filter((p) => p.standby)).toEqual([]);
  });
});
