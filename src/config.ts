/** Server configuration: defaults → CLIPPER_* environment → flags, then frozen and passed down. */
import { totalmem } from "node:os";
import { resolve } from "node:path";

export interface ServerConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly queryPort: number;
  readonly mgmtPort: number;
  /** V2 gRPC port (Triton's 8001); 0 turns gRPC off. */
  readonly grpcPort: number;
  /** Largest request body accepted on either port. */
  readonly maxBodyBytes: number;
  /** Largest model artifact accepted by the management API. */
  readonly maxArtifactBytes: number;
  /** Python interpreter for the Python runtime. */
  readonly python: string;
  /** Number of predictions kept in the LRU cache; 0 turns the cache off. */
  readonly cacheEntries: number;
  /** Bytes the prediction cache may hold (keys and answers, estimated); 0 turns it off. */
  readonly cacheBytes: number;
  /** Upper bound for the adaptive batch size (rows). */
  readonly maxBatchSize: number;
  /** How long a replica may take to load its model. */
  readonly replicaStartTimeoutMs: number;
  /** How long in-flight queries may take to finish on SIGTERM/SIGINT. */
  readonly shutdownGraceMs: number;
  /** Largest answer frame a runtime may send; a larger one fails its batch. */
  readonly maxResponseBytes: number;
  /**
   * The hang watchdog's ceiling: a batch unanswered this long marks the replica as hung (it is killed and
   * replaced); a version that has answered batches gets a threshold from its own batch times under it.
   */
  readonly predictTimeoutMs: number;
  /** How long an input that hung a model on its own stays quarantined (answered the default at once). */
  readonly quarantineMs: number;
  /** Rows a model version's queue may hold; past it, queries are shed at once. */
  readonly maxQueuedRows: number;
  /** A replica whose resident memory passes this many MiB is killed and replaced; 0 means no limit. */
  readonly replicaMemoryMb: number;
  /** A version whose range starts at 0 stops its replicas after this long without a query. */
  readonly idleTimeoutMs: number;
  /** The autoscaler removes replicas that stayed unneeded (not busy, no queue) this long. */
  readonly scaleDownAfterMs: number;
  /** The most resident memory all replicas together may hold (MiB); 0 means no budget. */
  readonly memoryBudgetMb: number;
  /**
   * The most Python workers kept warm (libraries imported) per kind (interpreter, and framework of a model format)
   * for the next replicas to start from: one each, more while cold starts take them faster than they warm up; 0: none.
   */
  readonly pythonSpares: number;
  /** 1: keep a container of each Docker version warm (runtime loaded, artifact mounted) for its next replica; 0: none. */
  readonly dockerSpares: number;
  /** 1: keep one Node runtime started (`clipper runtime node --standby`) for the next Node replica; 0: none. */
  readonly nodeSpares: number;
  /** `json` (one object per line) or `pretty` (for people). */
  readonly logFormat: "json" | "pretty";
  /** `debug` adds a line per query. */
  readonly logLevel: "debug" | "info" | "warn" | "error";
  /** Management token from CLIPPER_TOKEN; empty means the data directory's token file. */
  readonly token: string;
}

type Overrides = Partial<Record<keyof ServerConfig, string | number | undefined>>;

const ENV_NAMES: Record<keyof ServerConfig, string> = {
  dataDir: "CLIPPER_DATA_DIR",
  host: "CLIPPER_HOST",
  queryPort: "CLIPPER_QUERY_PORT",
  mgmtPort: "CLIPPER_MGMT_PORT",
  grpcPort: "CLIPPER_GRPC_PORT",
  maxBodyBytes: "CLIPPER_MAX_BODY_BYTES",
  maxArtifactBytes: "CLIPPER_MAX_ARTIFACT_BYTES",
  python: "CLIPPER_PYTHON",
  cacheEntries: "CLIPPER_CACHE_ENTRIES",
  cacheBytes: "CLIPPER_CACHE_BYTES",
  maxBatchSize: "CLIPPER_MAX_BATCH_SIZE",
  replicaStartTimeoutMs: "CLIPPER_REPLICA_START_TIMEOUT_MS",
  shutdownGraceMs: "CLIPPER_SHUTDOWN_GRACE_MS",
  maxResponseBytes: "CLIPPER_MAX_RESPONSE_BYTES",
  predictTimeoutMs: "CLIPPER_PREDICT_TIMEOUT_MS",
  quarantineMs: "CLIPPER_QUARANTINE_MS",
  maxQueuedRows: "CLIPPER_MAX_QUEUED_ROWS",
  replicaMemoryMb: "CLIPPER_REPLICA_MEMORY_MB",
  idleTimeoutMs: "CLIPPER_IDLE_TIMEOUT_MS",
  scaleDownAfterMs: "CLIPPER_SCALE_DOWN_AFTER_MS",
  memoryBudgetMb: "CLIPPER_MEMORY_BUDGET_MB",
  pythonSpares: "CLIPPER_PYTHON_SPARES",
  dockerSpares: "CLIPPER_DOCKER_SPARES",
  nodeSpares: "CLIPPER_NODE_SPARES",
  logFormat: "CLIPPER_LOG_FORMAT",
  logLevel: "CLIPPER_LOG_LEVEL",
  token: "CLIPPER_TOKEN",
};

