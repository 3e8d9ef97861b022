/**
 * The runtime contract, run against every runtime kind: the same inputs give the same answers, and an
 * exception in predict, a crash, a hang, an oversized answer and a broken output contract each end the same
 * way; rows a model raises on are isolated inside the runtime (protocol version 2), and a runtime that speaks
 * only version 1 is still served (the server splits its failed batches). The Docker runtime
 * runs real containers of clipper/python-runtime (built by scripts/image) on a real engine.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { docker, dockerMissing, RUNTIME_IMAGE } from "./docker.ts";
import { FIXTURES, fetchJson, makeFixtures, PYTHON, type Server, shutdown, startServer, waitFor } from "./harness.ts";

const fx = makeFixtures();
const PREDICT_TIMEOUT_MS = 1500;
const MAX_RESPONSE_BYTES = 1024 * 1024;

interface RuntimeUnderTest {
  readonly kind: string;
  /** artifact and extra deploy flags per behaviour */
  readonly sum: string[];
  readonly raising: string[];
  readonly hang: string[];
  readonly big: string[];
  /** raises for a batch holding a row that starts with 13 */
  readonly picky: string[];
  /** returns one output too few */
  readonly short: string[];
  /** Why this runtime cannot be tested here (a real skip), or undefined. */
  readonly missing?: string | undefined;
}

interface Replica {
  readonly model_name: string;
  readonly state: string;
  readonly pid: number;
  readonly container: string | null;
}

/** Kills a replica from outside: its process, or for Docker its container (`docker kill`). */
function crash(replica: Replica): void {
  if (replica.container) {
    const r = docker("kill", replica.container);
    if (r.code !== 0) throw new Error(`docker kill ${replica.container} failed: ${r.stderr}`);
  } else {
    process.kill(replica.pid, "SIGKILL");
  }
}

const image = ["--image", RUNTIME_IMAGE];
const portable = (name: string) => join(fx.dir, "portable", `${name}.pkl`);
const RUNTIMES: RuntimeUnderTest[] = [
  {
    kind: "python",
    sum: [join(fx.dir, "sum.pkl")],
    raising: [join(fx.dir, "raising.pkl")],
    hang: [join(fx.dir, "hang.pkl")],
    big: [join(fx.dir, "big.pkl")],
    // cloudpickled closures (Clipper's deploy_python_closure)
    picky: [join(fx.dir, "picky.pkl")],
    short: [join(fx.dir, "short.pkl")],
  },
  {
    kind: "node",
    sum: [join(FIXTURES, "sum_model.mjs")],
    raising: [join(FIXTURES, "raising_model.mjs")],
    hang: [join(FIXTURES, "hang_model.mjs")],
    big: [join(FIXTURES, "big_model.mjs")],
    picky: [join(FIXTURES, "picky_model.mjs")],
    short: [join(FIXTURES, "short_model.mjs")],
  },
  {
    // The container cannot import the tests' fixture module: these pickles carry their classes by value.
    kind: "docker",
    sum: [portable("sum"), ...image],
    raising: [portable("raising"), ...image],
    hang: [portable("hang"), ...image],
    big: [portable("big"), ...image],
    picky: [portable("picky"), ...image],
    short: [portable("short"), ...image],
    missing: dockerMissing(RUNTIME_IMAGE),
  },
];

let server: Server;
beforeAll(async () => {
  server = await startServer({
    env: { CLIPPER_PREDICT_TIMEOUT_MS: String(PREDICT_TIMEOUT_MS), CLIPPER_MAX_RESPONSE_BYTES: String(MAX_RESPONSE_BYTES) },
  });
});
afterAll(() => shutdown(server));

async function deploy(name: string, args: string[]) {
  const res = await server.cli("deploy", ...args, "--name", name, "--default-output", "fallback", "--url", "$MGMT");
  if (res.code !== 0) throw new Error(`deploy ${name} failed: ${res.stderr}`);
}

async function replicaOf(model: string): Promise<Replica | undefined> {
  return (await server.admin("get_all_containers", {})).json.find((c: Replica) => c.model_name === model && c.state === "ready");
}

