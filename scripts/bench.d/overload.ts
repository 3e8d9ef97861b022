/**
 * scripts/bench --overload: goodput under overload. A model that costs 0.5 ms a row whatever the batch
 * (capacity 2,000 rows/s; scripts/bench.d/per_row_model.py) behind an app with a 100 ms SLO, served by
 * clipper and by the FastAPI peer, each loaded by the same wrk script (overload.lua: new inputs, a think
 * time per connection, predictions and defaults counted) at 0.5×, 1×, 2×, 5× and 10× the capacity. Per
 * point: goodput (predictions answered within the SLO, per second), defaults, p50/p99. Writes
 * bench/overload.md, overload.json and overload.svg (goodput against offered load).
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describeMachine, type Machine, machineSection } from "../lib/machine.ts";
import { run } from "../lib/proc.ts";
import { chart } from "./svg.ts";
import { startClipper, startFastapi, type Context } from "./systems.ts";
import { ensureBenchVenv } from "./venv.ts";

const ROOT = resolve(import.meta.dir, "../..");
const LUA = join(import.meta.dir, "overload.lua");
const MODEL = join(import.meta.dir, "per_row_model.py");
const CAPACITY = 2000;
const SLO_MS = 100;
export const OVERLOAD_FACTORS = [0.5, 1, 2, 5, 10] as const;

interface Point {
  readonly system: string;
  readonly factor: number;
  readonly offeredPerSec: number;
  readonly connections: number;
  readonly answeredPerSec: number;
  readonly goodputPerSec: number;
  readonly defaultsPerSec: number;
  readonly otherPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly withinSlo: number;
  readonly socketErrors: number;
}

/** Connections and think time that offer `perSec` queries a second while answers are fast (capped at 512 connections). */
function loadShape(perSec: number): { connections: number; delayMs: number } {
  const connections = Math.min(512, Math.max(32, Math.ceil(perSec * 0.2)));
  return { connections, delayMs: Math.round((connections / perSec) * 1000) };
}

async function point(system: string, url: string, factor: number, seconds: number): Promise<Point> {
  const offered = CAPACITY * factor;
  const { connections, delayMs } = loadShape(offered);
  const r = await run(["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "10s", "-s", LUA, url], {
    cwd: ROOT,
    env: { SLO_MS: String(SLO_MS), DELAY_MS: String(delayMs) },
    timeoutMs: (seconds + 60) * 1000,
  });
  const line = /OVERLOAD_RESULT (\{.*\})/.exec(r.stdout);
  if (!line) throw new Error(`wrk printed no result for ${system} at ${factor}×: ${r.stdout} ${r.stderr}`);
  const o = JSON.parse(line[1]!) as Record<string, number>;
  const sec = o.duration_us! / 1e6;
  // Goodput: predictions answered within the SLO. wrk gives the share of all answers within it, not of the
  // predictions alone: a prediction counts when there are at least as many answers within the SLO.
  const inTime = Math.min(o.predictions!, o.requests! * o.within_slo!);
  return {
    system,
    factor,
    offeredPerSec: offered,
    connections,
    answeredPerSec: o.requests! / sec,
    goodputPerSec: inTime / sec,
    defaultsPerSec: o.defaults! / sec,
    otherPerSec: (o.other! + o.rejected!) / sec,
    p50Ms: o.p50_us! / 1000,
    p99Ms: o.p99_us! / 1000,
    withinSlo: o.within_slo!,
    socketErrors: o.errors_connect! + o.errors_read! + o.errors_write! + o.errors_timeout!,
  };
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
    token: crypto.randomUUID(),
  } as unknown as Context;
  const points: Point[] = [];
  const clipper = await startClipper(ctx, "overload", false);
  try {
    const d = await run([o.clipperBin, "deploy", MODEL, "--url", clipper.mgmtUrl, "--name", "cost", "--slo-micros", String(SLO_MS * 1000)], {
      cwd: ROOT,
      env: { CLIPPER_TOKEN: ctx.token },
      timeoutMs: 90_000,
    });
    if (d.code !== 0) throw new Error(`clipper deploy failed: ${d.stderr || d.stdout}`);
    const fastapi = await startFastapi(ctx, pickle, "cost");
    try {
      // Interleaved: at each load, clipper then FastAPI, with a pause between for queues to drain.
      for (const factor of OVERLOAD_FACTORS) {
        for (const [name, url] of [
          ["clipper", `${clipper.queryUrl}/cost/predict`],
          ["FastAPI", fastapi.predictUrl],
        ] as const) {
          await Bun.sleep(2000);
          const p = await point(name, url, factor, o.durationSec);
          o.log(
            `${name} at ${factor}× (${p.offeredPerSec}/s offered, ${p.connections} connections): goodput ${p.goodputPerSec.toFixed(0)}/s, defaults ${p.defaultsPerSec.toFixed(0)}/s, p50 ${p.p50Ms.toFixed(1)} ms, p99 ${p.p99Ms.toFixed(1)} ms`,
          );
          points.push(p);
        }
      }
    } finally {
      await fastapi.service.stop();
    }
  } finally {
    await clipper.service.stop();
  }
  const machine = await describeMachine({ root: ROOT, clipperBin: o.clipperBin, python: ctx.python, benchPython });
  writeFileSync(
    join(o.out, "overload.json"),
    `${JSON.stringify({ capacityRowsPerSec: CAPACITY, sloMs: SLO_MS, durationSec: o.durationSec, machine, points }, null, 2)}\n`,
  );
  writeFileSync(join(o.out, "overload.md"), report(points, o.durationSec, machine));
  writeFileSync(join(o.out, "overload.svg"), svg(points));
}

