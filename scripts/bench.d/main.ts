/** scripts/bench: runs the benchmark (clipper vs the Bun.serve limit, FastAPI and MLServer) and writes the report. */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { batchBody, CONSTANT_ROW, hrRows, singleBody, writeBodies, type Protocol } from "../lib/bodies.ts";
import { runFaultsBench } from "./faults.ts";
import { runHangBench } from "./hang.ts";
import { runOverloadBench } from "./overload.ts";
import { describeMachine } from "../lib/machine.ts";
import { installCleanup, logTail, rssBytes, run, sampleRss, serviceCpu, serviceRss, waitFor, waitQuiet } from "../lib/proc.ts";
import { latencySvg, markdown, throughputSvg } from "./report.ts";
import { FOREST_CONNECTIONS, FOREST_TREES, measureForest } from "./forest.ts";
import {
  computeTargets,
  LIMIT_MOVED_MAX_PCT,
  limitMovedPct,
  MB,
  type ClipperRunMetrics,
  type DeploySample,
  type Interleaved,
  type Results,
  type RunResult,
  type SystemResult,
} from "./results.ts";
import { deployHr, predictsOk, startClipper, SYSTEMS, type Context, type Running, type SystemId, type SystemSpec } from "./systems.ts";
import { ensureBenchVenv, trainModel } from "./venv.ts";
import { pinWrk, runWrk } from "./wrk.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BATCH_ROWS = 100;
const BATCH_CONNECTIONS = 16;
const MLSERVER_BATCH = { maxBatchSize: 64, maxBatchTimeSec: 0.002 };
/** Systems whose failure makes the run fail; the peers' failures are reported and the rest goes on. */
const ESSENTIAL: readonly SystemId[] = ["clipper", "clipper-cache-hit", "limit"];

const HELP = `usage: scripts/bench [--quick] [--out DIR] [flags]

Starts each system in turn (clipper cache off, clipper cache hit, a bare Bun.serve limit,
FastAPI, MLServer), loads it with wrk on 127.0.0.1, then the forest point (a 100-tree random
forest on clipper and on FastAPI, and the forest's own in-process rows/s), and writes results.md,
results.json, throughput.svg and latency.svg.

  --quick            smoke run: clipper cache-off and the Bun limit at 16 connections plus the
                     batch run, ~2 s per point, no Python peers, no forest point; results go to a temp dir
  --out DIR          where the results go (default: bench/, or a temp dir with --quick)
  --duration SEC     measured seconds per point (default 10, quick 2)
  --warmup SEC       warm-up seconds before each point (default 2, quick 1)
  --systems LIST     comma-separated subset of: ${SYSTEMS.map((s) => s.id).join(", ")}
  --deploy-runs N    deploy-to-first-prediction samples (default 5, quick 1)
  --connections LIST comma-separated concurrencies of the single-input points (default 1,16,64,256; quick 16)
  --no-batch         skip the input_batch point
  --no-forest        skip the forest point (${FOREST_TREES}-tree random forest, clipper cache off and FastAPI at
                     ${FOREST_CONNECTIONS} connections, --duration each, then ~3 s of its own predict in-process)
  --forest           run the forest point in --quick mode too (it runs by default in full mode)
  --interleaved N    rounds of the interleaved phase, where clipper (cache off and cache hit) and the
                     limit run at once and are loaded in turn at 64 connections (default 5, quick 0)
  --round-seconds S  measured seconds per system per interleaved round (default 5)
  --pin-wrk          pin wrk to CPU 0 with taskset (default: the scheduler places every process; pinned, the
                     limit gets a core to itself while clipper's server and replica share the other)
  --clipper PATH     the binary to test (default ./clipper; built into a temp dir when missing)
  --faults           instead: the cost of fault isolation (0% against 5% raising rows, interleaved rounds
                     of --round-seconds, --interleaved rounds, default 3) and feedback req/s; writes
                     faults.md and faults.json to --out
  --overload         instead: goodput under overload (a 0.5 ms-a-row model, SLO 100 ms) at 0.5×, 1×, 2×, 5×
                     and 10× its capacity, clipper against FastAPI and MLServer (adaptive batching) with the
                     same wrk script, --duration s per point; writes overload.md, overload.json and
                     overload.svg to --out (the peers run on .venv-bench, or on CLIPPER_BENCH_PYTHON when set)
  --hang             instead: what one hanging input costs the other queries of its model, per runtime
                     (Python, Node, Docker when an engine answers): issue 21's drill (12 clients for 20 s,
                     the hanging input at 5 s and again at 12 s), --interleaved rounds (default 2), a fresh
                     server per drill; writes hang.md and hang.json to --out
  -h, --help         this help`;

