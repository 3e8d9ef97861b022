/**
 * scripts/bench --capture: the cost of payload capture on the query path. One `clipper serve` (cache off,
 * one Node replica of a trivial model, so the server's own work dominates), wrk with 32 connections on
 * single-row queries; rounds alternate capture off, --sample 0.1 and --sample 1 (interleaved, the same load
 * script for each). Writes capture.md and capture.json in the output directory (default bench/).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { hrRows, singleBody, writeBodies } from "../lib/bodies.ts";
import { describeMachine, machineSection } from "../lib/machine.ts";
import { installCleanup, run, waitQuiet } from "../lib/proc.ts";
import { startClipper } from "./systems.ts";
import { pinWrk, runWrk, type WrkResult } from "./wrk.ts";

const ROOT = resolve(import.meta.dir, "../..");
const log = (line: string) => process.stderr.write(`[bench capture] ${line}\n`);

const { values } = parseArgs({
  options: {
    capture: { type: "boolean" },
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    out: { type: "string", default: join(ROOT, "bench") },
  },
});
const rounds = Number(values.rounds);
const duration = Number(values.duration);
const connections = Number(values.connections);
const MODES = [
  { name: "off", sample: 0 },
  { name: "sample 0.1", sample: 0.1 },
  { name: "sample 1", sample: 1 },
] as const;

installCleanup();
const work = mkdtempSync(join(tmpdir(), "clipper-bench-capture-"));
const token = "bench-capture-token-0123456789";
const ctx = {
  root: ROOT,
  work,
  clipperBin: join(ROOT, "clipper"),
  python: join(ROOT, ".venv/bin/python"),
  benchPython: "",
  modelPath: "",
  benchModelPath: "",
  mlserverBatch: { maxBatchSize: 1, maxBatchTimeSec: 0 },
  token,
};
const model = join(work, "tiny.mjs");
writeFileSync(model, "export async function predict(inputs) { return inputs.map((r) => String(r[0] > 4)); }\n");

const server = await startClipper(ctx, "capture", true);
const cli = async (...args: string[]) => {
  const r = await run([ctx.clipperBin, ...args, "--url", server.mgmtUrl], { cwd: ROOT, env: { CLIPPER_TOKEN: token }, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`clipper ${args.join(" ")}: ${r.stderr || r.stdout}`);
  return r.stdout;
};
const results: { mode: string; round: number; wrk: WrkResult; capture: unknown }[] = [];
try {
  await cli("deploy", model, "--name", "tiny", "--app", "tiny", "--slo-micros", "1000000");
  const bodies = writeBodies(
    join(work, "bodies.txt"),
    hrRows(4096).map((r) => singleBody("clipper", r)),
  );
  const url = `${server.queryUrl}/tiny/predict`;
  pinWrk(0);
  log("warm-up 5 s");
  await runWrk(url, bodies, connections, 5);
  for (let round = 1; round <= rounds; round++) {
    for (const mode of round % 2 ? MODES : [...MODES].reverse()) {
      await cli("capture", "tiny", "--sample", String(mode.sample), "--max-mb", "50");
      await waitQuiet(5_000);
      const wrk = await runWrk(url, bodies, connections, duration);
      const capture = JSON.parse(await cli("capture", "tiny", "--json"));
      results.push({ mode: mode.name, round, wrk, capture });
      log(
        `round ${round} ${mode.name}: ${wrk.requestsPerSec.toFixed(0)} req/s, p50 ${wrk.p50Ms.toFixed(2)} ms, p99 ${wrk.p99Ms.toFixed(2)} ms, errors ${wrk.errors}`,
      );
    }
  }
} finally {
  await server.service.stop();
}

const machine = await describeMachine({ root: ROOT, clipperBin: ctx.clipperBin, python: ctx.python });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = MODES.map((m) => {
  const rs = results.filter((r) => r.mode === m.name);
  return {
    mode: m.name,
    reqPerSec: median(rs.map((r) => r.wrk.requestsPerSec)),
    p50Ms: median(rs.map((r) => r.wrk.p50Ms)),
    p99Ms: median(rs.map((r) => r.wrk.p99Ms)),
    errors: rs.reduce((a, r) => a + r.wrk.errors, 0),
  };
});
const off = summary[0]!;
const lines = [
  "# Payload capture overhead",
  "",
  `\`scripts/bench --capture\`: one \`clipper serve --cache-entries 0\` with one Node replica of a trivial model (the server's own work dominates), ` +
    `wrk -t1 -c${connections} -d${duration}s on single-row queries (4,096 varied rows), ${rounds} rounds, the three modes interleaved ` +
    "(order reversed every other round), capture bounded at 50 MB. Medians over rounds.",
  "",
  "| capture | req/s | vs off | p50 ms | p99 ms | errors |",
  "|---|---|---|---|---|---|",
  ...summary.map(
    (s) =>
      `| ${s.mode} | ${s.reqPerSec.toFixed(0)} | ${((s.reqPerSec / off.reqPerSec - 1) * 100).toFixed(1)}% | ${s.p50Ms.toFixed(2)} | ${s.p99Ms.toFixed(2)} | ${s.errors} |`,
  ),
  "",
  `Spread across rounds (min–max req/s): ${MODES.map((m) => {
    const xs = results.filter((r) => r.mode === m.name).map((r) => r.wrk.requestsPerSec);
    return `${m.name} ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
  }).join(", ")}. On a shared machine a difference smaller than this spread is not measured.`,
  "",
  "Every round:",
  "",
  "| round | capture | req/s | p99 ms | rows captured since start | rows dropped since start |",
  "|---|---|---|---|---|---|",
  ...results.map((r) => {
    const c = r.capture as { captured_rows: number; dropped_rows: number };
    return `| ${r.round} | ${r.mode} | ${r.wrk.requestsPerSec.toFixed(0)} | ${r.wrk.p99Ms.toFixed(2)} | ${c.captured_rows} | ${c.dropped_rows} |`;
  }),
  "",
  ...machineSection(machine),
];
writeFileSync(join(values.out!, "capture.md"), `${lines.join("\n")}\n`);
writeFileSync(join(values.out!, "capture.json"), `${JSON.stringify({ machine, summary, results }, null, 2)}\n`);
log(`wrote ${join(values.out!, "capture.md")}`);
rmSync(work, { recursive: true, force: true });
process.exit(0);
