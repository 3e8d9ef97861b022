/**
 * scripts/bench --many-models: N deployed models (scikit-learn pickles, joblib files and Python modules) on one
 * server with a memory budget, queried by a Zipf-distributed mix from CALLERS concurrent callers. Reports the
 * resident models and replica memory (sampled every 500 ms), cold starts per minute, cold-start latency p50/p99
 * per format (from each version's `last_cold_start`, polled), and the hot set's throughput and p99 beside the
 * same load on the same models all resident (no budget, every version at 1 replica), in the same run.
 * MLServer is not compared here (see the report). Writes many-models.md and many-models.json.
 * usage: scripts/bench --many-models [--models N] [--budget-mb MB] [--duration S] [--out DIR]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort, installCleanup, logTail, run, spawnService, waitFor } from "../lib/proc.ts";

const ROOT = resolve(import.meta.dir, "../..");
/** Callers on the hot set (the HOT most popular models, Zipf among them) and callers on the whole Zipf mix. */
const HOT_CALLERS = 4;
const MIX_CALLERS = 4;
const CALLERS = HOT_CALLERS + MIX_CALLERS;
/** The models queried most: the hot set whose service is compared with and without the budget. */
const HOT = 5;
const ZIPF_S = 1.1;
const FORMATS = ["pickle", "joblib", "module"] as const;
const log = (line: string) => process.stderr.write(`[bench many-models] ${line}\n`);

const { values: opts } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--many-models"),
  options: {
    models: { type: "string", default: "100" },
    "budget-mb": { type: "string", default: "4096" },
    duration: { type: "string", default: "60" },
    out: { type: "string", default: join(ROOT, "bench") },
    "skip-resident": { type: "boolean", default: false },
  },
});
const N = Number(opts.models);
const BUDGET_MB = Number(opts["budget-mb"]);
const DURATION_S = Number(opts.duration);

const formatOf = (i: number): (typeof FORMATS)[number] => FORMATS[i % 10 === 9 ? 2 : i % 10 === 8 ? 1 : 0]!;
const fileOf = (i: number) => `m${i}.${{ pickle: "pkl", joblib: "joblib", module: "py" }[formatOf(i)]}`;

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

