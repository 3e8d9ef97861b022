/**
 * scripts/bench --overload: goodput under overload. A model that costs 0.5 ms a row whatever the batch
 * (capacity 2,000 rows/s; scripts/bench.d/per_row_model.py) behind an app with a 100 ms SLO, served by
 * clipper, by the FastAPI peer and by MLServer with adaptive batching (when it starts), each loaded by the
 * same wrk script (overload.lua: requests paced to the offered rate, each carrying its send time, which the
 * model echoes, so every prediction's latency is known; predictions and defaults counted) at 0.5×, 1×, 2×, 5×
 * and 10× the capacity. Per point: goodput (predictions answered within the SLO at the client, per second),
 * defaults, p50/p99. Writes bench/overload.md, overload.json and overload.svg (goodput against offered load).
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describeMachine, type Machine, machineSection } from "../lib/machine.ts";
import { run } from "../lib/proc.ts";
import { chart } from "./svg.ts";
import { type Context, type Running, startClipper, startFastapi, startMlserver } from "./systems.ts";
import { ensureBenchVenv } from "./venv.ts";

const ROOT = resolve(import.meta.dir, "../..");
const LUA = join(import.meta.dir, "overload.lua");
const MODEL = join(import.meta.dir, "per_row_model.py");
const CAPACITY = 2000;
const SLO_MS = 100;
/** wrk's connections at every load: enough for 10× while answers take up to 25 ms. */
const CONNECTIONS = 512;
/** MLServer's adaptive batching for this model: up to 64 rows, waiting up to 5 ms for them. */
const MLSERVER_BATCH = { maxBatchSize: 64, maxBatchTimeSec: 0.005 };
export const OVERLOAD_FACTORS = [0.5, 1, 2, 5, 10] as const;

interface Point {
  readonly system: string;
  readonly factor: number;
  readonly offeredPerSec: number;
  readonly connections: number;
  readonly answeredPerSec: number;
  readonly goodputPerSec: number;
  /** All predictions, in time or late. */
  readonly predictionsPerSec: number;
  readonly defaultsPerSec: number;
  readonly otherPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly withinSlo: number;
  readonly socketErrors: number;
}

async function point(system: string, url: string, factor: number, seconds: number, body: "clipper" | "v2"): Promise<Point> {
  const offered = CAPACITY * factor;
  const r = await run(["wrk", "-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--timeout", "10s", "-s", LUA, url], {
    cwd: ROOT,
    env: { SLO_MS: String(SLO_MS), RATE: String(offered), BODY: body },
    timeoutMs: (seconds + 60) * 1000,
  });
  const line = /OVERLOAD_RESULT (\{.*\})/.exec(r.stdout);
  if (!line) throw new Error(`wrk printed no result for ${system} at ${factor}×: ${r.stdout} ${r.stderr}`);
  const o = JSON.parse(line[1]!) as Record<string, number>;
  const sec = o.duration_us! / 1e6;
  return {
    system,
    factor,
    offeredPerSec: offered,
    connections: CONNECTIONS,
    answeredPerSec: o.requests! / sec,
    goodputPerSec: o.predictions_in_slo! / sec,
    predictionsPerSec: o.predictions! / sec,
    defaultsPerSec: o.defaults! / sec,
    otherPerSec: (o.other! + o.rejected!) / sec,
    p50Ms: o.p50_us! / 1000,
    p99Ms: o.p99_us! / 1000,
    withinSlo: o.within_slo!,
    socketErrors: o.errors_connect! + o.errors_read! + o.errors_write! + o.errors_timeout!,
  };
}