const DEFAULTS: ServerConfig = {
  dataDir: ".clipper",
  host: "127.0.0.1",
  queryPort: 1337,
  mgmtPort: 1338,
  grpcPort: 8001,
  maxBodyBytes: 10 * 1024 * 1024,
  maxArtifactBytes: 1024 * 1024 * 1024,
  python: "",
  cacheEntries: 65536,
  cacheBytes: defaultCacheBytes(),
  maxBatchSize: 1024,
  replicaStartTimeoutMs: 60_000,
  shutdownGraceMs: 10_000,
  maxResponseBytes: 64 * 1024 * 1024,
  predictTimeoutMs: 30_000,
  quarantineMs: 600_000,
  maxQueuedRows: 65_536,
  replicaMemoryMb: 0,
  idleTimeoutMs: 300_000,
  scaleDownAfterMs: 30_000,
  memoryBudgetMb: 0,
  pythonSpares: 4,
  dockerSpares: 1,
  nodeSpares: 1,
  logFormat: "json",
  logLevel: "info",
  token: "",
};

/** The prediction cache's default byte bound: 1/16 of the machine's memory, at most 1 GiB. */
function defaultCacheBytes(): number {
  return Math.min(2 ** 30, Math.floor(totalmem() / 16));
}

function toInt(name: string, raw: string | number, min: number, max: number): number {
  const n = typeof raw === "number" ? raw : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, got '${raw}'`);
  }
  return n;
}

/** Builds the frozen config; `flags` win over `env`, which wins over the defaults. */
export function buildConfig(flags: Overrides, env: Record<string, string | undefined>): ServerConfig {
  const pick = (key: keyof ServerConfig) => {
    const flag = flags[key];
    if (flag !== undefined && flag !== "") return flag;
    const fromEnv = env[ENV_NAMES[key]];
    return fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEFAULTS[key];
  };
  const oneOf = <T extends string>(key: keyof ServerConfig, allowed: readonly T[]): T => {
    const v = String(pick(key));
    if (!allowed.includes(v as T)) throw new Error(`${key} (${ENV_NAMES[key]}) must be one of ${allowed.join(", ")}, got '${v}'`);
    return v as T;
  };
  const intOf = (key: keyof ServerConfig, min: number, max: number) => toInt(`${key} (${ENV_NAMES[key]})`, pick(key) as string | number, min, max);
  return Object.freeze({
    dataDir: resolve(String(pick("dataDir"))),
    host: String(pick("host")),
    queryPort: intOf("queryPort", 0, 65535),
    mgmtPort: intOf("mgmtPort", 0, 65535),
    grpcPort: intOf("grpcPort", 0, 65535),
    maxBodyBytes: intOf("maxBodyBytes", 1024, 2 ** 31 - 1),
    maxArtifactBytes: intOf("maxArtifactBytes", 1024, 2 ** 40),
    // "" when not given: the server chooses one at start (src/runtime/runtime-python.ts).
    python: String(pick("python")),
    cacheEntries: intOf("cacheEntries", 0, 10_000_000),
    cacheBytes: intOf("cacheBytes", 0, 2 ** 50),
    maxBatchSize: intOf("maxBatchSize", 1, 100_000),
    replicaStartTimeoutMs: intOf("replicaStartTimeoutMs", 100, 3_600_000),
    shutdownGraceMs: intOf("shutdownGraceMs", 0, 3_600_000),
    maxResponseBytes: intOf("maxResponseBytes", 1024, 256 * 1024 * 1024),
    predictTimeoutMs: intOf("predictTimeoutMs", 10, 3_600_000),
    quarantineMs: intOf("quarantineMs", 0, 86_400_000),
    maxQueuedRows: intOf("maxQueuedRows", 1, 10_000_000),
    replicaMemoryMb: intOf("replicaMemoryMb", 0, 1_048_576),
    idleTimeoutMs: intOf("idleTimeoutMs", 100, 7 * 24 * 3_600_000),
    scaleDownAfterMs: intOf("scaleDownAfterMs", 100, 24 * 3_600_000),
    memoryBudgetMb: intOf("memoryBudgetMb", 0, 1_048_576),
    pythonSpares: intOf("pythonSpares", 0, 8),
    dockerSpares: intOf("dockerSpares", 0, 1),
    nodeSpares: intOf("nodeSpares", 0, 1),
    logFormat: oneOf("logFormat", ["json", "pretty"] as const),
    logLevel: oneOf("logLevel", ["debug", "info", "warn", "error"] as const),
    token: String(pick("token")),
  });
}

/** `300`, `300s`, `5m`, `1500ms` → milliseconds (a bare number is seconds); undefined when not given. */
export function durationMs(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) throw new Error(`--${flag} must be a duration such as 300s, 5m or 1500ms, got '${raw}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * unit);
}

export { ENV_NAMES };
