/**
 * End to end: the compiled binary as a user installs it. Copied into a directory outside the checkout and
 * started from yet another one, with PATH=/usr/bin:/bin and no CLIPPER_PYTHON, it finds no Python with the
 * runtime's packages, makes its own environment in the data directory (logging progress and what it chose),
 * deploys the HR pickle and predicts; a restart reuses that environment. When even that is impossible, the log
 * has one line naming the interpreter, the missing package and the flag.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { copyFileSync, existsSync, realpathSync, symlinkSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { BINARY, cleanup, makeFixtures, ROOT, type Server, startServer, tempDir } from "./harness.ts";

const fx = makeFixtures();
const binDir = tempDir("clipper-install-");
const workDir = tempDir("clipper-elsewhere-");
const binary = join(binDir, "clipper");
copyFileSync(BINARY, binary);
copyFileSync(join(fx.dir, "hr.pkl"), join(workDir, "hr.pkl"));
/** A login shell's environment: no CLIPPER_*, no PYTHONPATH, no virtual environment on PATH. */
const bare = { PATH: "/usr/bin:/bin", HOME: homedir() };
const servers: Server[] = [];

afterAll(async () => {
  for (const s of servers) await s.stop();
  cleanup(binDir);
  cleanup(workDir);
});

async function start(dataDir: string, env: Record<string, string> = {}): Promise<Server> {
  // The first start installs the runtime's packages (from the package index or its local cache).
  const s = await startServer({ binary, cwd: workDir, dataDir, bareEnv: { ...bare, ...env }, startTimeoutMs: 300_000 });
  servers.push(s);
  return s;
}

const noPython = !existsSync("/usr/bin/python3");

describe.skipIf(noPython)("the binary outside the checkout (skipped: no /usr/bin/python3)", () => {
  const dataDir = join(workDir, "data");

  it("makes the Python runtime's environment in its data directory, deploys the HR pickle and predicts like scikit-learn", async () => {
    const s = await start(dataDir);
    const log = s.log();
    expect(log).toContain("making the runtime's own environment in");
    expect(log).toContain("Successfully installed");
    expect(log).toMatch(/Python runtime: \S+\/envs\/\w+\/bin\/python \(Python 3[.\d]+; msgpack [\d.]+, numpy [\d.]+, scipy [\d.]+, scikit-learn [\d.]+/);
    const out = await s.cliOk("deploy", join(workDir, "hr.pkl"), "--name", "hr-tree", "--app", "hr5");
    expect(out).toContain("ready: model hr-tree version 1 serves app hr5");
    const rows = fx.rows.slice(-3);
    const res = await s.predict("hr5", { input_batch: rows });
    expect(res.status).toBe(200);
    expect((res.json.batch_predictions as { output: string; default: boolean }[]).map((a) => [a.output, a.default])).toEqual(
      fx.hrExpected.slice(-3).map((o) => [o, false]),
    );
    await s.stop();
  }, 400_000);

  it("reuses that environment when started again, and the deployed model comes back", async () => {
    const s = await start(dataDir);
    expect(s.log()).toContain("the data directory's own runtime environment");
    expect(s.log()).not.toContain("making the runtime's own environment");
    const res = await s.predict("hr5", { input: fx.rows.at(-1) });
    expect([res.json.output, res.json.default]).toEqual([fx.hrExpected.at(-1), false]);
    await s.stop();
  }, 120_000);

  it("takes the .venv beside the binary when it has the runtime's packages, before making anything", async () => {
    const beside = tempDir("clipper-beside-");
    try {
      copyFileSync(BINARY, join(beside, "clipper"));
      symlinkSync(realpathSync(join(ROOT, ".venv")), join(beside, ".venv"));
      const s = await startServer({ binary: join(beside, "clipper"), cwd: workDir, dataDir: join(workDir, "beside"), bareEnv: bare });
      servers.push(s);
      expect(s.log()).toContain(`Python runtime: ${join(beside, ".venv", "bin", "python")} (Python 3`);
      expect(s.log()).toContain("from the .venv beside the binary");
      expect(s.log()).not.toContain("making the runtime's own environment");
      await s.stop();
    } finally {
      cleanup(beside);
    }
  }, 120_000);

  it("says in one line which interpreter lacks which package and which flag fixes it", async () => {
    // --python given: it is used as it is, and named.
    const given = await start(join(workDir, "given"), { CLIPPER_PYTHON: "/usr/bin/python3" });
    const line = given
      .log()
      .split("\n")
      .find((l) => l.includes('"runtime_python"') && l.includes('"level":"error"'));
    expect(line).toContain("/usr/bin/python3 (--python / CLIPPER_PYTHON) has no module msgpack");
    expect(line).toContain("--python PATH (or CLIPPER_PYTHON)");
    await given.stop();
    // Nothing to build with: the package index cannot be reached and pip may use no local wheels.
    const offline = await start(join(workDir, "offline"), {
      PIP_CONFIG_FILE: "/dev/null",
      PIP_INDEX_URL: "http://127.0.0.1:9/simple",
      PIP_NO_CACHE_DIR: "1",
      PIP_RETRIES: "0",
      PIP_TIMEOUT: "2",
    });
    const errors = offline
      .log()
      .split("\n")
      .filter((l) => l.includes('"level":"error"'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("Python runtime: /usr/bin/python3 has no module msgpack");
    expect(errors[0]).toContain("making an environment failed");
    expect(errors[0]).toContain("--python PATH (or CLIPPER_PYTHON)");
    await offline.stop();
  }, 300_000);
});
