/**
 * End to end: management operations on one model that overlap. The reproduction exactly (deploy v2
 * while v1 runs a long batch, roll back to v1 one second later: v1 ends current, ready and predicting) and
 * its mirror cases (rollback during a start, two deploys at once, scale or stop during a deploy); after
 * each, the server's invariant check passes.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { nodeModel, type Server, settledInvariants, shutdown, startServer, tempDir, waitFor } from "./harness.ts";

let server: Server;
const dir = tempDir("clipper-consistency-");

beforeAll(async () => {
  server = await startServer({ args: ["--python-spares", "0"] });
});
afterAll(() => shutdown(server));

type ModelState = { model_version: string; is_current: boolean; state: string; replicas: number; ready_replicas: number };
const versions = async (name: string): Promise<ModelState[]> => {
  const res = await server.admin("get_model_versions", { model_name: name });
  return res.status === 200 ? (res.json as ModelState[]) : [];
};
const currentOf = async (name: string) => (await versions(name)).find((v) => v.is_current);
/** Starts a CLI command without waiting for it. */
const background = (...args: string[]) => server.cliOk(...args);

/** The model's current version is `version`, ready, answers predictions from it, and nothing else of it runs. */
async function expectServing(name: string, app: string, version: string, output: string): Promise<void> {
  const ready = await waitFor(async () => {
    const v = await currentOf(name);
    return v?.model_version === version && v.state === "ready" ? v : undefined;
  }, 20_000);
  expect(ready?.model_version).toBe(version);
  const answer = await server.predict(app, { input: [1] });
  expect(answer.json).toMatchObject({ output, default: false });
  const running = ((await server.admin("get_all_containers", {})).json as { model_name: string; model_version: string }[]).filter((c) => c.model_name === name);
  expect(running.map((c) => c.model_version)).toEqual(Array(ready!.replicas).fill(version));
  expect(await settledInvariants(server)).toEqual({ ok: true, busy: [], violations: [], checked_at: expect.any(String) } as never);
}

describe("overlapping operations on one model", () => {
  it("deploy v2 during a long v1 batch, rollback to v1 one second later: v1 ends current, ready and predicting", async () => {
    await server.cliOk("deploy", nodeModel(dir, "r-one", "one"), "--name", "r", "--app", "ra", "--slo-micros", "10000000");
    expect((await server.predict("ra", { input: [1] })).json.output).toBe("one");
    // A batch that keeps v1 busy for 4 s.
    const long = server.predict("ra", { input: [4000] });
    await waitFor(
      async () => ((await server.admin("get_all_containers", {})).json as { outstanding_rows: number }[]).some((c) => c.outstanding_rows > 0) || undefined,
      5_000,
    );
    const deploy = background("deploy", nodeModel(dir, "r-two", "two"), "--name", "r");
    await waitFor(async () => ((await currentOf("r"))?.model_version === "2" ? true : undefined), 20_000);
    await Bun.sleep(1000); // the user's second thoughts, as in the issue
    await server.cliOk("rollback", "r", "1");
    await deploy;
    expect((await long).json).toMatchObject({ output: "one", default: false });
    await expectServing("r", "ra", "1", "one");
    expect((await versions("r")).find((v) => v.model_version === "2")?.state).toBe("inactive");
  });

  it("a rollback during a start waits for the deploy, then wins", async () => {
    await server.cliOk("deploy", nodeModel(dir, "s-one", "s1"), "--name", "s", "--app", "sa", "--slo-micros", "5000000");
    await server.cliOk("deploy", nodeModel(dir, "s-two", "s2"), "--name", "s");
    const deploy = background("deploy", nodeModel(dir, "s-three", "s3", 2500), "--name", "s");
    await waitFor(
      async () => ((await server.admin("get_all_containers", {})).json as { model_version: string }[]).some((c) => c.model_version === "3") || undefined,
      20_000,
    );
    await server.cliOk("rollback", "s", "2");
    await deploy;
    await expectServing("s", "sa", "2", "s2");
  });

  it("two deploys at once: distinct versions, the last committed is current, nothing else runs", async () => {
    await server.cliOk("deploy", nodeModel(dir, "t-one", "t1"), "--name", "t", "--app", "ta", "--slo-micros", "5000000");
    await Promise.all([
      background("deploy", nodeModel(dir, "t-a", "ta", 500), "--name", "t"),
      background("deploy", nodeModel(dir, "t-b", "tb", 500), "--name", "t"),
    ]);
    const all = (await server.admin("get_model_versions", { model_name: "t" })).json as { model_version: string; artifact_name: string }[];
    expect(all.map((v) => v.model_version).sort()).toEqual(["1", "2", "3"]);
    // Each deploy got its own version: the one committed last (3) serves its own module.
    const output = all.find((v) => v.model_version === "3")!.artifact_name === "t-a.mjs" ? "ta" : "tb";
    await expectServing("t", "ta", "3", output);
  });

  it("a scale during a deploy applies to the new version once it is current", async () => {
    await server.cliOk("deploy", nodeModel(dir, "u-one", "u1"), "--name", "u", "--app", "ua", "--slo-micros", "5000000");
    const deploy = background("deploy", nodeModel(dir, "u-two", "u2", 1500), "--name", "u");
    await waitFor(
      async () =>
        ((await server.admin("get_all_containers", {})).json as { model_name: string; model_version: string }[]).some(
          (c) => c.model_name === "u" && c.model_version === "2",
        ) || undefined,
      20_000,
    );
    await server.cliOk("scale", "u", "2");
    await deploy;
    expect((await currentOf("u"))?.replicas).toBe(2);
    await expectServing("u", "ua", "2", "u2");
  });

  it("a stop during a deploy runs after it and removes every version", async () => {
    await server.cliOk("deploy", nodeModel(dir, "w-one", "w1"), "--name", "w", "--app", "wa", "--slo-micros", "5000000");
    const deploy = background("deploy", nodeModel(dir, "w-two", "w2", 1500), "--name", "w");
    await waitFor(
      async () =>
        ((await server.admin("get_all_containers", {})).json as { model_name: string; model_version: string }[]).some(
          (c) => c.model_name === "w" && c.model_version === "2",
        ) || undefined,
      20_000,
    );
    await server.cliOk("stop", "w");
    await deploy;
    expect(await versions("w")).toEqual([]);
    expect(((await server.admin("get_all_containers", {})).json as { model_name: string }[]).filter((c) => c.model_name === "w")).toEqual([]);
    expect((await server.predict("wa", { input: [1] })).json.default).toBe(true);
    expect(await settledInvariants(server)).toMatchObject({ ok: true, violations: [] });
  });
});
