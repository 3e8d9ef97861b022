/**
 * The tutorial's admin code (clients/python/tests/tutorial_workflow.py) as written, with LocalContainerManager()
 * running the compiled ./clipper, and with DockerContainerManager() on a real Docker engine with the clipper:latest image.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { PYTHON, ROOT, cleanup, tempDir } from "./harness.ts";
import { missingRequirement } from "../provisioned.ts";

async function run(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn(args, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Runs the tutorial with one manager; returns what each step saw. */
async function tutorial(manager: "local" | "docker", env: Record<string, string>): Promise<any> {
  const res = await run([PYTHON, "clients/python/tests/tutorial_workflow.py", manager], { CLIPPER_TOKEN: "", CLIPPER_PYTHON: PYTHON, ...env });
  if (res.code !== 0) throw new Error(`tutorial_workflow.py ${manager} failed:\n${res.stderr}`);
  return JSON.parse(res.stdout.trim().split("\n").at(-1)!);
}

function expectTutorialOutcome(out: any): void {
  // Version 1 answers like the tree trained in the script; version 2 (probabilities) takes the traffic once deployed.
  expect(out.v1).toEqual({ outputs: out.expected, defaults: [false, false, false], versions: ["1", "1", "1"] });
  expect(out.v2).toEqual({ outputs: out.expected_v2, defaults: [false, false, false], versions: ["2", "2", "2"] });
  expect(out.v2.outputs).not.toEqual(out.v1.outputs);
  expect(out.current_version).toBe("2");
  expect(out.apps).toEqual(["hr-hiring"]);
  expect(out.models).toEqual([
    { model_name: "hr-decision-tree", model_version: "1", status: "inactive" },
    { model_name: "hr-decision-tree", model_version: "2", status: "ready" },
  ]);
  expect(out.replicas).toEqual([{ model_name: "hr-decision-tree", model_version: "2", status: "ready" }]);
  expect(out.linked_after_unlink).toEqual([]);
  expect(out.models_after_stop).toEqual([]);
  expect(out.replicas_after_stop).toEqual([]);
  expect(out.answers_after_stop_all).toBe(false);
}

beforeAll(async () => {
  const pip = await run([PYTHON, "-m", "pip", "install", "--quiet", "./clients/python"], {});
  if (pip.code !== 0) throw new Error(`pip install ./clients/python failed:\n${pip.stderr}`);
}, 120_000);

describe("the tutorial's admin code with LocalContainerManager()", () => {
  const dataDir = tempDir("clipper-tutorial-");
  afterAll(() => cleanup(dataDir));

  it("starts clipper, deploys a closure with pkgs_to_install, moves traffic to version 2, and leaves nothing running", async () => {
    const out = await tutorial("local", { CLIPPER_QUERY_PORT: "0", CLIPPER_MGMT_PORT: "0", CLIPPER_DATA_DIR: dataDir });
    expectTutorialOutcome(out);
    expect(out.server_alive).toBe(false);
    expect(out.replica_pids_alive).toEqual([]);
    console.log(`deploy_python_closure with pkgs_to_install=['scikit-learn']: ${out.deploy_seconds} s (environment built once, then cached)`);
  }, 300_000);
});

/** The server's image: clipper:latest (scripts/image), or CLIPPER_TEST_IMAGE. */
const IMAGE = process.env.CLIPPER_TEST_IMAGE || "clipper:latest";
const noDocker =
  missingRequirement(
    !Bun.which("docker") || Bun.spawnSync(["docker", "image", "inspect", IMAGE], { stdout: "ignore", stderr: "ignore" }).exitCode !== 0
      ? `no Docker engine with ${IMAGE} (scripts/test starts one and scripts/image builds it)`
      : undefined,
  ) !== undefined;

describe("the tutorial's admin code with DockerContainerManager()", () => {
  it.skipIf(noDocker)(
    "runs the same workflow in the clipper:latest container and removes it at stop_all (skipped: no Docker engine or no clipper:latest image; scripts/image builds it)",
    async () => {
      const out = await tutorial("docker", { CLIPPER_TEST_IMAGE: IMAGE });
      expectTutorialOutcome(out);
      const left = Bun.spawnSync(["docker", "ps", "-aq", "--filter", "label=ai.clipper.container.label=default-cluster"]);
      expect(left.stdout.toString().trim()).toBe("");
    },
    600_000,
  );
});
