/**
 * scripts/bench --tensors: rows/s for [64, 5] FP64 tensors at 16 concurrent callers, clipper over its own REST
 * JSON (`input_batch`), V2 REST JSON, REST binary tensor data and gRPC (cache off, 1 Python replica), beside
 * MLServer's REST and gRPC on the same pickle; with `--before BINARY`, an older clipper binary beside it (the
 * before/after of a change), and with `--rounds N`, every point loaded once per round in turn (interleaved)
 * and the median kept. REST load comes from fetch in this Bun process, gRPC load from grpcio (grpc_load.py),
 * the same for every system. Writes tensors.md and tensors.json.
 */
import { credentials, loadPackageDefinition, type Client, type GrpcObject, type ServiceClientConstructor } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { copyFileSync, chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { hrRows, type Row } from "../lib/bodies.ts";
import { describeMachine, type Machine } from "../lib/machine.ts";
import { freePort, installCleanup, run, serviceCpu, spawnService, waitFor, waitQuiet } from "../lib/proc.ts";
import { deployHr, mlserver, predictsOk, startClipper, type Context } from "./systems.ts";
import { ensureBenchVenv, trainModel } from "./venv.ts";

const ROOT = resolve(import.meta.dir, "../..");
const ROWS = 64;
const CALLERS = 16;
const log = (line: string) => process.stderr.write(`[bench tensors] ${line}\n`);

interface Point {
  system: string;
  transport: string;
  requests: number;
  errors: number;
  seconds: number;
  /** Rows answered with a prediction per second (rows that got clipper's default output are not counted). */
  rowsPerSec: number;
  defaultRows: number;
  p50Ms: number;
  p99Ms: number;
  firstError?: string;
  /** CPU per request of the server process and of its children (the replicas, MLServer's workers), and of the gRPC load client. */
  serverCpuMicros: number;
  childrenCpuMicros: number;
  clientCpuMicros?: number;
  /** clipper: the mean rows of the batches its replica was sent during the point (from /metrics.json). */
  meanBatchRows?: number;
}

/** One call: resolves when the answer is in and checked; throws on anything but a good answer. */
type Call = (batch: number) => Promise<void>;

/** CALLERS loops calling back to back for `seconds`; latency per call, errors counted (a failing call is not retried). */
async function drive(
  call: Call,
  seconds: number,
): Promise<Pick<Point, "requests" | "errors" | "seconds" | "rowsPerSec" | "p50Ms" | "p99Ms" | "firstError" | "clientCpuMicros">> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await call(next++ % BATCHES.length);
          latencies.push(performance.now() - t0);
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message.slice(0, 300);
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return {
    requests: latencies.length,
    errors,
    seconds: elapsed,
    rowsPerSec: (latencies.length * ROWS) / elapsed,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    ...(firstError ? { firstError } : {}),
  };
}

const BATCHES: Row[][] = (() => {
  const rows = hrRows(ROWS * 100, 7);
  return Array.from({ length: 100 }, (_, i) => rows.slice(i * ROWS, (i + 1) * ROWS));
})();

const inputBatchBodies = BATCHES.map((b) => JSON.stringify({ input_batch: b }));
const jsonBodies = BATCHES.map((b) => JSON.stringify({ inputs: [{ name: "input", shape: [ROWS, 5], datatype: "FP64", data: b.flat() }] }));
const rawTensors = BATCHES.map((b) => Buffer.from(new Float64Array(b.flat()).buffer));
/** What Triton's HTTP client sends by default: the tensor as binary data, and binary outputs asked for. */
const binaryBodies = rawTensors.map((raw) => {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: "input", shape: [ROWS, 5], datatype: "FP64", parameters: { binary_data_size: raw.length } }],
      parameters: { binary_data_output: true },
    }),
  );
  return { body: Buffer.concat([header, raw]), headerLength: String(header.length) };
});

async function expectOk(res: Response): Promise<void> {
  const body = await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`status ${res.status}: ${Buffer.from(body).toString().slice(0, 200)}`);
}

const restJson =
  (url: string): Call =>
  async (i) =>
    expectOk(await fetch(url, { method: "POST", body: jsonBodies[i], headers: { "content-type": "application/json" } }));

const restInputBatch =
  (url: string): Call =>
  async (i) =>
    expectOk(await fetch(url, { method: "POST", body: inputBatchBodies[i], headers: { "content-type": "application/json" } }));

const restBinary =
  (url: string): Call =>
  async (i) => {
    const b = binaryBodies[i]!;
    await expectOk(
      await fetch(url, {
        method: "POST",
        body: b.body,
        headers: { "inference-header-content-length": b.headerLength, "content-type": "application/octet-stream" },
      }),
    );
  };

