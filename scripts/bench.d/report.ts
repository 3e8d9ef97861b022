/** Turns Results into results.md, throughput.svg and latency.svg. */
import { chart, type Series } from "./svg.ts";
import { LIMIT_MOVED_MAX_PCT, limitMovedPct, MB, median, type Results, type RunResult, type SystemResult } from "./results.ts";
import type { SystemId } from "./systems.ts";
import { machineSection } from "../lib/machine.ts";

const COLORS: Record<SystemId, string> = {
  clipper: "#1f77b4",
  "clipper-cache-hit": "#7fb8e6",
  limit: "#9a9a9a",
  fastapi: "#2ca02c",
  mlserver: "#d62728",
};

const f1 = (x: number) => x.toFixed(1);
const f3 = (x: number) => x.toFixed(3);
const int = (x: number) => Math.round(x).toLocaleString("en-US");

/** CPU µs per request: server + its children + wrk (— in results from before this column existed). */
function cpuCell(run: RunResult): string {
  const c = run.cpuMicrosPerRequest;
  return c ? `${f1(c.server)} + ${f1(c.children)} + ${f1(c.wrk)}` : "—";
}

const opt = (x: number | undefined, fmt: (x: number) => string) => (x === undefined ? "—" : fmt(x));
/** Median of the defined values, or undefined when there are none. */
function medianOf(xs: readonly (number | undefined)[]): number | undefined {
  const d = xs.filter((x): x is number => x !== undefined);
  return d.length ? median(d) : undefined;
}

/** wrk's errors, broken down by kind when there are any. */
function errorsCell(run: RunResult): string {
  const w = run.wrk;
  return w.errors === 0
    ? "0"
    : `${w.errors} (non-2xx ${w.non2xx}, connect ${w.socketErrors.connect}, read ${w.socketErrors.read}, write ${w.socketErrors.write}, timeout ${w.socketErrors.timeout})`;
}

function runRow(s: SystemResult, run: RunResult): string {
  const w = run.wrk;
  const label = run.kind === "batch" ? `${run.connections} (input_batch of ${run.rowsPerRequest})` : String(run.connections);
  const errs = errorsCell(run);
  const cells = [
    label,
    int(w.requestsPerSec),
    run.kind === "batch" ? int(run.rowsPerSec) : "",
    f3(w.p50Ms),
    f3(w.p99Ms),
    f3(w.p999Ms),
    errs,
    f1(run.peakRssBytes / MB),
    run.backgroundCpuPct.toFixed(0),
    cpuCell(run),
  ];
  if (s.id === "clipper" || s.id === "clipper-cache-hit") {
    const c = run.clipper;
    cells.push(c ? (c.batches ? c.meanBatchSize.toFixed(2) : "— (all cache hits)") : "—", c ? String(c.defaults) : "—");
  }
  return `| ${cells.join(" | ")} |`;
}

function systemTable(s: SystemResult): string[] {
  const head = [
    "connections",
    "req/s",
    "rows/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "errors",
    "server RSS MB (peak)",
    "bg CPU %",
    "CPU µs/req: server + children + wrk",
  ];
  if (s.id === "clipper" || s.id === "clipper-cache-hit") head.push("mean batch size", "default answers");
  const lines = [`### ${s.label}`, "", `${s.description}.`, ""];
  if (s.status !== "ok") {
    lines.push(`**${s.status === "failed" ? "FAILED" : "skipped"}**: ${s.status === "failed" ? "the exact error:" : (s.error ?? "")}`, "");
    if (s.status === "failed") lines.push("```", (s.error ?? "").trim(), "```", "");
    if (s.runs.length === 0) return lines;
  }
  lines.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...s.runs.map((r) => runRow(s, r)), "");
  if (s.idleRss)
    lines.push(
      `Idle RSS after start-up (with the model loaded, where there is one): ${f1(s.idleRss.totalBytes / MB)} MB in ${s.idleRss.processes} process(es) (leader ${f1(s.idleRss.leaderBytes / MB)} MB).`,
      "",
    );
  return lines;
}

