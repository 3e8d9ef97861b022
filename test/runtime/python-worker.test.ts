/** The server side of the protocol against the real Python worker: handshake, packed batches, errors, garbage. */
import { describe, expect, it } from "bun:test";
import { join } from "node:path";
import { packBatch } from "../../src/batching/model-queue.ts";
import { plainOutput, RowFailure, TensorRow } from "../../src/domain.ts";
import { ModelContractError } from "../../src/errors.ts";
import { Replica } from "../../src/runtime/replica.ts";
import { makeFixtures, PYTHON, ROOT, tempDir } from "../e2e/harness.ts";

const fx = makeFixtures();
const WORKER = join(ROOT, "runtimes/python/clipper_worker.py");
const logDir = tempDir();

function replica(artifact: string, extra: string[] = []): Replica {
  return new Replica({
    id: "t#1",
    command: [PYTHON, WORKER, "--artifact", join(fx.dir, artifact), ...extra],
    env: { PYTHONPATH: join(ROOT, "test/fixtures") },
    logPath: join(logDir, "replica.log"),
  });
}

const q = (row: number[] | string) => ({ rows: [row], deadlineMs: Infinity, sloMicros: 1e9, retried: false, resolve() {}, reject() {} });
const pack = (rows: (number[] | string)[]) => packBatch("doubles", rows.map(q)).message;

describe("Python worker", () => {
  it("says hello with its versions, then answers a packed batch like scikit-learn", async () => {
    const r = replica("hr.pkl");
    const info = await r.start(30_000);
    expect(info).toMatchObject({ kind: "python", protocol: 3, model_class: "sklearn.tree._classes.DecisionTreeClassifier" });
    const result = await r.predict(pack(fx.rows), fx.rows.length);
    // Version 3: the labels come packed (int64), one TensorRow each, shown as the text version 2 sent.
    expect(result.outputs.every((o) => o instanceof TensorRow && o.tensor.dtype === "i8")).toBe(true);
    expect(result.outputs.map(plainOutput)).toEqual(fx.hrExpected);
    expect(result.predictMicros).toBeGreaterThan(0);
    await r.stop();
    expect(r.state).toBe("exited");
  });

  it("answers a version 2 server's frames with outputs as text (CLIPPER_RUNTIME_PROTOCOL=2 makes it announce 2)", async () => {
    const r = new Replica({
      id: "t#2",
      command: [PYTHON, WORKER, "--artifact", join(fx.dir, "hr.pkl")],
      env: { PYTHONPATH: join(ROOT, "test/fixtures"), CLIPPER_RUNTIME_PROTOCOL: "2" },
      logPath: join(logDir, "replica.log"),
    });
    expect(await r.start(30_000)).toMatchObject({ protocol: 2 });
    expect(r.protocol).toBe(2);
    expect((await r.predict(pack(fx.rows), fx.rows.length)).outputs).toEqual(fx.hrExpected);
    await r.stop();
  });

  it("kills a version 3 runtime whose packed tensor does not fit its batch, with a protocol error", async () => {
    const script = [
      "import msgpack, struct, sys",
      "def send(m):",
      "    b = msgpack.packb(m, use_bin_type=True); sys.stdout.buffer.write(struct.pack('<I', len(b)) + b); sys.stdout.buffer.flush()",
      "send({'v': 1, 'type': 'hello', 'id': 0, 'runtime': {'kind': 'fake', 'protocol': 3}})",
      "while True:",
      "    h = sys.stdin.buffer.read(4)",
      "    if len(h) < 4: break",
      "    m = msgpack.unpackb(sys.stdin.buffer.read(struct.unpack('<I', h)[0]), raw=False)",
      "    send({'v': m['v'], 'type': 'result', 'id': m['id'], 'tensor': {'dtype': 'f8', 'shape': [2], 'data': b'x' * 15}})",
    ].join("\n");
    const r = new Replica({ id: "t#3", command: [PYTHON, "-c", script], logPath: join(logDir, "replica.log") });
    await r.start(30_000);
    expect(r.protocol).toBe(3);
    await expect(r.predict(pack([[1], [2]]), 2)).rejects.toThrow("'tensor' must be {dtype, shape: [rows] or [rows, k], data: rows·k little-endian values}");
  });

  it("reports an exception in predict for that batch and keeps serving", async () => {
    const r = replica("raising.pkl");
    await r.start(30_000);
    await expect(r.predict(pack([[1]]), 1)).rejects.toThrow("ValueError: this model always fails");
    expect(r.state).toBe("ready");
    await r.stop();
  });

  it("speaks version 2 after its hello: one result with a RowFailure where a row raised alone", async () => {
    const r = replica("picky.pkl");
    await r.start(30_000);
    expect(r.protocol).toBe(3);
    const result = await r.predict(
      pack([
        [1, 1],
        [13, 1],
        [2, 2],
      ]),
      3,
    );
    expect(result.failedRows).toBe(1);
    expect(result.outputs[0]).toBe("2");
    expect(result.outputs[1]).toEqual(new RowFailure("the model raised: ValueError: 13 is not a valid first value"));
    expect(result.outputs[2]).toBe("4");
    await r.stop();
  });

  it("rejects a broken output contract as the model's contract error, naming the model", async () => {
    const r = new Replica({
      id: "short:1#1",
      model: "short:1",
      command: [PYTHON, WORKER, "--artifact", join(fx.dir, "short.pkl")],
      logPath: join(logDir, "short.log"),
    });
    await r.start(30_000);
    const failed = r.predict(
      pack([
        [1, 1],
        [2, 2],
      ]),
      2,
    );
    await expect(failed).rejects.toBeInstanceOf(ModelContractError);
    await expect(failed).rejects.toThrow("model short:1 returned 1 output for 2 inputs");
    expect(r.state).toBe("ready");
    await r.stop();
  });

  it("fails the start with the load error for a missing method", async () => {
    const r = replica("hr.pkl", ["--predict-method", "no_such_method"]);
    await expect(r.start(30_000)).rejects.toThrow("has no callable 'no_such_method' method");
  });

  it("rejects everything in flight when the process dies", async () => {
    const r = replica("slow.pkl");
    await r.start(30_000);
    const pending = r.predict(pack([[1]]), 1);
    process.kill(r.pid!, "SIGKILL");
    await expect(pending).rejects.toThrow(/killed by signal/);
  });
});
