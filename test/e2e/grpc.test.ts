/** End to end: V2 gRPC's query tokens, message size limit, default rows, metrics label and graceful shutdown, with @grpc/grpc-js as the client. */
import { status } from "@grpc/grpc-js";
import { connect } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cleanup, FIXTURES, makeFixtures, PYTHON, type Server, shutdown, startServer, tempDir } from "./harness.ts";
import { inferOutput, decodeResponse, encodeRequest, fp64Infer, v2Grpc, type V2GrpcClient } from "./oip/grpc-client.ts";

const fx = makeFixtures();
let server: Server;
let grpc: V2GrpcClient;

beforeAll(async () => {
  server = await startServer({ grpc: true, args: ["--max-body-bytes", "4096"] });
  await server.cliOk("deploy", join(fx.dir, "hr.pkl"), "--name", "hr");
  await server.cliOk("register-app", "secret-hr", "--input-type", "doubles", "--query-token", "query-secret-0123456789");
  await server.cliOk("link", "secret-hr", "hr");
  await server.cliOk("deploy", join(fx.dir, "slow.pkl"), "--name", "slow", "--slo-micros", "20000", "--default-output", "late");
  await server.cliOk("deploy", join(fx.dir, "length.pkl"), "--name", "length", "--input-type", "strings");
  grpc = v2Grpc(server.grpcAddress!);
});
afterAll(async () => {
  grpc?.close();
  await shutdown(server);
});