/** The interleaved phase: each round's req/s and server CPU per request, and the ratios to the limit. */
function interleavedTable(r: Results): string[] {
  const il = r.interleaved;
  if (!il || il.rounds.length === 0) return [];
  const ids = (["clipper", "clipper-cache-hit", "limit"] as const).filter((id) => il.rounds.some((x) => x[id] !== undefined));
  const label = (id: SystemId) => r.systems.find((s) => s.id === id)?.label ?? id;
  const ratio = (x: Partial<Record<SystemId, number>>, id: SystemId) => (x[id] && x.limit ? `${((100 * x[id]!) / x.limit).toFixed(0)}%` : "—");
  const others = ids.filter((id) => id !== "limit");
  const head = ["round", ...ids.map((id) => `${label(id)} req/s (server CPU µs/req)`), ...others.map((id) => `${label(id)} / limit`)];
  const rows = il.rounds.map((x, i) => {
    const cpu = il.serverCpuMicros[i] ?? {};
    return `| ${i + 1} | ${ids.map((id) => `${int(x[id] ?? 0)} (${f1(cpu[id] ?? 0)})`).join(" | ")} | ${others.map((id) => ratio(x, id)).join(" | ")} |`;
  });
  const med = (id: SystemId) => median(il.rounds.map((x) => x[id] ?? 0));
  const ratios = (id: SystemId) => il.rounds.filter((x) => x[id] && x.limit).map((x) => x[id]! / x.limit!);
  const medRatio = (id: SystemId) => (ratios(id).length ? `${(100 * median(ratios(id))).toFixed(0)}%` : "—");
  const range = (xs: readonly number[], fmt: (x: number) => string) => (xs.length ? `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}` : "—");
  const pct0 = (x: number) => `${(100 * x).toFixed(0)}%`;
  const errors = (il.errors ?? []).flatMap((round, i) =>
    Object.entries(round).flatMap(([id, n]) => (n ? [`${label(id as SystemId)} ${n} in round ${i + 1}`] : [])),
  );
  return [
    "### Interleaved rounds (the ratio and server-CPU targets)",
    "",
    `${ids.map(label).join(", ")} were all up at once and were loaded in turn, ${il.connections} connections for ${il.secondsPerRound} s each, ` +
      "the order rotating every round. A slow minute of the machine then falls on every system instead of one, so the ratio within " +
      "a round is steadier than the ratio of the sequential runs above; the targets use the median ratio.",
    "",
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows,
    `| **median** | ${ids.map((id) => `**${int(med(id))}**`).join(" | ")} | ${others.map((id) => `**${medRatio(id)}**`).join(" | ")} |`,
    `| spread (min–max) | ${ids
      .map((id) =>
        range(
          il.rounds.flatMap((x) => (x[id] ? [x[id]!] : [])),
          int,
        ),
      )
      .join(" | ")} | ${others.map((id) => range(ratios(id), pct0)).join(" | ")} |`,
    "",
    il.errors ? `Errors in the rounds: ${errors.length ? errors.join(", ") : "none"}.` : "",
    "",
  ];
}

/** The forest point: clipper and FastAPI on the same 100-tree forest, and the forest's own predict in-process. */
function forestSection(r: Results): string[] {
  const f = r.forest;
  if (!f) return [];
  const head = ["system", "req/s", "rows/s", "p50 ms", "p99 ms", "errors", "CPU µs/req: server + children + wrk", "mean batch size"];
  const row = (name: string, run: RunResult | undefined) =>
    run
      ? `| ${name} | ${int(run.wrk.requestsPerSec)} | ${int(run.rowsPerSec)} | ${f3(run.wrk.p50Ms)} | ${f3(run.wrk.p99Ms)} | ${errorsCell(run)} | ${cpuCell(run)} | ${run.clipper ? run.clipper.meanBatchSize.toFixed(2) : "—"} |`
      : `| ${name} | not measured | | | | | | |`;
  const own = f.inProcess;
  const L = [
    "### Forest",
    "",
    `A heavier model: a ${f.trees}-tree \`RandomForestClassifier\` (scripts/bench.d/train_forest.py: scikit-learn's defaults, fixed seed, the HR training rows), ` +
      `pickled once and served by clipper (\`--cache-entries 0\`, app \`forest\`, 1 Python replica) and by the FastAPI app on the same pickle, ` +
      `each loaded by wrk at ${f.connections} connections with the cache-off point's varied inputs. The in-process row times the forest's own ` +
      "`predict` (scripts/bench.d/forest_throughput.py) on float64 batches of clipper's mean batch size, no serving: the ceiling clipper's rows/s is compared with" +
      (own ? ` (timed with ${own.python.split("/").slice(-3).join("/")}).` : "."),
    "",
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    row("clipper (cache off)", f.clipper),
    row("FastAPI", f.fastapi),
    own
      ? `| in-process \`predict\` | | ${int(own.rowsPerSec)} | | | | | ${own.batchRows} (${int(own.calls)} calls in ${own.seconds.toFixed(1)} s) |`
      : "| in-process `predict` | | not measured | | | | | |",
    "",
  ];
  if (f.failures.length) L.push("Failed parts of the forest point:", "```", ...f.failures.map((x) => x.trim()), "```", "");
  return L;
}

