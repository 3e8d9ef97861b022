/**
 * Runs the replicas of every served model version: starts them, routes batches through each
 * version's queue, scales them live, replaces a replica that exits (exponential backoff, then
 * "failed"), and tells when a version's queue has drained (management retires it then, under its lock).
 */
import { join } from "node:path";
import type { ServerConfig } from "../config.ts";
import { modelKey } from "../domain.ts";
import { asResourceError, ConflictError, RuntimeFailure, ServeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ModelRecord } from "../registry/registry.ts";
import { ContainerRecord, containerName } from "./docker.ts";
import { extractPythonWorker } from "./embedded.ts";
import { packageName } from "./environments.ts";
import { killLeftovers, residentMb, writePidFile } from "./supervision.ts";
import { launchCommand, selfCommand } from "./kinds.ts";
import type { RuntimeInfo } from "./protocol.ts";
import { Replica } from "./replica.ts";
import { Spare } from "./spare.ts";

/** Consecutive early exits (before ready, or within STABLE_AFTER_MS of it) after which a version is marked failed. */
const MAX_EARLY_EXITS = 5;
/** A replica that ran this long before exiting is treated as stable: the crash counter starts over. */
const STABLE_AFTER_MS = 30_000;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** What the docker CLI says when no engine answers: its replicas wait for it instead of counting as crashes. */
const ENGINE_GONE = /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect/i;
/** How long a retiring version or replica may take to finish what it has. */
const DRAIN_TIMEOUT_MS = 30_000;

export interface PoolStatus {
  readonly key: string;
  readonly state: "starting" | "ready" | "degraded" | "failed";
  readonly lastError: string | undefined;
  readonly restarts: number;
}

/**
 * What the manager needs of a version's batching queue. The queue is made by the factory the server passes
 * in (runtime code imports nothing of batching): it picks among the pool's replicas, which the pool owns.
 */
export interface PoolQueue {
  readonly key: string;
  readonly depth: number;
  readonly batchSize: number;
  /** True when nothing waits and no replica has a batch in flight. */
  readonly idle: boolean;
  /** Why no replica can start, while that lasts (the Docker engine is gone): queries are answered with it at once. */
  unavailable: string | undefined;
  declareShape(info: RuntimeInfo, label: string): void;
  /** Replicas changed or one finished a batch: send what waits. */
  kick(): void;
  /** Rejects everything waiting. */
  drain(reason: string): void;
  /** Batches the hang watchdog found hung. */
  readonly hangs: number;
  /** The watchdog's threshold now (ms). */
  readonly hangThresholdMs: number;
  /** Inputs quarantined because they hung the model alone. */
  quarantined(): readonly { readonly reason: string; readonly untilMs: number }[];
}

/** Makes the queue of one model version, given a view of its replicas. */
export type QueueFactory<Q extends PoolQueue> = (model: ModelRecord, key: string, maxBatch: number, replicas: () => readonly Replica[]) => Q;

class Pool<Q extends PoolQueue> {
  readonly queue: Q;
  /** The replicas that serve this version: the queue sends batches to them. */
  replicas: Replica[] = [];
  wanted: number;
  restarts = 0;
  consecutiveFailures = 0;
  failed = false;
  lastError: string | undefined;
  /** The last output-contract break logged: each distinct one is logged once, not once per batch. */
  lastContractError: string | undefined;
  stopped = false;
  #seq = 0;

  constructor(
    readonly model: ModelRecord,
    readonly artifactPath: string | undefined,
    readonly python: string | undefined,
    maxBatch: number,
    makeQueue: QueueFactory<Q>,
  ) {
    this.queue = makeQueue(model, modelKey(model.name, model.version), maxBatch, () => this.replicas);
    this.wanted = model.replicas;
  }

  nextReplicaId(): string {
    return `${this.queue.key}#${++this.#seq}`;
  }
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition() && performance.now() < deadline) await Bun.sleep(5);
}

