/**
 * scripts/bench --many-models: N deployed models (scikit-learn pickles and joblib files, Python modules, ONNX
 * graphs and TorchScript modules: scripts/bench.d/many_models.py) on one server with a memory budget, queried by
 * a Zipf-distributed mix from CALLERS concurrent callers. Reports the resident models and replica memory
 * (sampled every 500 ms), cold starts per minute, cold-start latency p50/p99 per format (from each version's
 * `last_cold_start`, polled), and the hot set's throughput and p99 beside the same load on the same models all
 * resident (no budget, every version at 1 replica), in the same run. Then: one MLServer serving the same
 * scikit-learn models, all loaded (its process tree's memory), and cold starts one at a time with the warm spare
 * and without it (two servers side by side, interleaved). The server's Python is .venv-frameworks (it has
 * scikit-learn, onnxruntime and torch), so every format runs on the server's environment.
 * Bounded: --max-minutes (default 30) stops it with an error. Writes many-models.md and many-models.json.
 * usage: scripts/bench --many-models [--models N] [--budget-mb MB] [--duration S] [--probes K] [--skip-resident] [--no-mlserver] [--max-minutes M] [--out DIR] [--binary PATH]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort, installCleanup, killAll, logTail, run, serviceRss, spawnService, waitFor } from "../lib/proc.ts";

const ROOT = resolve(import.meta.dir, "../..");
const PYTHON = join(ROOT, ".venv-frameworks/bin/python");
const BENCH_PYTHON = join(ROOT, ".venv-bench/bin/python");
/** Callers on the hot set (the HOT most popular models, Zipf among them) and callers on the whole Zipf mix. */
const HOT_CALLERS = 4;
const MIX_CALLERS = 4;
const CALLERS = HOT_CALLERS + MIX_CALLERS;
/** The models queried most: the hot set whose service is compared with and without the budget. */
const HOT = 5;
const ZIPF_S = 1.1;
/** Seconds of the same load, unmeasured, before each measured run. */
const WARMUP_S = 15;
const FORMATS = ["pickle", "joblib", "module", "onnx", "torchscript"] as const;
type Format = (typeof FORMATS)[number];
const log = (line: string) => process.stderr.write(`[bench many-models] ${line}\n`);

const { values: opts } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--many-models"),
  options: {
    models: { type: "string", default: "100" },
    "budget-mb": { type: "string", default: "4096" },
    duration: { type: "string", default: "60" },
    probes: { type: "string", default: "3" },
    "max-minutes": { type: "string", default: "30" },
    out: { type: "string", default: join(ROOT, "bench") },
    "skip-resident": { type: "boolean", default: false },
    "no-mlserver": { type: "boolean", default: false },
    /** Another clipper executable to measure (e.g. a build of an earlier commit, for a before/after at the same load). */
    binary: { type: "string", default: join(ROOT, "clipper") },
  },
});
const N = Number(opts.models);
const BUDGET_MB = Number(opts["budget-mb"]);
const DURATION_S = Number(opts.duration);
const PROBES = Number(opts.probes);

/** As many_models.py's format_of: of every 20 models, 16 pickles, then a joblib file, a module, an ONNX graph, a TorchScript module. */
const formatOf = (i: number): Format => (({ 16: "joblib", 17: "module", 18: "onnx", 19: "torchscript" }) as Record<number, Format>)[i % 20] ?? "pickle";
const fileOf = (i: number) => `m${i}.${{ pickle: "pkl", joblib: "joblib", module: "py", onnx: "onnx", torchscript: "pt" }[formatOf(i)]}`;
const isSklearn = (i: number) => formatOf(i) === "pickle" || formatOf(i) === "joblib";

