/**
 * The tutorial's admin code (clients/python/tests/tutorial_code.py: ClipperModelServer, deploy, link, REST predict,
 * update to version 2, check_clipper_health, cleanup_clipper), every block as written, driven by tutorial_workflow.py
 * with LocalContainerManager() running the compiled ./clipper, and with DockerContainerManager() on a real Docker
 * engine with the clipper:latest image.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { PYTHON, ROOT, cleanup, tempDir } from "./harness.ts";
import { missingRequirement } from "../provisioned.ts";

async function run(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn(args, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Runs the tutorial with one manager; returns what each step saw. */
async function tutorial(manager: "local" | "docker", env: Record<string, string>): Promise<any> {
  // The client from this tree (python-client.test.ts checks `pip install ./clients/python` itself).
  const res = await run([PYTHON, "clients/python/tests/tutorial_workflow.py", manager], {
    CLIPPER_TOKEN: "",
    CLIPPER_PYTHON: PYTHON,
    PYTHONPATH: join(ROOT, "clients/python"),
    ...env,
  });
  if (res.code !== 0) throw new Error(`tutorial_workflow.py ${manager} failed:\n${res.stderr}`);
  return JSON.parse(res.stdout.trim().split("\n").at(-1)!);
}

function expectTutorialOutcome(out: any): void {
  // Version 1 answers like the tree trained in the script; version 2 (probabilities) takes the traffic once deployed.
  expect(out.v1).toEqual({ outputs: out.expected, defaults: [false, false, false], versions: ["1", "1", "1"] });
  expect(out.v2).toEqual({ outputs: out.expected_v2, defaults: [false, false, false], versions: ["2", "2", "2"] });
  expect(out.v2.outputs).not.toEqual(out.v1.outputs);
  expect(out.current_version).toBe("2");
  // check_clipper_health indexes get_all_model_replicas()'s entries (no argument) and prints the tutorial's lines.
  expect(out.health_printed).toEqual(["Applications: ['hr-hiring']", "Models: ['hr-decision-tree:1', 'hr-decision-tree:2']", "  hr-decision-tree v2: ready"]);
  expect(out.models).toEqual([
    { model_name: "hr-decision-tree", model_version: "1", status: "inactive" },
    { model_name: "hr-decision-tree", model_version: "2", status: "ready" },
  ]);
  expect(out.replicas).toEqual([{ model_name: "hr-decision-tree", model_version: "2", status: "ready" }]);
  // cleanup_clipper: unlink, stop_models, stop_all; nothing answers afterwards.
  expect(out.answers_after_stop_all).toBe(false);
}

describe("the tutorial's admin code with LocalContainerManager()", () => {
  const dataDir = tempDir("clipper-tutorial-");
  afterAll(() => cleanup(dataDir));

  it("starts clipper, deploys a closure with pkgs_to_install, moves traffic to version 2, prints the health check, and leaves nothing running", async () => {
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