/** The plain warning under the targets when the limit itself was not steady across the interleaved rounds. */
function limitMovedLine(r: Results): string[] {
  const moved = limitMovedPct(r.interleaved);
  if (moved === undefined) return [];
  return moved > LIMIT_MOVED_MAX_PCT
    ? [
        `**The limit moved ${moved.toFixed(0)}% between interleaved rounds (more than ${LIMIT_MOVED_MAX_PCT}%): the machine was noisy; rerun before trusting the ratios.**`,
        "",
      ]
    : [`The limit moved ${moved.toFixed(0)}% between interleaved rounds (at most ${LIMIT_MOVED_MAX_PCT}% is accepted).`, ""];
}

export function markdown(r: Results): string {
  const m = r.machine;
  const L: string[] = [
    "# clipper benchmark",
    "",
    `Generated ${r.generatedAt} by \`${r.command}\` (${r.mode} mode: ${r.settings.warmupSec} s warm-up, then ${r.settings.durationSec} s per point). ` +
      "All systems ran one after another on this machine, started and stopped by the script; wrk and the server share the same cores" +
      (r.settings.wrkCpu === undefined ? "." : `, wrk pinned to CPU ${r.settings.wrkCpu} with taskset (the server and its replicas are not pinned).`),
    "",
    "## Targets",
    "",
    "| target | goal | measured | status |",
    "|---|---|---|---|",
    ...(r.targets ?? []).map(
      (t) => `| ${t.name} | ${t.goal} | ${t.measured} | ${t.status === "met" ? "**met**" : t.status === "missed" ? "**missed**" : "not measured"} |`,
    ),
    "",
    ...limitMovedLine(r),
    "![requests per second](throughput.svg)",
    "",
    "![latency](latency.svg)",
    "",
    ...machineSection(m),
    "",
    "## Results per system",
    "",
    "Latencies are wrk's (from request sent to response read, per connection). Errors = non-2xx responses + socket errors " +
      "(connect, read, write, timeout). Server RSS is the peak, sampled every 0.5 s, of the server process plus all its children " +
      "(clipper: server + Python replica; MLServer: server + inference worker). bg CPU % is the share of both cores other processes " +
      "kept busy just before the point (the script waits up to 30 s for it to fall under 25%): a high value marks a disturbed point. " +
      "CPU µs/req is the CPU time (user + system) used during the measured window divided by the requests answered, for the server " +
      "process, its child processes (clipper's Python replica, MLServer's workers) and wrk: a cost per request that, unlike req/s, " +
      "barely moves with the machine's noise.",
    "",
  ];
  for (const s of r.systems) L.push(...systemTable(s));
  L.push(...interleavedTable(r));
  L.push(...forestSection(r));

  L.push("## Deploy and memory", "");
  if (r.deploy?.error) L.push("Deploy measurement FAILED:", "```", r.deploy.error.trim(), "```", "");
  const ds = r.deploy?.samples ?? [];
  if (ds.length) {
    L.push(
      "Each sample starts a fresh `clipper serve --cache-entries 0` with an empty data dir, then times `clipper deploy hr.pkl` " +
        "from its spawn until the first `POST /hr/predict` answers 200 with a non-default output (polled every few ms), 0.3 s after " +
        "the server started (its warm Python spare, `--python-spares 1`, is then still importing scikit-learn). Two seconds later a " +
        "second model (`hr2`) is deployed on the now running server and timed the same way: that one starts from a ready spare.",
      "",
      "| sample | deploy → first prediction s | deploy CLI exits s | second model on the running server s | server RSS before deploy MB | server RSS with HR MB | Python replica RSS MB | warm spare RSS MB |",
      "|---|---|---|---|---|---|---|---|",
      ...ds.map(
        (d, i) =>
          `| ${i + 1} | ${d.firstPredictionSec.toFixed(3)} | ${d.cliSec.toFixed(3)} | ${opt(d.runningServerSec, (x) => x.toFixed(3))} | ${f1(d.serverIdleRssBytes / MB)} | ${f1(d.serverRssWithModelBytes / MB)} | ${f1(d.replicaRssBytes / MB)} | ${opt(d.spareRssBytes, (x) => f1(x / MB))} |`,
      ),
      `| **median** | **${median(ds.map((d) => d.firstPredictionSec)).toFixed(3)}** | ${median(ds.map((d) => d.cliSec)).toFixed(3)} | ${opt(medianOf(ds.map((d) => d.runningServerSec)), (x) => x.toFixed(3))} | ${f1(median(ds.map((d) => d.serverIdleRssBytes)) / MB)} | ${f1(median(ds.map((d) => d.serverRssWithModelBytes)) / MB)} | ${f1(median(ds.map((d) => d.replicaRssBytes)) / MB)} | ${opt(medianOf(ds.map((d) => d.spareRssBytes)), (x) => f1(x / MB))} |`,
      "",
    );
  }
  if (r.pythonPredict) {
    L.push(
      `The model's own \`predict\` on one row, timed in Python directly (scripts/bench.d/predict_time.py, ${r.pythonPredict.iterations} calls): ` +
        `median ${f3(r.pythonPredict.median_micros / 1000)} ms, mean ${f3(r.pythonPredict.mean_micros / 1000)} ms. ` +
        "The latency-overhead target subtracts clipper's own measurement (mean_predict_micros from /metrics during the 1-connection run).",
      "",
    );
  }

  L.push(
    "## Method",
    "",
    `- Load: wrk with scripts/bench.d/post.lua (POST bodies read from a file, formatted once; its \`done()\` prints p50/p99/p99.9), -t1 (on 2 cores wrk takes one, the server the other), ` +
      `--timeout 5s, concurrencies ${r.settings.concurrencies.join(", ")}; each point is a ${r.settings.warmupSec} s warm-up run (discarded) and a ${r.settings.durationSec} s measured run.`,
    "- Inputs: 10,000 distinct HR rows (5 doubles, fixed seed) cycled by every system except the cache-hit one, which sends one constant row with the cache on. " +
      "clipper cache-off also runs with `--cache-entries 0`, so no query is a cache hit.",
    `- Batch: \`{"input_batch": [100 rows]}\` (MLServer: one V2 input of shape [100, 5]) at ${r.settings.batchConnections} connections, rows/s = req/s × ${r.settings.batchRows}.`,
    '- MLServer is queried over `POST /v2/models/hr/infer` with `{"inputs":[{"name":"input-0","shape":[1,5],"datatype":"FP64","data":[...]}]}`; ' +
      `adaptive batching max_batch_size ${r.settings.mlserverBatch.maxBatchSize}, max_batch_time ${r.settings.mlserverBatch.maxBatchTimeSec} s.`,
    "- Peers' Python packages: `.venv-bench`, made by the script from the pinned scripts/bench.d/requirements.txt (same scikit-learn 1.7.2 as clipper's runtime, so every system loads the same hr.pkl).",
    "- The machine is shared and noisy: compare systems within one run, not across runs.",
    ...r.notes.map((n) => `- ${n}`),
    "",
  );
  return L.join("\n");
}

