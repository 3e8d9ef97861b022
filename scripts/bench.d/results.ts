/** The shape of results.json, and the issue-5 targets computed from one run's numbers. */
import type { Machine } from "../lib/machine.ts";
import type { SystemId } from "./systems.ts";
import type { WrkResult } from "./wrk.ts";

export interface ClipperRunMetrics {
  readonly batches: number;
  readonly rows: number;
  readonly meanBatchSize: number;
  readonly meanPredictMicros: number;
  /** Queries answered with the app's default output (SLO missed): 200s that are not predictions. */
  readonly defaults: number;
  readonly cacheHits: number;
  readonly cacheMisses: number;
}

export interface RunResult {
  readonly kind: "single" | "batch";
  readonly connections: number;
  readonly rowsPerRequest: number;
  readonly wrk: WrkResult;
  readonly rowsPerSec: number;
  /** Peak RSS of the server and all its child processes during the run. */
  readonly peakRssBytes: number;
  /** Share of all cores busy (other processes: our server is idle then) just before the warm-up. */
  readonly backgroundCpuPct: number;
  readonly clipper?: ClipperRunMetrics;
  /**
   * CPU microseconds per request over the measured window: the server process, its other processes
   * (clipper's runtime replicas, MLServer's workers) and wrk. Unlike req/s, these barely move when the
   * machine is busy, so they compare builds across runs.
   */
  readonly cpuMicrosPerRequest?: { readonly server: number; readonly children: number; readonly wrk: number };
}

export interface SystemResult {
  readonly id: SystemId;
  readonly label: string;
  readonly description: string;
  status: "ok" | "failed" | "skipped";
  error?: string;
  readonly runs: RunResult[];
  /** RSS right after the model was loaded and checked, before any load. */
  idleRss?: { readonly leaderBytes: number; readonly totalBytes: number; readonly processes: number };
  sample?: string;
}

export interface DeploySample {
  /** From spawning `clipper deploy` to the first 200 with a non-default output. */
  readonly firstPredictionSec: number;
  /** From spawning `clipper deploy` to its exit. */
  readonly cliSec: number;
  /** The same for a second model deployed on the now running server, 2 s later (its warm spare ready). */
  readonly runningServerSec?: number;
  /** RSS of the warm Python spare (clipper's own children that are not replicas). */
  readonly spareRssBytes?: number;
  readonly serverIdleRssBytes: number;
  readonly serverRssWithModelBytes: number;
  readonly replicaRssBytes: number;
}

export interface Results {
  readonly generatedAt: string;
  readonly mode: "full" | "quick";
  readonly command: string;
  readonly settings: {
    readonly warmupSec: number;
    readonly durationSec: number;
    readonly concurrencies: readonly number[];
    readonly batchConnections: number;
    readonly batchRows: number;
    readonly mlserverBatch: { readonly maxBatchSize: number; readonly maxBatchTimeSec: number };
    /** CPU wrk was pinned to, when it was. */
    readonly wrkCpu?: number;
  };
  readonly machine: Machine;
  readonly systems: SystemResult[];
  deploy?: { readonly samples: DeploySample[]; readonly error?: string };
  pythonPredict?: { readonly median_micros: number; readonly mean_micros: number; readonly iterations: number };
  notes: string[];
  targets?: Target[];
  interleaved?: Interleaved;
  forest?: ForestResult;
}

/**
 * The heavier model: a 100-tree random forest (scripts/bench.d/train_forest.py) served by clipper (cache off)
 * and by FastAPI on the same pickle, and its own in-process throughput at clipper's mean batch size.
 */
export interface ForestResult {
  readonly trees: number;
  readonly connections: number;
  clipper?: RunResult;
  fastapi?: RunResult;
  /** `predict` timed in-process on batches of clipper's mean batch size (scripts/bench.d/forest_throughput.py). */
  inProcess?: { readonly rowsPerSec: number; readonly batchRows: number; readonly calls: number; readonly seconds: number; readonly python: string };
  /** What failed, one line per part ("FastAPI: …"); the other parts still ran. */
  readonly failures: string[];
}

/**
 * The ratio targets measured a second way: clipper (cache off), clipper (cache hit) and the limit all
 * running at once, loaded in turn for short rounds (order rotating each round), so that a noisy minute of
 * the machine falls on all three instead of on one.
 */
export interface Interleaved {
  readonly connections: number;
  readonly secondsPerRound: number;
  /** Per round, req/s of each system. */
  readonly rounds: Partial<Record<SystemId, number>>[];
  /** Per round, CPU µs per request of each system's server process (its replica not included). */
  readonly serverCpuMicros: Partial<Record<SystemId, number>>[];
  /** Per round, wrk's errors for each system (absent in results from before this field existed). */
  readonly errors?: Partial<Record<SystemId, number>>[];
}