interface Options {
  readonly quick: boolean;
  readonly out: string;
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly systems: readonly SystemSpec[];
  readonly deployRuns: number;
  readonly clipper: string | undefined;
  readonly concurrencies: readonly number[];
  readonly batch: boolean;
  readonly forest: boolean;
  readonly interleavedRounds: number;
  readonly roundSec: number;
  readonly pin: boolean;
  readonly faults: boolean;
  readonly overload: boolean;
  readonly hang: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean", default: false },
      out: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      systems: { type: "string" },
      "deploy-runs": { type: "string" },
      connections: { type: "string" },
      "no-batch": { type: "boolean" },
      forest: { type: "boolean" },
      "no-forest": { type: "boolean" },
      interleaved: { type: "string" },
      "round-seconds": { type: "string" },
      "pin-wrk": { type: "boolean" },
      clipper: { type: "string" },
      faults: { type: "boolean" },
      overload: { type: "boolean" },
      hang: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const num = (name: string, raw: string | undefined, dflt: number, min: number) => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}, got '${raw}'`);
    return n;
  };
  const wanted =
    values.systems
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean) ?? (quick ? ["clipper", "limit"] : SYSTEMS.map((s) => s.id));
  const unknown = wanted.filter((w) => !SYSTEMS.some((s) => s.id === w));
  if (unknown.length) throw new Error(`unknown system(s) ${unknown.join(", ")}; pick from ${SYSTEMS.map((s) => s.id).join(", ")}`);
  return {
    quick,
    out: resolve(values.out ?? (quick ? mkdtempSync(join(tmpdir(), "clipper-bench-quick-")) : join(ROOT, "bench"))),
    durationSec: num("duration", values.duration, quick ? 2 : 10, 1),
    warmupSec: num("warmup", values.warmup, quick ? 1 : 2, 0),
    systems: SYSTEMS.filter((s) => wanted.includes(s.id)),
    deployRuns: num("deploy-runs", values["deploy-runs"], quick ? 1 : 5, 0),
    clipper: values.clipper,
    concurrencies:
      values.connections === undefined ? (quick ? [16] : [1, 16, 64, 256]) : values.connections.split(",").map((c) => num("connections", c.trim(), 0, 1)),
    batch: !values["no-batch"],
    forest: !values["no-forest"] && (values.forest ?? !quick),
    interleavedRounds: num("interleaved", values.interleaved, quick ? 0 : values.hang ? 2 : values.faults ? 3 : 5, 0),
    roundSec: num("round-seconds", values["round-seconds"], 5, 1),
    pin: values["pin-wrk"] ?? false,
    faults: values.faults ?? false,
    overload: values.overload ?? false,
    hang: values.hang ?? false,
  };
}

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** Counters from clipper's /metrics, turned into the sums that can be subtracted. */
interface Counters {
  batches: number;
  rows: number;
  predictMicros: number;
  defaults: number;
  hits: number;
  misses: number;
}

async function clipperCounters(url: string): Promise<Counters> {
  const m = (await (await fetch(url)).json()) as {
    apps: Record<string, { defaults: number }>;
    models: Record<string, { batches: number; rows: number; mean_predict_micros: number }>;
    cache: { hits: number; misses: number };
  };
  const model = Object.values(m.models)[0] ?? { batches: 0, rows: 0, mean_predict_micros: 0 };
  return {
    batches: model.batches,
    rows: model.rows,
    predictMicros: model.mean_predict_micros * model.batches,
    defaults: Object.values(m.apps).reduce((sum, app) => sum + app.defaults, 0),
    hits: m.cache.hits,
    misses: m.cache.misses,
  };
}

function delta(a: Counters, b: Counters): ClipperRunMetrics {
  const batches = b.batches - a.batches;
  const rows = b.rows - a.rows;
  return {
    batches,
    rows,
    meanBatchSize: batches ? rows / batches : 0,
    meanPredictMicros: batches ? (b.predictMicros - a.predictMicros) / batches : 0,
    defaults: b.defaults - a.defaults,
    cacheHits: b.hits - a.hits,
    cacheMisses: b.misses - a.misses,
  };
}

interface BodyFiles {
  readonly single: string;
  readonly constant: string;
  readonly batch: string;
}

function writeBodyFiles(work: string): Record<Protocol, BodyFiles> {
  const rows = hrRows(10_000);
  const batches = Array.from({ length: 100 }, (_, i) => rows.slice(i * BATCH_ROWS, (i + 1) * BATCH_ROWS));
  const files = (p: Protocol): BodyFiles => ({
    single: writeBodies(
      join(work, `${p}-single.txt`),
      rows.map((r) => singleBody(p, r)),
    ),
    constant: writeBodies(join(work, `${p}-constant.txt`), [singleBody(p, CONSTANT_ROW)]),
    batch: writeBodies(
      join(work, `${p}-batch.txt`),
      batches.map((b) => batchBody(p, b)),
    ),
  });
  return { clipper: files("clipper"), v2: files("v2") };
}

async function measurePoint(label: string, running: Running, bodies: string, kind: "single" | "batch", connections: number, o: Options): Promise<RunResult> {
  const backgroundCpuPct = await waitQuiet(o.quick ? 0 : 30_000);
  if (o.warmupSec > 0) await runWrk(running.predictUrl, bodies, connections, o.warmupSec);
  const before = running.metricsUrl ? await clipperCounters(running.metricsUrl) : undefined;
  const rss = sampleRss(running.service.pid);
  const cpuBefore = serviceCpu(running.service.pid);
  const wrk = await runWrk(running.predictUrl, bodies, connections, o.durationSec);
  const cpuAfter = serviceCpu(running.service.pid);
  const peakRssBytes = rss.stop();
  const perRequest = (sec: number) => (wrk.requests ? (sec * 1e6) / wrk.requests : 0);
  const cpuMicrosPerRequest = {
    server: perRequest(cpuAfter.leaderSec - cpuBefore.leaderSec),
    children: perRequest(Math.max(0, cpuAfter.childrenSec - cpuBefore.childrenSec)),
    wrk: perRequest(wrk.cpuSec),
  };
  const clipper = before && running.metricsUrl ? delta(before, await clipperCounters(running.metricsUrl)) : undefined;
  const rowsPerRequest = kind === "batch" ? BATCH_ROWS : 1;
  const result: RunResult = {
    kind,
    connections,
    rowsPerRequest,
    wrk,
    rowsPerSec: wrk.requestsPerSec * rowsPerRequest,
    peakRssBytes,
    backgroundCpuPct,
    cpuMicrosPerRequest,
    ...(clipper ? { clipper } : {}),
  };
  log(
    `${label} ${kind} c=${connections}: ${Math.round(wrk.requestsPerSec)} req/s` +
      (kind === "batch" ? ` (${Math.round(result.rowsPerSec)} rows/s)` : "") +
      `, p50 ${wrk.p50Ms.toFixed(3)} ms, p99 ${wrk.p99Ms.toFixed(3)} ms, errors ${wrk.errors}, RSS ${(peakRssBytes / MB).toFixed(1)} MB` +
      `, CPU µs/req server ${cpuMicrosPerRequest.server.toFixed(1)} + children ${cpuMicrosPerRequest.children.toFixed(1)} + wrk ${cpuMicrosPerRequest.wrk.toFixed(1)}` +
      (clipper ? `, mean batch ${clipper.meanBatchSize.toFixed(2)}, defaults ${clipper.defaults}` : "") +
      `, background CPU before ${backgroundCpuPct.toFixed(0)}%`,
  );
  return result;
}

async function benchSystem(
  spec: SystemSpec,
  ctx: Context | undefined,
  venvError: string | undefined,
  bodies: Record<Protocol, BodyFiles>,
  concurrencies: readonly number[],
  o: Options,
): Promise<SystemResult> {
  const result: SystemResult = { id: spec.id, label: spec.label, description: spec.description, status: "ok", runs: [] };
  if (!ctx || (spec.needsBenchVenv && venvError)) {
    result.status = "failed";
    result.error = venvError ?? "no context";
    log(`${spec.label}: skipped, ${result.error.split("\n")[0]}`);
    return result;
  }
  log(`starting ${spec.label}`);
  let running: Running;
  try {
    running = await spec.start(ctx);
  } catch (err) {
    result.status = "failed";
    result.error = (err as Error).message;
    log(`${spec.label} FAILED to start: ${result.error}`);
    return result;
  }
  try {
    await Bun.sleep(300);
    const idle = serviceRss(running.service.pid);
    result.idleRss = { leaderBytes: idle.leaderBytes, totalBytes: idle.totalBytes, processes: idle.children.length + 1 };
    result.sample = running.sample;
    const files = bodies[spec.protocol];
    for (const c of concurrencies) {
      result.runs.push(await measurePoint(spec.label, running, spec.constantInput ? files.constant : files.single, "single", c, o));
    }
    if (!spec.constantInput && o.batch) result.runs.push(await measurePoint(spec.label, running, files.batch, "batch", BATCH_CONNECTIONS, o));
  } catch (err) {
    result.status = "failed";
    result.error = `${(err as Error).message}\n${logTail(running.service.logPath)}`;
    log(`${spec.label} FAILED: ${result.error}`);
  } finally {
    await running.service.stop();
  }
  return result;
}

const INTERLEAVED: readonly SystemId[] = ["clipper", "clipper-cache-hit", "limit"];
const INTERLEAVED_CONNECTIONS = 64;

/** The ratio targets again, with the three systems up at once and loaded in turn (see Interleaved). */
async function measureInterleaved(ctx: Context, bodies: Record<Protocol, BodyFiles>, o: Options): Promise<Interleaved | undefined> {
  const specs = o.systems.filter((s) => INTERLEAVED.includes(s.id));
  if (o.interleavedRounds === 0 || !specs.some((s) => s.id === "limit") || specs.length < 2) return undefined;
  log(`interleaved phase: ${specs.map((s) => s.label).join(", ")} at once, ${o.interleavedRounds} rounds of ${o.roundSec} s each`);
  const running: { spec: SystemSpec; run: Running; bodies: string }[] = [];
  try {
    for (const spec of specs) {
      const files = bodies[spec.protocol];
      running.push({ spec, run: await spec.start(ctx), bodies: spec.constantInput ? files.constant : files.single });
    }
    for (const r of running) await runWrk(r.run.predictUrl, r.bodies, INTERLEAVED_CONNECTIONS, Math.max(1, o.warmupSec));
    const result: Interleaved = { connections: INTERLEAVED_CONNECTIONS, secondsPerRound: o.roundSec, rounds: [], serverCpuMicros: [], errors: [] };
    for (let round = 0; round < o.interleavedRounds; round++) {
      await waitQuiet(o.quick ? 0 : 15_000);
      // Rotate the order so that no system always runs first (or right after another's load).
      const order = running.map((_, i) => running[(i + round) % running.length]!);
      const rps: Partial<Record<SystemId, number>> = {};
      const cpu: Partial<Record<SystemId, number>> = {};
      const errors: Partial<Record<SystemId, number>> = {};
      for (const r of order) {
        const before = serviceCpu(r.run.service.pid);
        const wrk = await runWrk(r.run.predictUrl, r.bodies, INTERLEAVED_CONNECTIONS, o.roundSec);
        const after = serviceCpu(r.run.service.pid);
        if (wrk.errors > 0) log(`${r.spec.label}: ${wrk.errors} errors in interleaved round ${round + 1}`);
        errors[r.spec.id] = wrk.errors;
        rps[r.spec.id] = wrk.requestsPerSec;
        cpu[r.spec.id] = wrk.requests ? ((after.leaderSec - before.leaderSec) * 1e6) / wrk.requests : 0;
      }
      result.rounds.push(rps);
      result.serverCpuMicros.push(cpu);
      result.errors?.push(errors);
      log(
        `interleaved round ${round + 1}: ${specs.map((s) => `${s.label} ${Math.round(rps[s.id] ?? 0)} req/s (${(cpu[s.id] ?? 0).toFixed(1)} µs CPU/req)`).join(", ")}`,
      );
    }
    return result;
  } finally {
    for (const r of running) await r.run.service.stop();
  }
}

/** Fresh server per sample: RSS before deploy, time from `clipper deploy` to the first real prediction, RSS after. */
async function measureDeploy(ctx: Context, runs: number): Promise<DeploySample[]> {
  const samples: DeploySample[] = [];
  for (let i = 0; i < runs; i++) {
    const { service, queryUrl, mgmtUrl } = await startClipper(ctx, `deploy-${i + 1}`, true);
    try {
      await Bun.sleep(300);
      const serverIdleRssBytes = rssBytes(service.pid);
      const started = performance.now();
      let cliDone = 0;
      const deploying = deployHr(ctx, mgmtUrl).then(() => (cliDone = performance.now()));
      let failed: unknown;
      deploying.catch((err: unknown) => (failed = err));
      await waitFor(
        "the first prediction after deploy",
        async () => {
          if (failed) throw failed;
          return predictsOk(queryUrl);
        },
        60_000,
        2,
        service,
      );
      const firstPrediction = performance.now();
      await deploying;
      await Bun.sleep(500);
      const rss = serviceRss(service.pid);
      // The replica is what get_all_containers lists; any other child is the warm spare.
      const containers = (await (
        await fetch(`${mgmtUrl}/admin/get_all_containers`, {
          method: "POST",
          body: "{}",
          headers: { authorization: `Bearer ${ctx.token}` },
        })
      ).json()) as { pid: number | null }[];
      const replicaPids = new Set(containers.map((c) => c.pid));
      const replicaRssBytes = rss.children.filter((p) => replicaPids.has(p)).reduce((sum, p) => sum + rssBytes(p), 0);
      const spareRssBytes = rss.children.filter((p) => !replicaPids.has(p)).reduce((sum, p) => sum + rssBytes(p), 0);
      // A second model on the running server, once its warm spare (if any) had time to get ready.
      await Bun.sleep(2000);
      const again = performance.now();
      const second = deployHr(ctx, mgmtUrl, "hr2");
      second.catch((err: unknown) => (failed = err));
      await waitFor(
        "the first prediction of a second model",
        async () => {
          if (failed) throw failed;
          return predictsOk(queryUrl, "hr2");
        },
        60_000,
        2,
        service,
      );
      const runningServerSec = (performance.now() - again) / 1000;
      await second;
      samples.push({
        firstPredictionSec: (firstPrediction - started) / 1000,
        cliSec: (cliDone - started) / 1000,
        runningServerSec,
        serverIdleRssBytes,
        serverRssWithModelBytes: rss.leaderBytes,
        replicaRssBytes,
        spareRssBytes,
      });
      log(
        `deploy ${i + 1}/${runs}: first prediction after ${samples.at(-1)!.firstPredictionSec.toFixed(3)} s ` +
          `(a second model on the running server: ${runningServerSec.toFixed(3)} s), server ${(rss.leaderBytes / MB).toFixed(1)} MB + ` +
          `replica ${(replicaRssBytes / MB).toFixed(1)} MB + warm spare ${(spareRssBytes / MB).toFixed(1)} MB`,
      );
    } finally {
      await service.stop();
    }
  }
  return samples;
}

function clipperBuilt(o: Options): string {
  const bin = o.clipper ? resolve(o.clipper) : join(ROOT, "clipper");
  return existsSync(bin)
    ? statSync(bin)
        .mtime.toISOString()
        .replace(/\.\d+Z$/, "Z")
    : "by this run from src/";
}

/** A private copy of the binary (a rebuild of ./clipper mid-run must not change what runs), or a fresh build. */
async function ensureClipper(o: Options, work: string): Promise<string> {
  const bin = o.clipper ? resolve(o.clipper) : join(ROOT, "clipper");
  const out = join(work, "clipper");
  if (existsSync(bin)) {
    copyFileSync(bin, out);
    chmodSync(out, 0o755);
    return out;
  }
  if (o.clipper) throw new Error(`no clipper binary at ${bin}`);
  log(`no ./clipper: building ${out}`);
  const r = await run([process.execPath, "build", "src/main.ts", "--compile", "--minify", "--outfile", out], { cwd: ROOT, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`bun build failed:\n${r.stdout}\n${r.stderr}`);
  return out;
}

async function main(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  const work = mkdtempSync(join(tmpdir(), "clipper-bench-"));
  installCleanup(() => rmSync(work, { recursive: true, force: true }));
  const started = performance.now();
  try {
    mkdirSync(o.out, { recursive: true });
    const clipperBin = await ensureClipper(o, work);
    if (o.overload) {
      await runOverloadBench({ out: o.out, work, durationSec: o.durationSec, clipperBin, log });
      return 0;
    }
    if (o.hang) {
      await runHangBench({ out: o.out, work, rounds: Math.max(1, o.interleavedRounds), clipperBin, log });
      return 0;
    }
    if (o.faults) {
      await runFaultsBench({ out: o.out, roundSec: o.roundSec, rounds: o.interleavedRounds, clipperBin });
      return 0;
    }
    const python = join(ROOT, ".venv/bin/python");
    if (!existsSync(python)) throw new Error(`no ${python}: run scripts/bootstrap first`);
    const notes: string[] = [];

    log("training the HR model (examples/hr/train.py)");
    const modelPath = await trainModel(ROOT, python, join(work, "hr.pkl"));

    const needsPeers = o.forest || o.systems.some((s) => s.needsBenchVenv);
    let benchPython = "";
    let benchModelPath = modelPath;
    let venvError: string | undefined;
    if (needsPeers) {
      try {
        benchPython = await ensureBenchVenv(ROOT, log);
        const model = await trainModel(ROOT, benchPython, join(work, "hr-bench.pkl"), modelPath);
        if (model !== modelPath)
          notes.push("The peers' venv could not load clipper's hr.pkl cleanly, so FastAPI and MLServer load a copy trained by the bench venv's Python.");
        benchModelPath = model;
      } catch (err) {
        venvError = (err as Error).message;
        log(`peers unavailable: ${venvError}`);
      }
    }

    const ctx: Context = {
      root: ROOT,
      work,
      clipperBin,
      python,
      benchPython,
      modelPath,
      benchModelPath,
      mlserverBatch: MLSERVER_BATCH,
      token: crypto.randomUUID().replace(/-/g, ""),
    };
    const machine = await describeMachine({ root: ROOT, clipperBin, python, ...(benchPython ? { benchPython } : {}) });
    machine.versions["clipper binary"] = `${o.clipper ?? "./clipper"}, built ${clipperBuilt(o)}`;
    const concurrencies = o.concurrencies;
    const wrkCpu = o.pin && machine.nproc >= 2 && Bun.which("taskset") ? 0 : undefined;
    pinWrk(wrkCpu);
    const results: Results = {
      generatedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      mode: o.quick ? "quick" : "full",
      command: ["scripts/bench", ...argv].join(" "),
      settings: {
        warmupSec: o.warmupSec,
        durationSec: o.durationSec,
        concurrencies,
        batchConnections: BATCH_CONNECTIONS,
        batchRows: BATCH_ROWS,
        mlserverBatch: MLSERVER_BATCH,
        ...(wrkCpu === undefined ? {} : { wrkCpu }),
      },
      machine,
      systems: [],
      notes,
    };

    if (o.deployRuns > 0) {
      try {
        results.deploy = { samples: await measureDeploy(ctx, o.deployRuns) };
      } catch (err) {
        results.deploy = { samples: [], error: (err as Error).message };
        log(`deploy measurement FAILED: ${(err as Error).message}`);
      }
    }
    if (!o.quick) {
      const r = await run([python, join(import.meta.dir, "predict_time.py"), modelPath], { cwd: ROOT, timeoutMs: 120_000 });
      if (r.code === 0) results.pythonPredict = JSON.parse(r.stdout);
      else notes.push(`predict_time.py failed: ${r.stderr.trim()}`);
    }

    const bodies = writeBodyFiles(work);
    for (const spec of o.systems) results.systems.push(await benchSystem(spec, ctx, venvError, bodies, concurrencies, o));
    try {
      const interleaved = await measureInterleaved(ctx, bodies, o);
      if (interleaved) results.interleaved = interleaved;
    } catch (err) {
      notes.push(`The interleaved phase failed: ${(err as Error).message}`);
      log(`interleaved phase FAILED: ${(err as Error).message}`);
    }
    if (o.forest) {
      try {
        const measure = (label: string, running: Running, file: string, connections: number) => measurePoint(label, running, file, "single", connections, o);
        results.forest = await measureForest(ctx, bodies.clipper.single, measure, log);
        for (const f of results.forest.failures) log(`forest point FAILED: ${f.split("\n")[0]}`);
      } catch (err) {
        results.forest = { trees: FOREST_TREES, connections: FOREST_CONNECTIONS, failures: [(err as Error).message] };
        log(`forest point FAILED: ${(err as Error).message}`);
      }
    }

    results.targets = computeTargets(results);
    writeFileSync(join(o.out, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
    // The hand-written analysis (profiles, before/after, remaining gaps) lives beside the generated report.
    const analysis = existsSync(join(o.out, "analysis.md"))
      ? "\n## Analysis\n\nProfiles, before/after numbers and the remaining gaps: [analysis.md](analysis.md).\n"
      : "";
    writeFileSync(join(o.out, "results.md"), markdown(results) + analysis);
    writeFileSync(join(o.out, "throughput.svg"), throughputSvg(results));
    writeFileSync(join(o.out, "latency.svg"), latencySvg(results));
    log(`wrote ${o.out}/{results.md,results.json,throughput.svg,latency.svg} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    for (const t of results.targets) log(`target ${t.status.padEnd(12)} ${t.name}: ${t.measured} (goal ${t.goal})`);
    const moved = limitMovedPct(results.interleaved);
    if (moved !== undefined && moved > LIMIT_MOVED_MAX_PCT) {
      log(`WARNING: the limit moved ${moved.toFixed(0)}% between interleaved rounds (more than ${LIMIT_MOVED_MAX_PCT}%): the machine was noisy, rerun`);
    }

    const broken = results.systems.filter((s) => ESSENTIAL.includes(s.id) && s.status !== "ok").map((s) => s.label);
    if (results.deploy?.error) broken.push("deploy measurement");
    if (o.quick) broken.push(...results.systems.filter((s) => s.runs.some((r) => r.wrk.errors > 0)).map((s) => `${s.label} (request errors)`));
    if (o.quick && results.forest?.clipper && results.forest.clipper.wrk.errors > 0) broken.push("forest clipper (request errors)");
    if (broken.length) {
      log(`FAILED: ${broken.join(", ")}`);
      return 1;
    }
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