async function makeModels(dir: string): Promise<void> {
  const script = `
import pickle, sys, joblib, numpy as np
from sklearn.linear_model import LogisticRegression
n, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
for i in range(n):
    fmt = "module" if i % 10 == 9 else "joblib" if i % 10 == 8 else "pickle"
    if fmt == "module":
        open(f"{out}/m{i}.py", "w").write(f"def predict(inputs):\\n    return [float(sum(r)) + {i} for r in inputs]\\n")
        continue
    X = rng.normal(size=(200, 5)); y = (X[:, 0] + i * 0.01 > 0).astype(int)
    m = LogisticRegression(random_state=i).fit(X, y)
    if fmt == "joblib": joblib.dump(m, f"{out}/m{i}.joblib")
    else: pickle.dump(m, open(f"{out}/m{i}.pkl", "wb"))
`;
  const res = await run([join(ROOT, ".venv/bin/python"), "-c", script, String(N), dir], { cwd: ROOT });
  if (res.code !== 0) throw new Error(`making the models failed: ${res.stderr}`);
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
      join(ROOT, "clipper"),
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
    { cwd: ROOT, env: { CLIPPER_PYTHON: join(ROOT, ".venv/bin/python"), CLIPPER_TOKEN: token, CLIPPER_LOG_LEVEL: "warn" }, logPath },
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

async function deployAll(s: Server, dir: string, minReplicas: number): Promise<void> {
  for (let i = 0; i < N; i++) {
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
    if (i % 10 === 9) log(`deployed ${i + 1}/${N}`);
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
async function drive(s: Server, onTick: () => Promise<void>): Promise<Phase> {
  const pick = zipfPicker(N);
  const pickHot = zipfPicker(HOT, 11);
  const hot: number[] = [];
  const all: number[] = [];
  let errors = 0;
  let defaults = 0;
  let n = 0;
  const started = performance.now();
  const end = started + DURATION_S * 1000;
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

async function main(): Promise<void> {
  installCleanup();
  const work = mkdtempSync(join(tmpdir(), "clipper-bench-many-"));
  const dir = join(work, "models");
  await run(["mkdir", "-p", dir], { cwd: ROOT });
  log(`making ${N} models`);
  await makeModels(dir);

  // 1. The budget: every version may go to zero; the budget evicts the least recently used.
  log(`budget run: ${N} models, ${BUDGET_MB} MiB, ${CALLERS} callers, Zipf s=${ZIPF_S}, ${DURATION_S} s`);
  const budget = await startServer(work, "budget", ["--memory-budget-mb", String(BUDGET_MB)]);
  const resident: number[] = [];
  const memory: number[] = [];
  const coldStarts = new Map<string, { format: string; ms: number }>();
  let phase: Phase;
  let evictions = 0;
  try {
    await deployAll(budget, dir, 0);
    const before = await admin(budget, "status");
    const coldBefore = new Map<string, number>(before.models.map((m: { model_name: string; cold_starts: number }) => [m.model_name, m.cold_starts]));
    const evictionsBefore = before.memory.evictions as number;
    const onTick = async () => {
      const st = await admin(budget, "status");
      resident.push(st.models.filter((m: { running_replicas: number }) => m.running_replicas > 0).length);
      memory.push(st.memory.used_mb);
      for (const m of st.models) {
        if (m.last_cold_start && m.cold_starts > (coldBefore.get(m.model_name) ?? 0)) {
          coldStarts.set(`${m.model_name}@${m.last_cold_start.at}`, { format: formatOf(Number(m.model_name.slice(1))), ms: m.last_cold_start.ms });
        }
      }
    };
    phase = await drive(budget, onTick);
    await onTick();
    evictions = (await admin(budget, "status")).memory.evictions - evictionsBefore;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logTail(budget.logPath)}`);
  } finally {
    await budget.stop();
  }

  // 2. The same models all resident (no budget, 1 replica each), the same load.
  let allResident: Phase | undefined;
  let residentMemoryMb: number | undefined;
  if (!opts["skip-resident"]) {
    log("all-resident run: the same models at 1 replica each, no budget");
    const full = await startServer(work, "resident", []);
    try {
      await deployAll(full, dir, 1);
      allResident = await drive(full, async () => {
        residentMemoryMb = (await admin(full, "status")).memory.used_mb;
      });
    } finally {
      await full.stop();
    }
  }

  const perFormat = FORMATS.map((f) => {
    const ms = [...coldStarts.values()]
      .filter((c) => c.format === f)
      .map((c) => c.ms)
      .sort((a, b) => a - b);
    return { format: f, count: ms.length, p50Ms: quantile(ms, 0.5), p99Ms: quantile(ms, 0.99) };
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const result = {
    models: N,
    budgetMb: BUDGET_MB,
    callers: CALLERS,
    zipfS: ZIPF_S,
    durationS: DURATION_S,
    hotSet: HOT,
    resident: { mean: mean(resident), max: Math.max(...resident) },
    memoryMb: { mean: mean(memory), max: Math.max(...memory) },
    coldStartsPerMin: (coldStarts.size / phase.seconds) * 60,
    coldStartsSeen: coldStarts.size,
    evictions,
    coldStartMs: perFormat,
    budget: phase,
    allResident,
    allResidentMemoryMb: residentMemoryMb,
    when: new Date().toISOString(),
  };
  const f1 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(1));
  const f0 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(0));
  const md = [
    "# Many models on one machine (`scripts/bench --many-models`)",
    "",
    `${N} models (${N - Math.floor(N / 10) * 2} scikit-learn pickles, ${Math.floor(N / 10)} joblib files, ${Math.floor(N / 10)} Python modules), ` +
      `each its own app with a 30 s SLO, cache off; for ${DURATION_S} s, ${MIX_CALLERS} callers back to back each query a model drawn from a ` +
      `Zipf distribution over all (s = ${ZIPF_S}) and ${HOT_CALLERS} callers the hot set (the ${HOT} most popular, Zipf among them). Run 1: \`--memory-budget-mb ${BUDGET_MB}\`, every version ` +
      "`--min-replicas 0 --max-replicas 1` (a version not resident starts on its query: a cold start). Run 2, the same load right after: " +
      "the same models all resident (1 replica each, no budget). Resident models and memory are sampled every 500 ms from `GET /admin/status`; " +
      "cold-start latency is each version's `last_cold_start.ms` (query arrival to replica ready), polled every 500 ms (two cold starts of one " +
      "version within 500 ms count once). 2-core machine shared with other work: absolute numbers are noisy, the two runs are side by side.",
    "",
    "| | with the budget | all resident |",
    "|---|---|---|",
    `| resident models (mean / max) | ${f1(result.resident.mean)} / ${result.resident.max} | ${N} |`,
    `| replica memory MiB (mean / max) | ${f0(result.memoryMb.mean)} / ${f0(result.memoryMb.max)} (budget ${BUDGET_MB}) | ${f0(residentMemoryMb)} |`,
    `| cold starts per minute | ${f1(result.coldStartsPerMin)} (${evictions} evictions) | 0 |`,
    `| queries: all callers (errors, defaults) | ${phase.queries} (${phase.errors}, ${phase.defaults}) | ${allResident ? `${allResident.queries} (${allResident.errors}, ${allResident.defaults})` : "–"} |`,
    `| hot set: queries/s | ${f1(phase.hot.perSec)} | ${f1(allResident?.hot.perSec)} |`,
    `| hot set: p50 / p99 ms | ${f1(phase.hot.p50Ms)} / ${f1(phase.hot.p99Ms)} | ${f1(allResident?.hot.p50Ms)} / ${f1(allResident?.hot.p99Ms)} |`,
    `| all queries: p50 / p99 ms | ${f1(phase.all.p50Ms)} / ${f1(phase.all.p99Ms)} | ${f1(allResident?.all.p50Ms)} / ${f1(allResident?.all.p99Ms)} |`,
    "",
    "Cold-start latency by format (run 1):",
    "",
    "| format | cold starts seen | p50 ms | p99 ms |",
    "|---|---|---|---|",
    ...perFormat.map((p) => `| ${p.format} | ${p.count} | ${f0(p.p50Ms)} | ${f0(p.p99Ms)} |`),
    "",
    "MLServer (every model loaded in one server) is not compared: not run in this benchmark.",
    "",
  ].join("\n");
  writeFileSync(join(opts.out!, "many-models.md"), md);
  writeFileSync(join(opts.out!, "many-models.json"), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(md);
  rmSync(work, { recursive: true, force: true });
}

await main();