/** How far the limit's req/s moved between interleaved rounds: fastest over slowest round − 1, in %. */
export function limitMovedPct(il: Interleaved | undefined): number | undefined {
  const xs = (il?.rounds ?? []).flatMap((x) => (x.limit ? [x.limit] : []));
  if (xs.length < 2) return undefined;
  return (Math.max(...xs) / Math.min(...xs) - 1) * 100;
}

/** Above this, a run's ratios to the limit are not to be trusted: the report and the log say to rerun. */
export const LIMIT_MOVED_MAX_PCT = 20;

export interface Target {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  readonly status: "met" | "missed" | "not measured";
}

export const MB = 1024 * 1024;

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function findRun(r: Results, id: SystemId, kind: "single" | "batch", connections?: number): RunResult | undefined {
  const sys = r.systems.find((s) => s.id === id);
  return sys?.runs.find((run) => run.kind === kind && (connections === undefined || run.connections === connections));
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const times = (x: number) => `${x.toFixed(1)}x`;
const ms = (x: number) => `${x.toFixed(3)} ms`;

const spread = (xs: readonly number[], fmt: (x: number) => string) => `spread ${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
const notMeasured = (name: string, goal: string, measured = "—"): Target => ({ name, goal, measured, status: "not measured" });

/** Every performance target, each met, missed, or not measured in this run: the table first, then the older ones. */
export function computeTargets(r: Results): Target[] {
  const out: Target[] = [];
  // 64 connections is the headline; a run without it (--quick) compares at its highest concurrency.
  const cs = r.settings.concurrencies;
  const headline = cs.includes(64) ? 64 : cs[cs.length - 1]!;
  const a = findRun(r, "clipper", "single", headline);
  const ratio = (name: string, goal: string, num: RunResult | undefined, den: RunResult | undefined, min: number, fmt: (x: number) => string) => {
    if (!num || !den) return out.push(notMeasured(name, goal));
    const x = num.wrk.requestsPerSec / den.wrk.requestsPerSec;
    out.push({
      name,
      goal,
      measured: `${fmt(x)} (${Math.round(num.wrk.requestsPerSec)} vs ${Math.round(den.wrk.requestsPerSec)} req/s)`,
      status: x >= min ? "met" : "missed",
    });
  };
  const interleavedRatio = (name: string, goal: string, id: SystemId, min: number): boolean => {
    const il = r.interleaved;
    const per = il?.rounds.filter((x) => x[id] && x.limit).map((x) => x[id]! / x.limit!) ?? [];
    if (!il || per.length === 0) return false;
    const m = median(per);
    out.push({
      name,
      goal,
      status: m >= min ? "met" : "missed",
      measured:
        `${pct(m)}, median of ${per.length} interleaved rounds of ${il.secondsPerRound} s (rounds: ${per.map(pct).join(", ")}, ${spread(per, pct)}; ` +
        `${Math.round(median(il.rounds.map((x) => x[id] ?? 0)))} vs ${Math.round(median(il.rounds.map((x) => x.limit ?? 0)))} req/s)`,
    });
    return true;
  };
  const limitAt = findRun(r, "limit", "single", headline);
  const vsLimit = `vs the Bun.serve limit, ${r.interleaved?.connections ?? headline} conns`;
  if (!interleavedRatio(`clipper cache-off ${vsLimit}`, "≥ 70%", "clipper", 0.7)) {
    ratio(`clipper cache-off ${vsLimit}`, "≥ 70%", a, limitAt, 0.7, pct);
  }
  if (!interleavedRatio(`clipper cache-hit ${vsLimit}`, "≥ 90%", "clipper-cache-hit", 0.9)) {
    ratio(`clipper cache-hit ${vsLimit}`, "≥ 90%", findRun(r, "clipper-cache-hit", "single", headline), limitAt, 0.9, pct);
  }
  out.push(...latencyTargets(r), cpuTarget(r, headline), batchTarget(r), ...forestTargets(r), errorsTarget(r));

  ratio(`clipper cache-off vs FastAPI, ${headline} conns`, "≥ 5x", a, findRun(r, "fastapi", "single", headline), 5, times);
  ratio(`clipper cache-off vs MLServer, ${headline} conns`, "≥ 10x", a, findRun(r, "mlserver", "single", headline), 10, times);
  const peers = (["fastapi", "mlserver"] as const).map((id) => ({ id, run: findRun(r, id, "single", headline) })).filter((p) => p.run);
  const below = `clipper cache-off p99 below every peer, ${headline} conns`;
  if (!a || peers.length === 0) out.push(notMeasured(below, "lower"));
  else {
    const lower = peers.every((p) => a.wrk.p99Ms < p.run!.wrk.p99Ms);
    const measured = [`clipper ${ms(a.wrk.p99Ms)}`, ...peers.map((p) => `${p.id} ${ms(p.run!.wrk.p99Ms)}`)].join(", ");
    out.push({ name: below, goal: "lower", measured, status: lower ? "met" : "missed" });
  }
  out.push(...deployTargets(r));
  return out;
}

/** The 1-connection cache-off point: p50 over the runtime's own predict time, and p99 alone and against the limit's. */
function latencyTargets(r: Results): Target[] {
  const out: Target[] = [];
  const one = findRun(r, "clipper", "single", 1);
  const overhead = "1-conn cache-off p50 minus the runtime's predict time";
  if (!one?.clipper) out.push(notMeasured(overhead, "≤ 0.10 ms"));
  else {
    const predictMs = one.clipper.meanPredictMicros / 1000;
    const x = one.wrk.p50Ms - predictMs;
    out.push({
      name: overhead,
      goal: "≤ 0.10 ms",
      measured: `${ms(x)} (p50 ${ms(one.wrk.p50Ms)} − predict ${ms(predictMs)} at mean batch ${one.clipper.meanBatchSize.toFixed(2)})`,
      status: x <= 0.1 ? "met" : "missed",
    });
  }
  const p99 = "1-conn cache-off p99";
  const goal = "≤ 1.0 ms and ≤ 3x the limit's 1-conn p99";
  const lim = findRun(r, "limit", "single", 1);
  if (!one) out.push(notMeasured(p99, goal));
  else if (!lim) out.push(notMeasured(p99, goal, `${ms(one.wrk.p99Ms)}; the limit's 1-conn p99 was not measured in this run`));
  else {
    const x = one.wrk.p99Ms / lim.wrk.p99Ms;
    out.push({
      name: p99,
      goal,
      measured: `${ms(one.wrk.p99Ms)} (${times(x)} the limit's ${ms(lim.wrk.p99Ms)})`,
      status: one.wrk.p99Ms <= 1 && x <= 3 ? "met" : "missed",
    });
  }
  return out;
}

