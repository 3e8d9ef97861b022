/** End to end: the warm Python spare (`--python-spares`) that Python replicas start from, and the Node one (`--node-spares`). */
import { afterEach, describe, expect, it } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { missingRequirement } from "../provisioned.ts";
import {
  alive,
  cleanup,
  FIXTURES,
  makeFixtures,
  nodeModel,
  ROOT,
  type Server,
  replicaPids,
  settledInvariants,
  shutdown,
  startServer,
  tempDir,
  waitFor,
  waitUntil,
} from "./harness.ts";

const fx = makeFixtures();
let server: Server | undefined;
afterEach(() => shutdown(server));

/** PIDs of the processes whose command line names `dataDir`, with whether they are standing by. */
function processesOf(dataDir: string): { pid: number; standby: boolean; preload: string }[] {
  const out: { pid: number; standby: boolean; preload: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.some((a) => a.startsWith(dataDir)) && argv.some((a) => a.includes("clipper_worker")))
        out.push({ pid: Number(entry), standby: argv.includes("--standby"), preload: argv.includes("--preload") ? argv[argv.indexOf("--preload") + 1]! : "" });
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

describe("warm Python spares under a burst of cold starts", () => {
  it("grows to one spare per cold start of a burst, and the next burst of cold starts is served from spares", async () => {
    const MODELS = 4;
    // The calm window after which the pool shrinks is longer than the test: what grew stays for the second burst.
    server = await startServer({ args: ["--idle-timeout", "1s", "--python-spares", String(MODELS), "--scale-down-after", "300s"] });
    const s = server;
    const names = Array.from({ length: MODELS }, (_, i) => `burst${i}`);
    for (const n of names) {
      await s.cliOk("deploy", join(FIXTURES, "module_model.py"), "--name", n, "--app", n, "--slo-micros", "60000000", "--min-replicas", "0");
    }
    type M = { model_name: string; cold_starts: number; cold_starts_from_spare: number; running_replicas: number; last_cold_start: { spare: boolean } | null };
    const models = async () => ((await s.admin("status")).json.models as M[]).filter((m) => names.includes(m.model_name));
    const allAtZero = async () => (await models()).every((m) => m.running_replicas === 0) && (await replicaPids(s)).length === 0;
    const burst = async (round: number) => {
      const answers = await Promise.all(names.map((n, i) => s.predict(n, { input: [round, i] })));
      for (const [i, a] of answers.entries()) expect(a.json).toMatchObject({ output: (round + i).toFixed(1), default: false });
    };

    // The first burst takes spares faster than they warm up: the pool grows to one per cold start of the burst.
    expect(await waitUntil(allAtZero, 60_000)).toBeLessThan(Infinity);
    await burst(1);
    expect(Object.values((await s.admin("status")).json.memory.spare_targets)).toEqual([MODELS]);

    // Once every version is back at zero and the spares are warm, a second burst starts every replica from a spare.
    expect(await waitUntil(allAtZero, 60_000)).toBeLessThan(Infinity);
    const warm = await waitFor(async () => {
      const spares = (await s.admin("status")).json.memory.spares as { warm: boolean; memory_mb: number }[];
      return spares.length === MODELS && spares.every((x) => x.warm && x.memory_mb > 0) ? spares : undefined;
    }, 90_000);
    expect(warm).toHaveLength(MODELS);
    const before = await models();
    await burst(2);
    const after = await models();
    const fromSpare = after.reduce((a, m) => a + m.cold_starts_from_spare, 0) - before.reduce((a, m) => a + m.cold_starts_from_spare, 0);
    const cold = after.reduce((a, m) => a + m.cold_starts, 0) - before.reduce((a, m) => a + m.cold_starts, 0);
    console.log(`second burst: ${cold} cold starts, ${fromSpare} from a warm spare`);
    expect(cold).toBe(MODELS);
    expect(fromSpare).toBe(MODELS);
    for (const m of after) expect(m.last_cold_start?.spare).toBe(true);
    // The log says it per cold start too.
    expect(s.log().match(/"event":"cold_start"[^\n]*"spare":true/g)?.length).toBeGreaterThanOrEqual(MODELS);
    expect((await settledInvariants(s)).violations).toEqual([]);
  }, 240_000);
});

/** PIDs of the server's children that are Node runtimes standing by (`clipper runtime node --standby`). */
function nodeSpares(server: Server): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const parent = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]);
      if (parent === server.proc.pid && argv.includes("runtime") && argv.includes("--standby")) out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

