/** The systems under test: how each is started, made ready with the HR model, checked, and stopped. */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONSTANT_ROW, singleBody, type Protocol } from "../lib/bodies.ts";
import { freePort, logTail, run, spawnService, waitFor, type Service } from "../lib/proc.ts";

export type SystemId = "clipper" | "clipper-cache-hit" | "limit" | "fastapi" | "mlserver";

export interface Context {
  readonly root: string;
  /** Scratch space for data dirs, logs and model copies; removed at the end. */
  readonly work: string;
  readonly clipperBin: string;
  /** Interpreter of clipper's Python runtime (.venv). */
  readonly python: string;
  /** Interpreter of the peers (.venv-bench). */
  readonly benchPython: string;
  readonly modelPath: string;
  /** The pickle the peers load (the same file unless the bench venv could not load it). */
  readonly benchModelPath: string;
  /** MLServer's adaptive batching. */
  readonly mlserverBatch: { readonly maxBatchSize: number; readonly maxBatchTimeSec: number };
  /** Management token given to every clipper server and CLI call of the run (CLIPPER_TOKEN). */
  readonly token: string;
}

export interface Running {
  readonly predictUrl: string;
  /** clipper's GET /metrics, for batch sizes and predict times. */
  readonly metricsUrl?: string;
  readonly service: Service;
  /** The answer to one check request, kept in results.json. */
  readonly sample: string;
  /** host:port of the V2 gRPC API, for systems that serve one. */
  readonly grpcAddress?: string;
}

export interface SystemSpec {
  readonly id: SystemId;
  readonly label: string;
  readonly protocol: Protocol;
  /** One constant input (cache hits) instead of varied inputs. */
  readonly constantInput: boolean;
  readonly needsBenchVenv: boolean;
  readonly description: string;
  start(ctx: Context): Promise<Running>;
}

const post = (url: string, body: string) =>
  fetch(url, { method: "POST", body, headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(10_000) });

/** Sends one request and fails with the server's log unless it answers 200. */
async function check(service: Service, url: string, protocol: Protocol): Promise<string> {
  const res = await post(url, singleBody(protocol, CONSTANT_ROW));
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${service.name}: check request answered ${res.status}: ${text}\n${logTail(service.logPath)}`);
  return text;
}

/** Starts `clipper serve` on free ports (gRPC off unless `grpcPort`); resolves once both APIs answer. */
export async function startClipper(
  ctx: Context,
  tag: string,
  cacheOff: boolean,
  grpcPort = 0,
  env: Record<string, string> = {},
): Promise<{ service: Service; queryUrl: string; mgmtUrl: string }> {
  const [q, m] = [await freePort(), await freePort()];
  const dataDir = join(ctx.work, `data-${tag}`);
  const service = spawnService(
    `clipper (${tag})`,
    [
      ctx.clipperBin,
      "serve",
      "--data-dir",
      dataDir,
      "--query-port",
      String(q),
      "--mgmt-port",
      String(m),
      "--grpc-port",
      String(grpcPort),
      ...(cacheOff ? ["--cache-entries", "0"] : []),
    ],
    {
      cwd: ctx.root,
      env: { CLIPPER_PYTHON: ctx.python, CLIPPER_TOKEN: ctx.token, ...env },
      logPath: join(ctx.work, `${tag}.log`),
    },
  );
  const queryUrl = `http://127.0.0.1:${q}`;
  const mgmtUrl = `http://127.0.0.1:${m}`;
  try {
    // Any answer from the management port means it listens (its routes need the token).
    await waitFor(
      `clipper (${tag})`,
      async () => (await fetch(`${queryUrl}/health`)).ok && (await fetch(`${mgmtUrl}/admin/ping`)).status > 0,
      30_000,
      20,
      service,
    );
  } catch (err) {
    await service.stop();
    throw new Error(`${(err as Error).message}\n${logTail(service.logPath)}`);
  }
  return { service, queryUrl, mgmtUrl };
}

/** `clipper deploy hr.pkl --name hr --app hr` (or another pickle and name); throws with the CLI's output when it fails. */
export async function deployHr(ctx: Context, mgmtUrl: string, name = "hr", modelPath = ctx.modelPath): Promise<void> {
  const r = await run([ctx.clipperBin, "deploy", modelPath, "--url", mgmtUrl, "--name", name, "--app", name], {
    cwd: ctx.root,
    env: { CLIPPER_TOKEN: ctx.token },
    timeoutMs: 90_000,
  });
  if (r.code !== 0) throw new Error(`clipper deploy exited ${r.code}: ${r.stderr || r.stdout}`);
}

/** True when one predict answers 200 with a real (non-default) output. */
export async function predictsOk(queryUrl: string, app = "hr"): Promise<boolean> {
  const res = await post(`${queryUrl}/${app}/predict`, singleBody("clipper", CONSTANT_ROW));
  if (res.status !== 200) return false;
  const body = (await res.json()) as { default?: boolean };
  return body.default === false;
}

function clipperSpec(cacheHit: boolean): SystemSpec {
  return {
    id: cacheHit ? "clipper-cache-hit" : "clipper",
    label: cacheHit ? "clipper (cache hit)" : "clipper (cache off)",
    protocol: "clipper",
    constantInput: cacheHit,
    needsBenchVenv: false,
    description: cacheHit
      ? "`clipper serve` with the default cache (65536 entries); every query is the same input, so a cache hit"
      : "`clipper serve --cache-entries 0`, HR deployed with `clipper deploy`, 1 Python replica; varied inputs",
    start: (ctx) => startClipperApp(ctx, cacheHit ? "clipper-cache-hit" : "clipper", !cacheHit, "hr", ctx.modelPath),
  };
}

