/**
 * Per-runtime numbers: time from `clipper deploy` to the first prediction (Python with the
 * default environment, Python with its own environment cached and uncached, Node) and the idle RSS of one
 * replica of each. Writes bench/runtimes.md. usage: scripts/runtime-stats [--out DIR]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, installCleanup, rssBytes, run, spawnService, waitFor } from "../lib/proc.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BIN = join(ROOT, "clipper");
const PY = join(ROOT, ".venv/bin/python");
const outDir = process.argv.includes("--out") ? process.argv[process.argv.indexOf("--out") + 1]! : join(ROOT, "bench");
const TOKEN = "runtime-stats-token";

installCleanup();
const work = mkdtempSync(join(tmpdir(), "clipper-rt-"));
const hr = join(work, "hr.pkl");
await run([PY, join(ROOT, "examples/hr/train.py"), hr], { cwd: ROOT });

const q = await freePort();
const m = await freePort();
const dataDir = join(work, "data");
const server = spawnService("clipper", [BIN, "serve", "--data-dir", dataDir, "--query-port", String(q), "--mgmt-port", String(m), "--grpc-port", "0"], {
  cwd: ROOT,
  env: { CLIPPER_TOKEN: TOKEN, CLIPPER_PYTHON: PY },
  logPath: join(work, "server.log"),
});
await waitFor("server", async () => (await fetch(`http://127.0.0.1:${m}/admin/ping`).catch(() => null))?.ok ?? false, 30_000);

interface Row {
  runtime: string;
  deployToFirstMs: number;
  replicaRssMb: number;
}
const rows: Row[] = [];

async function measure(runtime: string, name: string, args: string[], input: unknown): Promise<void> {
  const t0 = performance.now();
  const dep = await run([BIN, "deploy", ...args, "--name", name, "--url", `http://127.0.0.1:${m}`], { cwd: ROOT, env: { CLIPPER_TOKEN: TOKEN } });
  if (dep.code !== 0) throw new Error(`${runtime}: ${dep.stderr}`);
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${q}/${name}/predict`, { method: "POST", body: JSON.stringify({ input }) });
    if (((await res.json()) as { default: boolean }).default === false) break;
  }
  const deployToFirstMs = performance.now() - t0;
  await Bun.sleep(2000); // idle
  const containers = (await (
    await fetch(`http://127.0.0.1:${m}/admin/get_all_containers`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    })
  ).json()) as { model_name: string; pid: number }[];
  const pid = containers.find((c) => c.model_name === name)!.pid;
  rows.push({ runtime, deployToFirstMs, replicaRssMb: rssBytes(pid) / 2 ** 20 });
  console.log(
    `[runtime-stats] ${runtime}: deploy → first prediction ${deployToFirstMs.toFixed(0)} ms, idle replica RSS ${(rssBytes(pid) / 2 ** 20).toFixed(1)} MB`,
  );
}

const hrRow = [5.0, 3.0, 85.0, 4.5, 2.0];
await measure("python (server's environment)", "py", [hr], hrRow);
await measure("python, own environment, uncached (build included)", "py-env-new", [hr, "--pkgs", "scikit-learn==1.7.2", "scipy==1.16.3"], hrRow);
await measure("python, own environment, cached", "py-env-cached", [hr, "--pkgs", "scikit-learn==1.7.2", "scipy==1.16.3"], hrRow);
await measure("node (in the clipper binary)", "node", [join(ROOT, "test/fixtures/sum_model.mjs")], [1, 2, 3]);
// By now the warm spare that replaced the one the first Python model took has finished importing.
await measure("python (server's environment), from a ready warm spare", "py-spare", [hr], hrRow);
const serverRssMb = rssBytes(server.pid) / 2 ** 20;

const md = [
  "# Runtimes: deploy to first prediction and idle memory",
  "",
  `Generated ${new Date().toISOString()} by \`scripts/runtime-stats\` on this machine (2 cores, shared). One replica each; the`,
  'time runs from starting `clipper deploy` (upload included) to the first non-default answer. "Uncached" builds the',
  "model's own virtual environment with uv first (packages from uv's download cache when present). The first row runs",
  "right after the server started, while its warm Python spare (`--python-spares 1`) was still importing scikit-learn;",
  "the last one deploys onto the running server, from a spare that is ready. Models with their own environment start cold.",
  "",
  "| runtime | deploy → first prediction | idle replica RSS |",
  "|---|---|---|",
  ...rows.map((r) => `| ${r.runtime} | ${(r.deployToFirstMs / 1000).toFixed(2)} s | ${r.replicaRssMb.toFixed(1)} MB |`),
  "",
  `Server process RSS with these five models deployed: ${serverRssMb.toFixed(1)} MB.`,
  "",
  "Every model format (TorchScript, torch.export, SavedModel, Keras, XGBoost, LightGBM, ONNX, MLflow): deploy to first",
  "prediction, idle RSS and rows/s against the framework itself are in [formats.md](formats.md) (`scripts/format-stats`).",
  "",
].join("\n");
writeFileSync(join(outDir, "runtimes.md"), md);
console.log(md);
await server.stop();
rmSync(work, { recursive: true, force: true });
process.exit(0);