const modelStats = async (key: string) => (await fetchJson(`${server.queryUrl}/metrics.json`)).models[key] ?? {};

/** Twenty rows; rows 3 and 13 start with 13 (the picky models raise on those). */
const PICKY_ROWS = Array.from({ length: 20 }, (_, i) => [i === 3 || i === 13 ? 13 : 20 + i, 1, 1]);

/** The rows of `answer` as PICKY_ROWS expects: the raising rows the default with the model's message, the others their sums. */
function expectPickyAnswer(answer: { batch_predictions: { output: string; default: boolean; default_explanation?: string }[] }) {
  answer.batch_predictions.forEach((p, i) => {
    if (i === 3 || i === 13) {
      expect(p).toMatchObject({ output: "fallback", default: true });
      expect(p.default_explanation).toContain("13 is not a valid first value");
    } else {
      expect(p).toMatchObject({ output: String(22 + i), default: false });
    }
  });
}

/** A model that returns one output too few: every row gets the default with the contract's reason, no split, `status` shows it. */
async function expectContractError(model: string) {
  const reason = `model ${model}:1 returned 1 output for 2 inputs`;
  const before = await modelStats(`${model}:1`);
  const { json } = await server.predict(model, {
    input_batch: [
      [1, 2],
      [3, 4],
    ],
  });
  expect(json.batch_predictions).toEqual([
    expect.objectContaining({ output: "fallback", default: true, default_explanation: reason }),
    expect.objectContaining({ output: "fallback", default: true, default_explanation: reason }),
  ]);
  const single = await server.predict(model, { input: [5, 6] });
  expect(single.json).toMatchObject({ default: true, default_explanation: `model ${model}:1 returned 0 outputs for 1 input` });
  const after = await modelStats(`${model}:1`);
  expect(after.batch_splits ?? 0).toBe(before.batch_splits ?? 0);
  expect(after.isolated_row_failures ?? 0).toBe(before.isolated_row_failures ?? 0);
  const status = (await server.admin("status")).json.models.find((m: { model_name: string }) => m.model_name === model);
  expect(status.last_error).toBe(`model ${model}:1 returned 0 outputs for 1 input`);
  // The server's log says each distinct break once (as an error event), not once per batch.
  const said = server
    .log()
    .split("\n")
    .filter((l) => l.includes('"model_contract"') && l.includes(reason));
  expect(said.length).toBe(1);
}

/** What tells one replica from its replacement: the container name for Docker, else the process id. */
async function pidOf(model: string): Promise<number | string | undefined> {
  const r = await replicaOf(model);
  return r ? (r.container ?? r.pid) : undefined;
}

