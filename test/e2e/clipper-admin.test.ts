/**
 * Clipper's own client, clipper-admin 0.4.1 from PyPI (in .venv-clipper-admin, built by scripts/lib/test-venvs), against
 * the compiled binary: every ClipperConnection call that does not build images, with Clipper's answers.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeFixtures, ROOT, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
const VENV_PYTHON = join(ROOT, ".venv-clipper-admin/bin/python");
const ROWS = fx.rows.slice(-2);
let server: Server;
let out: any;

beforeAll(async () => {
  if (!existsSync(VENV_PYTHON)) {
    const setup = Bun.spawnSync([join(ROOT, "scripts/lib/test-venvs")], { cwd: ROOT, stderr: "pipe" });
    if (setup.exitCode !== 0) throw new Error(`scripts/lib/test-venvs failed: ${setup.stderr.toString()}`);
  }
  server = await startServer();
  const proc = Bun.spawn(
    [VENV_PYTHON, join(ROOT, "test/e2e/clipper-admin/drive.py"), server.mgmtUrl, server.queryUrl, server.token, join(fx.dir, "hr.pkl"), JSON.stringify(ROWS)],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
  );
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`drive.py failed:\n${stderr}\nserver log:\n${server.log().slice(-3000)}`);
  out = JSON.parse(stdout.trim().split("\n").at(-1)!);
}, 240_000);
afterAll(() => shutdown(server));

describe("clipper-admin 0.4.1's ClipperConnection against clipper serve", () => {
  it("starts (health checks on /metrics and /admin/ping), connects and registers an application (200)", () => {
    expect(out.connected).toBe(true);
    expect(out.apps).toEqual(["ca-app"]);
    expect(out.apps_verbose[0]).toMatchObject({ name: "ca-app", input_type: "doubles", default_output: "-1.0", latency_slo_micros: 100000 });
    expect(out.app_info).toMatchObject({ name: "ca-app", input_type: "doubles", latency_slo_micros: 100000, cache: true });
  });

  it("returns None for an unknown application, model version or replica, as it did against Clipper (200 with {})", () => {
    expect(out.app_info_unknown).toEqual({ raised: null, value: null });
    expect(out.model_info_unknown).toEqual({ raised: null, value: null });
    expect(out.replica_info_unknown).toEqual({ raised: null, value: null });
  });

  it("registers a containerless model (NO_CONTAINER), links it, and its app answers the default", () => {
    expect(out.linked).toEqual(["ca-model"]);
    expect(out.current).toBe("1");
    expect(out.models).toEqual(["ca-model:1"]);
    expect(out.models_verbose).toEqual([
      expect.objectContaining({
        model_name: "ca-model",
        model_version: "1",
        is_current_version: true,
        container_name: "NO_CONTAINER",
        labels: ["tutorial"],
        input_type: "doubles",
        model_data_path: "DEPRECATED",
        batch_size: -1,
        status: "registered",
      }),
    ]);
    expect(out.model_info).toMatchObject({ model_name: "ca-model", is_current_version: true });
    expect(out.containerless_replicas).toBe(0);
    expect(out.containerless_resize).toEqual({ raised: "ClipperException", message: "Cannot resize the replica set for containerless model ca-model:1" });
    expect(out.containerless_answer).toMatchObject({ output: "-1.0", default: true });
    expect(out.containerless_answer.default_explanation).toContain("no running replicas");
  });

  it("serves the version once deployed later, scales it and describes its replicas as Clipper did", () => {
    expect(out.deployed_answers).toEqual(fx.hrExpected.slice(-2));
    expect(out.replicas_after_deploy).toBe(1);
    expect(out.replicas_after_scale).toBe(2);
    expect(out.replica_names.toSorted()).toEqual(["ca-model:1:1", "ca-model:1:2"]);
    for (const r of out.replicas_verbose) {
      expect(r).toMatchObject({ model_name: "ca-model", model_version: "1", model_id: "ca-model:1", input_type: "doubles", status: "ready" });
    }
    expect(out.replica_info).toMatchObject({ model_name: "ca-model", model_version: "1", model_replica_id: 1 });
    expect(out.model_info_deployed).toMatchObject({ is_current_version: true, container_name: "clipper/python-runtime", replicas: 2 });
  });

  it("hands an image in deploy_model to the docker runtime, and a failure is a 422 naming the runtime's error, not a 500", () => {
    // clipper/python-runtime needs an artifact, which Clipper's deploy_model cannot send: its replica exits.
    expect(out.deploy_image.raised).toBe("ClipperException");
    expect(out.deploy_image.message).toMatch(/^Received error status code: 422 and message: .*"code":"runtime_error"/);
  });

  it("switches versions and stops the inactive one by is_current_version", () => {
    expect(out.current_after_v2).toBe("2");
    expect(out.current_after_set).toBe("1");
    expect(out.models_after_inactive).toEqual(["ca-model:1"]);
  });

  it("reads Clipper's metrics JSON with inspect_instance and the addresses", () => {
    const counters = Object.assign({}, ...out.metrics.counters);
    expect(counters["app:ca-app:num_predictions"].count).toBe("3");
    expect(counters["model:ca-model:1:num_predictions"].count).toBe("2");
    const ratios = Object.assign({}, ...out.metrics.ratio_counters);
    expect(ratios["app:ca-app:default_prediction_ratio"].ratio).toBe("0.333");
    expect(out.metrics.histograms.length).toBeGreaterThan(0);
    expect(out.query_addr).toBe(new URL(server.queryUrl).host);
    expect(out.metric_addr).toBe(new URL(server.queryUrl).host);
    expect(out.logs).toEqual([]);
    expect(out.test_predict_function).toEqual(["3.0"]);
  });

  it("unlinks, stops versions, models and all model containers, and unregisters applications", () => {
    expect(out.linked_after_unlink).toEqual([]);
    expect(out.models_after_versioned).toEqual(["ca-model:1", "ca-other:2"]);
    expect(out.models_after_stop_models).toEqual(["ca-other:2"]);
    expect(out.models_after_stop_all_containers).toEqual([]);
    expect(out.apps_after_delete).toEqual([]);
  });
});