/** Server-process CPU per request, cache hit against the limit: per interleaved round, else the sequential points. */
function cpuTarget(r: Results, headline: number): Target {
  const goal = "≤ 1.15x";
  const il = r.interleaved;
  const per = il?.serverCpuMicros.filter((x) => x["clipper-cache-hit"] && x.limit).map((x) => x["clipper-cache-hit"]! / x.limit!) ?? [];
  if (il && per.length) {
    const m = median(per);
    const med = (id: SystemId) => median(il.serverCpuMicros.flatMap((x) => (x[id] ? [x[id]!] : [])));
    return {
      name: `server CPU µs/req, clipper cache-hit vs the limit, ${il.connections} conns`,
      goal,
      measured:
        `${m.toFixed(2)}x, median of ${per.length} interleaved rounds (rounds: ${per.map((x) => x.toFixed(2)).join(", ")}, ${spread(per, (x) => x.toFixed(2))}; ` +
        `${med("clipper-cache-hit").toFixed(1)} vs ${med("limit").toFixed(1)} µs/req)`,
      status: m <= 1.15 ? "met" : "missed",
    };
  }
  const name = `server CPU µs/req, clipper cache-hit vs the limit, ${headline} conns`;
  const hit = findRun(r, "clipper-cache-hit", "single", headline)?.cpuMicrosPerRequest;
  const lim = findRun(r, "limit", "single", headline)?.cpuMicrosPerRequest;
  if (!hit || !lim || lim.server === 0) return notMeasured(name, goal);
  const x = hit.server / lim.server;
  return {
    name,
    goal,
    measured: `${x.toFixed(2)}x (sequential points, no interleaved rounds: ${hit.server.toFixed(1)} vs ${lim.server.toFixed(1)} µs/req)`,
    status: x <= 1.15 ? "met" : "missed",
  };
}

function batchTarget(r: Results): Target {
  const batch = findRun(r, "clipper", "batch");
  if (!batch) return notMeasured("input_batch rows/s", "≥ 800,000");
  return {
    name: `input_batch of ${batch.rowsPerRequest} rows, rows/s (${batch.connections} conns)`,
    goal: "≥ 800,000",
    measured: Math.round(batch.rowsPerSec).toLocaleString("en-US"),
    status: batch.rowsPerSec >= 800_000 ? "met" : "missed",
  };
}

