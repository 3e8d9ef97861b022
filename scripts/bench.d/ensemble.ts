/**
 * scripts/bench --ensemble: the claims of Clipper's model selection layer (NSDI 2017, section 5) on
 * scikit-learn's digits, with five different models served by one clipper (Python runtime, cache off):
 *   1. the ensemble's accuracy (equal weights, and after Exp4 learned from 500 labelled rows) against each model alone;
 *   2. the accuracy of answers whose confidence is at or above a threshold against those below it;
 *   3. one model (svm) made a straggler that sleeps past the SLO before half of its batches: the ensemble's
 *      latency and accuracy with straggler mitigation (SLO 50 ms: answer at the deadline with the votes in hand)
 *      against waiting for every model (an SLO long enough that every model always answers), in interleaved rounds.
 * Writes ensemble.md, ensemble.json and ensemble.svg to the output directory (bench/ by default).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeMachine, machineSection } from "../lib/machine.ts";
import { freePort, installCleanup, logTail, run, spawnService, waitFor } from "../lib/proc.ts";
import { chart } from "./svg.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BIN = join(ROOT, "clipper");
const PYTHON = join(ROOT, ".venv/bin/python");
const TOKEN = "bench-ensemble-token-0123456789";
/** The mitigated ensemble's latency objective; the straggler sleeps 1.5 times it. */
const SLO_MS = 50;
const STRAGGLE_MS = 75;
/** "Wait for every model": an SLO no answer takes. */
const WAIT_ALL_SLO_MS = 10_000;
const THRESHOLDS = [0.6, 0.8, 1];
const log = (line: string) => process.stderr.write(`[bench ensemble] ${line}\n`);

const { values: args } = parseArgs({
  options: {
    out: { type: "string", default: join(ROOT, "bench") },
    rounds: { type: "string", default: "3" },
    "from-json": { type: "string" },
    help: { type: "boolean" },
  },
});
if (args.help) {
  console.log(
    "usage: scripts/bench --ensemble [--rounds N] [--out DIR] [--from-json RESULTS]   (ensemble accuracy, confidence and straggler mitigation on digits; --from-json re-renders a run's report and chart)",
  );
  process.exit(0);
}
const ROUNDS = Number(args.rounds);
// --from-json FILE: writes the report and the chart of a run again from its results (no measuring).
if (args["from-json"]) {
  const saved = JSON.parse(readFileSync(args["from-json"], "utf8")) as Results;
  const out = resolve(args.out!);
  writeFileSync(join(out, "ensemble.md"), report(saved));
  writeFileSync(join(out, "ensemble.svg"), svg(saved));
  log(`wrote ${join(out, "ensemble.md")} and ensemble.svg from ${args["from-json"]}`);
  process.exit(0);
}

interface Labelled {
  readonly x: number[];
  readonly y: string;
}
interface Answer {
  readonly output: string;
  readonly isDefault: boolean;
  readonly confidence: number | undefined;
  readonly answeredBy: readonly string[];
  readonly ms: number;
}

installCleanup();
const work = mkdtempSync(join(tmpdir(), "clipper-bench-ensemble-"));
const [queryPort, mgmtPort] = [await freePort(), await freePort()];
const queryUrl = `http://127.0.0.1:${queryPort}`;
const mgmtUrl = `http://127.0.0.1:${mgmtPort}`;