const Service = (() => {
  const definition = loadSync(join(ROOT, "src/grpc/grpc_predict_v2.proto"), { keepCase: true, longs: Number, defaults: false, oneofs: true });
  return (loadPackageDefinition(definition).inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor;
})();

/** ModelInfer with raw_input_contents (as Triton's gRPC client sends), or typed fp64_contents. */
function grpcInfer(client: Client, model: string, typed: boolean): Call {
  return (i) =>
    new Promise((resolveCall, reject) => {
      const input = { name: "input", datatype: "FP64", shape: [ROWS, 5], ...(typed ? { contents: { fp64_contents: BATCHES[i]!.flat() } } : {}) };
      (client as unknown as { ModelInfer: (req: unknown, cb: (err: Error | null, res: { outputs?: unknown[] }) => void) => void }).ModelInfer(
        { model_name: model, inputs: [input], ...(typed ? {} : { raw_input_contents: [rawTensors[i]] }) },
        (err, res) => (err ? reject(err) : res.outputs?.length ? resolveCall() : reject(new Error("no outputs"))),
      );
    });
}

type Driven = Awaited<ReturnType<typeof drive>>;
/** Loads a system for `seconds` and says what came back. */
type Load = (seconds: number) => Promise<Driven>;

const fetchLoad =
  (call: Call): Load =>
  async (seconds) => {
    await call(0); // fails loudly before any load when the transport does not work
    const cpu0 = process.cpuUsage();
    const driven = await drive(call, seconds);
    const cpu = process.cpuUsage(cpu0);
    return { ...driven, clientCpuMicros: driven.requests ? (cpu.user + cpu.system) / driven.requests : 0 };
  };

/**
 * gRPC load from grpcio's C core (scripts/bench.d/grpc_load.py, Triton's stubs): a @grpc/grpc-js client in
 * this process costs more CPU per call than the servers under test and would measure itself.
 */
const pythonGrpcLoad =
  (benchPython: string, address: string, model: string): Load =>
  async (seconds) => {
    // Two client processes of CALLERS / 2 callers each: one Python process tops out near a core's worth of calls.
    const parts = await Promise.all(
      [0, 1].map(async () => {
        const r = await run(
          [benchPython, join(import.meta.dir, "grpc_load.py"), address, model, String(seconds), String(CALLERS / 2), JSON.stringify(BATCHES.slice(0, 20))],
          { cwd: ROOT, timeoutMs: (seconds + 60) * 1000 },
        );
        if (r.code !== 0) throw new Error(`grpc_load.py exited ${r.code}: ${r.stderr.slice(-2000)}`);
        return JSON.parse(r.stdout) as {
          requests: number;
          errors: number;
          seconds: number;
          p50_ms: number;
          p99_ms: number;
          first_error: string | null;
          cpu_sec: number;
        };
      }),
    );
    const requests = parts.reduce((a, x) => a + x.requests, 0);
    const elapsed = Math.max(...parts.map((x) => x.seconds));
    const firstError = parts.find((x) => x.first_error)?.first_error;
    return {
      requests,
      errors: parts.reduce((a, x) => a + x.errors, 0),
      seconds: elapsed,
      rowsPerSec: (requests * ROWS) / elapsed,
      // The median of the two medians' mean and the larger p99: close enough for two equal halves of the load.
      p50Ms: (parts[0]!.p50_ms + parts[1]!.p50_ms) / 2,
      p99Ms: Math.max(...parts.map((x) => x.p99_ms)),
      clientCpuMicros: requests ? (parts.reduce((a, x) => a + x.cpu_sec, 0) * 1e6) / requests : 0,
      ...(firstError ? { firstError } : {}),
    };
  };

async function measure(
  system: string,
  transport: string,
  load: Load,
  o: { durationSec: number; warmupSec: number; quietMs: number },
  pid: number,
  counters: () => Promise<Counters> = async () => ({ defaults: 0, batches: 0, rows: 0 }),
): Promise<Point> {
  await waitQuiet(o.quietMs);
  if (o.warmupSec > 0) await load(o.warmupSec);
  const before = await counters();
  const cpuBefore = serviceCpu(pid);
  const driven = await load(o.durationSec);
  const cpuAfter = serviceCpu(pid);
  const after = await counters();
  const defaultRows = after.defaults - before.defaults;
  const batches = after.batches - before.batches;
  const perRequest = (sec: number) => (driven.requests ? (sec * 1e6) / driven.requests : 0);
  const point = {
    system,
    transport,
    ...driven,
    defaultRows,
    rowsPerSec: (driven.requests * ROWS - defaultRows) / driven.seconds,
    serverCpuMicros: perRequest(cpuAfter.leaderSec - cpuBefore.leaderSec),
    childrenCpuMicros: perRequest(cpuAfter.childrenSec - cpuBefore.childrenSec),
    ...(batches > 0 ? { meanBatchRows: (after.rows - before.rows) / batches } : {}),
  };
  log(
    `${system} ${transport}: ${Math.round(point.rowsPerSec)} rows/s predicted (${Math.round(point.requests / point.seconds)} req/s), ` +
      `p50 ${point.p50Ms.toFixed(2)} ms, p99 ${point.p99Ms.toFixed(2)} ms, errors ${point.errors}${point.firstError ? ` (${point.firstError})` : ""}, default rows ${defaultRows}, CPU µs/req server ${point.serverCpuMicros.toFixed(0)} + children ${point.childrenCpuMicros.toFixed(0)}`,
  );
  return point;
}

/** One point to load in every round: how, and where its CPU and default rows are read. */
interface Plan {
  readonly system: string;
  readonly transport: string;
  readonly load: Load;
  readonly pid: number;
  readonly counters?: () => Promise<Counters>;
}

/** A clipper server with HR deployed, and the points that load it. */
async function clipperPlans(ctx: Context, tag: string, system: string, benchPython: string): Promise<{ plans: Plan[]; stop: () => Promise<void> }> {
  const grpcPort = await freePort();
  const { service, queryUrl, mgmtUrl } = await startClipper(ctx, tag, true, grpcPort);
  try {
    await deployHr(ctx, mgmtUrl);
    await waitFor("clipper's first prediction", () => predictsOk(queryUrl), 30_000, 20, service);
  } catch (err) {
    await service.stop();
    throw err;
  }
  const infer = `${queryUrl}/v2/models/hr/infer`;
  const client = new Service(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  const counters = () => clipperCounters(queryUrl);
  const grpcLoad = benchPython ? pythonGrpcLoad(benchPython, `127.0.0.1:${grpcPort}`, "hr") : fetchLoad(grpcInfer(client, "hr", false));
  const plan = (transport: string, load: Load): Plan => ({ system, transport, load, pid: service.pid, counters });
  return {
    plans: [
      plan("REST JSON input_batch", fetchLoad(restInputBatch(`${queryUrl}/hr/predict`))),
      plan("REST JSON (V2)", fetchLoad(restJson(infer))),
      plan("REST binary", fetchLoad(restBinary(infer))),
      plan("gRPC", grpcLoad),
    ],
    stop: async () => {
      client.close();
      await service.stop();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      tensors: { type: "boolean" },
      out: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      before: { type: "string" },
      "grpc-python": { type: "string" },
      "torch-python": { type: "string" },
      "no-mlserver": { type: "boolean" },
      /** Only the points whose "system transport" contains one of these (comma-separated): short runs while developing. */
      only: { type: "string" },
    },
  });
  const rounds = Number(values.rounds ?? 1);
  const o = { durationSec: Number(values.duration ?? 10), warmupSec: Number(values.warmup ?? 2), rounds, quietMs: rounds > 1 ? 3000 : 20_000 };
  const out = resolve(values.out ?? join(ROOT, "bench"));
  installCleanup();
  const work = mkdtempSync(join(tmpdir(), "clipper-bench-tensors-"));
  const stops: (() => Promise<void>)[] = [];
  try {
    const bin = join(ROOT, "clipper");
    if (!existsSync(bin)) throw new Error("no ./clipper: run scripts/build first");
    const copy = (from: string, name: string) => {
      const to = join(work, name);
      copyFileSync(from, to);
      chmodSync(to, 0o755);
      return to;
    };
    const clipperBin = copy(bin, "clipper");
    const python = join(ROOT, ".venv/bin/python");
    const modelPath = await trainModel(ROOT, python, join(work, "hr.pkl"));
    let benchPython = "";
    let benchModelPath = modelPath;
    if (!values["no-mlserver"]) {
      benchPython = await ensureBenchVenv(ROOT, log);
      benchModelPath = await trainModel(ROOT, benchPython, join(work, "hr-bench.pkl"), modelPath);
    }
    const ctx: Context = {
      root: ROOT,
      work,
      clipperBin,
      python,
      benchPython,
      modelPath,
      benchModelPath,
      mlserverBatch: { maxBatchSize: 64, maxBatchTimeSec: 0.002 },
      token: "bench-token-0123456789abcdef",
    };
    // Without MLServer's venv, the gRPC load may still come from grpcio: a Python with grpcio and tritonclient[grpc].
    const loadPython = benchPython || (values["grpc-python"] ? resolve(values["grpc-python"]) : "");
    const plans: Plan[] = [];
    const after = await clipperPlans(ctx, "tensors", "clipper", loadPython);
    stops.push(after.stop);
    plans.push(...after.plans);
    if (values.before) {
      const before = await clipperPlans(
        { ...ctx, clipperBin: copy(resolve(values.before), "clipper-before") },
        "tensors-before",
        "clipper (before)",
        loadPython,
      );
      stops.push(before.stop);
      plans.push(...before.plans);
    }
    if (values["torch-python"]) {
      // The TorchScript MLP point: replicas on a Python with torch (.venv-frameworks), the same binaries.
      const torchPython = resolve(values["torch-python"]);
      const made = await run([torchPython, join(ROOT, "test/fixtures/make_framework_models.py"), join(work, "torch"), "mlp256"], {
        cwd: ROOT,
        env: { OMP_NUM_THREADS: "1" },
        timeoutMs: 300_000,
      });
      if (made.code !== 0) throw new Error(`make_framework_models.py mlp256 exited ${made.code}: ${made.stderr.slice(-2000)}`);
      const mlp = join(work, "torch", "mlp256", "mlp256.pt");
      const torchCtx = { ...ctx, python: torchPython };
      const t = await torchPlans(torchCtx, "torch", "clipper", mlp);
      stops.push(t.stop);
      plans.push(...t.plans);
      if (values.before) {
        const tb = await torchPlans({ ...torchCtx, clipperBin: join(work, "clipper-before") }, "torch-before", "clipper (before)", mlp);
        stops.push(tb.stop);
        plans.push(...tb.plans);
      }
      plans.push({ system: "torch (direct)", transport: "TorchScript MLP, in-process", load: torchDirect(torchPython, mlp, ROWS), pid: process.pid });
      // Not a goal's reference: torch at the size of the batches clipper's replica is sent under this load (several requests' rows).
      plans.push({
        system: "torch (direct)",
        transport: `TorchScript MLP, in-process, batch ${BIG_BATCH}`,
        load: torchDirect(torchPython, mlp, BIG_BATCH),
        pid: process.pid,
      });
    }
    if (!values["no-mlserver"]) {
      const running = await mlserver.start(ctx);
      const client = new Service(running.grpcAddress!, credentials.createInsecure());
      stops.push(async () => {
        client.close();
        await running.service.stop();
      });
      // MLServer takes raw_input_contents (checked here first, with the grpc-js client).
      await grpcInfer(client, "hr", false)(0);
      plans.push({ system: "MLServer", transport: "REST JSON (V2)", load: fetchLoad(restJson(running.predictUrl)), pid: running.service.pid });
      plans.push({ system: "MLServer", transport: "gRPC", load: pythonGrpcLoad(benchPython, running.grpcAddress!, "hr"), pid: running.service.pid });
    }
    {
      // The transports alone (transport-floor.ts): Bun.serve and node:http2 answering a fixed answer, nothing else.
      const [restPort, grpcPort] = [await freePort(), await freePort()];
      const floor = spawnService("transport floor", [process.execPath, join(import.meta.dir, "transport-floor.ts"), String(restPort), String(grpcPort)], {
        cwd: ROOT,
        logPath: join(work, "floor.log"),
      });
      stops.push(() => floor.stop());
      await waitFor(
        "the transport floor",
        () =>
          restBinary(`http://127.0.0.1:${restPort}/v2/models/hr/infer`)(0).then(
            () => true,
            () => false,
          ),
        10_000,
        20,
        floor,
      );
      const system = "Bun alone (fixed answer)";
      plans.push({ system, transport: "REST binary", load: fetchLoad(restBinary(`http://127.0.0.1:${restPort}/v2/models/hr/infer`)), pid: floor.pid });
      if (loadPython) plans.push({ system, transport: "gRPC", load: pythonGrpcLoad(loadPython, `127.0.0.1:${grpcPort}`, "hr"), pid: floor.pid });
    }
    if (values.only) {
      const wanted = values.only.split(",");
      plans.splice(0, plans.length, ...plans.filter((p) => wanted.some((w) => `${p.system} ${p.transport}`.includes(w))));
    }
    const measured: Point[][] = plans.map(() => []);
    for (let r = 0; r < rounds; r++) {
      if (rounds > 1) log(`round ${r + 1} of ${rounds}`);
      for (const [i, p] of plans.entries()) measured[i]!.push(await measure(p.system, p.transport, p.load, o, p.pid, p.counters));
    }
    // The median round of each point (by rows/s), with every round's rows/s kept beside it.
    const points = measured.map((runs) => {
      const sorted = [...runs].sort((a, b) => a.rowsPerSec - b.rowsPerSec);
      return { ...sorted[Math.floor(sorted.length / 2)]!, roundsRowsPerSec: runs.map((x) => Math.round(x.rowsPerSec)) };
    });
    const machine = await describeMachine({ root: ROOT, clipperBin, python, ...(benchPython ? { benchPython } : {}) });
    writeReport(out, points, o, machine);
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

/** What a point reads of a clipper server before and after its load: rows answered with the default, batches sent and their rows. */
interface Counters {
  readonly defaults: number;
  readonly batches: number;
  readonly rows: number;
}

async function clipperCounters(queryUrl: string, app = "hr"): Promise<Counters> {
  const m = (await (await fetch(`${queryUrl}/metrics.json`)).json()) as {
    apps: Record<string, { defaults: number }>;
    models: Record<string, { batches: number; rows: number }>;
  };
  // The app's one model version (its key starts with the model's name, which is the app's here).
  const model = Object.entries(m.models).find(([key]) => key.startsWith(`${app}:`))?.[1];
  return { defaults: m.apps[app]?.defaults ?? 0, batches: model?.batches ?? 0, rows: model?.rows ?? 0 };
}

/** A clipper server (its replicas on `torchPython`) serving the TorchScript MLP 5→256→256→2 as app `mlp`, and its points. */
async function torchPlans(ctx: Context, tag: string, system: string, modelPath: string): Promise<{ plans: Plan[]; stop: () => Promise<void> }> {
  const { service, queryUrl, mgmtUrl } = await startClipper(ctx, tag, true);
  try {
    await deployHr(ctx, mgmtUrl, "mlp", modelPath);
    await waitFor("the MLP's first prediction", () => predictsOk(queryUrl, "mlp"), 60_000, 20, service);
  } catch (err) {
    await service.stop();
    throw err;
  }
  const counters = () => clipperCounters(queryUrl, "mlp");
  const plan = (transport: string, load: Load): Plan => ({ system, transport, load, pid: service.pid, counters });
  return {
    plans: [
      plan("TorchScript MLP, REST JSON input_batch", fetchLoad(restInputBatch(`${queryUrl}/mlp/predict`))),
      plan("TorchScript MLP, REST binary", fetchLoad(restBinary(`${queryUrl}/v2/models/mlp/infer`))),
    ],
    stop: () => service.stop(),
  };
}

/** A batch size near what clipper's replica is sent at 16 callers of 64 rows (its mean is in the report). */
const BIG_BATCH = 256;

/** torch's own rows/s for the MLP at a batch of `batch` rows, in one process, one thread (format_direct.py): at 64 rows, the limit. */
const torchDirect =
  (torchPython: string, modelPath: string, batch: number): Load =>
  async () => {
    const r = await run([torchPython, join(import.meta.dir, "format_direct.py"), "torchscript", modelPath, "-", String(batch)], {
      cwd: ROOT,
      env: { OMP_NUM_THREADS: "1" },
      timeoutMs: 120_000,
    });
    if (r.code !== 0) throw new Error(`format_direct.py exited ${r.code}: ${r.stderr.slice(-2000)}`);
    const rowsPerSec = (JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>)[String(batch)]!;
    return { requests: Math.round((rowsPerSec * 2) / ROWS), errors: 0, seconds: 2, rowsPerSec, p50Ms: 0, p99Ms: 0 };
  };

/** Where a call's time goes: each transport's floor beside clipper's own point, per request. */
function floorLines(points: Point[], cores: number): string[] {
  const at = (system: string, transport: string) => points.find((p) => p.system === system && p.transport === transport);
  const lines: string[] = [];
  for (const [transport, floorTransport] of [
    ["REST binary", "REST binary"],
    ["gRPC", "gRPC"],
  ] as const) {
    const mine = at("clipper", transport);
    const floor = at("Bun alone (fixed answer)", floorTransport);
    if (!mine || !floor) continue;
    lines.push(
      `- ${transport}: clipper's server spends ${mine.serverCpuMicros.toFixed(0)} µs of CPU a request (its Python replica ${mine.childrenCpuMicros.toFixed(0)} more), ` +
        `of which the transport alone takes ${floor.serverCpuMicros.toFixed(0)} µs (Bun alone, fixed answer, ${Math.round(floor.rowsPerSec)} rows/s at most with this client); ` +
        `the load client spends ${(mine.clientCpuMicros ?? 0).toFixed(0)} µs a request.`,
    );
  }
  lines.push(...binaryLines(points, cores), ...mlpLines(points, cores));
  return lines.length ? ["Where a request's CPU goes (this run):", "", ...lines, ""] : [];
}

/**
 * REST binary against REST JSON input_batch: each one's CPU a request (server, replica, client), the ratio that CPU
 * alone would give, how busy the cores were (neither point need saturate them: 16 callers wait for their answers),
 * and the ratio with clipper's server at the transport's floor, the most a faster server path could give.
 */
function binaryLines(points: Point[], cores: number): string[] {
  const at = (transport: string) => points.find((p) => p.system === "clipper" && p.transport === transport);
  const bin = at("REST binary");
  const json = at("REST JSON input_batch");
  const floor = points.find((p) => p.system === "Bun alone (fixed answer)" && p.transport === "REST binary");
  if (!bin || !json) return [];
  const total = (p: Point) => p.serverCpuMicros + p.childrenCpuMicros + (p.clientCpuMicros ?? 0);
  const busy = (p: Point) => ((p.requests / p.seconds) * total(p)) / 1e6;
  const atFloor = floor ? total(bin) - bin.serverCpuMicros + floor.serverCpuMicros : undefined;
  return [
    `- REST binary ÷ REST JSON input_batch: a request costs ${total(bin).toFixed(0)} µs of CPU in all (server ${bin.serverCpuMicros.toFixed(0)}, replica ` +
      `${bin.childrenCpuMicros.toFixed(0)}, client ${(bin.clientCpuMicros ?? 0).toFixed(0)}) against ${total(json).toFixed(0)} (server ${json.serverCpuMicros.toFixed(0)}, ` +
      `replica ${json.childrenCpuMicros.toFixed(0)}, client ${(json.clientCpuMicros ?? 0).toFixed(0)}): ${(total(json) / total(bin)).toFixed(2)}× by CPU alone; ` +
      `measured ${(bin.rowsPerSec / json.rowsPerSec).toFixed(2)}×. The cores were ${busy(bin).toFixed(2)} and ${busy(json).toFixed(2)} of ${cores} busy: ` +
      `${CALLERS} callers each waiting for its answer (p50 ${bin.p50Ms.toFixed(2)} and ${json.p50Ms.toFixed(2)} ms) bound the rows/s before the CPU does.` +
      (atFloor === undefined
        ? ""
        : ` With clipper's server at the transport's floor (${floor!.serverCpuMicros.toFixed(0)} µs, nothing but Bun.serve), binary would cost ${atFloor.toFixed(0)} µs a request: ` +
          `${(total(json) / atFloor).toFixed(2)}× JSON's at most.`),
  ];
}

/**
 * The TorchScript MLP against torch's own rows/s: each request's CPU in the server, the replica and the load client,
 * torch's own time for the same rows, and what that CPU allows on this machine's cores (the bound the point can reach).
 */
function mlpLines(points: Point[], cores: number): string[] {
  const at = (system: string, transport: string) => points.find((p) => p.system === system && p.transport === transport);
  const t64 = at("torch (direct)", "TorchScript MLP, in-process");
  const tBig = at("torch (direct)", `TorchScript MLP, in-process, batch ${BIG_BATCH}`);
  if (!t64) return [];
  const perRows = (p: Point | undefined) => (p ? ((ROWS * 1e6) / p.rowsPerSec).toFixed(0) : "—");
  const lines: string[] = [];
  for (const system of ["clipper", "clipper (before)"]) {
    const m = at(system, "TorchScript MLP, REST binary");
    if (!m) continue;
    const total = m.serverCpuMicros + m.childrenCpuMicros + (m.clientCpuMicros ?? 0);
    const bound = (cores * 1e6 * ROWS) / total;
    lines.push(
      `- TorchScript MLP, REST binary (${system}): a request of ${ROWS} rows costs ${m.serverCpuMicros.toFixed(0)} µs of server CPU, ` +
        `${m.childrenCpuMicros.toFixed(0)} µs in its Python replica (one torch thread; torch alone takes ${perRows(t64)} µs for ${ROWS} rows at batch ${ROWS} ` +
        `and ${perRows(tBig)} µs per ${ROWS} rows at batch ${BIG_BATCH}; the replica's batches held ${m.meanBatchRows?.toFixed(0) ?? "—"} rows on average) ` +
        `and ${(m.clientCpuMicros ?? 0).toFixed(0)} µs in the load client. At ${total.toFixed(0)} µs of CPU a request, ${cores} cores answer at most ` +
        `${Math.round(bound)} rows/s, ${(bound / t64.rowsPerSec).toFixed(2)}× torch's own; measured ${(m.rowsPerSec / t64.rowsPerSec).toFixed(2)}×. ` +
        `torch's own point runs on one core with the other idle; clipper's replica shares the cores with the server and the client.`,
    );
  }
  return lines;
}

/**
 * What this run's numbers do not show: the pieces of a request and of a batch, timed apart from the load (issue 23's
 * profiling, on this machine while others worked on it: their µs are minima of repeated runs, their ratios interleaved).
 */
const PIECES = [
  "Where the misses come from, timed piece by piece apart from this load (2026-12-06, load average 7-11 from other work; minima of repeated runs, A/B pairs interleaved):",
  "",
  "- TorchScript MLP, the replica: fed the server's mix of batches (64-384 rows, mean ~225) over real pipes (scripts/bench.d/worker_pipe.py), the worker spent " +
    "a median 172 µs of CPU per 64 rows (6 runs) where torch's forward alone on the same mix took 121-156; its own Python per batch (msgpack decode 0.9 µs, " +
    "numpy.frombuffer 0.7, the FP64→FP32 cast 0.4, torch.from_numpy 0.6, the finiteness check 1.8, packing the output 2.5, encoding the reply 1) is under 10 µs. " +
    "Before the worker set glibc's malloc thresholds, each batch's temporaries went back to the kernel and the next batch faulted them in again (8-40 page " +
    "faults a batch, a median 191 µs per 64 rows; docs/runtime-protocol.md). Threads are equal: the replica and torch's own point both run one " +
    "intra-op thread (`--threads 1`; one busy thread in /proc; torch's default here would be 2, the machine's cores, shared with the server and the client). " +
    "torch's own point (format_direct.py) calls the forward on one fixed batch with a core to itself; clipper's replica, server and load client share 2 cores, " +
    "so the server's and the client's CPU a request (the line above) is taken from the replica's: the CPU bound above, not the replica, sets the ratio.",
  "- REST binary, the server: Bun.serve reading the body and answering a fixed body costs ~18-20 µs a request at 16 callers, and Hono's routing, four header " +
    "reads and req.signal add under 2 µs (variants of the floor, same client). clipper's own JavaScript for a [64, 5] binary request, timed in-process: the " +
    "body split and its JSON header and tensor parsed into 64 row views 5.2 µs, packing a batch's rows 3.2 µs a request, the answer's rows 0.5 µs a request, the " +
    "binary answer 2.2 µs; the predict frame was 2.6 µs a request before frameParts (src/runtime/protocol.ts: Bun copies one Uint8Array into another at an " +
    "unaligned offset a byte at a time, 12-25 µs for a 15 KB batch against 0.2 µs aligned; a batch's write is now 13.5 µs instead of 19 with its syscall). " +
    "The rest of the server's CPU is the pipe to the replica, promises and timers, and the event loop's wake-ups, shared by the ~6 requests of a batch. " +
    "JSON input_batch parses its 64 rows in 8.9 µs: the two paths differ by less than what they share (the client's, the replica's and the transport's CPU), " +
    "which bounds the ratio (the line above).",
  "",
];

function writeReport(
  out: string,
  points: (Point & { roundsRowsPerSec: number[] })[],
  o: { durationSec: number; warmupSec: number; rounds: number },
  machine: Machine,
): void {
  const rate = (system: string, transport: string) => points.find((p) => p.system === system && p.transport === transport)?.rowsPerSec;
  const ratio = (a?: number, b?: number) => (a && b ? a / b : undefined);
  const goals = [
    {
      name: "clipper REST binary ÷ clipper REST JSON input_batch",
      goal: 1.5,
      measured: ratio(rate("clipper", "REST binary"), rate("clipper", "REST JSON input_batch")),
      before: ratio(rate("clipper (before)", "REST binary"), rate("clipper (before)", "REST JSON input_batch")),
    },
    {
      name: "clipper gRPC ÷ clipper REST JSON (V2)",
      goal: 1,
      measured: ratio(rate("clipper", "gRPC"), rate("clipper", "REST JSON (V2)")),
      before: ratio(rate("clipper (before)", "gRPC"), rate("clipper (before)", "REST JSON (V2)")),
    },
    {
      name: "TorchScript MLP: clipper REST binary ÷ torch's own (batch 64)",
      goal: 0.75,
      measured: ratio(rate("clipper", "TorchScript MLP, REST binary"), rate("torch (direct)", "TorchScript MLP, in-process")),
      before: ratio(rate("clipper (before)", "TorchScript MLP, REST binary"), rate("torch (direct)", "TorchScript MLP, in-process")),
    },
    {
      name: "clipper gRPC ÷ MLServer gRPC",
      goal: 5,
      measured: ratio(rate("clipper", "gRPC"), rate("MLServer", "gRPC")),
      before: ratio(rate("clipper (before)", "gRPC"), rate("MLServer", "gRPC")),
    },
  ];
  const shown = (x: number | undefined) => (x === undefined ? "—" : `${x.toFixed(2)}×`);
  const lines = [
    "# V2 tensors: REST JSON, REST binary and gRPC",
    "",
    `\`scripts/bench --tensors\`: rows/s for [${ROWS}, 5] FP64 tensors (the HR decision tree, 100 different batches in turn) at ${CALLERS} concurrent callers, ` +
      `${o.durationSec} s per point after ${o.warmupSec} s of warm-up, ${o.rounds > 1 ? `${o.rounds} interleaved rounds (each point loaded once per round, in turn; the median round is shown, every round's rows/s in the last column)` : "one round"}, all on 127.0.0.1. ` +
      "`clipper (before)` is the binary given with `--before` (the same load against the code before a change, side by side). " +
      'REST JSON input_batch: clipper\'s own `POST /hr/predict` with `{"input_batch": rows}`. REST load: fetch from one Bun process; the REST binary requests ' +
      "are what Triton's HTTP client sends by default (binary input, binary output asked for). gRPC load: grpcio's asyncio client (C core) with Triton's " +
      "generated stubs in two processes of 8 callers, raw_input_contents as Triton's gRPC client sends (scripts/bench.d/grpc_load.py; a @grpc/grpc-js client costs more CPU per call " +
      "than the servers under test). The client shares the machine's cores with the server; its own CPU per request is in its column (the fetch loop's whole process for REST). " +
      "clipper: `clipper serve --cache-entries 0`, 1 Python replica; the Python runtime speaks protocol 3, so a binary answer carries the tree's labels as INT64 bytes. " +
      "MLServer 1.7.1 with mlserver-sklearn, adaptive batching (64 rows, 2 ms), on the same pickle. " +
      "`Bun alone (fixed answer)` is scripts/bench.d/transport-floor.ts: Bun.serve and node:http2 (the stacks under clipper's REST and gRPC ports) answering every call " +
      "with one fixed answer of 64 rows and doing nothing else, the floor under clipper's own points.",
    "",
    `Machine: ${machine.nproc} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, load average ${machine.loadAverage.join(" / ")} at the start (shared with other work); ` +
      `${Object.entries(machine.versions)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}; git ${machine.git}.`,
    "",
    "rows/s counts rows answered with a prediction; rows that got clipper's default output (the HR app's SLO is the default 100 ms) are in their own column.",
    "",
    "| system | transport | rows/s | requests/s | p50 ms | p99 ms | errors | default rows | CPU µs/request: server + children | client CPU µs/request | rows a batch | rows/s of each round |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...points.map(
      (p) =>
        `| ${p.system} | ${p.transport} | ${Math.round(p.rowsPerSec)} | ${Math.round(p.requests / p.seconds)} | ${p.p50Ms.toFixed(2)} | ${p.p99Ms.toFixed(2)} | ${p.errors} | ${p.defaultRows} | ${p.serverCpuMicros.toFixed(0)} + ${p.childrenCpuMicros.toFixed(0)} | ${p.clientCpuMicros === undefined ? "—" : p.clientCpuMicros.toFixed(0)} | ${p.meanBatchRows === undefined ? "—" : p.meanBatchRows.toFixed(0)} | ${p.roundsRowsPerSec.join(", ")} |`,
    ),
    "",
    "Server CPU per request is the fairer comparison on this machine: every client shares its 2 cores with the server under test.",
    "",
    ...floorLines(points, machine.nproc),
    "| goal | target | measured | before (`--before`) | status |",
    "|---|---:|---:|---:|---|",
    ...goals.map(
      (g) =>
        `| ${g.name} | ≥ ${g.goal}× | ${shown(g.measured)} | ${shown(g.before)} | ${g.measured === undefined ? "not measured" : g.measured >= g.goal ? "met" : "missed"} |`,
    ),
    "",
    ...PIECES,
  ];
  writeFileSync(join(out, "tensors.md"), lines.join("\n"));
  writeFileSync(join(out, "tensors.json"), `${JSON.stringify({ rows: ROWS, callers: CALLERS, ...o, machine, points, goals }, null, 2)}\n`);
  log(`wrote ${join(out, "tensors.md")}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`FAILED: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
