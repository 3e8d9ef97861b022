/**
 * End to end: the HR tree exported to ONNX (examples/onnx/export.py, Python only for the export) and served by
 * onnxruntime-node inside the binary's Node runtime (examples/onnx/hr_onnx.mjs), no Python process at serving
 * time, answering exactly what the pickled scikit-learn model answers on the same rows.
 *
 * Installs on first use, keyed by the pinned files' hashes: .venv-onnx from examples/onnx/requirements.txt, and
 * examples/onnx/node_modules from examples/onnx/bun.lock (onnxruntime-node's CPU binaries ship in its npm package).
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cleanup, makeFixtures, ROOT, type Server, startServer, tempDir } from "./harness.ts";

const EXAMPLE = join(ROOT, "examples/onnx");
const VENV = join(ROOT, ".venv-onnx");
const INSTALL_TIMEOUT_MS = 240_000;

const fx = makeFixtures();
const work = tempDir("clipper-onnx-");
const onnxFile = join(work, "hr.onnx");
let server: Server;

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

function run(cmd: string[], cwd = ROOT): string {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe", timeout: INSTALL_TIMEOUT_MS });
  const output = r.stdout.toString() + r.stderr.toString();
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (exit ${r.exitCode ?? r.signalCode}):\n${output.slice(-3000)}`);
  return output;
}

/** .venv-onnx, made when missing or when requirements.txt changed: built aside, then renamed into place. */
function exportPython(): string {
  const requirements = join(EXAMPLE, "requirements.txt");
  const want = sha256(requirements);
  const stamp = join(VENV, ".requirements.sha256");
  if (!existsSync(stamp) || readFileSync(stamp, "utf8").trim() !== want) {
    const building = `${VENV}.build-${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    try {
      run(["python3", "-m", "venv", building]);
      run([join(building, "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements]);
      writeFileSync(join(building, ".requirements.sha256"), `${want}\n`);
      rmSync(VENV, { recursive: true, force: true });
      renameSync(building, VENV);
    } finally {
      rmSync(building, { recursive: true, force: true });
    }
  }
  return join(VENV, "bin/python");
}

/** examples/onnx/node_modules from the frozen bun.lock, without lifecycle scripts (they would only fetch CUDA files). */
function installOnnxruntimeNode(): void {
  const want = sha256(join(EXAMPLE, "bun.lock"));
  const stamp = join(EXAMPLE, "node_modules/.bun-lock.sha256");
  if (existsSync(stamp) && readFileSync(stamp, "utf8").trim() === want) return;
  run([process.execPath, "install", "--frozen-lockfile", "--ignore-scripts"], EXAMPLE);
  writeFileSync(stamp, `${want}\n`);
}

/** argv of a process, from /proc. */
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);

/** Every descendant of pid (children, grandchildren…), from /proc/PID/stat's parent field. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* exited meanwhile */
    }
  }
  const out: number[] = [];
  for (let queue = [pid]; queue.length; ) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

beforeAll(
  async () => {
    const python = exportPython();
    installOnnxruntimeNode();
    run([python, join(EXAMPLE, "export.py"), "--pkl", join(fx.dir, "hr.pkl"), onnxFile]);
    // The model module is imported from <data-dir>/artifacts/<sha256>.mjs: it finds onnxruntime-node and the .onnx
    // file through these absolute paths, which the server's replicas inherit from its environment.
    // No warm Python spare either: then any Python process under the server would be the model's.
    server = await startServer({ args: ["--python-spares", "0"], env: { CLIPPER_ONNX_DIR: EXAMPLE, HR_ONNX_MODEL: onnxFile } });
    const dep = await server.cli("deploy", join(EXAMPLE, "hr_onnx.mjs"), "--name", "hr-onnx", "--url", "$MGMT");
    if (dep.code !== 0) throw new Error(`deploy failed: ${dep.stderr}\n${server.log()}`);
    expect(dep.stdout).toContain("starting 1 node replica");
  },
  { timeout: 2 * INSTALL_TIMEOUT_MS + 60_000 },
);

afterAll(async () => {
  await server?.stop();
  if (server) cleanup(server.dataDir);
  cleanup(work);
});

describe("an ONNX model in the Node runtime (onnxruntime-node)", () => {
  it("answers the Python model's predictions on every fixture row, batched and one by one", async () => {
    const { status, json } = await server.predict("hr-onnx", { input_batch: fx.rows });
    expect(status).toBe(200);
    expect(json.batch_predictions.map((p: { output: string; default: boolean }) => (p.default ? "default" : p.output))).toEqual(fx.hrExpected);
    expect(new Set(fx.hrExpected)).toEqual(new Set(["0", "1"])); // both classes are exercised
    for (const i of [0, 7, fx.rows.length - 1]) {
      expect((await server.predict("hr-onnx", { input: fx.rows[i] })).json).toMatchObject({ output: fx.hrExpected[i], default: false });
    }
  });

  it("runs in this binary's `runtime node` on the content-addressed artifact, with no Python process", async () => {
    const containers = (await server.admin("get_all_containers", {})).json as { model_name: string; state: string; pid: number | null }[];
    const replica = containers.find((c) => c.model_name === "hr-onnx")!;
    expect(replica.state).toBe("ready");
    const argv = cmdline(replica.pid!);
    expect(argv.join(" ")).toContain("runtime node");
    expect(argv[0]).toBe(BINARY);
    expect(argv.at(-1)).toMatch(new RegExp(`^${server.dataDir}/artifacts/[0-9a-f]{64}\\.mjs$`));
    const python = descendants(server.proc.pid)
      .map((pid) => {
        try {
          return cmdline(pid).join(" ");
        } catch {
          return "";
        }
      })
      .filter((line) => /python/i.test(line));
    expect(python).toEqual([]);
    expect((await server.cli("logs", "hr-onnx", "--url", "$MGMT")).stdout).toContain("on onnxruntime-node 1.30.0");
  });
});