/** A clipper server with one pickle deployed as model and app `app`, checked with one prediction. */
export async function startClipperApp(ctx: Context, tag: string, cacheOff: boolean, app: string, modelPath: string): Promise<Running> {
  const { service, queryUrl, mgmtUrl } = await startClipper(ctx, tag, cacheOff);
  try {
    await deployHr(ctx, mgmtUrl, app, modelPath);
    await waitFor("clipper's first prediction", () => predictsOk(queryUrl, app), 30_000, 20, service);
    const sample = await check(service, `${queryUrl}/${app}/predict`, "clipper");
    return { predictUrl: `${queryUrl}/${app}/predict`, metricsUrl: `${queryUrl}/metrics.json`, service, sample };
  } catch (err) {
    await service.stop();
    throw new Error(`${(err as Error).message}\n${logTail(service.logPath)}`);
  }
}

const limit: SystemSpec = {
  id: "limit",
  label: "Bun.serve limit",
  protocol: "clipper",
  constantInput: false,
  needsBenchVenv: false,
  description: "a bare `Bun.serve` handler (scripts/bench.d/limit-server.ts) that parses the JSON body and answers a constant: no model",
  async start(ctx) {
    const port = await freePort();
    const service = spawnService("limit", [process.execPath, join(import.meta.dir, "limit-server.ts"), String(port)], {
      cwd: ctx.root,
      logPath: join(ctx.work, "limit.log"),
    });
    const base = `http://127.0.0.1:${port}`;
    return ready(service, base, `${base}/hr/predict`, "clipper", async () => (await fetch(base)).ok, 15_000);
  },
};

const fastapi: SystemSpec = {
  id: "fastapi",
  label: "FastAPI",
  protocol: "clipper",
  constantInput: false,
  needsBenchVenv: true,
  description: "hand-written FastAPI app (scripts/bench.d/fastapi_server.py), async handler calling the same pickle, uvicorn with uvloop + httptools, 1 worker",
  start: (ctx) => startFastapi(ctx, ctx.benchModelPath, "hr"),
};

/** scripts/bench.d/fastapi_server.py serving one pickle at `POST /{app}/predict`. */
export async function startFastapi(ctx: Context, modelPath: string, app: string): Promise<Running> {
  const port = await freePort();
  const service = spawnService(`fastapi (${app})`, [ctx.benchPython, join(import.meta.dir, "fastapi_server.py"), modelPath, String(port), app], {
    cwd: ctx.root,
    logPath: join(ctx.work, `fastapi-${app}.log`),
  });
  const base = `http://127.0.0.1:${port}`;
  return ready(service, base, `${base}/${app}/predict`, "clipper", async () => (await fetch(`${base}/health`)).ok, 60_000);
}

const mlserver: SystemSpec = {
  id: "mlserver",
  label: "MLServer",
  protocol: "v2",
  constantInput: false,
  needsBenchVenv: true,
  description: "MLServer with mlserver-sklearn (SKLearnModel), adaptive batching on, default parallel_workers (1), V2 REST infer endpoint",
  async start(ctx) {
    const dir = join(ctx.work, "mlserver");
    mkdirSync(join(dir, "hr"), { recursive: true });
    copyFileSync(ctx.benchModelPath, join(dir, "hr", "model.joblib"));
    return startMlserver(ctx, dir, "hr", { implementation: "mlserver_sklearn.SKLearnModel", parameters: { uri: "./model.joblib" } });
  },
};

/**
 * `mlserver start DIR` serving one model `name` (its model-settings.json: `settings` with adaptive batching
 * as ctx.mlserverBatch says), on free ports; resolves once the model is ready and answered a check request.
 */
export async function startMlserver(
  ctx: Context,
  dir: string,
  name: string,
  settings: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<Running> {
  const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(
    join(dir, "settings.json"),
    JSON.stringify({ host: "127.0.0.1", http_port: http, grpc_port: grpc, metrics_port: metrics, debug: false }, null, 2),
  );
  writeFileSync(
    join(dir, name, "model-settings.json"),
    JSON.stringify({ name, max_batch_size: ctx.mlserverBatch.maxBatchSize, max_batch_time: ctx.mlserverBatch.maxBatchTimeSec, ...settings }, null, 2),
  );
  const bin = join(ctx.benchPython, "..", "mlserver");
  const service = spawnService(`mlserver (${name})`, [bin, "start", dir], { cwd: dir, env, logPath: join(ctx.work, `mlserver-${name}.log`) });
  const base = `http://127.0.0.1:${http}`;
  const running = await ready(service, base, `${base}/v2/models/${name}/infer`, "v2", async () => (await fetch(`${base}/v2/models/${name}/ready`)).ok, 120_000);
  return { ...running, grpcAddress: `127.0.0.1:${grpc}` };
}

async function ready(
  service: Service,
  base: string,
  predictUrl: string,
  protocol: Protocol,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<Running> {
  try {
    await waitFor(`${service.name} on ${base}`, probe, timeoutMs, 100, service);
    const sample = await check(service, predictUrl, protocol);
    return { predictUrl, service, sample };
  } catch (err) {
    await service.stop();
    throw new Error(`${(err as Error).message}\n${logTail(service.logPath)}`);
  }
}

/** In the order they run and appear in the report. */
export const SYSTEMS: readonly SystemSpec[] = [clipperSpec(false), clipperSpec(true), limit, fastapi, mlserver];
export { mlserver };
