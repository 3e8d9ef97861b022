/** The forest point: a 100-tree random forest served by clipper (cache off) and by FastAPI, and its own in-process rows/s. */
import { join } from "node:path";
import { run } from "../lib/proc.ts";
import type { ForestResult, RunResult } from "./results.ts";
import { startClipperApp, startFastapi, type Context, type Running } from "./systems.ts";

export const FOREST_TREES = 100;
export const FOREST_CONNECTIONS = 64;
/** How long forest_throughput.py times `predict` in-process. */
const IN_PROCESS_SEC = 3;

/** One measured wrk point (main.ts's warm-up, counters and CPU accounting) against a running server. */
export type Measure = (label: string, running: Running, bodies: string, connections: number) => Promise<RunResult>;

async function trainForest(ctx: Context, python: string, out: string): Promise<string> {
  const r = await run([python, join(import.meta.dir, "train_forest.py"), out], { cwd: ctx.root, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`train_forest.py with ${python} failed (exit ${r.code}):\n${r.stderr.trim()}`);
  return out;
}

/** True when `python` unpickles `path` without a warning (the same scikit-learn that wrote it). */
async function loadsCleanly(ctx: Context, python: string, path: string): Promise<boolean> {
  const r = await run([python, "-W", "error", "-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))", path], { cwd: ctx.root, timeoutMs: 120_000 });
  return r.code === 0;
}

/** Runs one server for the length of `body`, stopping it whatever happens; a failure is recorded, not thrown. */
async function withServer(start: () => Promise<Running>, body: (r: Running) => Promise<void>, failures: string[], label: string): Promise<void> {
  try {
    const running = await start();
    try {
      await body(running);
    } finally {
      await running.service.stop();
    }
  } catch (err) {
    failures.push(`${label}: ${(err as Error).message}`);
  }
}

/**
 * Trains the forest, loads clipper (`--cache-entries 0`, app `forest`) and FastAPI on the same pickle with
 * `bodies` (the cache-off point's varied inputs) at 64 connections, then times the forest's own `predict`
 * in-process on batches of the mean batch size clipper formed. Parts that fail are listed in `failures`.
 */
export async function measureForest(ctx: Context, bodies: string, measure: Measure, log: (line: string) => void): Promise<ForestResult> {
  const result: ForestResult = { trees: FOREST_TREES, connections: FOREST_CONNECTIONS, failures: [] };
  log(`forest point: training a ${FOREST_TREES}-tree random forest (scripts/bench.d/train_forest.py)`);
  const modelPath = await trainForest(ctx, ctx.python, join(ctx.work, "forest.pkl"));
  // The peers' Python loads the same file unless its scikit-learn cannot (then a copy it trained itself).
  let peerModelPath = modelPath;
  if (ctx.benchPython && !(await loadsCleanly(ctx, ctx.benchPython, modelPath))) {
    peerModelPath = await trainForest(ctx, ctx.benchPython, join(ctx.work, "forest-bench.pkl"));
  }

  await withServer(
    () => startClipperApp(ctx, "forest", true, "forest", modelPath),
    async (running) => {
      result.clipper = await measure("forest: clipper (cache off)", running, bodies, FOREST_CONNECTIONS);
    },
    result.failures,
    "clipper",
  );
  if (!ctx.benchPython) result.failures.push("FastAPI: no .venv-bench (see the notes)");
  else {
    await withServer(
      () => startFastapi(ctx, peerModelPath, "forest"),
      async (running) => {
        result.fastapi = await measure("forest: FastAPI", running, bodies, FOREST_CONNECTIONS);
      },
      result.failures,
      "FastAPI",
    );
  }

  const meanBatch = result.clipper?.clipper?.meanBatchSize;
  if (!meanBatch) {
    result.failures.push("in-process: no mean batch size from clipper's forest run");
    return result;
  }
  const python = ctx.benchPython || ctx.python;
  const model = ctx.benchPython ? peerModelPath : modelPath;
  const batchRows = Math.max(1, Math.round(meanBatch));
  const r = await run([python, join(import.meta.dir, "forest_throughput.py"), model, bodies, String(batchRows), String(IN_PROCESS_SEC)], {
    cwd: ctx.root,
    timeoutMs: 120_000,
  });
  if (r.code !== 0) {
    result.failures.push(`in-process: forest_throughput.py exited ${r.code}: ${r.stderr.trim()}`);
    return result;
  }
  const own = JSON.parse(r.stdout) as { rows_per_sec: number; batch_rows: number; calls: number; seconds: number };
  result.inProcess = { rowsPerSec: own.rows_per_sec, batchRows: own.batch_rows, calls: own.calls, seconds: own.seconds, python };
  log(`forest in-process: ${Math.round(own.rows_per_sec)} rows/s in batches of ${own.batch_rows} (${own.calls} predict calls in ${own.seconds.toFixed(1)} s)`);
  return result;
}
