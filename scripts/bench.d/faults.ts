/**
 * scripts/bench --faults: the cost of fault isolation. The HR tree wrapped in a closure that raises when a
 * row's first value is 13, served by clipper (cache off) at 64 connections, loaded in interleaved rounds
 * with 0% and with 5% raising rows (the same wrk script and row set, one in twenty rows changed), and the
 * feedback route's throughput. Writes bench/faults.md and bench/faults.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { hrRows, singleBody, writeBodies } from "../lib/bodies.ts";
import { describeMachine } from "../lib/machine.ts";
import { installCleanup, run } from "../lib/proc.ts";
import { startClipper, type Context } from "./systems.ts";
import { trainModel } from "./venv.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

const ROOT = resolve(import.meta.dir, "../..");
const CONNECTIONS = 64;

const WRAP = `
import pickle, sys, cloudpickle, numpy as np
tree = pickle.load(open(sys.argv[1], "rb"))
def picky(inputs):
    x = np.asarray(inputs, dtype=np.float64)
    if (x[:, 0] == 13).any():
        raise ValueError("13 is not a valid first value")
    return [str(v) for v in tree.predict(x).tolist()]
cloudpickle.dump(picky, open(sys.argv[2], "wb"))
`;

export async function runFaultsBench(o: { out: string; roundSec: number; rounds: number; clipperBin: string }): Promise<void> {
  installCleanup();
  const work = mkdtempSync(join(tmpdir(), "clipper-bench-faults-"));
  const python = join(ROOT, ".venv/bin/python");
  const log = (line: string) => console.log(`[bench --faults] ${line}`);
  try {
    const hr = await trainModel(ROOT, python, join(work, "hr.pkl"));
    const picky = join(work, "picky.pkl");
    const wrap = await run([python, "-c", WRAP, hr, picky], { cwd: ROOT, timeoutMs: 60_000 });
    if (wrap.code !== 0) throw new Error(`wrapping the HR tree failed: ${wrap.stderr}`);
    const ctx = { root: ROOT, work, clipperBin: o.clipperBin, python, token: crypto.randomUUID(), modelPath: picky } as unknown as Context;
    const clipper = await startClipper(ctx, "faults", true);
    try {
      const deploy = async (path: string, name: string, extra: string[] = []) => {
        const r = await run([o.clipperBin, "deploy", path, "--url", clipper.mgmtUrl, "--name", name, "--app", name, ...extra], {
          cwd: ROOT,
          env: { CLIPPER_TOKEN: ctx.token },
          timeoutMs: 90_000,
        });
        if (r.code !== 0) throw new Error(`clipper deploy ${name} exited ${r.code}: ${r.stderr || r.stdout}`);
      };
      await deploy(picky, "picky", ["--slo-micros", "1000000"]);
      const rows = hrRows(2000);
      const clean = writeBodies(
        join(work, "clean.txt"),
        rows.map((r) => singleBody("clipper", r)),
      );
      const raising = writeBodies(
        join(work, "raising.txt"),
        rows.map((r, i) => singleBody("clipper", i % 20 === 7 ? [13, ...r.slice(1)] : r)),
      );
      const url = `${clipper.queryUrl}/picky/predict`;
      log(`warm-up, then ${o.rounds} interleaved rounds of ${o.roundSec} s per mix at ${CONNECTIONS} connections`);
      await runWrk(url, clean, CONNECTIONS, 2);
      const rounds: { clean: WrkResult; raising: WrkResult; splits: number }[] = [];
      for (let i = 0; i < o.rounds; i++) {
        const splitsBefore = await splits(clipper.queryUrl);
        const r5 = await runWrk(url, raising, CONNECTIONS, o.roundSec);
        const splitsAfter = await splits(clipper.queryUrl);
        const r0 = await runWrk(url, clean, CONNECTIONS, o.roundSec);
        rounds.push({ clean: r0, raising: r5, splits: splitsAfter - splitsBefore });
        log(
          `round ${i + 1}: 0% ${r0.requestsPerSec.toFixed(0)} req/s, 5% ${r5.requestsPerSec.toFixed(0)} req/s (${((r5.requestsPerSec / r0.requestsPerSec) * 100).toFixed(0)}%), ${splitsAfter - splitsBefore} splits`,
        );
      }
      const stats = (await (await fetch(`${clipper.queryUrl}/metrics.json`)).json()) as { apps: Record<string, { queries: number; defaults: number }> };
      const feedback = await feedbackRate(o.clipperBin, clipper, ctx.token, hr, work);
      const machine = await describeMachine({ root: ROOT, clipperBin: o.clipperBin, python });
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const ratios = rounds.map((r) => r.raising.requestsPerSec / r.clean.requestsPerSec);
      const summary = {
        date: new Date().toISOString(),
        machine,
        connections: CONNECTIONS,
        roundSec: o.roundSec,
        rounds: rounds.map((r) => ({
          clean_rps: r.clean.requestsPerSec,
          raising_rps: r.raising.requestsPerSec,
          splits: r.splits,
          clean_p99_ms: r.clean.p99Ms,
          raising_p99_ms: r.raising.p99Ms,
          errors: r.clean.errors + r.raising.errors,
        })),
        median_clean_rps: median(rounds.map((r) => r.clean.requestsPerSec)),
        median_raising_rps: median(rounds.map((r) => r.raising.requestsPerSec)),
        median_ratio: median(ratios),
        app: stats.apps.picky,
        feedback_rps: feedback,
      };
      writeFileSync(join(o.out, "faults.json"), `${JSON.stringify(summary, null, 2)}\n`);
      writeFileSync(join(o.out, "faults.md"), report(summary));
      log(`wrote ${join(o.out, "faults.md")}`);
    } finally {
      await clipper.service.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function splits(queryUrl: string): Promise<number> {
  const m = (await (await fetch(`${queryUrl}/metrics.json`)).json()) as { models: Record<string, { batch_splits?: number }> };
  return m.models["picky:1"]?.batch_splits ?? 0;
}

/** Feedback (POST /{app}/update) req/s at 16 connections on an exp3 app of two linked models. */
async function feedbackRate(bin: string, clipper: { mgmtUrl: string; queryUrl: string }, token: string, hr: string, work: string): Promise<number> {
  const env = { CLIPPER_TOKEN: token };
  for (const args of [
    ["deploy", hr, "--name", "fb-a", "--app", "fb", "--slo-micros", "1000000"],
    ["deploy", hr, "--name", "fb-b"],
    ["policy", "fb", "exp3"],
  ]) {
    const r = await run([bin, ...args, "--url", clipper.mgmtUrl], { cwd: ROOT, env, timeoutMs: 90_000 });
    if (r.code !== 0) throw new Error(`clipper ${args.join(" ")}: ${r.stderr}`);
  }
  const link = await fetch(`${clipper.mgmtUrl}/admin/add_model_links`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ app_name: "fb", model_names: ["fb-b"] }),
  });
  if (!link.ok) throw new Error(`linking fb-b: ${await link.text()}`);
  const bodies = writeBodies(
    join(work, "feedback.txt"),
    hrRows(500).map((r, i) => `{"input":[${r.join(",")}],"label":"${i % 2}"}`),
  );
  await runWrk(`${clipper.queryUrl}/fb/update`, bodies, 16, 2);
  const r = await runWrk(`${clipper.queryUrl}/fb/update`, bodies, 16, 5);
  if (r.errors > 0) throw new Error(`feedback run had ${r.errors} errors`);
  return r.requestsPerSec;
}