/** Waits (up to 60 s) until one query to `url` is answered within 50 ms: the system has no backlog left. */
async function drained(url: string, body: "clipper" | "v2"): Promise<void> {
  const payload =
    body === "v2" ? JSON.stringify({ inputs: [{ name: "input-0", shape: [1, 2], datatype: "FP64", data: [1, 2] }] }) : JSON.stringify({ input: [1, 2] });
  const until = performance.now() + 60_000;
  while (performance.now() < until) {
    const started = performance.now();
    try {
      const res = await fetch(url, { method: "POST", body: payload, headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      if (res.ok && performance.now() - started < 50) return;
    } catch {
      // Still busy past the timeout: try again.
    }
    await Bun.sleep(200);
  }
}

export async function runOverloadBench(o: { out: string; work: string; durationSec: number; clipperBin: string; log: (line: string) => void }): Promise<void> {
  // CLIPPER_BENCH_PYTHON: an interpreter that has the FastAPI peer's packages, instead of building .venv-bench.
  const benchPython = process.env.CLIPPER_BENCH_PYTHON || (await ensureBenchVenv(ROOT, o.log));
  const pickle = join(o.work, "per_row.pkl");
  const make = await run(
    [
      benchPython,
      "-c",
      "import pickle, sys; sys.path.insert(0, sys.argv[1]); import per_row_model; pickle.dump(per_row_model.PerRowCost(), open(sys.argv[2], 'wb'))",
      import.meta.dir,
      pickle,
    ],
    { cwd: ROOT },
  );
  if (make.code !== 0) throw new Error(`pickling the model failed: ${make.stderr}`);
  // The FastAPI peer unpickles PerRowCost: its module must be importable.
  process.env.PYTHONPATH = import.meta.dir;
  const ctx = {
    root: ROOT,
    work: o.work,
    clipperBin: o.clipperBin,
    python: join(ROOT, ".venv/bin/python"),
    benchPython,
    mlserverBatch: MLSERVER_BATCH,
    token: crypto.randomUUID(),
  } as unknown as Context;
  const points: Point[] = [];
  const notes: string[] = [];
  const clipper = await startClipper(ctx, "overload", false);
  const peers: Running[] = [];
  try {
    const d = await run([o.clipperBin, "deploy", MODEL, "--url", clipper.mgmtUrl, "--name", "cost", "--slo-micros", String(SLO_MS * 1000)], {
      cwd: ROOT,
      env: { CLIPPER_TOKEN: ctx.token },
      timeoutMs: 90_000,
    });
    if (d.code !== 0) throw new Error(`clipper deploy failed: ${d.stderr || d.stdout}`);
    const systems: { name: string; url: string; body: "clipper" | "v2" }[] = [{ name: "clipper", url: `${clipper.queryUrl}/cost/predict`, body: "clipper" }];
    const fastapi = await startFastapi(ctx, pickle, "cost");
    peers.push(fastapi);
    systems.push({ name: "FastAPI", url: fastapi.predictUrl, body: "clipper" });
    try {
      // MLServer's adaptive batching, with the model as a custom runtime (mlserver_per_row.py, on PYTHONPATH).
      const mlserver = await startMlserver(ctx, join(o.work, "mlserver-cost"), "cost", { implementation: "mlserver_per_row.PerRowRuntime" });
      peers.push(mlserver);
      systems.push({ name: "MLServer", url: mlserver.predictUrl, body: "v2" });
    } catch (err) {
      notes.push(`MLServer did not start, so it has no rows: ${(err as Error).message.split("\n")[0]}`);
      o.log(notes[notes.length - 1]!);
    }
    // Interleaved: at each load, each system in turn. A peer without deadlines works off its backlog after
    // wrk stops (seconds of it at 5×), so the next system starts only once the last one answers a query fast.
    for (const factor of OVERLOAD_FACTORS) {
      for (const { name, url, body } of systems) {
        for (const prev of systems) await drained(prev.url, prev.body);
        const p = await point(name, url, factor, o.durationSec, body);
        o.log(
          `${name} at ${factor}× (${p.offeredPerSec}/s offered): goodput ${p.goodputPerSec.toFixed(0)}/s of ${p.predictionsPerSec.toFixed(0)} predictions/s, defaults ${p.defaultsPerSec.toFixed(0)}/s, p50 ${p.p50Ms.toFixed(1)} ms, p99 ${p.p99Ms.toFixed(1)} ms`,
        );
        points.push(p);
      }
    }
  } finally {
    for (const p of peers) await p.service.stop();
    await clipper.service.stop();
  }
  const machine = await describeMachine({ root: ROOT, clipperBin: o.clipperBin, python: ctx.python, benchPython });
  writeFileSync(
    join(o.out, "overload.json"),
    `${JSON.stringify({ capacityRowsPerSec: CAPACITY, sloMs: SLO_MS, durationSec: o.durationSec, connections: CONNECTIONS, mlserverBatch: MLSERVER_BATCH, machine, notes, points }, null, 2)}\n`,
  );
  writeFileSync(join(o.out, "overload.md"), report(points, o.durationSec, machine, notes));
  writeFileSync(join(o.out, "overload.svg"), svg(points));
}

function report(points: readonly Point[], durationSec: number, machine: Machine, notes: readonly string[]): string {
  const rows = points.map(
    (p) =>
      `| ${p.factor}× (${p.offeredPerSec}/s) | ${p.system} | ${p.goodputPerSec.toFixed(0)} | ${((100 * p.goodputPerSec) / CAPACITY).toFixed(0)}% | ` +
      `${p.predictionsPerSec.toFixed(0)} | ${p.defaultsPerSec.toFixed(0)} | ${p.answeredPerSec.toFixed(0)} | ${p.p50Ms.toFixed(1)} | ${p.p99Ms.toFixed(1)} | ${(100 * p.withinSlo).toFixed(1)}% | ${p.socketErrors} |`,
  );
  const atOrAbove = points.filter((p) => p.system === "clipper" && p.factor >= 1);
  const worst = Math.min(...atOrAbove.map((p) => p.goodputPerSec / CAPACITY));
  return `# Goodput under overload (scripts/bench --overload)

A model that costs 0.5 ms of its own time a row whatever the batch (capacity ${CAPACITY} rows/s,
\`scripts/bench.d/per_row_model.py\`), an app with a ${SLO_MS} ms SLO, served by clipper (the module), by
the hand-written FastAPI peer (\`fastapi_server.py\`, the pickled class) and by MLServer with adaptive
batching (\`mlserver_per_row.py\`, up to ${MLSERVER_BATCH.maxBatchSize} rows waiting up to ${MLSERVER_BATCH.maxBatchTimeSec * 1000} ms), all loaded by the same wrk
script (\`overload.lua\`, ${CONNECTIONS} connections, one wrk thread: requests paced to the offered rate while the
connections suffice, each a new input carrying its send time, which the model echoes, so each prediction's
latency is known exactly; ${durationSec} s per point, the systems interleaved at each load). Goodput: predictions
answered within the SLO as the client saw them, per second. wrk and the servers share the machine's cores.

Target: clipper's goodput ≥ 90% of capacity at every load at or above 1×. Measured: worst ${(100 * worst).toFixed(0)}% of
capacity at or above 1× (${worst >= 0.9 ? "met" : "missed"}).

| offered | system | goodput /s | of capacity | predictions /s | defaults /s | answers /s | p50 ms | p99 ms | within SLO | socket errors |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}

FastAPI and MLServer have no deadline: they answer every query, late ones included, so only their answers
within the SLO count. clipper answers a query that cannot be answered in time the default at once. "within
SLO" is the share of all answers (defaults included) within the SLO.
${notes.length > 0 ? `\n${notes.map((n) => `Note: ${n}`).join("\n")}\n` : ""}
${machineSection(machine).join("\n")}
`;
}

function svg(points: readonly Point[]): string {
  const groups = OVERLOAD_FACTORS.map((f) => `${f}×`);
  const series = (system: string, color: string, pick: (p: Point) => number) => ({
    name: system,
    color,
    values: OVERLOAD_FACTORS.map((f) => {
      const p = points.find((q) => q.system === system && q.factor === f);
      return p ? pick(p) : null;
    }),
  });
  const systems = [
    ["clipper", "#2563eb"],
    ["FastAPI", "#16a34a"],
    ["MLServer", "#d97706"],
  ].filter(([name]) => points.some((p) => p.system === name));
  const goodput = systems.map(([name, color]) => series(name!, color!, (p) => p.goodputPerSec));
  const p99 = systems.map(([name, color]) => series(name!, color!, (p) => p.p99Ms));
  return chart({
    title: "Goodput against offered load (0.5 ms a row, capacity 2,000 rows/s, SLO 100 ms)",
    caption: "scripts/bench --overload: predictions answered within the SLO per second; p99 latency of all answers (log axis)",
    series: goodput,
    panels: [
      {
        panel: { title: "goodput (rows/s)", yLabel: "predictions within the SLO per second", xLabel: "offered load (× capacity)", groups, series: goodput },
        weight: 3,
        kind: "bar",
      },
      { panel: { title: "p99 latency (ms)", yLabel: "ms", xLabel: "offered load (× capacity)", groups, series: p99 }, weight: 2, kind: "loglines" },
    ],
  });
}
