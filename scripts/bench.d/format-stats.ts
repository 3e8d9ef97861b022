/**
 * Per model format: deploy to first prediction, idle replica RSS, rows/s through clipper at batch 1
 * and 64 against the framework called directly in one process; and a TorchScript MLP (5→256→256→2) at 64
 * connections, clipper against a FastAPI server calling the same model per request. Writes bench/formats.md.
 * Loopback only, every run bounded in time. Needs .venv-frameworks (scripts/lib/frameworks-venv) and wrk.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, spawnService } from "../lib/proc.ts";
import { runWrk } from "./wrk.ts";

const ROOT = resolve(import.meta.dir, "../..");
const PY = join(ROOT, ".venv-frameworks/bin/python");
const BINARY = join(ROOT, "clipper");
const WRK_SEC = Number(process.env.BENCH_SECONDS ?? 5);
const work = mkdtempSync(join(tmpdir(), "clipper-format-stats-"));

type Made = { path: string; rows: number[][] };
const sh = (cmd: string[], env: Record<string, string> = {}) => {
  const r = Bun.spawnSync(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed:\n${r.stderr.toString().slice(-2000)}`);
  return r.stdout.toString();
};

// The models, one process per framework family (PyTorch and TensorFlow in one process can hang on OpenMP).
const made: Record<string, Made> = {};
for (const [i, names] of ["torchscript,torch-export,mlp256", "savedmodel,keras", "xgboost,lightgbm,onnx,mlflow-sklearn,mlflow-pyfunc"].entries()) {
  const out = join(work, `g${i}`);
  sh([PY, join(ROOT, "test/fixtures/make_framework_models.py"), out, names], { OMP_NUM_THREADS: "1" });
  Object.assign(made, JSON.parse(readFileSync(join(out, "models.json"), "utf8")));
}

const dataDir = join(work, "data");
const [qPort, mPort] = [await freePort(), await freePort()];
const server = spawnService(
  "clipper",
  [BINARY, "serve", "--data-dir", dataDir, "--query-port", String(qPort), "--mgmt-port", String(mPort), "--cache-entries", "0"],
  { cwd: ROOT, env: { CLIPPER_PYTHON: PY, CLIPPER_REPLICA_START_TIMEOUT_MS: "180000" }, logPath: join(work, "server.log") },
);
const Q = `http://127.0.0.1:${qPort}`;
const M = `http://127.0.0.1:${mPort}`;
for (let i = 0; i < 300; i++) {
  if (
    await fetch(`${M}/admin/ping`).then(
      (r) => r.ok,
      () => false,
    )
  )
    break;
  await Bun.sleep(100);
}
const token = readFileSync(join(dataDir, "token"), "utf8").trim();
const cli = (...args: string[]) => sh([BINARY, ...args, "--url", M], { CLIPPER_TOKEN: token });
const admin = async (path: string, body: unknown) =>
  (await fetch(`${M}/admin/${path}`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) })).json() as Promise<any>;

/** Fresh random rows of `width` values: the cache is off, but distinct bodies keep it honest anyway. */
function bodies(name: string, width: number, batch: number): string {
  const lines: string[] = [];
  for (let i = 0; i < 200; i++) {
    const rows = Array.from({ length: batch }, () => Array.from({ length: width }, () => Math.round((Math.random() * 4 - 2) * 1e4) / 1e4));
    lines.push(JSON.stringify(batch === 1 ? { input: rows[0] } : { input_batch: rows }));
  }
  const file = join(work, `${name}-${batch}.bodies`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const meanBatch = async (model: string) => {
  const m = (await (await fetch(`${Q}/metrics.json`)).json()) as { models?: Record<string, { mean_batch_size: number }> };
  return m.models?.[`${model}:1`]?.mean_batch_size ?? 0;
};

const FORMATS: [string, string, string[]][] = [
  ["torchscript", "mlp", []],
  ["torch-export", "mlp", []],
  ["savedmodel", "scorer", []],
  ["keras", "classifier", []],
  ["xgboost", "boosted", []],
  ["lightgbm", "regressor", []],
  ["onnx", "scorer", []],
  ["mlflow-sklearn", "mlflow-lr", []],
  ["mlflow-pyfunc", "mlflow-custom", []],
];
const FORMAT_OF: Record<string, string> = { "mlflow-sklearn": "mlflow", "mlflow-pyfunc": "mlflow" };
const rows: string[] = [];
for (const [key, stem, flags] of FORMATS) {
  const name = `${key}-m`;
  cli("register-app", name, "--input-type", "doubles", "--slo-micros", "5000000");
  const started = performance.now();
  cli("deploy", made[key]!.path, "--name", name, ...flags);
  const first = (await (await fetch(`${Q}/${name}/predict`, { method: "POST", body: JSON.stringify({ input: made[key]!.rows[0] }) })).json()) as {
    default: boolean;
  };
  const deploySec = (performance.now() - started) / 1000;
  if (first.default) throw new Error(`${key}: the first prediction was a default`);
  await Bun.sleep(1000);
  const info = await admin("get_model", { model_name: name, model_version: "1" });
  const rss = rssMb(info.runtime_info.pid as number);
  const width = made[key]!.rows[0]!.length;
  const one = await runWrk(`${Q}/${name}/predict`, bodies(name, width, 1), 16, WRK_SEC);
  const b1 = await meanBatch(name);
  const batch64 = await runWrk(`${Q}/${name}/predict`, bodies(name, width, 64), 4, WRK_SEC);
  const direct = JSON.parse(
    sh([PY, join(import.meta.dir, "format_direct.py"), FORMAT_OF[key] ?? key, made[key]!.path, "-", `1,64,${Math.max(1, Math.round(b1))}`], {
      OMP_NUM_THREADS: "1",
    })
      .trim()
      .split("\n")
      .pop()!,
  ) as Record<string, number>;
  rows.push(
    `| ${key} (${stem}) | ${deploySec.toFixed(2)} s | ${rss.toFixed(1)} MB | ${one.requestsPerSec.toFixed(0)} (mean batch ${b1.toFixed(1)}) | ${(batch64.requestsPerSec * 64).toFixed(0)} | ${direct[1]!.toFixed(0)} | ${direct[Math.max(1, Math.round(b1))]!.toFixed(0)} | ${direct[64]!.toFixed(0)} |`,
  );
  process.stderr.write(`${rows.at(-1)}\n`);
  cli("stop", name);
}

// The heavier point: TorchScript MLP 5→256→256→2, 64 connections, one row per request.
cli("register-app", "mlp256", "--input-type", "doubles", "--slo-micros", "5000000");
cli("deploy", made.mlp256!.path, "--name", "mlp256");
const mlpBodies = bodies("mlp256", 5, 1);
const clipperMlp = await runWrk(`${Q}/mlp256/predict`, mlpBodies, 64, WRK_SEC * 2);
const mlpBatch = await meanBatch("mlp256");
const fPort = await freePort();
const fastapi = spawnService("fastapi", [PY, join(import.meta.dir, "fastapi_torch_server.py"), made.mlp256!.path, String(fPort)], {
  cwd: ROOT,
  env: { OMP_NUM_THREADS: "1" },
  logPath: join(work, "fastapi.log"),
});
for (let i = 0; i < 600; i++) {
  if (
    await fetch(`http://127.0.0.1:${fPort}/mlp256/predict`, {
      method: "POST",
      body: '{"input":[1,2,3,4,5]}',
      headers: { "content-type": "application/json" },
    }).then(
      (r) => r.ok,
      () => false,
    )
  )
    break;
  await Bun.sleep(100);
}
const fastapiMlp = await runWrk(`http://127.0.0.1:${fPort}/mlp256/predict`, mlpBodies, 64, WRK_SEC * 2);
await fastapi.stop();
const mlpDirect = JSON.parse(
  sh([PY, join(import.meta.dir, "format_direct.py"), "torchscript", made.mlp256!.path, "-", `1,64,${Math.max(1, Math.round(mlpBatch))}`], {
    OMP_NUM_THREADS: "1",
  })
    .trim()
    .split("\n")
    .pop()!,
) as Record<string, number>;
await server.stop();

const limitAtBatch = mlpDirect[Math.max(1, Math.round(mlpBatch))]!;
const md = `# Model formats: deploy, memory, throughput

Generated ${new Date().toISOString()} by \`scripts/format-stats\` on this machine (2 cores, shared with other work, so
numbers move between runs). One replica, one framework thread each, prediction cache off (\`--cache-entries 0\`),
wrk on loopback for ${WRK_SEC} s per point. The server's Python is \`.venv-frameworks\` (every framework installed,
so "deploy" is the cached case: no environment to build; an uncached deploy adds the environment build, as in
[runtimes.md](runtimes.md), plus the framework's download: see the README's install column).

- deploy → first prediction: from starting \`clipper deploy PATH\` (upload included) to the first answer.
- clipper rows/s, batch 1: 16 connections sending one row each; the batcher forms the mean batch shown.
- clipper rows/s, batch 64: 4 connections sending 64-row \`input_batch\` requests.
- framework direct: the framework's own call in a loop in one Python process, at batch 1, at the mean batch
  clipper formed, and at 64 (the limit).

| format (model) | deploy → first prediction | idle replica RSS | clipper rows/s, batch 1 | clipper rows/s, batch 64 | framework rows/s, batch 1 | framework rows/s at clipper's mean batch | framework rows/s, batch 64 |
|---|---|---|---|---|---|---|---|
${rows.join("\n")}

## TorchScript MLP 5→256→256→2, 64 connections, one row per request

| server | requests/s | p50 | p99 | errors |
|---|---|---|---|---|
| clipper (mean batch ${mlpBatch.toFixed(1)}) | ${clipperMlp.requestsPerSec.toFixed(0)} | ${clipperMlp.p50Ms.toFixed(2)} ms | ${clipperMlp.p99Ms.toFixed(2)} ms | ${clipperMlp.errors} |
| FastAPI + uvicorn, the model called per request | ${fastapiMlp.requestsPerSec.toFixed(0)} | ${fastapiMlp.p50Ms.toFixed(2)} ms | ${fastapiMlp.p99Ms.toFixed(2)} ms | ${fastapiMlp.errors} |
| torch directly, batch 1 / at clipper's mean batch / 64 (rows/s) | ${mlpDirect[1]!.toFixed(0)} / ${limitAtBatch.toFixed(0)} / ${mlpDirect[64]!.toFixed(0)} | | | |

clipper / FastAPI: ${(clipperMlp.requestsPerSec / fastapiMlp.requestsPerSec).toFixed(1)}× (goal ≥ 10×). clipper / torch at the
same mean batch: ${((100 * clipperMlp.requestsPerSec) / limitAtBatch).toFixed(0)}% (goal ≥ 80%).
`;
writeFileSync(join(ROOT, "bench/formats.md"), md);
rmSync(work, { recursive: true, force: true });
process.stdout.write(md);