describe("warm Node spare", () => {
  it("is started once a Node replica is ready; a Node replica that dies is replaced by it", async () => {
    server = await startServer();
    const s = server;
    await s.cliOk("deploy", nodeModel(fx.dir, "constant", "yes"), "--name", "nup");
    const spare = await until("the Node spare", () => nodeSpares(s)[0]);
    const [first] = await replicaPids(s, "nup");
    process.kill(first!, "SIGKILL");
    let now: number[] = [];
    for (let i = 0; i < 400; i++) {
      now = await replicaPids(s, "nup");
      if (now.length === 1 && now[0] !== first) break;
      await Bun.sleep(50);
    }
    expect(now).toEqual([spare]);
    const answer = await waitFor(async () => {
      const { json } = await s.predict("nup", { input: [1, 2] });
      return json.default === false ? json : undefined;
    }, 10_000);
    expect(answer).toMatchObject({ output: "yes", default: false });
    // Another takes its place, and stopping the server leaves none behind.
    const next = await until("a new Node spare", () => nodeSpares(s).find((p) => p !== spare));
    await s.stop();
    await until("the spare to exit", () => (alive(next) ? undefined : true), 5000);
  });

  it("is not started with --node-spares 0", async () => {
    server = await startServer({ args: ["--node-spares", "0"] });
    await server.cliOk("deploy", nodeModel(fx.dir, "constant", "yes"), "--name", "nup");
    expect((await server.predict("nup", { input: [1, 2] })).json).toMatchObject({ output: "yes", default: false });
    expect(nodeSpares(server)).toEqual([]);
  });
});

const FRAMEWORKS_PY = join(ROOT, ".venv-frameworks/bin/python");
const noFrameworks = missingRequirement(
  existsSync(FRAMEWORKS_PY) ? undefined : `no frameworks environment at ${FRAMEWORKS_PY} (scripts/lib/frameworks-venv makes it)`,
);

describe.skipIf(noFrameworks !== undefined)("warm spares per kind", () => {
  it("keeps an onnxruntime spare once an ONNX model ran, and the ONNX model's cold start from zero is that process", async () => {
    const work = tempDir("clipper-spare-onnx-");
    try {
      const made = Bun.spawnSync([FRAMEWORKS_PY, join(FIXTURES, "make_framework_models.py"), work, "onnx"], { env: { ...process.env, OMP_NUM_THREADS: "1" } });
      if (made.exitCode !== 0) throw new Error(`make_framework_models.py onnx failed: ${made.stderr.toString().slice(-2000)}`);
      const onnx = JSON.parse(readFileSync(join(work, "models.json"), "utf8")).onnx as { path: string; rows: number[][]; expected: number[][] };
      server = await startServer({ args: ["--idle-timeout", "1s"], env: { CLIPPER_PYTHON: FRAMEWORKS_PY, CLIPPER_REPLICA_START_TIMEOUT_MS: "120000" } });
      const s = server;
      await s.cliOk("deploy", onnx.path, "--name", "scorer", "--app", "scorer", "--slo-micros", "60000000", "--min-replicas", "0");
      // The deploy's replica started cold (no kind of spare for onnx yet); once it was up, a spare of its kind was started.
      const spare = await until(
        "an onnxruntime spare",
        () => processesOf(s.dataDir).find((p) => p.standby && p.preload === "onnxruntime,clipper_formats")?.pid,
        60_000,
      );
      for (let i = 0; i < 400 && (await replicaPids(s, "scorer")).length > 0; i++) await Bun.sleep(50);
      expect(await replicaPids(s, "scorer")).toEqual([]);
      const res = await s.predict("scorer", { input: onnx.rows[0] });
      expect(res.json.default).toBe(false);
      const out = (typeof res.json.output === "string" ? JSON.parse(res.json.output) : res.json.output) as number[];
      out.forEach((v, k) => expect(v).toBeCloseTo(onnx.expected[0]![k]!, 4));
      expect(await replicaPids(s, "scorer")).toEqual([spare]);
      const status = (await s.admin("status")).json;
      const scorer = status.models.find((m: { model_name: string }) => m.model_name === "scorer");
      console.log(`ONNX cold start from its warm spare: ${scorer.last_cold_start.ms} ms`);
      expect(scorer.runtime_info.format).toBe("onnx");
    } finally {
      cleanup(work);
    }
  }, 180_000);
});