async function cli(...cmd: string[]): Promise<string> {
  const r = await run([BIN, ...cmd, "--url", mgmtUrl], { cwd: ROOT, env: { CLIPPER_TOKEN: TOKEN }, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`clipper ${cmd.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function admin(path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${mgmtUrl}/admin/${path}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** An app with cache off (apps share models: one app's answers must not be another's cache hits). */
async function app(name: string, models: readonly string[], policy: string, sloMs: number, ...policyArgs: string[]): Promise<void> {
  await admin("add_app", { name, input_type: "doubles", default_output: "none", latency_slo_micros: sloMs * 1000, cache: false });
  await admin("add_model_links", { app_name: name, model_names: [models[0]] });
  if (policy !== "single") {
    await cli("policy", name, policy, ...policyArgs);
    if (models.length > 1) await admin("add_model_links", { app_name: name, model_names: models.slice(1) });
  }
}

async function predict(appName: string, row: Labelled): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(`${queryUrl}/${appName}/predict`, { method: "POST", body: JSON.stringify({ input: row.x }) });
  const json = (await res.json()) as { output: unknown; default: boolean; confidence?: number; answered_by?: string[] };
  if (res.status !== 200) throw new Error(`${appName}: ${res.status} ${JSON.stringify(json)}`);
  return {
    output: String(json.output),
    isDefault: json.default,
    confidence: json.confidence,
    answeredBy: json.answered_by ?? [],
    ms: performance.now() - started,
  };
}

/** Every row once, `concurrency` callers; answers in row order. */
async function predictAll(appName: string, rows: readonly Labelled[], concurrency: number): Promise<Answer[]> {
  const answers: Answer[] = new Array(rows.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < rows.length; i = next++) answers[i] = await predict(appName, rows[i]!);
    }),
  );
  return answers;
}

const accuracy = (rows: readonly Labelled[], answers: readonly Answer[]) =>
  answers.filter((a, i) => !a.isDefault && a.output === rows[i]!.y).length / Math.max(1, answers.length);
const pct = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

try {
  log("training five models on digits (200 rows each)");
  const trained = await run([PYTHON, join(import.meta.dir, "train_digits.py"), work, String(STRAGGLE_MS / 1000)], { cwd: ROOT, timeoutMs: 300_000 });
  if (trained.code !== 0) throw new Error(`train_digits.py: ${trained.stderr}`);
  const data = JSON.parse(readFileSync(join(work, "data.json"), "utf8")) as { models: string[]; feedback: Labelled[]; test: Labelled[] };
  const machine = await describeMachine({ root: ROOT, clipperBin: BIN, python: PYTHON });

  const server = spawnService(
    "clipper",
    [BIN, "serve", "--data-dir", join(work, "data"), "--query-port", String(queryPort), "--mgmt-port", String(mgmtPort), "--grpc-port", "0"],
    { cwd: ROOT, env: { CLIPPER_PYTHON: PYTHON, CLIPPER_TOKEN: TOKEN }, logPath: join(work, "clipper.log") },
  );
  try {
    await waitFor("clipper", async () => (await fetch(`${queryUrl}/health`)).ok, 30_000, 50, server);
    for (const m of [...data.models, "svm-straggler"]) await cli("deploy", join(work, `${m}.pkl`), "--name", m);
    for (const m of data.models) await app(`m-${m}`, [m], "single", 1000);
    await app("ens", data.models, "ensemble", 1000);
    const strag = [...data.models.filter((m) => m !== "svm"), "svm-straggler"];
    await app("mitigated", strag, "ensemble", SLO_MS);
    await app("wait-all", strag, "ensemble", WAIT_ALL_SLO_MS);
    // Warm every replica (first batches import and page in the model).
    for (const a of [...data.models.map((m) => `m-${m}`), "ens", "wait-all"]) await predictAll(a, data.test.slice(0, 20), 4);

    log(`accuracy: ${data.test.length} test rows through each model alone and through the ensemble`);
    const singles: Record<string, number> = {};
    for (const m of data.models) singles[m] = accuracy(data.test, await predictAll(`m-${m}`, data.test, 8));
    const equalAnswers = await predictAll("ens", data.test, 8);
    const equal = accuracy(data.test, equalAnswers);
    log(`Exp4: ${data.feedback.length} labelled rows to POST /ens/update`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < data.feedback.length; i = next++) {
          const row = data.feedback[i]!;
          const res = await fetch(`${queryUrl}/ens/update`, { method: "POST", body: JSON.stringify({ input: row.x, label: row.y }) });
          if (res.status !== 200) throw new Error(`update: ${res.status} ${await res.text()}`);
        }
      }),
    );
    const weights = ((await admin("get_application", { name: "ens" })) as { policy_config: { weights: Record<string, number> } }).policy_config.weights;
    const exp4Answers = await predictAll("ens", data.test, 8);
    const exp4 = accuracy(data.test, exp4Answers);

    const confidence = (answers: Answer[]) =>
      THRESHOLDS.map((t) => {
        const above = answers.flatMap((a, i) => ((a.confidence ?? 0) >= t ? [i] : []));
        const below = answers.flatMap((a, i) => ((a.confidence ?? 0) < t ? [i] : []));
        const acc = (idx: number[]) => (idx.length ? idx.filter((i) => answers[i]!.output === data.test[i]!.y).length / idx.length : null);
        return { threshold: t, shareAbove: above.length / answers.length, accuracyAbove: acc(above), accuracyBelow: acc(below) };
      });
    const confidenceEqual = confidence(equalAnswers);
    const confidenceExp4 = confidence(exp4Answers);

    log(`straggler: ${ROUNDS} interleaved rounds of ${data.test.length} rows, mitigated (SLO ${SLO_MS} ms) and waiting for all`);
    const runs: Record<"mitigated" | "wait-all", Answer[][]> = { mitigated: [], "wait-all": [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 === 0 ? (["mitigated", "wait-all"] as const) : (["wait-all", "mitigated"] as const)) {
        runs[mode].push(await predictAll(mode, data.test, 4));
      }
    }
    const straggler = Object.fromEntries(
      (["mitigated", "wait-all"] as const).map((mode) => {
        const all = runs[mode].flat();
        const ms = all.map((a) => a.ms).sort((a, b) => a - b);
        const accs = runs[mode].map((answers) => accuracy(data.test, answers));
        return [
          mode,
          {
            queries: all.length,
            p50Ms: pct(ms, 0.5),
            p99Ms: pct(ms, 0.99),
            maxMs: ms[ms.length - 1] ?? 0,
            accuracy: accs.reduce((a, b) => a + b, 0) / accs.length,
            accuracyPerRound: accs,
            defaults: all.filter((a) => a.isDefault).length,
            stragglerVoted: all.filter((a) => a.answeredBy.includes("svm-straggler:1")).length / Math.max(1, all.length),
          },
        ];
      }),
    ) as Results["straggler"];
    const metrics = (await (await fetch(`${queryUrl}/metrics.json`)).json()) as { models: Record<string, { rows: number; batches: number }> };

    const results = {
      date: new Date().toISOString(),
      machine,
      setup: {
        dataset: "scikit-learn digits (1,797 rows of 64 pixels, 10 classes)",
        trainRows: 200,
        feedbackRows: data.feedback.length,
        testRows: data.test.length,
        models: data.models,
        sloMs: SLO_MS,
        straggleMs: STRAGGLE_MS,
        waitAllSloMs: WAIT_ALL_SLO_MS,
        rounds: ROUNDS,
      },
      accuracy: { singles, ensembleEqual: equal, ensembleExp4: exp4, exp4Weights: weights },
      confidence: { equalWeights: confidenceEqual, exp4: confidenceExp4 },
      straggler,
      stragglerModelRows: metrics.models["svm-straggler:1"],
    };
    const out = resolve(args.out!);
    writeFileSync(join(out, "ensemble.json"), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(out, "ensemble.md"), report(results));
    writeFileSync(join(out, "ensemble.svg"), svg(results));
    log(`wrote ${join(out, "ensemble.md")}, ensemble.json and ensemble.svg`);
    console.log(readFileSync(join(out, "ensemble.md"), "utf8"));
  } catch (err) {
    log(logTail(server.logPath, 30));
    throw err;
  } finally {
    await server.stop();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

type Results = {
  date: string;
  machine: Awaited<ReturnType<typeof describeMachine>>;
  setup: { testRows: number; feedbackRows: number; sloMs: number; straggleMs: number; waitAllSloMs: number; rounds: number; models: string[] };
  accuracy: { singles: Record<string, number>; ensembleEqual: number; ensembleExp4: number; exp4Weights: Record<string, number> };
  confidence: Record<"equalWeights" | "exp4", { threshold: number; shareAbove: number; accuracyAbove: number | null; accuracyBelow: number | null }[]>;
  straggler: Record<
    "mitigated" | "wait-all",
    { queries: number; p50Ms: number; p99Ms: number; maxMs: number; accuracy: number; accuracyPerRound: number[]; defaults: number; stragglerVoted: number }
  >;
};

function p(v: number | null): string {
  return v === null ? "–" : `${(v * 100).toFixed(1)}%`;
}

function report(r: Results): string {
  const best = Object.entries(r.accuracy.singles).sort((a, b) => b[1] - a[1])[0]!;
  const s = r.straggler;
  return [
    "# Ensemble benchmark: Clipper's model selection layer on digits",
    "",
    `Run ${r.date} by \`scripts/bench --ensemble\`. Five scikit-learn models (${r.setup.models.join(", ")}), each trained on 200 rows of`,
    `digits, served by one clipper (Python runtime, one replica each, cache off). ${r.setup.testRows} test rows; Exp4 learned from`,
    `${r.setup.feedbackRows} other labelled rows (POST /ens/update). Accuracy counts a default answer as wrong.`,
    "",
    "## Accuracy: the ensemble against each model alone",
    "",
    "| answered by | accuracy |",
    "|---|---|",
    ...Object.entries(r.accuracy.singles).map(([m, a]) => `| ${m} alone${m === best[0] ? " (best single)" : ""} | ${p(a)} |`),
    `| ensemble, equal weights | ${p(r.accuracy.ensembleEqual)} |`,
    `| ensemble, Exp4 weights after feedback | ${p(r.accuracy.ensembleExp4)} |`,
    "",
    `Exp4 weights after feedback: ${Object.entries(r.accuracy.exp4Weights)
      .map(([m, w]) => `${m} ${w.toPrecision(3)}`)
      .join(", ")}.`,
    "",
    "## Confidence: accuracy of answers at or above a confidence threshold against those below it",
    "",
    "| weights | threshold | share of answers at or above | accuracy at or above | accuracy below |",
    "|---|---|---|---|---|",
    ...(["equalWeights", "exp4"] as const).flatMap((k) =>
      r.confidence[k].map(
        (c) => `| ${k === "exp4" ? "Exp4" : "equal"} | ${c.threshold.toFixed(1)} | ${p(c.shareAbove)} | ${p(c.accuracyAbove)} | ${p(c.accuracyBelow)} |`,
      ),
    ),
    "",
    `## Straggler mitigation: svm answers ${r.setup.straggleMs} ms late on half of its batches`,
    "",
    `The same five models (svm replaced by its straggling copy), ${r.setup.rounds} interleaved rounds of ${r.setup.testRows} queries each, 4 callers.`,
    `Mitigated: SLO ${r.setup.sloMs} ms, the answer goes out at the deadline with the votes in hand. Waiting for every model: SLO ${r.setup.waitAllSloMs / 1000} s.`,
    "",
    "| ensemble | queries | p50 | p99 | max | accuracy | answers with the straggler's vote | defaults |",
    "|---|---|---|---|---|---|---|---|",
    ...(["mitigated", "wait-all"] as const).map(
      (m) =>
        `| ${m === "mitigated" ? `straggler mitigation (SLO ${r.setup.sloMs} ms)` : "waiting for every model"} | ${s[m].queries} | ${s[m].p50Ms.toFixed(1)} ms | ${s[m].p99Ms.toFixed(1)} ms | ${s[m].maxMs.toFixed(1)} ms | ${p(s[m].accuracy)} | ${p(s[m].stragglerVoted)} | ${s[m].defaults} |`,
    ),
    "",
    "With mitigation the straggler's vote is in the answers where it was fast enough; a model whose last 32 answers all came",
    "too late is not fed queries (one probe a second keeps its times current). Waiting for every model keeps its vote in every",
    "answer and pays for it in latency.",
    "",
    `Reading: the straggler is svm, the best model alone; with mitigation its vote is in ${p(s.mitigated.stragglerVoted)} of the answers, so`,
    "the mitigated ensemble's accuracy is mostly that of the other four models. Waiting for every model keeps svm's vote and",
    `costs ${(s["wait-all"].p99Ms / Math.max(1, s.mitigated.p99Ms)).toFixed(1)}× the p99 latency.` +
      (s.mitigated.p99Ms > r.setup.sloMs
        ? ` The mitigated p99 is ${(s.mitigated.p99Ms - r.setup.sloMs).toFixed(1)} ms over the SLO: the answer is due at the deadline, and what is over it is the server's event loop and the client waiting for the CPU on a shared machine (see its load average below).`
        : ""),
    "",
    ...machineSection(r.machine),
    "",
  ].join("\n");
}

/** Error rates (100 − accuracy) rather than accuracies: the differences are a few points, which bars from 0 to 100 would hide. */
function svg(r: Results): string {
  const singles = Object.entries(r.accuracy.singles);
  const s = r.straggler;
  const err = (a: number | null) => (a === null ? null : (1 - a) * 100);
  const ERR = { name: "error %", color: "#4c78a8" };
  const BELOW = { name: "error below the threshold %", color: "#e45756" };
  const P99 = { name: "p99 latency ms", color: "#f58518" };
  return chart({
    title: "Clipper's ensemble on digits: error, confidence, straggler mitigation",
    caption: `scripts/bench --ensemble, ${r.date.slice(0, 16)} UTC; ${r.setup.testRows} test rows; straggler: svm ${r.setup.straggleMs} ms late on half its batches, SLO ${r.setup.sloMs} ms`,
    series: [ERR, BELOW, P99].map((x) => ({ ...x, values: [] })),
    panels: [
      {
        kind: "bar",
        weight: 3.2,
        panel: {
          title: "Error rate, each model and the ensemble",
          yLabel: "%",
          xLabel: "",
          groups: [...singles.map(([m]) => m), "equal", "Exp4"],
          series: [{ ...ERR, values: [...singles.map(([, a]) => err(a)), err(r.accuracy.ensembleEqual), err(r.accuracy.ensembleExp4)] }],
        },
      },
      {
        kind: "bar",
        weight: 2,
        panel: {
          title: "Error by confidence (Exp4)",
          yLabel: "%",
          xLabel: "confidence at or above",
          groups: r.confidence.exp4.map((c) => `${c.threshold}`),
          series: [
            { ...ERR, values: r.confidence.exp4.map((c) => err(c.accuracyAbove)) },
            { ...BELOW, values: r.confidence.exp4.map((c) => err(c.accuracyBelow)) },
          ],
        },
      },
      {
        kind: "bar",
        weight: 1.2,
        panel: {
          title: "Straggler: p99",
          yLabel: "ms",
          xLabel: "",
          groups: ["mitigated", "wait all"],
          series: [{ ...P99, values: [s.mitigated.p99Ms, s["wait-all"].p99Ms] }],
        },
      },
      {
        kind: "bar",
        weight: 1.2,
        panel: {
          title: "Straggler: error",
          yLabel: "%",
          xLabel: "",
          groups: ["mitigated", "wait all"],
          series: [{ ...ERR, values: [err(s.mitigated.accuracy), err(s["wait-all"].accuracy)] }],
        },
      },
    ],
  });
}