function seriesOf(r: Results, pick: (s: SystemResult, c: number) => number | null, groups: readonly number[]): Series[] {
  return r.systems
    .filter((s) => s.runs.some((x) => x.kind === "single"))
    .map((s) => ({ name: s.label, color: COLORS[s.id], values: groups.map((c) => pick(s, c)) }));
}

const single = (s: SystemResult, c: number) => s.runs.find((x) => x.kind === "single" && x.connections === c);

export function throughputSvg(r: Results): string {
  const cs = r.settings.concurrencies;
  const series = seriesOf(r, (s, c) => single(s, c)?.wrk.requestsPerSec ?? null, cs);
  const batchSystems = r.systems.filter((s) => s.runs.some((x) => x.kind === "batch"));
  const batchSeries: Series[] = series.map((s) => {
    const sys = batchSystems.find((b) => b.label === s.name);
    return { ...s, values: [sys?.runs.find((x) => x.kind === "batch")?.rowsPerSec ?? null] };
  });
  return chart({
    title: "HR decision tree: throughput (higher is better)",
    caption: `${r.machine.nproc} cores, ${r.machine.cpuModel}; wrk ${r.settings.durationSec} s per point; ${r.generatedAt}`,
    series,
    panels: [
      {
        kind: "bar",
        weight: 3,
        panel: { title: "single input: requests/s", yLabel: "requests / s", xLabel: "concurrent connections", groups: cs.map(String), series },
      },
      {
        kind: "bar",
        weight: 1.1,
        panel: {
          title: `input_batch of ${r.settings.batchRows}: rows/s`,
          yLabel: "rows / s",
          xLabel: `${r.settings.batchConnections} connections`,
          groups: [""],
          series: batchSeries,
        },
      },
    ],
  });
}

export function latencySvg(r: Results): string {
  const cs = r.settings.concurrencies;
  const p50 = seriesOf(r, (s, c) => single(s, c)?.wrk.p50Ms ?? null, cs);
  const p99 = seriesOf(r, (s, c) => single(s, c)?.wrk.p99Ms ?? null, cs);
  return chart({
    title: "HR decision tree: latency (lower is better, log scale)",
    caption: `single-input requests; wrk latency in ms; ${r.machine.nproc} cores; ${r.generatedAt}`,
    series: p50,
    panels: [
      {
        kind: "loglines",
        weight: 1,
        panel: { title: "p50 latency (ms)", yLabel: "ms (log)", xLabel: "concurrent connections", groups: cs.map(String), series: p50 },
      },
      {
        kind: "loglines",
        weight: 1,
        panel: { title: "p99 latency (ms)", yLabel: "ms (log)", xLabel: "concurrent connections", groups: cs.map(String), series: p99 },
      },
    ],
  });
}