function report(s: {
  date: string;
  machine: { nproc: number; cpuModel: string; git: string };
  connections: number;
  roundSec: number;
  rounds: { clean_rps: number; raising_rps: number; splits: number; clean_p99_ms: number; raising_p99_ms: number; errors: number }[];
  median_clean_rps: number;
  median_raising_rps: number;
  median_ratio: number;
  feedback_rps: number;
}): string {
  const f = (n: number) => Math.round(n).toLocaleString("en-US");
  return `# Fault isolation: what it costs

Run ${s.date.slice(0, 16).replace("T", " ")} UTC at commit ${s.machine.git} on ${s.machine.nproc} × ${s.machine.cpuModel}
(\`scripts/bench --faults\`). The HR tree wrapped in a closure that raises for any batch holding a row whose
first value is 13, clipper with the cache off, \`wrk -t1 -c${s.connections}\`, the same 2,000 rows in both
mixes (in the 5% mix one row in twenty starts with 13), ${s.rounds.length} interleaved rounds of ${s.roundSec} s.

| round | 0% raising, req/s | 5% raising, req/s | 5% / 0% | splits in the 5% round | p99 0% / 5% (ms) | errors |
|---|---|---|---|---|---|---|
${s.rounds.map((r, i) => `| ${i + 1} | ${f(r.clean_rps)} | ${f(r.raising_rps)} | ${((r.raising_rps / r.clean_rps) * 100).toFixed(0)}% | ${f(r.splits)} | ${r.clean_p99_ms.toFixed(1)} / ${r.raising_p99_ms.toFixed(1)} | ${r.errors} |`).join("\n")}
| **median** | **${f(s.median_clean_rps)}** | **${f(s.median_raising_rps)}** | **${(s.median_ratio * 100).toFixed(0)}%** | | | |

Every raising row is answered 200 with the default and the model's message; every other row with its
prediction (the end-to-end proof is \`test/e2e/isolation.test.ts\`). The cost is the extra batches: a batch
holding a raising row is sent again as halves until the raising row is alone, about 2·log2(batch) more
batches for each one.

Feedback (\`POST /fb/update\`, exp3 over two linked models, 16 connections): **${f(s.feedback_rps)} req/s**.
`;
}