export class RuntimeManager<Q extends PoolQueue = PoolQueue> {
  readonly #config: ServerConfig;
  readonly #pools = new Map<string, Pool<Q>>();
  readonly #makeQueue: QueueFactory<Q>;
  #workerPath: string | undefined;
  readonly #self = selfCommand();

  readonly #pidFile: string;
  #watch: Timer | undefined;
  /** The warm Python worker the next Python replica on the server's environment starts from (pythonSpares = 1). */
  #spare: Spare | undefined;
  #stopping = false;
  /** Docker runtime: the containers started and not removed yet. */
  readonly #containers: ContainerRecord;

  readonly #logger: Logger | undefined;

  constructor(config: ServerConfig, makeQueue: QueueFactory<Q>, logger?: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#makeQueue = makeQueue;
    this.#pidFile = join(config.dataDir, "replicas.pid");
    this.#containers = new ContainerRecord(join(config.dataDir, "containers"));
  }

  /** Kills replicas a previous run left behind, then watches the memory of this run's replicas. */
  startSupervision(log: (line: string) => void): void {
    const killed = killLeftovers(this.#pidFile, this.#config.dataDir);
    if (killed) log(`killed ${killed} replica process${killed === 1 ? "" : "es"} left by a previous run`);
    const swept = this.#containers.sweep();
    if (swept) log(`removed ${swept} container${swept === 1 ? "" : "s"} left by a previous run`);
    const limitMb = this.#config.replicaMemoryMb;
    if (limitMb > 0) this.#watch = setInterval(() => this.#checkMemory(limitMb), 500);
    this.#warmSpare();
  }

  /** Starts a spare when spares are on and none is alive. */
  #warmSpare(): void {
    if (this.#config.pythonSpares === 0 || this.#stopping || this.#spare?.alive) return;
    this.#workerPath ??= extractPythonWorker(this.#config.dataDir);
    try {
      this.#spare = new Spare([this.#config.python, this.#workerPath, "--standby"]);
    } catch {
      this.#spare = undefined; // No such interpreter: Python replicas will report it when one is asked for.
    }
    this.#recordPids();
  }

  /** The live spare for a Python replica on the server's own environment (others start cold), replaced at once. */
  #takeSpare(pool: Pool<Q>): Spare | undefined {
    if (pool.model.runtime !== "python" || pool.python !== undefined || pool.model.options.format || !this.#spare?.alive) return undefined;
    const spare = this.#spare;
    this.#spare = undefined;
    setTimeout(() => this.#warmSpare(), 0);
    return spare;
  }

  #checkMemory(limitMb: number): void {
    for (const { replica } of this.replicas()) {
      const mb = replica.pid === undefined ? undefined : residentMb(replica.pid);
      if (mb !== undefined && mb > limitMb) {
        replica.kill(`the replica used ${Math.round(mb)} MiB of memory, over the limit of ${limitMb} MiB (CLIPPER_REPLICA_MEMORY_MB)`);
      }
    }
  }

  #recordPids(): void {
    const pids = this.replicas().flatMap(({ replica }) => (replica.pid === undefined ? [] : [replica.pid]));
    if (this.#spare?.alive) pids.push(this.#spare.proc.pid);
    writePidFile(this.#pidFile, pids);
  }

  /** The replicas of a served model version (none when it is not running). */
  replicasOf(key: string): readonly Replica[] {
    return this.#pools.get(key)?.replicas ?? [];
  }

  /** The queue of a served model version, or undefined when it is not running. */
  queue(key: string): Q | undefined {
    return this.#pools.get(key)?.queue;
  }

  running(key: string): boolean {
    return this.#pools.has(key);
  }

  /**
   * Starts `model.replicas` replicas and resolves with the runtime's hello once all are ready.
   * On failure every started replica is stopped and the runtime's own error is thrown.
   */
  async start(model: ModelRecord, artifactPath: string | undefined, python?: string): Promise<RuntimeInfo> {
    const key = modelKey(model.name, model.version);
    if (this.#pools.has(key)) throw new ConflictError(`model ${key} is already running`);
    const maxBatch = model.options.batchSize ? Math.min(model.options.batchSize, this.#config.maxBatchSize) : this.#config.maxBatchSize;
    const pool = new Pool(model, artifactPath, python, maxBatch, this.#makeQueue);
    this.#pools.set(key, pool);
    try {
      const infos = await Promise.all(Array.from({ length: model.replicas }, () => this.#startReplica(pool)));
      return infos[0]!;
    } catch (err) {
      await this.stop(key);
      // Docker: which image failed matters as much as how (a missing image, an entrypoint that exits, garbage).
      if (model.runtime === "docker" && err instanceof RuntimeFailure) throw new RuntimeFailure(`image ${model.options.image}: ${err.message}`);
      throw err;
    }
  }

  /**
   * Changes the number of replicas live: new ones join when ready; removed ones finish their batches first.
   * All or nothing: when a new replica fails to start, the ones this call started are stopped and the
   * wanted count goes back to what it was, and the runtime's error is thrown.
   */
  async scale(key: string, replicas: number): Promise<void> {
    const pool = this.#pools.get(key);
    if (!pool) throw new ConflictError(`model ${key} is not running`, "start it with `clipper rollback` or `clipper deploy` first");
    const before = pool.wanted;
    const current = pool.replicas;
    if (replicas > current.length) {
      pool.wanted = replicas;
      const started: Replica[] = [];
      try {
        await Promise.all(Array.from({ length: replicas - current.length }, () => this.#startReplica(pool, started)));
      } catch (err) {
        pool.wanted = before;
        pool.replicas = pool.replicas.filter((r) => !started.includes(r));
        await Promise.all(started.map((r) => r.stop()));
        this.#recordPids();
        throw err;
      }
      return;
    }
    pool.wanted = replicas;
    const leaving = [...current].sort((a, b) => a.outstandingRows - b.outstandingRows).slice(0, current.length - replicas);
    pool.replicas = current.filter((r) => !leaving.includes(r));
    await Promise.all(
      leaving.map(async (r) => {
        await until(() => r.inflightBatches === 0, DRAIN_TIMEOUT_MS);
        await r.stop();
      }),
    );
    this.#recordPids();
  }

  /** Resolves once a version's queue is empty and its replicas idle (or it is gone), at most after the drain timeout. */
  async drained(key: string): Promise<void> {
    const pool = this.#pools.get(key);
    if (!pool) return;
    await until(() => pool.stopped || pool.queue.idle, DRAIN_TIMEOUT_MS);
  }

  /** Stops every replica of one model version now and rejects what waits in its queue. */
  async stop(key: string): Promise<void> {
    const pool = this.#pools.get(key);
    if (!pool) return;
    pool.stopped = true;
    this.#pools.delete(key);
    pool.queue.drain(`model ${key} was stopped`);
    await Promise.all(pool.replicas.map((r) => r.stop()));
    await this.#containers.settled();
    this.#recordPids();
  }

  async stopAll(): Promise<void> {
    clearInterval(this.#watch);
    this.#stopping = true;
    this.#spare?.kill();
    this.#spare = undefined;
    await Promise.all([...this.#pools.keys()].map((k) => this.stop(k)));
    await this.#containers.settled();
    this.#recordPids();
  }

  status(key: string): PoolStatus | undefined {
    const pool = this.#pools.get(key);
    if (!pool) return undefined;
    const ready = pool.replicas.filter((r) => r.state === "ready" && !r.hung).length;
    const state = pool.failed ? "failed" : ready >= pool.wanted ? "ready" : ready > 0 ? "degraded" : "starting";
    return { key, state, lastError: pool.lastError, restarts: pool.restarts };
  }

  /** Every running version as the invariant check sees it: what it runs, how many replicas it wants and has. */
  pools(): { key: string; model: ModelRecord; wanted: number; failed: boolean; replicas: readonly Replica[] }[] {
    return [...this.#pools].map(([key, p]) => ({ key, model: p.model, wanted: p.wanted, failed: p.failed, replicas: p.replicas }));
  }

  /** The warm spare's pid (a child process that is no replica), when one is alive. */
  get sparePid(): number | undefined {
    return this.#spare?.alive ? this.#spare.proc.pid : undefined;
  }

  /** Containers started and not yet removed, and how many removals are under way. */
  containers(): { names: string[]; removing: number } {
    return { names: this.#containers.names(), removing: this.#containers.removing };
  }

  /** Every replica of every served version, for get_all_containers. */
  replicas(): { key: string; model: ModelRecord; replica: Replica }[] {
    const out: { key: string; model: ModelRecord; replica: Replica }[] = [];
    for (const [key, pool] of this.#pools) for (const replica of pool.replicas) out.push({ key, model: pool.model, replica });
    return out;
  }

  queues(): { model: string; depth: number; batchSize: number }[] {
    return [...this.#pools].map(([model, p]) => ({ model, depth: p.queue.depth, batchSize: p.queue.batchSize }));
  }

  restartCounts(): { model: string; restarts: number }[] {
    return [...this.#pools].map(([model, p]) => ({ model, restarts: p.restarts }));
  }

  logPath(name: string, version: string): string {
    return join(this.#config.dataDir, "logs", `${name}-${version}.log`);
  }

  #command(pool: Pool<Q>, container: { name: string; dataDir: string; replicaId: string } | undefined): string[] {
    this.#workerPath ??= extractPythonWorker(this.#config.dataDir);
    return launchCommand(pool.model, {
      python: pool.python ?? this.#config.python,
      pythonWorker: this.#workerPath,
      self: this.#self,
      artifactPath: pool.artifactPath,
      ...(container ? { container } : {}),
    });
  }

  /** Docker runtime: a new container name for replica `id`, recorded for the sweep after a SIGKILL. */
  #container(pool: Pool<Q>, id: string): { name: string; dataDir: string; replicaId: string } | undefined {
    if (pool.model.runtime !== "docker") return undefined;
    const dataDir = this.#config.dataDir;
    const name = containerName(dataDir, pool.model.name, pool.model.version, Number(id.slice(id.lastIndexOf("#") + 1)));
    this.#containers.add(name);
    return { name, dataDir, replicaId: id };
  }

  /** Starts one replica of `pool`; `started` (when given) receives it at once, so a failed scale can stop what it began. */
  async #startReplica(pool: Pool<Q>, started?: Replica[]): Promise<RuntimeInfo> {
    const spare = this.#takeSpare(pool);
    const id = pool.nextReplicaId();
    const container = this.#container(pool, id);
    const replica = new Replica({
      id,
      model: pool.queue.key,
      command: this.#command(pool, container),
      ...(container ? { container: container.name } : {}),
      logPath: this.logPath(pool.model.name, pool.model.version),
      // The Python runtime reports the versions of the packages the model asked for.
      env: pool.model.options.pkgs ? { CLIPPER_REPORT_PACKAGES: pool.model.options.pkgs.map(packageName).join(",") } : {},
      maxResponseBytes: this.#config.maxResponseBytes,
      onExit: (r, reason) => this.#onReplicaExit(pool, r, reason),
      onContractError: (_r, message) => this.#onContractError(pool, message),
      ...(spare
        ? {
            spare: { spare, load: { artifact: pool.artifactPath!, predict_method: pool.model.predictMethod, module: pool.model.artifactName.endsWith(".py") } },
          }
        : {}),
    });
    pool.replicas = [...pool.replicas, replica];
    started?.push(replica);
    let ready: Promise<RuntimeInfo>;
    try {
      ready = replica.start(this.#config.replicaStartTimeoutMs);
    } catch (err) {
      // The process could not even be spawned (too many open files, no such program): no replica to list.
      pool.replicas = pool.replicas.filter((r) => r !== replica);
      if (container) this.#containers.remove(container.name);
      const typed = asResourceError(err, this.#config.dataDir, `starting a replica of model ${pool.queue.key}`);
      throw typed instanceof ServeError ? typed : new RuntimeFailure(`could not start a replica of model ${pool.queue.key}: ${(err as Error).message}`);
    }
    this.#recordPids();
    const info = await ready;
    pool.queue.declareShape(info, `model ${pool.model.name} version ${pool.model.version}`);
    if (pool.queue.unavailable !== undefined) {
      pool.queue.unavailable = undefined;
      this.#containers.removeStrays(new Set(this.replicas().flatMap(({ replica }) => (replica.container ? [replica.container] : []))));
    }
    pool.queue.kick();
    return info;
  }

  /**
   * The Docker engine stopped answering: not the model's fault, so it does not count toward "failed". Queries
   * get the reason at once, and a replica is tried again every BACKOFF_MAX_MS until the engine is back.
   */
  #waitForEngine(pool: Pool<Q>, reason: string): void {
    const why = `the Docker engine is not answering, model ${pool.queue.key} waits for it: ${reason}`;
    pool.lastError = why;
    if (pool.replicas.length === 0) {
      pool.queue.unavailable = why;
      pool.queue.drain(why);
    }
    setTimeout(() => {
      if (pool.stopped || pool.replicas.length >= pool.wanted) return;
      pool.restarts++;
      this.#startReplica(pool).catch((err: Error) => (pool.lastError = err.message));
    }, BACKOFF_MAX_MS);
  }

  /** A model broke the output contract: `status` shows it, and the log says it once (not once per batch). */
  #onContractError(pool: Pool<Q>, message: string): void {
    pool.lastError = message;
    if (pool.lastContractError === message) return;
    pool.lastContractError = message;
    this.#logger?.error("model_contract", message, { model: pool.queue.key });
  }

  #onReplicaExit(pool: Pool<Q>, replica: Replica, reason: string): void {
    if (replica.container) this.#containers.remove(replica.container);
    const wasRouted = pool.replicas.includes(replica);
    pool.replicas = pool.replicas.filter((r) => r !== replica);
    if (pool.stopped || replica.stopRequested || !wasRouted) return;
    if (replica.container && ENGINE_GONE.test(reason)) {
      this.#waitForEngine(pool, reason);
      return;
    }
    pool.lastError =
      replica.container && pool.model.options.memory && /code 137\b/.test(reason)
        ? `${reason} (exit code 137: the container was killed, e.g. by the kernel at its --memory ${pool.model.options.memory} limit)`
        : reason;
    // Replicas that die at start or soon after count toward giving up; one that ran a long time starts the count over.
    const early = replica.readyAtMs === undefined || performance.now() - replica.readyAtMs < STABLE_AFTER_MS;
    pool.consecutiveFailures = early ? pool.consecutiveFailures + 1 : 1;
    if (pool.consecutiveFailures >= MAX_EARLY_EXITS) {
      pool.failed = true;
      pool.queue.drain(`model ${pool.queue.key} failed: ${reason}`);
      return;
    }
    // The first exit is replaced at once; exits in a row back off exponentially. A replica the watchdog killed
    // for a hang is replaced at once too (its input is quarantined), but a model that hangs on everything still
    // ends "failed" after MAX_EARLY_EXITS hangs in a row.
    const delay = pool.consecutiveFailures <= 1 || replica.hung ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (pool.consecutiveFailures - 1));
    setTimeout(() => {
      if (pool.stopped || pool.replicas.length >= pool.wanted) return;
      pool.restarts++;
      this.#startReplica(pool).catch((err: Error) => (pool.lastError = err.message));
    }, delay);
  }
}