function report(points: readonly Point[], durationSec: number, machine: Machine): string {
  const rows = points.map(
    (p) =>
      `| ${p.factor}× (${p.offeredPerSec}/s) | ${p.system} | ${p.goodputPerSec.toFixed(0)} | ${((100 * p.goodputPerSec) / CAPACITY).toFixed(0)}% | ` +
      `${p.defaultsPerSec.toFixed(0)} | ${p.answeredPerSec.toFixed(0)} | ${p.p50Ms.toFixed(1)} | ${p.p99Ms.toFixed(1)} | ${(100 * p.withinSlo).toFixed(1)}% | ${p.socketErrors} |`,
  );
  const atOrAbove = points.filter((p) => p.system === "clipper" && p.factor >= 1);
  const worst = Math.min(...atOrAbove.map((p) => p.goodputPerSec / CAPACITY));
  return `# Goodput under overload (scripts/bench --overload)

A model that costs 0.5 ms of its own time a row whatever the batch (capacity ${CAPACITY} rows/s,
\`scripts/bench.d/per_row_model.py\`), an app with a ${SLO_MS} ms SLO, served by clipper (the module) and by
the hand-written FastAPI peer (\`fastapi_server.py\`, the pickled class), both loaded by the same wrk script
(\`overload.lua\`: a new input each request, a think time per connection so that the offered load is the
factor times the capacity while answers are fast, at most 512 connections; ${durationSec} s per point, the
two systems interleaved at each load). Goodput: predictions answered within the SLO, per second.

Target: clipper's goodput ≥ 90% of capacity at every load at or above 1×. Measured: worst ${(100 * worst).toFixed(0)}% of
capacity at or above 1× (${worst >= 0.9 ? "met" : "missed"}).

| offered | system | goodput /s | of capacity | defaults /s | answers /s | p50 ms | p99 ms | within SLO | socket errors |
|---|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}

FastAPI has no deadline: it answers every query, late ones included, so its goodput is the share of its
answers within the SLO. clipper answers a query that cannot be answered in time the default at once.

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
  const goodput = [series("clipper", "#2563eb", (p) => p.goodputPerSec), series("FastAPI", "#16a34a", (p) => p.goodputPerSec)];
  const p99 = [series("clipper", "#2563eb", (p) => p.p99Ms), series("FastAPI", "#16a34a", (p) => p.p99Ms)];
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