/** The forest point: clipper against FastAPI on the same pickle, and against the forest's own in-process rows/s. */
function forestTargets(r: Results): Target[] {
  const f = r.forest;
  const trees = f?.trees ?? 100;
  const conns = f?.connections ?? 64;
  const vsFastapi = `${trees}-tree forest: clipper cache-off vs FastAPI, ${conns} conns`;
  const vsOwn = `${trees}-tree forest: clipper rows/s vs the forest's own in-process rows/s at clipper's mean batch size`;
  const out: Target[] = [];
  if (!f?.clipper || !f.fastapi) out.push(notMeasured(vsFastapi, "≥ 20x"));
  else {
    const x = f.clipper.wrk.requestsPerSec / f.fastapi.wrk.requestsPerSec;
    out.push({
      name: vsFastapi,
      goal: "≥ 20x",
      measured: `${times(x)} (${Math.round(f.clipper.wrk.requestsPerSec)} vs ${Math.round(f.fastapi.wrk.requestsPerSec)} req/s)`,
      status: x >= 20 ? "met" : "missed",
    });
  }
  if (!f?.clipper || !f.inProcess) out.push(notMeasured(vsOwn, "≥ 85%"));
  else {
    const x = f.clipper.rowsPerSec / f.inProcess.rowsPerSec;
    out.push({
      name: vsOwn,
      goal: "≥ 85%",
      measured: `${pct(x)} (${Math.round(f.clipper.rowsPerSec)} vs ${Math.round(f.inProcess.rowsPerSec)} rows/s in-process, batches of ${f.inProcess.batchRows})`,
      status: x >= 0.85 ? "met" : "missed",
    });
  }
  return out;
}

/** Every wrk run of the report, named, with its error count. */
export function errorPoints(r: Results): { readonly point: string; readonly errors: number }[] {
  const points: { point: string; errors: number }[] = [];
  const name = (run: RunResult) => (run.kind === "batch" ? `input_batch ${run.connections} conns` : `${run.connections} conns`);
  for (const s of r.systems) for (const run of s.runs) points.push({ point: `${s.label} ${name(run)}`, errors: run.wrk.errors });
  const il = r.interleaved;
  il?.errors?.forEach((round, i) => {
    for (const [id, errors] of Object.entries(round)) {
      const label = r.systems.find((s) => s.id === id)?.label ?? id;
      points.push({ point: `${label} interleaved round ${i + 1}`, errors: errors ?? 0 });
    }
  });
  if (r.forest?.clipper) points.push({ point: `forest clipper ${r.forest.connections} conns`, errors: r.forest.clipper.wrk.errors });
  if (r.forest?.fastapi) points.push({ point: `forest FastAPI ${r.forest.connections} conns`, errors: r.forest.fastapi.wrk.errors });
  return points;
}

function errorsTarget(r: Results): Target {
  const name = "errors at every point of the run";
  const points = errorPoints(r);
  if (points.length === 0) return notMeasured(name, "0");
  const bad = points.filter((p) => p.errors > 0);
  return {
    name,
    goal: "0",
    measured: bad.length ? bad.map((p) => `${p.point}: ${p.errors}`).join("; ") : `0 in all ${points.length} points`,
    status: bad.length ? "missed" : "met",
  };
}

function deployTargets(r: Results): Target[] {
  const samples = r.deploy?.samples ?? [];
  if (samples.length === 0) {
    return [notMeasured("clipper server RSS with HR deployed (idle)", "≤ 80 MB"), notMeasured("deploy start → first prediction (median)", "≤ 1.5 s")];
  }
  const rss = median(samples.map((s) => s.serverRssWithModelBytes)) / MB;
  const replica = median(samples.map((s) => s.replicaRssBytes)) / MB;
  const d = median(samples.map((s) => s.firstPredictionSec));
  const running = samples.flatMap((s) => (s.runningServerSec === undefined ? [] : [s.runningServerSec]));
  return [
    {
      name: "clipper server RSS with HR deployed (idle)",
      goal: "≤ 80 MB",
      measured:
        `${rss.toFixed(1)} MB server process (+ ${replica.toFixed(1)} MB Python replica = ${(rss + replica).toFixed(1)} MB` +
        (samples[0]?.spareRssBytes
          ? `; + ${(median(samples.map((s) => s.spareRssBytes ?? 0)) / MB).toFixed(1)} MB warm spare, --python-spares 0 drops it)`
          : ")"),
      status: rss <= 80 ? "met" : "missed",
    },
    {
      name: `deploy start → first prediction, fresh server (median of ${samples.length})`,
      goal: "≤ 1.5 s",
      measured:
        `${d.toFixed(2)} s (runs: ${samples.map((s) => s.firstPredictionSec.toFixed(2)).join(", ")})` +
        (running.length ? `; a second model on the running server: ${median(running).toFixed(2)} s` : ""),
      status: d <= 1.5 ? "met" : "missed",
    },
  ];
}