/** Zipf weights over ranks 1..N: rank k is queried ∝ 1 / k^s. */
function zipfPicker(n: number, seed = 7): () => number {
  const cdf: number[] = [];
  let total = 0;
  for (let k = 1; k <= n; k++) cdf.push((total += 1 / k ** ZIPF_S));
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const u = (x / 2 ** 31) * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function makeModels(dir: string, python: string, side: "clipper" | "mlserver"): Promise<void> {
  const res = await run([python, join(import.meta.dir, "many_models.py"), String(N), dir, side], {
    cwd: ROOT,
    env: { OMP_NUM_THREADS: "1" },
    timeoutMs: 600_000,
  });
  if (res.code !== 0) throw new Error(`making the models (${side}) failed: ${res.stderr}`);
}

interface Server {
  stop(): Promise<void>;
  q: string;
  m: string;
  token: string;
  pid: number;
  logPath: string;
}

async function startServer(work: string, tag: string, extra: string[]): Promise<Server> {
  const [qp, mp] = [await freePort(), await freePort()];
  const token = "bench-many-models-token-0123456789";
  const logPath = join(work, `${tag}.log`);
  const service = spawnService(
    `clipper (${tag})`,
    [
      resolve(opts.binary!),
      "serve",
      "--data-dir",
      join(work, `data-${tag}`),
      "--query-port",
      String(qp),
      "--mgmt-port",
      String(mp),
      "--grpc-port",
      "0",
      "--cache-entries",
      "0",
      ...extra,
    ],
    { cwd: ROOT, env: { CLIPPER_PYTHON: PYTHON, CLIPPER_TOKEN: token, CLIPPER_LOG_LEVEL: "warn", CLIPPER_REPLICA_START_TIMEOUT_MS: "120000" }, logPath },
  );
  const m = `http://127.0.0.1:${mp}`;
  await waitFor(
    `clipper (${tag})`,
    async () => (await fetch(`${m}/admin/status`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined))?.ok === true,
    60_000,
    100,
    service,
  );
  return { stop: () => service.stop(), q: `http://127.0.0.1:${qp}`, m, token, pid: service.pid, logPath };
}

async function admin(s: Server, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${s.m}/admin/${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${s.token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function deployAll(s: Server, dir: string, minReplicas: number, which: readonly number[] = [...Array(N).keys()]): Promise<void> {
  for (const i of which) {
    const bytes = await Bun.file(join(dir, fileOf(i))).arrayBuffer();
    const up = await fetch(`${s.m}/admin/artifacts`, { method: "PUT", headers: { authorization: `Bearer ${s.token}` }, body: bytes });
    const { sha256 } = (await up.json()) as { sha256: string };
    await admin(s, "add_model", {
      model_name: `m${i}`,
      input_type: "doubles",
      artifact_sha256: sha256,
      artifact_name: fileOf(i),
      min_replicas: minReplicas,
      max_replicas: 1,
      app: { name: `m${i}`, latency_slo_micros: 30_000_000 },
    });
    if (which.length === N && i % 20 === 19) log(`deployed ${i + 1}/${N}`);
  }
}

interface Phase {
  queries: number;
  errors: number;
  defaults: number;
  seconds: number;
  hot: { queries: number; perSec: number; p50Ms: number; p99Ms: number };
  all: { p50Ms: number; p99Ms: number };
}

/** CALLERS loops, each query to a Zipf-chosen model, for DURATION_S; `onTick` runs every 500 ms meanwhile. */
async function drive(s: Server, onTick: () => Promise<void>, durationS = DURATION_S): Promise<Phase> {
  const pick = zipfPicker(N);
  const pickHot = zipfPicker(HOT, 11);
  const hot: number[] = [];
  const all: number[] = [];
  let errors = 0;
  let defaults = 0;
  let n = 0;
  const started = performance.now();
  const end = started + durationS * 1000;
  let ticking = true;
  const ticker = (async () => {
    while (ticking) {
      await onTick().catch(() => undefined);
      await Bun.sleep(500);
    }
  })();
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      while (performance.now() < end) {
        // A caller blocked on a cold start does not hold up the hot set's callers (each caller waits for its answer).
        const rank = caller < HOT_CALLERS ? pickHot() : pick();
        const t0 = performance.now();
        try {
          const res = await fetch(`${s.q}/m${rank}/predict`, { method: "POST", body: JSON.stringify({ input: [n++ % 7, 1, 2, 3, 4] }) });
          const json = (await res.json()) as { default?: boolean };
          if (!res.ok) errors++;
          else if (json.default) defaults++;
          const ms = performance.now() - t0;
          all.push(ms);
          if (rank < HOT) hot.push(ms);
        } catch {
          errors++;
        }
      }
    }),
  );
  ticking = false;
  await ticker;
  const seconds = (performance.now() - started) / 1000;
  hot.sort((a, b) => a - b);
  all.sort((a, b) => a - b);
  return {
    queries: all.length,
    errors,
    defaults,
    seconds,
    hot: { queries: hot.length, perSec: hot.length / seconds, p50Ms: quantile(hot, 0.5), p99Ms: quantile(hot, 0.99) },
    all: { p50Ms: quantile(all, 0.5), p99Ms: quantile(all, 0.99) },
  };
}

/** One MLServer with the scikit-learn models of the run, all loaded: its process tree's memory once every model is ready. */
/** MemAvailable of /proc/meminfo, in MiB. */
function availableMemoryMb(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

async function mlserverMemory(work: string): Promise<{ models: number; mb: number; loadSeconds: number } | { skipped: string }> {
  const bin = join(ROOT, ".venv-bench/bin/mlserver");
  if (!existsSync(bin)) return { skipped: "no .venv-bench with mlserver (scripts/bench makes it)" };
  const dir = join(work, "mlserver");
  await makeModels(dir, BENCH_PYTHON, "mlserver");
  const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(join(dir, "settings.json"), JSON.stringify({ host: "127.0.0.1", http_port: http, grpc_port: grpc, metrics_port: metrics, debug: false }));
  const which = [...Array(N).keys()].filter(isSklearn);
  const t0 = performance.now();
  const service = spawnService("mlserver", [bin, "start", dir], { cwd: dir, logPath: join(work, "mlserver.log") });
  try {
    const base = `http://127.0.0.1:${http}`;
    const readyCount = async () => {
      let ready = 0;
      for (const i of which) if ((await fetch(`${base}/v2/models/m${i}/ready`).catch(() => undefined))?.ok) ready++;
      return ready;
    };
    await waitFor("MLServer with every model loaded", async () => (await readyCount()) === which.length, 600_000, 1000, service);
    const loadSeconds = (performance.now() - t0) / 1000;
    // A query each, so that lazily built state exists as in clipper's resident run; then the memory, settled.
    for (const i of which) {
      const res = await fetch(`${base}/v2/models/m${i}/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ inputs: [{ name: "x", shape: [1, 5], datatype: "FP64", data: [0, 1, 2, 3, 4] }] }),
      });
      if (!res.ok) throw new Error(`MLServer m${i}: ${res.status} ${await res.text()}`);
    }
    await Bun.sleep(2000);
    return { models: which.length, mb: serviceRss(service.pid).totalBytes / 1048576, loadSeconds };
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logTail(service.logPath)}`);
  } finally {
    await service.stop();
  }
}

interface Probe {
  format: Format;
  withSpare: number[];
  withoutSpare: number[];
}

/**
 * Cold starts one at a time: two servers side by side, one with the warm spare (--python-spares 1), one
 * without (0); PROBES models of each format on both, at zero after a 2 s idle timeout. Each model is queried on
 * one server then the other; between cold starts the spare gets SPARE_GAP_MS to warm again (importing
 * torch takes seconds on a busy machine). The latency is the version's `last_cold_start.ms`.
 */
async function coldStartProbe(work: string, dir: string): Promise<Probe[]> {
  const SPARE_GAP_MS = 6000;
  const which = FORMATS.flatMap((f) => [...Array(N).keys()].filter((i) => formatOf(i) === f).slice(0, PROBES));
  const servers = [
    await startServer(work, "probe-spare", ["--python-spares", "1", "--idle-timeout", "2s"]),
    await startServer(work, "probe-nospare", ["--python-spares", "0", "--idle-timeout", "2s"]),
  ] as const;
  const probes = new Map<Format, Probe>(FORMATS.map((f) => [f, { format: f, withSpare: [], withoutSpare: [] }]));
  try {
    for (const s of servers) await deployAll(s, dir, 0, which);
    for (const s of servers) {
      await waitFor(
        "every probe model at zero",
        async () => (await admin(s, "status")).models.every((m: { running_replicas: number }) => m.running_replicas === 0),
        120_000,
        200,
      );
    }
    await Bun.sleep(SPARE_GAP_MS);
    for (const i of which) {
      for (const [k, s] of servers.entries()) {
        const res = await fetch(`${s.q}/m${i}/predict`, { method: "POST", body: JSON.stringify({ input: [1, 2, 3, 4, 5] }) });
        const json = (await res.json()) as { default?: boolean };
        if (!res.ok || json.default) throw new Error(`cold start of m${i}: ${res.status} ${JSON.stringify(json)}`);
        const m = (await admin(s, "status")).models.find((x: { model_name: string }) => x.model_name === `m${i}`);
        const p = probes.get(formatOf(i))!;
        (k === 0 ? p.withSpare : p.withoutSpare).push(m.last_cold_start.ms);
        await Bun.sleep(SPARE_GAP_MS);
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  return [...probes.values()];
}

async function main(): Promise<void> {
  installCleanup();
  const maxMinutes = Number(opts["max-minutes"]);
  const guard = setTimeout(() => {
    log(`stopped: the run took longer than --max-minutes ${maxMinutes}`);
    killAll();
    process.exit(1);
  }, maxMinutes * 60_000);
  const startedMs = performance.now();
  const load: number[][] = [];
  const sampleLoad = () => load.push(loadavg());
  sampleLoad();
  const work = mkdtempSync(join(tmpdir(), "clipper-bench-many-"));
  const dir = join(work, "models");
  if (!existsSync(PYTHON)) throw new Error(`no ${PYTHON}: scripts/lib/frameworks-venv makes it (the models' ONNX and TorchScript formats need it)`);
  log(`making ${N} models`);
  await makeModels(dir, PYTHON, "clipper");
  // 1. The budget: every version may go to zero; the budget evicts the least recently used.
  log(`budget run: ${N} models, ${BUDGET_MB} MiB, ${CALLERS} callers, Zipf s=${ZIPF_S}, ${DURATION_S} s`);
  const budget = await startServer(work, "budget", ["--memory-budget-mb", String(BUDGET_MB)]);
  const resident: number[] = [];
  const memory: number[] = [];
  const spareCount: number[] = [];
  const spareMb: number[] = [];
  const coldStarts = new Map<string, { format: string; ms: number; spare: boolean }>();
  const replicaPeakMb = new Map<string, number>();
  let phase: Phase;
  let evictions = 0;
  let budgetEvents: unknown[] = [];
  try {
    await deployAll(budget, dir, 0);
    const before = await admin(budget, "status");
    const coldBefore = new Map<string, number>(before.models.map((m: { model_name: string; cold_starts: number }) => [m.model_name, m.cold_starts]));
    const evictionsBefore = before.memory.evictions as number;
    const onTick = async () => {
      const st = await admin(budget, "status");
      resident.push(st.models.filter((m: { running_replicas: number }) => m.running_replicas > 0).length);
      memory.push(st.memory.used_mb);
      spareCount.push(st.memory.spares?.length ?? 0);
      spareMb.push(st.memory.spares_mb ?? 0);
      for (const r of st.memory.replicas as { model_id: string; memory_mb: number }[]) {
        replicaPeakMb.set(r.model_id, Math.max(replicaPeakMb.get(r.model_id) ?? 0, r.memory_mb));
      }
      for (const m of st.models) {
        if (m.last_cold_start && m.cold_starts > (coldBefore.get(m.model_name) ?? 0)) {
          coldStarts.set(`${m.model_name}@${m.last_cold_start.at}`, {
            format: formatOf(Number(m.model_name.slice(1))),
            ms: m.last_cold_start.ms,
            spare: m.last_cold_start.spare === true,
          });
        }
      }
    };
    sampleLoad();
    // The same load, unmeasured, for WARMUP_S first: the table is the steady state, not the first wave of cold starts.
    await drive(budget, async () => undefined, WARMUP_S);
    phase = await drive(budget, onTick);
    sampleLoad();
    await onTick();
    const after = await admin(budget, "status");
    evictions = after.memory.evictions - evictionsBefore;
    budgetEvents = after.scaling_events;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logTail(budget.logPath)}`);
  } finally {
    await budget.stop();
  }

  // 2. The same models all resident (no budget, 1 replica each), the same load.
  let allResident: Phase | undefined;
  let residentMemoryMb: number | undefined;
  let residentSklearnMb: number | undefined;
  // All resident needs about N times the largest replica seen: skipped (and said) when that would not fit in 85% of the memory available now.
  // Per format, the largest replica seen of it (else the largest of all).
  const peakOf = new Map<Format, number>();
  for (const [id, mb] of replicaPeakMb) {
    const f = formatOf(Number(id.slice(1, id.indexOf(":"))));
    peakOf.set(f, Math.max(peakOf.get(f) ?? 0, mb));
  }
  const largest = Math.max(0, ...replicaPeakMb.values());
  const needMb = [...Array(N).keys()].reduce((a, i) => a + (peakOf.get(formatOf(i)) ?? largest), 0);
  const availableMb = availableMemoryMb();
  const residentSkipped = opts["skip-resident"]
    ? "--skip-resident"
    : needMb > 0.85 * availableMb
      ? `all ${N} resident would take about ${Math.round(needMb)} MiB, over 85% of the ${Math.round(availableMb)} MiB available`
      : undefined;
  if (residentSkipped) log(`all-resident run skipped: ${residentSkipped}`);
  if (!residentSkipped) {
    log("all-resident run: the same models at 1 replica each, no budget");
    const full = await startServer(work, "resident", []);
    try {
      await deployAll(full, dir, 1);
      sampleLoad();
      await drive(full, async () => undefined, WARMUP_S);
      allResident = await drive(full, async () => {
        const st = await admin(full, "status");
        residentMemoryMb = st.memory.used_mb;
        residentSklearnMb = st.memory.replicas
          .filter((r: { model_id: string }) => isSklearn(Number(r.model_id.slice(1, r.model_id.indexOf(":")))))
          .reduce((a: number, r: { memory_mb: number }) => a + r.memory_mb, 0);
      });
      sampleLoad();
    } finally {
      await full.stop();
    }
  }

  let mlserver: Awaited<ReturnType<typeof mlserverMemory>> | undefined;
  if (!opts["no-mlserver"]) {
    log("MLServer: the scikit-learn models, all loaded in one server");
    mlserver = await mlserverMemory(work).catch((err: Error) => ({ skipped: `MLServer failed: ${err.message.split("\n")[0]}` }));
  }

  let probe: Probe[] = [];
  if (PROBES > 0) {
    log(`cold starts one at a time, with and without the warm spare (${PROBES} models of each format)`);
    sampleLoad();
    probe = await coldStartProbe(work, dir);
    sampleLoad();
  }

  const perFormat = FORMATS.map((f) => {
    const of = [...coldStarts.values()].filter((c) => c.format === f);
    const ms = of.map((c) => c.ms).sort((a, b) => a - b);
    return { format: f, count: ms.length, fromSpare: of.filter((c) => c.spare).length, p50Ms: quantile(ms, 0.5), p99Ms: quantile(ms, 0.99) };
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const probeRows = probe.map((p) => ({
    format: p.format,
    withSpare: { n: p.withSpare.length, p50Ms: quantile(sorted(p.withSpare), 0.5), maxMs: Math.max(...p.withSpare) },
    withoutSpare: { n: p.withoutSpare.length, p50Ms: quantile(sorted(p.withoutSpare), 0.5), maxMs: Math.max(...p.withoutSpare) },
  }));
  const loadAvg = {
    min1: Math.min(...load.map((l) => l[0]!)),
    max1: Math.max(...load.map((l) => l[0]!)),
    samples: load.map((l) => l.map((x) => +x.toFixed(2))),
  };
  const minutes = (performance.now() - startedMs) / 60_000;
  const counts = Object.fromEntries(FORMATS.map((f) => [f, [...Array(N).keys()].filter((i) => formatOf(i) === f).length])) as Record<Format, number>;
  const result = {
    models: N,
    formats: counts,
    budgetMb: BUDGET_MB,
    callers: CALLERS,
    zipfS: ZIPF_S,
    durationS: DURATION_S,
    hotSet: HOT,
    resident: { mean: mean(resident), max: Math.max(...resident) },
    memoryMb: { mean: mean(memory), max: Math.max(...memory) },
    spares: { meanCount: mean(spareCount), maxCount: Math.max(0, ...spareCount), meanMb: mean(spareMb) },
    coldStartsPerMin: (coldStarts.size / phase.seconds) * 60,
    coldStartsSeen: coldStarts.size,
    evictions,
    coldStartMs: perFormat,
    budget: phase,
    allResident,
    allResidentMemoryMb: residentMemoryMb,
    allResidentSklearnMemoryMb: residentSklearnMb,
    allResidentSkipped: residentSkipped,
    mlserver,
    coldStartProbe: probeRows,
    budgetScalingEvents: budgetEvents,
    loadAverage: loadAvg,
    minutes,
    when: new Date().toISOString(),
  };
  const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(1));
  const f0 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(0));
  const ml =
    mlserver === undefined
      ? "MLServer was not run (--no-mlserver)."
      : "skipped" in mlserver
        ? `MLServer was not compared: ${mlserver.skipped}.`
        : `| ${mlserver.models} scikit-learn models (the pickles and joblib files), all loaded | ${f0(residentSklearnMb)} MiB (their ${mlserver.models} replicas, all resident) | ${f0(mlserver.mb)} MiB (one MLServer 1.7.1, mlserver-sklearn, default settings, every model loaded in ${f0(mlserver.loadSeconds)} s; RSS of its process tree) |`;
  const md = [
    "# Many models on one machine (`scripts/bench --many-models`)",
    "",
    `${N} models (${counts.pickle} scikit-learn pickles, ${counts.joblib} joblib files, ${counts.module} Python modules, ${counts.onnx} ONNX graphs, ${counts.torchscript} TorchScript modules; ` +
      "scripts/bench.d/many_models.py), each its own app with a 30 s SLO, cache off, the server's Python .venv-frameworks (scikit-learn, onnxruntime, torch), " +
      `the default warm spares (\`--python-spares 4\`: one per kind, up to 4 while cold starts take them faster than they warm up; counted in the budget). For ${DURATION_S} s, ${MIX_CALLERS} callers back to back each query a model drawn from a ` +
      `Zipf distribution over all (s = ${ZIPF_S}) and ${HOT_CALLERS} callers the hot set (the ${HOT} most popular, Zipf among them). Run 1: \`--memory-budget-mb ${BUDGET_MB}\`, every version ` +
      "`--min-replicas 0 --max-replicas 1` (a version not resident starts on its query: a cold start). Run 2, the same load right after: " +
      "the same models all resident (1 replica each, no budget). " +
      `Each run is measured after ${WARMUP_S} s of the same load unmeasured (the steady state, not the first wave of cold starts). ` +
      "Resident models and memory are sampled every 500 ms from `GET /admin/status`; " +
      "cold-start latency is each version's `last_cold_start.ms` (query arrival to replica ready, evictions it waited for included), polled every 500 ms (two cold starts of one " +
      "version within 500 ms count once). 2-core machine: absolute numbers are noisy, the two runs are side by side. " +
      `Load average (1 min) over the run: ${f1(loadAvg.min1)}–${f1(loadAvg.max1)}. The whole run took ${f1(minutes)} min.`,
    "",
    "| | with the budget | all resident |",
    "|---|---|---|",
    ...(residentSkipped ? [`| all-resident run | | skipped: ${residentSkipped} |`] : []),
    `| resident models (mean / max) | ${f1(result.resident.mean)} / ${result.resident.max} | ${N} |`,
    `| memory MiB, replicas and warm spares (mean / max) | ${f0(result.memoryMb.mean)} / ${f0(result.memoryMb.max)} (budget ${BUDGET_MB}) | ${f0(residentMemoryMb)} |`,
    `| warm spares (mean / max count; mean MiB) | ${f1(result.spares.meanCount)} / ${result.spares.maxCount}; ${f0(result.spares.meanMb)} | – |`,
    `| cold starts per minute | ${f1(result.coldStartsPerMin)} (${evictions} evictions) | 0 |`,
    `| queries: all callers (errors, defaults) | ${phase.queries} (${phase.errors}, ${phase.defaults}) | ${allResident ? `${allResident.queries} (${allResident.errors}, ${allResident.defaults})` : "–"} |`,
    `| hot set: queries/s | ${f1(phase.hot.perSec)} | ${f1(allResident?.hot.perSec)} |`,
    `| hot set: p50 / p99 ms | ${f1(phase.hot.p50Ms)} / ${f1(phase.hot.p99Ms)} | ${f1(allResident?.hot.p50Ms)} / ${f1(allResident?.hot.p99Ms)} |`,
    `| all queries: p50 / p99 ms | ${f1(phase.all.p50Ms)} / ${f1(phase.all.p99Ms)} | ${f1(allResident?.all.p50Ms)} / ${f1(allResident?.all.p99Ms)} |`,
    "",
    "Cold-start latency by format (run 1, under the Zipf load, evictions included):",
    "",
    "| format | cold starts seen | from a warm spare | p50 ms | p99 ms |",
    "|---|---|---|---|---|",
    ...perFormat.map((p) => `| ${p.format} | ${p.count} | ${p.fromSpare} | ${f0(p.p50Ms)} | ${f0(p.p99Ms)} |`),
    "",
    `Cold starts one at a time, with and without the warm spare: two servers side by side (\`--python-spares 1\` and \`0\`, no budget, idle timeout 2 s), ${PROBES} models of each format, ` +
      "each queried at zero on one server then the other, 6 s apart (the spare warms again in between):",
    "",
    "| format | with the spare: p50 / max ms | without: p50 / max ms |",
    "|---|---|---|",
    ...probeRows.map(
      (p) => `| ${p.format} | ${f0(p.withSpare.p50Ms)} / ${f0(p.withSpare.maxMs)} | ${f0(p.withoutSpare.p50Ms)} / ${f0(p.withoutSpare.maxMs)} |`,
    ),
    "",
    "Memory of the same scikit-learn models, all loaded: clipper (a process per model) against one MLServer:",
    "",
    ...(mlserver && !("skipped" in mlserver) ? ["| models | clipper | MLServer |", "|---|---|---|", ml] : [ml]),
    "",
  ].join("\n");
  writeFileSync(join(opts.out!, "many-models.md"), md);
  writeFileSync(join(opts.out!, "many-models.json"), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(md);
  clearTimeout(guard);
  rmSync(work, { recursive: true, force: true });
}

await main();
