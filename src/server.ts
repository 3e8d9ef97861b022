/** Assembles the server from the frozen config: registry → runtimes → snapshot → both HTTP ports, and shuts it down cleanly. */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { PredictionCache } from "./cache/prediction-cache.ts";
import type { ServerConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { startGrpc } from "./grpc/server.ts";
import { loadOrCreateToken } from "./http/auth.ts";
import { managementRoutes } from "./http/management-routes.ts";
import { hotQueryRoutes, queryRoutes } from "./http/query-routes.ts";
import { ArtifactStore } from "./management/artifacts.ts";
import { ManagementService } from "./management/service.ts";
import { Metrics } from "./metrics/metrics.ts";
import { QueryProcessor } from "./query/processor.ts";
import { Registry } from "./registry/registry.ts";
import { EnvironmentBuilder } from "./runtime/environments.ts";
import { RuntimeManager } from "./runtime/manager.ts";
import { chooseRuntimePython } from "./runtime/runtime-python.ts";
import { withLog } from "./metrics/batch-log.ts";
import { ModelQueue, RowFailure } from "./batching/model-queue.ts";
import { CaptureWriter } from "./capture/writer.ts";
import { CanaryBoard } from "./query/canary.ts";
import type { Row, RowOutcome } from "./domain.ts";
import { registerRolloutMetrics } from "./metrics/rollouts.ts";

export interface RunningServer {
  readonly queryUrl: string;
  readonly mgmtUrl: string;
  stop(): Promise<void>;
}

export async function startServer(given: ServerConfig, logger: Logger): Promise<RunningServer> {
  mkdirSync(join(given.dataDir, "logs"), { recursive: true, mode: 0o700 });
  // The Python runtime's interpreter: the one given, else one found with its packages, else one made in the data directory.
  const python = await chooseRuntimePython({
    given: given.python,
    dataDir: given.dataDir,
    binaryDir: dirname(process.execPath),
    cwd: process.cwd(),
    which: (command) => Bun.which(command),
    info: (line) => logger.info("runtime_python", line),
    error: (line) => logger.error("runtime_python", line),
  });
  const config: ServerConfig = Object.freeze({ ...given, python });
  const token = loadOrCreateToken(config.dataDir, config.token || undefined);
  const registry = new Registry(join(config.dataDir, "registry.db"));
  const cache = new PredictionCache(config.cacheEntries, config.cacheBytes);
  // The scrape-time gauges read the runtime manager (only when scraped), which reports batches to the metrics.
  const metrics: Metrics = new Metrics({
    cache: () => ({ hits: cache.hits, misses: cache.misses, entries: cache.size, bytes: cache.bytes }),
    queues: () => runtimes.queues(),
    replicas: () => runtimes.replicas().map((r) => ({ model: r.key, state: r.replica.state as string })),
    restarts: () => runtimes.restartCounts(),
    contexts: () =>
      [...management.snapshot.apps.values()].flatMap((r) => (r.contexts ? [{ app: r.app.name, contexts: r.contexts.size, evicted: r.contexts.evicted }] : [])),
    scaling: () =>
      [...runtimes.decisionCounts].map(([k, count]) => {
        const [model, action] = k.split("\u0000") as [string, string];
        return { model, action, count };
      }),
    memory: () => ({
      budgetMb: runtimes.limits().memoryBudgetMb,
      replicas: runtimes.memoryMb().map((r) => ({ model: r.model, replica: r.replica, mb: r.mb })),
    }),
  });
  // Hangs and quarantines are rare and matter to operators: counted, and logged with what happened.
  const observer = withLog(metrics, logger);
  // The runtime manager owns each version's replicas; its batching queue, made here, picks among them.
  const runtimes: RuntimeManager<ModelQueue> = new RuntimeManager(
    config,
    (model, key, maxBatch, replicas) =>
      new ModelQueue(key, model.inputType, maxBatch, replicas, observer, model.options.batchSize, {
        predictTimeoutMs: config.predictTimeoutMs,
        quarantineMs: config.quarantineMs,
        maxQueuedRows: config.maxQueuedRows,
        ...(model.options.predictTimeoutMs ? { hangOverrideMs: model.options.predictTimeoutMs } : {}),
      }),
    logger,
  );
  // Each scaling decision and eviction is logged with its reason (status and /metrics show them too).
  runtimes.onEvent = (e) =>
    (e.action === "refused" ? logger.warn : logger.info).call(logger, "scaling", `model ${e.model}: ${e.action} ${e.from} -> ${e.to} replicas: ${e.reason}`, {
      model: e.model,
      action: e.action,
      from: e.from,
      to: e.to,
    });
  const artifacts = new ArtifactStore(config.dataDir, config.maxArtifactBytes);
  // Payload capture writes off the request path; canaries' comparisons are counted by the query core, judged by management.
  const capture = new CaptureWriter(join(config.dataDir, "capture"));
  const canaryBoard = new CanaryBoard();
  const verdicts = new Map<string, number>();
  const envs = new EnvironmentBuilder(config.dataDir, config.python, (line) => logger.info("environment", line));
  const management = new ManagementService(registry, runtimes, artifacts, cache, envs, {
    dataDir: config.dataDir,
    logger,
    firstPrediction: (fromKey, toKey, timeoutMs) => replayLastInput(runtimes, fromKey, toKey, timeoutMs),
    onVersionRemoved: (key) => metrics.forgetModel(key),
    ensembleSummary: (app) => metrics.ensembleSummary(app),
    capture,
    canaryBoard,
    ask: (key, row) => askVersion(runtimes, key, row, REPLAY_TIMEOUT_MS),
    onCanaryVerdict: (model, state) => verdicts.set(`${model}\u0000${state}`, (verdicts.get(`${model}\u0000${state}`) ?? 0) + 1),
  });
  registerRolloutMetrics(metrics, { capture, canaries: () => management.canaries.views(), verdicts, inputStats: () => capture.stats.all() });
  const processor = new QueryProcessor(
    () => management.snapshot,
    (key) => runtimes.queue(key),
    cache,
    metrics,
    logger,
    (app, rewards, context) => management.recordFeedback(app, rewards, context),
    management.isVersionReady,
    {
      canaries: canaryBoard,
      capture: (route, choice, rows, outcomes, micros, requestId) =>
        capture.offer({
          app: route.app.name,
          model: choice?.name,
          version: choice?.version,
          rows,
          outcomes,
          defaultOutput: route.app.defaultOutput,
          latencyMicros: Math.round(micros),
          timeMs: Date.now() - micros / 1000,
          requestId,
        }),
    },
  );

  // Known once both servers listen (port 0 picks a free one).
  const urls = () => ({ query: queryUrl, management: mgmtUrl });
  const queryDeps = { processor, management, metrics, cache, maxBodyBytes: config.maxBodyBytes, urls, logger };
  const query = Bun.serve({
    hostname: config.host,
    port: config.queryPort,
    // Above our own limit, so that readBodyText answers the JSON 413 (Bun's own 413 has no body).
    maxRequestBodySize: config.maxBodyBytes * 2 + 1024,
    routes: hotQueryRoutes(queryDeps),
    fetch: queryRoutes(queryDeps).fetch,
  });
  const mgmt = Bun.serve({
    hostname: config.host,
    port: config.mgmtPort,
    maxRequestBodySize: config.maxArtifactBytes + 1,
    idleTimeout: 0,
    fetch: managementRoutes({
      service: management,
      envs,
      maxBodyBytes: config.maxBodyBytes,
      token,
      urls,
      logger,
      metrics: async () => ({ summary: metrics.toJSON(cache), prometheus: await metrics.prometheus.text() }),
    }).fetch,
  });
  const grpc =
    config.grpcPort === 0
      ? undefined
      : await startGrpc({ processor, logger }, { host: config.host, port: config.grpcPort, dataDir: config.dataDir, maxMessageBytes: config.maxBodyBytes });
  if (grpc) logger.info("grpc_listening", `gRPC API on ${grpc.address}`, { grpc_address: grpc.address });
  const queryUrl = `http://${config.host}:${query.port}`;
  const mgmtUrl = `http://${config.host}:${mgmt.port}`;
  logger.info("listening", `query API on ${queryUrl}, management API on ${mgmtUrl}, data in ${config.dataDir}`, {
    query_url: queryUrl,
    management_url: mgmtUrl,
    data_dir: config.dataDir,
  });
  runtimes.startSupervision((line) => logger.warn("orphans", line));
  await management.restore();
  logger.info("ready", "ready to serve");

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Stop accepting, let in-flight requests finish within the grace period, then stop the runtimes.
      // Idle keep-alive connections would hold stop(false) open until the grace period ends: the drain is over
      // once no request is in flight (and the gRPC calls in flight have finished).
      const grpcDrained = grpc?.drain() ?? Promise.resolve();
      const drained = Promise.all([query.stop(false), mgmt.stop(false), grpcDrained]);
      const idle = (async () => {
        while (query.pendingRequests > 0 || mgmt.pendingRequests > 0) await Bun.sleep(10);
        await grpcDrained;
      })();
      await Promise.race([drained, idle, Bun.sleep(config.shutdownGraceMs)]);
      grpc?.forceStop();
      await Promise.all([query.stop(true), mgmt.stop(true)]);
      await runtimes.stopAll();
      management.close();
      capture.stop();
      await Promise.race([Promise.all(capture.statuses().map((c) => capture.flush(c.app))), Bun.sleep(2000)]);
      registry.close();
    })());
  return { queryUrl, mgmtUrl, stop };
}

/**
 * A new version's readiness check: the last input the version it replaces answered goes through the new
 * version's queue as its first prediction (nothing to replay when the old one never answered).
 */
async function replayLastInput(runtimes: RuntimeManager<ModelQueue>, fromKey: string, toKey: string, timeoutMs: number): Promise<void> {
  const sample = runtimes.queue(fromKey)?.lastRow;
  const queue = runtimes.queue(toKey);
  if (sample === undefined || !queue) return;
  await queue.enqueue(sample, performance.now() + timeoutMs, timeoutMs * 1000);
}

/** How long one replayed row may take. */
const REPLAY_TIMEOUT_MS = 10_000;

/** One row to a running version's queue (a replay): its output, or why it has none (raised, too late, not running). */
async function askVersion(runtimes: RuntimeManager<ModelQueue>, key: string, row: Row, timeoutMs: number): Promise<RowOutcome> {
  const queue = runtimes.queue(key);
  if (!queue) return { ok: false, reason: `model ${key} has no running replicas` };
  try {
    const output = await queue.enqueue(row, performance.now() + timeoutMs, timeoutMs * 1000);
    return output instanceof RowFailure ? { ok: false, reason: output.reason } : { ok: true, output };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}
