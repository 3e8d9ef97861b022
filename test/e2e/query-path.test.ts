/** End to end: latency SLOs, defaults with reasons, every input type, nested outputs and clean shutdown. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { cleanup, makeFixtures, type Server, shutdown, startServer } from "./harness.ts";

const fx = makeFixtures();
let server: Server;

const deploy = (file: string, ...flags: string[]) => server.cliOk("deploy", join(fx.dir, file), ...flags);

beforeAll(async () => {
  server = await startServer();
  await deploy("slow.pkl", "--name", "slow", "--app", "slow-app", "--slo-micros", "50000", "--default-output", "late");
  await deploy("length.pkl", "--name", "strlen", "--input-type", "strings");
  await deploy("length.pkl", "--name", "bytelen", "--input-type", "bytes");
  await deploy("sum.pkl", "--name", "intsum", "--input-type", "integers");
  await deploy("dict.pkl", "--name", "dict");
  await deploy("raising.pkl", "--name", "raising", "--default-output", "fallback");
});
afterAll(() => shutdown(server));

describe("latency SLO", () => {
  it("answers the default output when the model misses the SLO, on time", async () => {
    const started = performance.now();
    const { status, json } = await server.predict("slow-app", { input: [1, 2, 3] });
    const elapsedMs = performance.now() - started;
    expect(status).toBe(200);
    expect(json).toMatchObject({ output: "late", default: true });
    expect(json.default_explanation).toContain("no prediction within the latency SLO of 50000 µs");
    // The model takes 500 ms; the deadline timer answers long before it.
    expect(elapsedMs).toBeLessThan(400);
  });

  it("keeps answering on the deadline for many concurrent queries", async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => server.predict("slow-app", { input: [i, 1] })));
    expect(answers.every((a) => a.status === 200 && a.json.default === true && a.json.output === "late")).toBe(true);
  });

  it("answers the default with the reason when no model is linked", async () => {
    await server.admin("add_app", { name: "empty", input_type: "doubles", default_output: "none" });
    const { json } = await server.predict("empty", { input: [1] });
    expect(json).toMatchObject({ output: "none", default: true, default_explanation: "no model is linked to application 'empty'" });
  });

  it("answers the default with the model's error when predict raises", async () => {
    const { status, json } = await server.predict("raising", { input: [1, 2] });
    expect(status).toBe(200);
    expect(json).toMatchObject({ output: "fallback", default: true });
    expect(json.default_explanation).toContain("ValueError: this model always fails");
  });
});

describe("input types and outputs", () => {
  it("serves strings", async () => {
    const { json } = await server.predict("strlen", { input: "héllo" });
    expect(json).toMatchObject({ output: "5", default: false });
    const batch = await server.predict("strlen", { input_batch: ["a", "bb", ""] });
    expect(batch.json.batch_predictions.map((p: { output: string }) => p.output)).toEqual(["1", "2", "0"]);
  });

  it("serves bytes sent as base64", async () => {
    const { json } = await server.predict("bytelen", { input: Buffer.from([0, 1, 2, 255]).toString("base64") });
    expect(json).toMatchObject({ output: "4", default: false });
    const bad = await server.predict("bytelen", { input: "not base64!" });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toContain("base64");
  });

  it("serves integers and rejects non-integers", async () => {
    const { json } = await server.predict("intsum", { input: [1, 2, 2147483647] });
    expect(json).toMatchObject({ output: "2147483650", default: false });
    const bad = await server.predict("intsum", { input: [1, 2.5] });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe("input[1] is the number 2.5, not a 32-bit integer");
  });

  it("nests an output that is a JSON object", async () => {
    const { json } = await server.predict("dict", { input: [1, 2, 3] });
    expect(json.output).toEqual({ label: "yes", n: 3 });
  });
});

describe("shutdown", () => {
  it("answers in-flight queries, stops the runtimes and exits 0 on SIGTERM", async () => {
    const s = await startServer();
    const dep = await s.cli("deploy", join(fx.dir, "slow.pkl"), "--name", "slow", "--slo-micros", "2000000", "--url", "$MGMT");
    expect(dep.code).toBe(0);
    const pids = (await s.admin("get_all_containers", {})).json.map((c: { pid: number }) => c.pid);
    const inflight = s.predict("slow", { input: [1, 2] });
    await Bun.sleep(100);
    const code = await s.stop("SIGTERM");
    const answer = await inflight;
    expect(answer.json).toMatchObject({ output: "3.0", default: false });
    expect(code).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    cleanup(s.dataDir);
  });
});