describe("V2 gRPC", () => {
  it("takes typed contents (fp64, fp32, bytes) as well as raw_input_contents, and an empty request is INVALID_ARGUMENT", async () => {
    const rows = fx.rows.slice(0, 4);
    const typed = (datatype: string, field: string) =>
      grpc.call("ModelInfer", {
        model_name: "hr",
        inputs: [{ name: "input", datatype, shape: [4, 5], contents: { [field]: rows.flat() } }],
      });
    for (const res of [await typed("FP64", "fp64_contents"), await typed("FP32", "fp32_contents")]) {
      expect(res.ok && inferOutput(res.value)).toEqual(fx.hrExpected.slice(0, 4).map(Number));
    }
    const text = await grpc.call("ModelInfer", {
      model_name: "length",
      inputs: [{ name: "input", datatype: "BYTES", shape: [2], contents: { bytes_contents: [Buffer.from("héllo"), Buffer.from("")] } }],
    });
    expect(text.ok && inferOutput(text.value)).toEqual(["5", "0"]);
    const empty = await grpc.call("ModelInfer", { model_name: "hr" });
    expect(!empty.ok && empty.error.code).toBe(status.INVALID_ARGUMENT);
    expect(!empty.ok && empty.error.details).toBe("'inputs' must hold exactly one tensor, got 0");
    // Rows of the wrong width are refused at the door, as over REST.
    const narrow = await grpc.call(
      "ModelInfer",
      fp64Infer("hr", [
        [1, 2, 3],
        [4, 5, 6],
      ]),
    );
    expect(!narrow.ok && narrow.error.code).toBe(status.INVALID_ARGUMENT);
    expect(!narrow.ok && narrow.error.details).toBe("each row of inputs[0] has 3 values; model hr version 1 expects 5 (send rows of 5 values)");
  });

  it("needs an app's query token in the authorization metadata", async () => {
    const req = fp64Infer("secret-hr", fx.rows.slice(0, 3));
    const none = await grpc.call("ModelInfer", req);
    const wrong = await grpc.call("ModelInfer", req, "guess");
    const right = await grpc.call("ModelInfer", req, "query-secret-0123456789");
    expect(!none.ok && none.error.code).toBe(status.UNAUTHENTICATED);
    expect(!none.ok && none.error.details).toContain("application 'secret-hr' needs its query token");
    expect(!wrong.ok && wrong.error.code).toBe(status.UNAUTHENTICATED);
    expect(right.ok && inferOutput(right.value)).toEqual(fx.hrExpected.slice(0, 3).map(Number));
    const meta = await grpc.call("ModelMetadata", { name: "secret-hr" });
    expect(!meta.ok && meta.error.code).toBe(status.UNAUTHENTICATED);
  });

  it("refuses a message over --max-body-bytes with RESOURCE_EXHAUSTED naming the limit, and keeps serving", async () => {
    const rows = Array.from({ length: 120 }, (_, i) => fx.rows[i % fx.rows.length]!);
    const big = await grpc.call("ModelInfer", fp64Infer("hr", rows));
    expect(!big.ok && big.error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(!big.ok && big.error.details).toContain("4096");
    const small = await grpc.call("ModelInfer", fp64Infer("hr", fx.rows.slice(0, 2)));
    expect(small.ok && inferOutput(small.value)).toEqual(fx.hrExpected.slice(0, 2).map(Number));
  });

  it("answers lying gRPC framing (short message, compressed flag, trailing bytes, a prefix over the limit) with a status, not a hang", async () => {
    const session = connect(`http://${server.grpcAddress}`);
    const send = (body: Buffer) =>
      new Promise<{ status: string; message: string }>((resolve) => {
        const req = session.request({
          ":method": "POST",
          ":path": "/inference.GRPCInferenceService/ServerLive",
          "content-type": "application/grpc",
          te: "trailers",
        });
        let headers: Record<string, unknown> = {};
        req.on("response", (h) => (headers = h));
        req.on("trailers", (t) => (headers = { ...headers, ...t }));
        req.on("end", () => resolve({ status: String(headers["grpc-status"]), message: decodeURIComponent(String(headers["grpc-message"] ?? "")) }));
        req.resume();
        req.end(body);
      });
    const prefix = (flag: number, length: number) => Buffer.from([flag, length >>> 24, (length >>> 16) & 255, (length >>> 8) & 255, length & 255]);
    expect(await send(Buffer.concat([prefix(0, 10), Buffer.alloc(3)]))).toEqual({
      status: String(status.INVALID_ARGUMENT),
      message: "a unary call carries one message of 10 bytes, got 3 bytes after its prefix",
    });
    expect(await send(Buffer.from([0, 0]))).toEqual({ status: String(status.INVALID_ARGUMENT), message: "a unary call carries one message, got 2 bytes" });
    expect((await send(prefix(1, 0))).status).toBe(String(status.UNIMPLEMENTED));
    expect((await send(Buffer.concat([prefix(0, 0), prefix(0, 0)]))).status).toBe(String(status.INVALID_ARGUMENT));
    const huge = await send(prefix(0, 2 ** 31));
    expect(huge).toEqual({
      status: String(status.RESOURCE_EXHAUSTED),
      message: "the request message is larger than the limit of 4096 bytes (--max-body-bytes)",
    });
    expect(await send(prefix(0, 0))).toEqual({ status: "0", message: "" });
    session.close();
  });

  it("flags rows that got the default output in the response parameters, as REST does", async () => {
    const res = await grpc.call(
      "ModelInfer",
      fp64Infer("slow", [
        [1, 2],
        [3, 4],
      ]),
    );
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(inferOutput(res.value)).toEqual(["late", "late"]);
    const rows = JSON.parse(res.value.parameters.default_rows.string_param);
    expect(rows).toEqual([
      { row: 0, explanation: "no prediction within the latency SLO of 20000 µs" },
      { row: 1, explanation: "no prediction within the latency SLO of 20000 µs" },
    ]);
    const rest = await fetch(`${server.queryUrl}/v2/models/slow/infer`, {
      method: "POST",
      body: JSON.stringify({ inputs: [{ name: "input", shape: [2, 2], datatype: "FP64", data: [5, 6, 7, 8] }] }),
    });
    expect(JSON.parse(((await rest.json()) as { parameters: { default_rows: string } }).parameters.default_rows)).toEqual(rows);
  });

  it('counts gRPC queries under clipper_queries_total with protocol="grpc"', async () => {
    const scrape = async () => {
      const text = await (await fetch(`${server.queryUrl}/metrics`, { headers: { accept: "text/plain" } })).text();
      const count = (protocol: string, outcome: string) =>
        Number(new RegExp(`^clipper_queries_total\\{app="hr",outcome="${outcome}",protocol="${protocol}"\\} (\\d+)`, "m").exec(text)?.[1] ?? 0);
      return { grpc: count("grpc", "prediction"), rest: count("rest", "prediction"), rejected: count("grpc", "rejected") };
    };
    const before = await scrape();
    await grpc.call("ModelInfer", fp64Infer("hr", fx.rows.slice(0, 5)));
    await grpc.call("ModelInfer", { ...fp64Infer("hr", fx.rows.slice(0, 1)), inputs: [{ name: "input", datatype: "FP64", shape: [2, 5] }] });
    await fetch(`${server.queryUrl}/hr/predict`, { method: "POST", body: JSON.stringify({ input: fx.rows[0] }) });
    const after = await scrape();
    expect(after.grpc - before.grpc).toBe(5);
    expect(after.rest - before.rest).toBe(1);
    expect(after.rejected - before.rejected).toBe(1);
  });
});

describe("V2 gRPC shutdown", () => {
  it("on SIGTERM finishes the call in flight, refuses new ones, and exits 0", async () => {
    const s = await startServer({ grpc: true });
    const mark = join(tempDir("clipper-mark-"), "started");
    const model = join(s.dataDir, "mark.pkl");
    const made = Bun.spawnSync(
      [PYTHON, "-c", `import pickle, fixture_models as fm; pickle.dump(fm.MarkModel(${JSON.stringify(mark)}, 1.0), open(${JSON.stringify(model)}, "wb"))`],
      { env: { ...process.env, PYTHONPATH: FIXTURES } },
    );
    expect(made.exitCode).toBe(0);
    await s.cliOk("deploy", model, "--name", "mark", "--slo-micros", "5000000");
    const client = v2Grpc(s.grpcAddress!);
    const inflight = client.call("ModelInfer", fp64Infer("mark", [[1, 2]]));
    // Wait until the model is predicting: the call is then in flight for about a second more.
    while (!existsSync(mark)) await Bun.sleep(10);
    const t0 = performance.now();
    const exited = s.stop("SIGTERM");
    while (!s.log().includes('"event":"shutdown"')) await Bun.sleep(10);
    // Shutdown has begun and the call is still in flight: a new call is refused.
    const fresh = v2Grpc(s.grpcAddress!);
    const refused = await fresh.call("ServerLive", {});
    expect(!refused.ok && refused.error.code).toBe(status.UNAVAILABLE);
    const answer = await inflight;
    expect(answer.ok && inferOutput(answer.value)).toEqual(["3.0"]);
    expect(await exited).toBe(0);
    const exitMs = performance.now() - t0;
    console.log(`SIGTERM with a gRPC call in flight: exit 0 after ${exitMs.toFixed(0)} ms`);
    // Drained, not cut off by the grace period (10 s by default).
    expect(exitMs).toBeLessThan(8000);
    client.close();
    fresh.close();
    cleanup(s.dataDir);
  });
});

describe("V2 gRPC with a large body", () => {
  it("answers a 10 MB message that arrives in 1 KB pieces (read once into one buffer)", async () => {
    const s = await startServer({ grpc: true, args: ["--max-body-bytes", String(16 * 1024 * 1024)] });
    try {
      // A long SLO: ten megabytes go through the cache keys and the pipe to the runtime on a loaded machine.
      await s.cliOk("deploy", join(fx.dir, "length.pkl"), "--name", "length", "--input-type", "strings", "--slo-micros", "30000000");
      // Ten strings of a million bytes (the longest a string input may be).
      const element = Buffer.alloc(4 + 1_000_000, "a");
      element.writeUInt32LE(1_000_000, 0);
      const message = encodeRequest("ModelInfer", {
        model_name: "length",
        inputs: [{ name: "input", datatype: "BYTES", shape: [10] }],
        raw_input_contents: [Buffer.concat(Array.from({ length: 10 }, () => element))],
      });
      expect(message.length).toBeGreaterThan(10_000_000);
      const prefix = Buffer.from([0, 0, 0, 0, 0]);
      prefix.writeUInt32BE(message.length, 1);
      const frame = Buffer.concat([prefix, message]);
      const session = connect(`http://${s.grpcAddress}`);
      const reply = await new Promise<{ status: string; body: Buffer }>((resolve, reject) => {
        const req = session.request({
          ":method": "POST",
          ":path": "/inference.GRPCInferenceService/ModelInfer",
          "content-type": "application/grpc",
          te: "trailers",
        });
        const chunks: Buffer[] = [];
        let grpcStatus = "";
        req.on("response", (h) => {
          grpcStatus = String(h["grpc-status"] ?? grpcStatus);
          if (h["grpc-message"]) chunks.push(Buffer.from(decodeURIComponent(String(h["grpc-message"]))));
        });
        req.on("trailers", (t) => (grpcStatus = String(t["grpc-status"] ?? grpcStatus)));
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve({ status: grpcStatus, body: Buffer.concat(chunks) }));
        req.on("error", reject);
        // 10,241 writes of 1 KB: as many DATA frames at most that size.
        const write = (at: number) => {
          while (at < frame.length) {
            const piece = frame.subarray(at, at + 1024);
            at += piece.length;
            if (!req.write(piece)) return req.once("drain", () => write(at));
          }
          req.end();
        };
        write(0);
      });
      session.close();
      expect({ status: reply.status, body: reply.status === "0" ? "" : reply.body.toString() }).toEqual({ status: "0", body: "" });
      const response = decodeResponse("ModelInfer", reply.body.subarray(5));
      expect(inferOutput(response)).toEqual(Array.from({ length: 10 }, () => "1000000"));
    } finally {
      await shutdown(s);
    }
  });
});
