/** The peers' Python environment (.venv-bench, from the pinned requirements.txt) and the HR pickle each side loads. */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../lib/proc.ts";

const REQUIREMENTS = join(import.meta.dir, "requirements.txt");

/** Creates or refreshes .venv-bench when requirements.txt changed; returns its python. Throws with pip's own error. */
export async function ensureBenchVenv(root: string, log: (line: string) => void): Promise<string> {
  const dir = join(root, ".venv-bench");
  const python = join(dir, "bin", "python");
  const stamp = join(dir, ".requirements.sha256");
  const want = new Bun.CryptoHasher("sha256").update(readFileSync(REQUIREMENTS)).digest("hex");
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === want) return python;
  log("creating .venv-bench from scripts/bench.d/requirements.txt (FastAPI, uvicorn, MLServer; a few minutes the first time)");
  if (!existsSync(python)) {
    const venv = await run(["python3", "-m", "venv", dir], { cwd: root, timeoutMs: 120_000 });
    if (venv.code !== 0) throw new Error(`python3 -m venv .venv-bench failed (exit ${venv.code}):\n${venv.stderr.trim()}`);
  }
  const pip = await run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", REQUIREMENTS], { cwd: root, timeoutMs: 900_000 });
  if (pip.code !== 0) {
    const errors = (pip.stderr + pip.stdout)
      .split("\n")
      .filter((l) => !l.includes("is ignored: it is neither a file nor a directory"))
      .join("\n")
      .trim();
    throw new Error(`pip install -r scripts/bench.d/requirements.txt into .venv-bench failed (exit ${pip.code}):\n${errors.slice(-3000)}`);
  }
  writeFileSync(stamp, `${want}\n`);
  return python;
}

/**
 * Trains examples/hr/train.py's tree with `python` into `out`. With `reuse`, first checks that `python`
 * unpickles that file without a warning (same scikit-learn) and returns it instead of training again.
 */
export async function trainModel(root: string, python: string, out: string, reuse?: string): Promise<string> {
  if (reuse) {
    const load = await run([python, "-W", "error", "-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))", reuse], { cwd: root, timeoutMs: 60_000 });
    if (load.code === 0) return reuse;
  }
  rmSync(out, { force: true });
  const r = await run([python, join(root, "examples/hr/train.py"), out], { cwd: root, timeoutMs: 120_000 });
  if (r.code !== 0 || !existsSync(out)) throw new Error(`examples/hr/train.py with ${python} failed (exit ${r.code}):\n${r.stderr.trim()}`);
  return out;
}
