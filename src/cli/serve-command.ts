/** `clipper serve`: builds the config from flags and CLIPPER_* variables, runs the server until a signal. */
import { buildConfig, durationMs } from "../config.ts";
import { Logger } from "../log.ts";
import { startServer } from "../server.ts";
import { CliError } from "./client.ts";
import { type Command, str } from "./command.ts";

export const serve: Command = {
  name: "serve",
  usage: "clipper serve [flags]",
  summary: "run the query and management APIs",
  positionals: 0,
  options: {
    "data-dir": { type: "string" },
    host: { type: "string" },
    "query-port": { type: "string" },
    "mgmt-port": { type: "string" },
    "grpc-port": { type: "string" },
    python: { type: "string" },
    "cache-entries": { type: "string" },
    "cache-bytes": { type: "string" },
    "max-batch-size": { type: "string" },
    "max-body-bytes": { type: "string" },
    "shutdown-grace-ms": { type: "string" },
    "log-format": { type: "string" },
    "log-level": { type: "string" },
    "replica-memory-mb": { type: "string" },
    "python-spares": { type: "string" },
    "docker-spares": { type: "string" },
    "node-spares": { type: "string" },
    "idle-timeout": { type: "string" },
    "scale-down-after": { type: "string" },
    "memory-budget-mb": { type: "string" },
  },
  help: {
    "data-dir": "registry, artifacts and logs (CLIPPER_DATA_DIR, default ./.clipper)",
    host: "address both APIs bind to (CLIPPER_HOST, default 127.0.0.1)",
    "query-port": "query API port (CLIPPER_QUERY_PORT, default 1337)",
    "mgmt-port": "management API port (CLIPPER_MGMT_PORT, default 1338)",
    "grpc-port": "V2 gRPC port, 0 turns gRPC off (CLIPPER_GRPC_PORT, default 8001)",
    python:
      "Python interpreter for the Python runtime (CLIPPER_PYTHON); default: the first with the runtime's packages of the .venv beside the binary, " +
      "./.venv, the data directory's runtime environment and python3 on PATH, else that environment is made (once, with uv or pip)",
    "cache-entries": "predictions kept in the LRU cache, 0 turns it off (CLIPPER_CACHE_ENTRIES, default 65536)",
    "cache-bytes": "bytes the LRU cache may hold, keys and answers; 0 turns it off (CLIPPER_CACHE_BYTES, default 1/16 of memory, at most 1 GiB)",
    "max-batch-size": "ceiling of the adaptive batch size in rows (CLIPPER_MAX_BATCH_SIZE, default 1024)",
    "max-body-bytes": "largest request body (CLIPPER_MAX_BODY_BYTES, default 10485760)",
    "shutdown-grace-ms": "time in-flight queries get on SIGTERM (CLIPPER_SHUTDOWN_GRACE_MS, default 10000)",
    "log-format": "json (one object per line) or pretty (CLIPPER_LOG_FORMAT, default json)",
    "log-level": "debug (a line per query) | info | warn | error (CLIPPER_LOG_LEVEL, default info)",
    "replica-memory-mb": "kill and replace a replica past this resident memory, 0 = no limit (CLIPPER_REPLICA_MEMORY_MB)",
    "idle-timeout":
      "a version deployed with --min-replicas 0 stops its replicas after this long without a query: 300s, 5m, 1500ms (CLIPPER_IDLE_TIMEOUT_MS, default 5m)",
    "scale-down-after": "the autoscaler removes replicas left unneeded this long: 30s, 1m (CLIPPER_SCALE_DOWN_AFTER_MS, default 30s)",
    "memory-budget-mb":
      "the most resident memory all replicas may hold together; least recently used versions give replicas back to stay under it, 0 = none (CLIPPER_MEMORY_BUDGET_MB)",
    "python-spares":
      "the most Python workers kept with their libraries imported per kind (interpreter; scikit-learn, or a model format's framework) for the next replicas (fast deploys, restarts and cold starts): 1 each, more while cold starts take them faster than they warm up; counted in --memory-budget-mb; 0 none, at most 8 (CLIPPER_PYTHON_SPARES, default 4)",
    "docker-spares":
      "1 keeps a container of each Docker model version started (runtime loaded, artifact mounted) for its next replica: a hung or crashed replica is replaced in tens of ms; 0 none (CLIPPER_DOCKER_SPARES, default 1)",
    "node-spares": "1 keeps a Node runtime started for the next Node replica (fast restarts after a hang or crash), 0 none (CLIPPER_NODE_SPARES, default 1)",
  },
  async run(v) {
    const config = (() => {
      try {
        return buildConfig(
          {
            dataDir: str(v, "data-dir"),
            host: str(v, "host"),
            queryPort: str(v, "query-port"),
            mgmtPort: str(v, "mgmt-port"),
            grpcPort: str(v, "grpc-port"),
            python: str(v, "python"),
            cacheEntries: str(v, "cache-entries"),
            cacheBytes: str(v, "cache-bytes"),
            maxBatchSize: str(v, "max-batch-size"),
            maxBodyBytes: str(v, "max-body-bytes"),
            shutdownGraceMs: str(v, "shutdown-grace-ms"),
            logFormat: str(v, "log-format"),
            logLevel: str(v, "log-level"),
            replicaMemoryMb: str(v, "replica-memory-mb"),
            pythonSpares: str(v, "python-spares"),
            dockerSpares: str(v, "docker-spares"),
            nodeSpares: str(v, "node-spares"),
            idleTimeoutMs: durationMs(str(v, "idle-timeout"), "idle-timeout"),
            scaleDownAfterMs: durationMs(str(v, "scale-down-after"), "scale-down-after"),
            memoryBudgetMb: str(v, "memory-budget-mb"),
          },
          process.env,
        );
      } catch (err) {
        throw new CliError((err as Error).message);
      }
    })();
    const logger = new Logger(config.logFormat, config.logLevel);
    // Nothing unforeseen takes the query path down: an error no request owned is logged with its stack, and serving goes on.
    process.on("uncaughtException", (err) => logger.error("uncaught", `unforeseen error (serving goes on): ${err.message}`, { stack: err.stack }));
    process.on("unhandledRejection", (reason) => {
      const err = reason instanceof Error ? reason : new Error(String(reason));
      logger.error("uncaught", `unforeseen rejection (serving goes on): ${err.message}`, { stack: err.stack });
    });
    // Signals are caught from the start: one that arrives while models are still being restored
    // stops the server as soon as it is up, instead of killing it mid-restore.
    let signalled: ((sig: string) => void) | undefined;
    const pending = new Promise<string>((resolve) => (signalled = resolve));
    process.once("SIGINT", () => signalled!("SIGINT"));
    process.once("SIGTERM", () => signalled!("SIGTERM"));
    let server;
    try {
      server = await startServer(config, logger);
    } catch (err) {
      const e = err as { code?: string; message: string };
      if (e.code === "EADDRINUSE")
        throw new CliError(`a port is already in use (${e.message}); pick others with --query-port/--mgmt-port/--grpc-port (0 turns gRPC off)`);
      throw err;
    }
    const sig = await pending;
    logger.info("shutdown", `${sig}: finishing in-flight queries and stopping runtimes`, { signal: sig });
    await server.stop();
    logger.info("stopped", "stopped");
    return 0;
  },
};
