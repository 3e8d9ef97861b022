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
}

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

/** Every performance target, each met, missed, or not measured in this run. */
export function computeTargets(r: Results): Target[] {
  const out: Target[] = [];
  // 64 connections is the headline; a run without it (--quick) compares at its highest concurrency.
  const cs = r.settings.concurrencies;
  const headline = cs.includes(64) ? 64 : cs[cs.length - 1]!;
  const a = findRun(r, "clipper", "single", headline);
  const ratio = (name: string, goal: string, num: RunResult | undefined, den: RunResult | undefined, min: number, fmt: (x: number) => string) => {
    if (!num || !den) return out.push({ name, goal, measured: "—", status: "not measured" });
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
        `${pct(m)}, median of ${per.length} interleaved rounds of ${il.secondsPerRound} s (rounds: ${per.map(pct).join(", ")}; ` +
        `${Math.round(median(il.rounds.map((x) => x[id] ?? 0)))} vs ${Math.round(median(il.rounds.map((x) => x.limit ?? 0)))} req/s)`,
    });
    return true;
  };
  const vsLimit = `vs Bun.serve limit, ${headline} conns`;
  if (!interleavedRatio(`clipper cache-off ${vsLimit}`, "≥ 75%", "clipper", 0.75)) {
    ratio(`clipper cache-off ${vsLimit}`, "≥ 75%", a, findRun(r, "limit", "single", headline), 0.75, pct);
  }
  ratio(`clipper cache-off vs FastAPI, ${headline} conns`, "≥ 5x", a, findRun(r, "fastapi", "single", headline), 5, times);
  ratio(`clipper cache-off vs MLServer, ${headline} conns`, "≥ 10x", a, findRun(r, "mlserver", "single", headline), 10, times);

  const peers = (["fastapi", "mlserver"] as const).map((id) => ({ id, run: findRun(r, id, "single", headline) })).filter((p) => p.run);
  if (!a || peers.length === 0)
    out.push({ name: `clipper cache-off p99 below every peer, ${headline} conns`, goal: "lower", measured: "—", status: "not measured" });
  else {
    const worst = peers.every((p) => a.wrk.p99Ms < p.run!.wrk.p99Ms);
    const measured = [`clipper ${ms(a.wrk.p99Ms)}`, ...peers.map((p) => `${p.id} ${ms(p.run!.wrk.p99Ms)}`)].join(", ");
    out.push({ name: `clipper cache-off p99 below every peer, ${headline} conns`, goal: "lower", measured, status: worst ? "met" : "missed" });
  }
  if (!interleavedRatio(`clipper cache-hit ${vsLimit}`, "≥ 90%", "clipper-cache-hit", 0.9)) {
    ratio(`clipper cache-hit ${vsLimit}`, "≥ 90%", findRun(r, "clipper-cache-hit", "single", headline), findRun(r, "limit", "single", headline), 0.9, pct);
  }

  const one = findRun(r, "clipper", "single", 1);
  if (!one?.clipper) out.push({ name: "1-conn cache-off p50 minus the runtime's predict time", goal: "≤ 0.15 ms", measured: "—", status: "not measured" });
  else {
    const predictMs = one.clipper.meanPredictMicros / 1000;
    const overhead = one.wrk.p50Ms - predictMs;
    out.push({
      name: "1-conn cache-off p50 minus the runtime's predict time",
      goal: "≤ 0.15 ms",
      measured: `${ms(overhead)} (p50 ${ms(one.wrk.p50Ms)} − predict ${ms(predictMs)} at mean batch ${one.clipper.meanBatchSize.toFixed(2)})`,
      status: overhead <= 0.15 ? "met" : "missed",
    });
  }

  const batch = findRun(r, "clipper", "batch");
  out.push(
    batch
      ? {
          name: `input_batch of ${batch.rowsPerRequest} rows, rows/s (${batch.connections} conns)`,
          goal: "≥ 500,000",
          measured: Math.round(batch.rowsPerSec).toLocaleString("en-US"),
          status: batch.rowsPerSec >= 500_000 ? "met" : "missed",
        }
      : { name: "input_batch rows/s", goal: "≥ 500,000", measured: "—", status: "not measured" },
  );

  const samples = r.deploy?.samples ?? [];
  if (samples.length === 0) {
    out.push({ name: "clipper server RSS with HR deployed (idle)", goal: "≤ 80 MB", measured: "—", status: "not measured" });
    out.push({ name: "deploy start → first prediction (median)", goal: "≤ 1.5 s", measured: "—", status: "not measured" });
  } else {
    const rss = median(samples.map((s) => s.serverRssWithModelBytes)) / MB;
    const replica = median(samples.map((s) => s.replicaRssBytes)) / MB;
    out.push({
      name: "clipper server RSS with HR deployed (idle)",
      goal: "≤ 80 MB",
      measured:
        `${rss.toFixed(1)} MB server process (+ ${replica.toFixed(1)} MB Python replica = ${(rss + replica).toFixed(1)} MB` +
        (samples[0]?.spareRssBytes
          ? `; + ${(median(samples.map((s) => s.spareRssBytes ?? 0)) / MB).toFixed(1)} MB warm spare, --python-spares 0 drops it)`
          : ")"),
      status: rss <= 80 ? "met" : "missed",
    });
    const d = median(samples.map((s) => s.firstPredictionSec));
    const running = samples.flatMap((s) => (s.runningServerSec === undefined ? [] : [s.runningServerSec]));
    out.push({
      name: `deploy start → first prediction, fresh server (median of ${samples.length})`,
      goal: "≤ 1.5 s",
      measured:
        `${d.toFixed(2)} s (runs: ${samples.map((s) => s.firstPredictionSec.toFixed(2)).join(", ")})` +
        (running.length ? `; a second model on the running server: ${median(running).toFixed(2)} s` : ""),
      status: d <= 1.5 ? "met" : "missed",
    });
  }
  return out;
}