for (const rt of RUNTIMES) {
  if (rt.missing) console.log(`${rt.kind} runtime contract skipped: ${rt.missing}`);
  describe.skipIf(rt.missing !== undefined)(`${rt.kind} runtime`, () => {
    it("answers the same inputs with the same outputs", async () => {
      await deploy(`${rt.kind}-sum`, rt.sum);
      const { json } = await server.predict(`${rt.kind}-sum`, {
        input_batch: [
          [1, 2, 3],
          [10, 20, 30],
          [0, 0, 7],
        ],
      });
      expect(json.batch_predictions.map((p: { output: string }) => p.output)).toEqual(["6", "60", "7"]);
    });

    it("answers the default with the model's message when predict raises, and keeps the replica", async () => {
      await deploy(`${rt.kind}-raising`, rt.raising);
      const pid = await pidOf(`${rt.kind}-raising`);
      const { json } = await server.predict(`${rt.kind}-raising`, { input: [1] });
      expect(json).toMatchObject({ output: "fallback", default: true });
      expect(json.default_explanation).toContain("this model always fails");
      expect(await pidOf(`${rt.kind}-raising`)).toBe(pid);
    });

    it("isolates the rows the model raises on inside the runtime: their defaults, the others' predictions, no split", async () => {
      await deploy(`${rt.kind}-picky`, rt.picky);
      const pid = await pidOf(`${rt.kind}-picky`);
      const { json } = await server.predict(`${rt.kind}-picky`, { input_batch: PICKY_ROWS });
      expectPickyAnswer(json);
      const single = await server.predict(`${rt.kind}-picky`, { input: [13, 1, 1] });
      expect(single.json).toMatchObject({ output: "fallback", default: true });
      expect(single.json.default_explanation).toContain("13 is not a valid first value");
      const stats = await modelStats(`${rt.kind}-picky:1`);
      // Protocol version 2: the runtime answered each batch once, with an error per raising row.
      expect(stats.batch_splits ?? 0).toBe(0);
      expect(stats.isolated_row_failures).toBe(3);
      expect(stats.batches).toBe(1);
      expect(await pidOf(`${rt.kind}-picky`)).toBe(pid);
    });

    it("answers a model that breaks the output contract with the same reason, without isolating rows", async () => {
      await deploy(`${rt.kind}-short`, rt.short);
      await expectContractError(`${rt.kind}-short`);
    });

    it("replaces a replica that crashes, and serves again", async () => {
      const victim = (await replicaOf(`${rt.kind}-sum`))!;
      const pid = victim.container ?? victim.pid;
      crash(victim);
      const replaced = await waitFor(async () => {
        const p = await pidOf(`${rt.kind}-sum`);
        return p !== undefined && p !== pid ? p : undefined;
      });
      expect(replaced).toBeDefined();
      expect((await server.predict(`${rt.kind}-sum`, { input: [2, 2] })).json).toMatchObject({ output: "4", default: false });
    });

    it("answers on the SLO when the model hangs, then kills and replaces the hung replica", async () => {
      await deploy(`${rt.kind}-hang`, rt.hang);
      const pid = await pidOf(`${rt.kind}-hang`);
      const { json } = await server.predict(`${rt.kind}-hang`, { input: [1] });
      expect(json).toMatchObject({ output: "fallback", default: true });
      const status = await waitFor(async () => {
        const m = (await server.admin("status")).json.models.find((x: { model_name: string }) => x.model_name === `${rt.kind}-hang`);
        // It never answered anything: the watchdog's threshold is the ceiling, CLIPPER_PREDICT_TIMEOUT_MS.
        return m.last_error?.includes(`did not answer a batch of 1 row within ${PREDICT_TIMEOUT_MS} ms`) ? m : undefined;
      });
      expect(status).toBeDefined();
      expect(
        await waitFor(async () => {
          const p = await pidOf(`${rt.kind}-hang`);
          return p !== pid ? p : undefined;
        }),
      ).toBeDefined();
    });

    it("fails a batch whose answer is over the size limit, and keeps the replica", async () => {
      await deploy(`${rt.kind}-big`, rt.big);
      const pid = await pidOf(`${rt.kind}-big`);
      const { json } = await server.predict(`${rt.kind}-big`, { input: [1] });
      expect(json).toMatchObject({ output: "fallback", default: true });
      expect(json.default_explanation).toContain(`over the limit of ${MAX_RESPONSE_BYTES} bytes`);
      expect(await pidOf(`${rt.kind}-big`)).toBe(pid);
    });
  });
}

describe("a runtime that speaks only protocol version 1 (a command of the user's own)", () => {
  const v1 = (mode: string) => ["--command", `${PYTHON} ${join(FIXTURES, "v1_runtime.py")} --mode ${mode}`];

  it("is still served: the server splits its failed batches to isolate the raising rows", async () => {
    await deploy("v1-picky", v1("picky"));
    const { json } = await server.predict("v1-picky", { input_batch: PICKY_ROWS });
    expectPickyAnswer(json);
    const stats = await modelStats("v1-picky:1");
    expect(stats.batch_splits).toBeGreaterThan(0);
    expect(stats.isolated_row_failures).toBe(2);
  });

  it("answers a result of the wrong length as a broken output contract, the same way as the runtimes that check it", async () => {
    await deploy("v1-short", v1("short"));
    await expectContractError("v1-short");
  });
});
