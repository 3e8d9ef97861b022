/**
 * Runs the replicas of every served model version: starts them, routes batches through each
 * version's queue, scales them live within the version's range (autoscale.ts decides; down to zero when
 * idle and back on the next query, a cold start), keeps all replicas within the memory budget by taking
 * replicas back from the least recently used versions (memory-budget.ts chooses), replaces a replica that
 * exits (exponential backoff, then "failed"), and tells when a version's queue has drained (management
 * retires it then, under its lock). A replica leaves only after the batches it accepted are answered.
 */
import { join } from "node:path";
import type { ServerConfig } from "../config.ts";
import { modelKey } from "../domain.ts";
import { asResourceError, ConflictError, ResourceExhaustedError, RuntimeFailure, ServeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { maxReplicas, type ModelRecord } from "../registry/registry.ts";
import { ContainerMemory, ContainerRecord, containerName } from "./docker.ts";
import { extractPythonWorker } from "./embedded.ts";
import { packageName } from "./environments.ts";
import { killLeftovers, residentMb, writePidFile } from "./supervision.ts";
import { DOCKER_ARTIFACT, FORMAT_MODULES, launchCommand, loadFrame, selfCommand } from "./kinds.ts";
import type { RuntimeInfo } from "./protocol.ts";
import { Replica } from "./replica.ts";
import { BusyWindow, decide } from "./autoscale.ts";
import { type BudgetPool, chooseVictim, estimateMb } from "./memory-budget.ts";
import { type Spare, type SpareEntry, type SpareKind, SparePool, type SpareSet, spareKindKey } from "./spare.ts";
import { type VersionSpare, VersionSpares } from "./version-spares.ts";

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
/** How often the autoscaler and the memory budget look at the replicas. */
const TICK_MS = 100;
/** Scaling decisions and evictions kept for status. */
const EVENTS_KEPT = 200;

/** One thing the autoscaler or the memory budget did, and why. */
export interface ScaleEvent {
  readonly at: string;
  readonly model: string;
  readonly action: "up" | "down" | "zero" | "cold start" | "evict" | "refused";
  readonly from: number;
  readonly to: number;
  readonly reason: string;
}

/** What status shows of a version's replicas beyond their states. */
export interface PoolScaling {
  readonly min: number;
  readonly max: number;
  readonly wanted: number;
  readonly running: number;
  readonly idleMs: number;
  readonly lastColdStart: { readonly at: string; readonly ms: number; readonly spare: boolean } | undefined;
  readonly coldStarts: number;
  /** Of the cold starts, those whose replica adopted a warm spare. */
  readonly coldStartsFromSpare: number;
  /** Resident memory of each replica (MiB), by replica id. */
  readonly memoryMb: Record<string, number>;
}

/** What the replicas and warm spares hold against the memory budget (MiB). */
export interface MemoryStatus {
  readonly budgetMb: number;
  /** Replicas and spares: what the budget counts. */
  readonly usedMb: number;
  readonly replicasMb: number;
  readonly sparesMb: number;
  readonly evictions: number;
  readonly sparesShed: number;
  readonly spares: readonly { pid: number; kind: string; mb: number; warm: boolean; container: string | undefined }[];
  /** How many spares each Python kind keeps now. */
  readonly spareTargets: Readonly<Record<string, number>>;
}

export interface PoolStatus {
  readonly key: string;
  readonly state: "starting" | "ready" | "degraded" | "failed" | "idle";
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
  /** Queries submitted so far (the autoscaler sees activity when it grows). */
  readonly submitted: number;
  /** Called when a query arrives and no replica is routed to: the pool starts one (a cold start). */
  onEmpty: (() => void) | undefined;
  /** Starts a replica that takes no traffic (the suspects of a hang go to it one by one); the pool stops it when it exits. */
  startProbe: (() => Promise<Replica> | undefined) | undefined;
  /** True while queries wait for a cold start: a deadline missed meanwhile says so. */
  coldStarting: boolean;
  /** The oldest waiting query's wait over its SLO (0 when nothing waits; 1 or more after a query was shed), and that wait in ms. */
  pressure(nowMs: number): { share: number; waitMs: number; shed: boolean };
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
  /** The replica range: the autoscaler keeps `wanted` within it. */
  min: number;
  max: number;
  lastQueryMs = performance.now();
  lastChangeMs = performance.now();
  #seenSubmitted = 0;
  readonly busy = new BusyWindow();
  peakReplicaMb = 0;
  coldStarts = 0;
  coldStartsFromSpare = 0;
  /** How long the last replica started waited for its turn at the memory budget and the room it needed (ms). */
  lastRoomWaitMs = 0;
  /** Whether the spare the last replica adopted had finished importing (undefined: it started without one). */
  lastSpareWarm: boolean | undefined;
  lastColdStart: { at: string; ms: number; spare: boolean } | undefined;
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
    this.min = model.replicas;
    this.max = maxReplicas(model);
  }

  /** True when queries arrived since the last call (the autoscaler's notion of "used"). */
  queried(nowMs: number): boolean {
    if (this.queue.submitted === this.#seenSubmitted) return false;
    this.#seenSubmitted = this.queue.submitted;
    this.lastQueryMs = nowMs;
    return true;
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
  /** Warm Python workers the next Python replicas of their kind start from (up to pythonSpares of each kind). */
  readonly #spares: SparePool;
  /** Resident memory last sampled, per spare (MiB), and the most a spare of each kind was seen to hold. */
  readonly #spareMb = new Map<Spare, number>();
  readonly #sparePeakMb = new Map<string, number>();
  /** Spares killed to make room for a replica within the memory budget, since start. */
  sparesShed = 0;
  #stopping = false;
  /** Docker runtime: the containers started and not removed yet. */
  readonly #containers: ContainerRecord;
  /** Warm spares of the Docker (a container per version) and Node (one for all versions) runtimes (version-spares.ts). */
  readonly #versionSpares: VersionSpares;
  #tick: Timer | undefined;
  /** Replicas removed from their pool and not yet exited: their memory still counts. */
  readonly #leaving = new Map<Replica, Pool<Q>>();
  /** Docker replicas: what their containers hold. */
  readonly #containerMemory = new ContainerMemory();
  /** Resident memory last sampled, per replica (MiB). */
  readonly #rssMb = new Map<Replica, number>();
  /** Starts run through the memory budget one at a time (each counts the ones before it). */
  #budgetTurn: Promise<void> = Promise.resolve();
  readonly #events: ScaleEvent[] = [];
  /** The memory budget (MiB; 0: none) and the idle timeout: from the config, changed live by setLimits (clipper.yaml's `server:`). */
  #budgetMb: number;
  #idleTimeoutMs: number;
  /** Evictions since start, and scaling decisions by version and action (for /metrics). */
  evictions = 0;
  readonly decisionCounts = new Map<string, number>();
  /** Told of every scaling decision and eviction (the server logs them). */
  onEvent: ((e: ScaleEvent) => void) | undefined;

  readonly #logger: Logger | undefined;

  constructor(config: ServerConfig, makeQueue: QueueFactory<Q>, logger?: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#makeQueue = makeQueue;
    this.#pidFile = join(config.dataDir, "replicas.pid");
    this.#budgetMb = config.memoryBudgetMb;
    this.#idleTimeoutMs = config.idleTimeoutMs;
    this.#containers = new ContainerRecord(join(config.dataDir, "containers"));
    this.#versionSpares = new VersionSpares((name) => this.#containers.remove(name));
    this.#spares = new SparePool(
      config.pythonSpares,
      config.scaleDownAfterMs,
      (kind) => {
        this.#workerPath ??= extractPythonWorker(this.#config.dataDir);
        return [kind.python, this.#workerPath, "--standby", ...(kind.preload.length ? ["--preload", kind.preload.join(",")] : [])];
      },
      (kind) => this.#spareRoom(kind),
      () => this.#recordPids(),
    );
  }

  /** Kills replicas a previous run left behind, then watches the memory of this run's replicas. */
  startSupervision(log: (line: string) => void): void {
    const killed = killLeftovers(this.#pidFile, this.#config.dataDir);
    if (killed) log(`killed ${killed} replica process${killed === 1 ? "" : "es"} left by a previous run`);
    const swept = this.#containers.sweep();
    if (swept) log(`removed ${swept} container${swept === 1 ? "" : "s"} left by a previous run`);
    const limitMb = this.#config.replicaMemoryMb;
    if (limitMb > 0) this.#watch = setInterval(() => this.#checkMemory(limitMb), 500);
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    if (!this.#stopping) this.#spares.warm({ python: this.#config.python, preload: [] });
  }

  /** Samples replica memory, then lets each version's autoscaler decide. */
  #onTick(): void {
    const now = performance.now();
    this.#sampleMemory();
    this.#shedOverBudget();
    if (!this.#stopping) this.#spares.tick(now);
    for (const pool of this.#pools.values()) {
      if (pool.stopped || pool.failed) continue;
      pool.queried(now);
      const routed = pool.replicas;
      const busy = routed.filter((r) => r.inflightBatches > 0).length;
      pool.busy.add(now, busy, this.#config.scaleDownAfterMs);
      const { share, waitMs, shed } = pool.queue.pressure(now);
      const decision = decide({
        nowMs: now,
        replicas: routed.length,
        starting: routed.filter((r) => r.state === "starting").length,
        min: pool.min,
        max: pool.max,
        pressure: share,
        waitMs,
        shed,
        busy,
        queueIdle: pool.queue.idle,
        lastQueryMs: pool.lastQueryMs,
        peakBusy: pool.busy.peak,
        lastChangeMs: pool.lastChangeMs,
        idleTimeoutMs: this.#idleTimeoutMs,
        scaleDownAfterMs: this.#config.scaleDownAfterMs,
      });
      if (!decision) continue;
      pool.lastChangeMs = now;
      this.#event(pool, decision.action, routed.length, decision.to, decision.reason);
      this.#resize(pool, decision.to).catch((err: Error) => {
        pool.lastError = err.message;
        this.#event(pool, "refused", routed.length, pool.replicas.length, err.message);
      });
    }
  }

  #event(pool: Pool<Q>, action: ScaleEvent["action"], from: number, to: number, reason: string): void {
    const e: ScaleEvent = { at: new Date().toISOString(), model: pool.queue.key, action, from, to, reason };
    this.#events.push(e);
    if (this.#events.length > EVENTS_KEPT) this.#events.shift();
    const k = `${pool.queue.key}\u0000${action}`;
    this.decisionCounts.set(k, (this.decisionCounts.get(k) ?? 0) + 1);
    if (action === "evict") this.evictions++;
    this.onEvent?.(e);
  }

  /** The last scaling decisions and evictions, oldest first. */
  events(): readonly ScaleEvent[] {
    return this.#events;
  }

  #sampleMemory(): void {
    for (const { replica } of this.replicas()) this.#measure(replica);
    const live = new Set<Spare>();
    for (const e of this.#spareEntries()) {
      live.add(e.spare);
      const mb = this.#residentMb(e.spare.proc.pid, e.container);
      if (mb === undefined) continue;
      this.#spareMb.set(e.spare, mb);
      if (mb > (this.#sparePeakMb.get(e.kind) ?? 0)) this.#sparePeakMb.set(e.kind, mb);
    }
    for (const s of this.#spareMb.keys()) if (!live.has(s)) this.#spareMb.delete(s);
  }

  /** Both sets of warm spares: the Python workers by kind, the Node and Docker ones by version. */
  #spareSets(): readonly SpareSet[] {
    return [this.#spares, this.#versionSpares];
  }

  #spareEntries(): SpareEntry[] {
    return this.#spareSets().flatMap((set) => set.list());
  }

  /** What a new spare of `kind` is expected to hold: the most one of its kind held, else the most any spare held. */
  #spareEstimateMb(kind: string): number {
    return this.#sparePeakMb.get(kind) ?? Math.max(0, ...this.#sparePeakMb.values());
  }

  /** What a spare holds for the budget: as sampled, and at least what is expected of its kind (it may still be importing). */
  #spareMbOf(spare: Spare | undefined, kind: string): number {
    if (!spare) return 0;
    return Math.max(this.#spareMb.get(spare) ?? 0, this.#spareEstimateMb(kind));
  }

  /** Whether one more spare of `kind` fits in the memory budget now (always without a budget). */
  #spareRoom(kind: string): boolean {
    if (this.#stopping) return false;
    return this.#budgetMb === 0 || this.#usedMb() + this.#spareEstimateMb(kind) <= this.#budgetMb;
  }

  /** A spare never keeps the budget exceeded (one grew past its estimate, replicas grew): spares are killed until it holds. */
  #shedOverBudget(): void {
    if (this.#budgetMb === 0) return;
    while (this.#usedMb() > this.#budgetMb && this.#spareSets().some((set) => set.shed(undefined))) this.#spareShed(undefined, 0);
  }

  #spareShed(pool: Pool<Q> | undefined, needMb: number): void {
    this.sparesShed++;
    this.#logger?.info("spare_shed", `a warm spare was killed to keep within the ${this.#budgetMb} MiB memory budget`, {
      ...(pool ? { model: pool.queue.key } : {}),
      need_mb: Math.round(needMb),
    });
  }

  /**
   * What a replica or a spare holds (MiB): its process's resident memory; for a Docker one its container's (as
   * `docker stats` counts it) plus its `docker run` client's, which holds memory on this machine too. Undefined
   * when neither can be read.
   */
  #residentMb(pid: number | undefined, container: string | undefined): number | undefined {
    const processMb = pid === undefined ? undefined : residentMb(pid);
    const containerMb = container ? this.#containerMemory.mb(container) : 0;
    if (processMb === undefined && containerMb === undefined) return undefined;
    return (processMb ?? 0) + (containerMb ?? 0);
  }

  #measure(replica: Replica): void {
    const mb = this.#residentMb(replica.pid, replica.container);
    if (mb === undefined) return;
    this.#rssMb.set(replica, mb);
    const pool = this.#pools.get(replica.id.slice(0, replica.id.lastIndexOf("#")));
    if (pool && mb > pool.peakReplicaMb) pool.peakReplicaMb = mb;
  }

  /** Resident memory of every replica, leaving ones included (MiB, as last sampled). */
  memoryMb(): { replica: string; model: string; mb: number; leaving: boolean }[] {
    return this.replicas().map(({ key, replica }) => ({
      replica: replica.id,
      model: key,
      mb: this.#rssMb.get(replica) ?? 0,
      leaving: this.#leaving.has(replica),
    }));
  }

  #budgetView(pool: Pool<Q>): BudgetPool {
    return {
      key: pool.queue.key,
      replicas: pool.replicas.length,
      min: pool.min,
      idle: pool.queue.idle,
      lastQueryMs: pool.lastQueryMs,
      peakReplicaMb: pool.peakReplicaMb,
    };
  }

  /** Memory the replicas hold now; a starting replica counts as what its version's replicas took, at least. */
  #usedMb(): number {
    let used = 0;
    const views = [...this.#pools.values()].map((p) => this.#budgetView(p));
    for (const pool of this.#pools.values()) {
      const expected = estimateMb(this.#budgetView(pool), views);
      for (const r of pool.replicas) {
        const mb = this.#rssMb.get(r) ?? 0;
        used += r.state === "starting" ? Math.max(mb, expected) : mb;
      }
    }
    for (const r of this.#leaving.keys()) used += this.#rssMb.get(r) ?? 0;
    for (const e of this.#spareEntries()) used += this.#spareMbOf(e.spare, e.kind);
    return used;
  }

  /** The spare a new replica of `pool` would adopt now, and its kind (its memory becomes the replica's). */
  #spareFor(pool: Pool<Q>): { spare: Spare; kind: string } | undefined {
    const kind = this.#spareKind(pool);
    const spare = kind && this.#spares.peek(kind);
    if (spare) return { spare, kind: spareKindKey(kind) };
    const key = this.#spareKey(pool);
    const versionSpare = key === undefined ? undefined : this.#versionSpares.peek(key);
    return versionSpare && key !== undefined ? { spare: versionSpare, kind: key } : undefined;
  }

  /**
   * Makes room for one more replica of `pool` within the memory budget: kills warm spares first (all but the
   * one the replica adopts: the cheapest to lose) when that makes the room, else takes replicas back from the
   * least recently used versions (waiting until they exit; spares killed as well would be lost for nothing),
   * killing the spares only when no replica may give one back, and refuses when that is not enough either.
   */
  async #makeRoom(pool: Pool<Q> | undefined): Promise<void> {
    const budget = this.#budgetMb;
    if (budget === 0) return;
    for (;;) {
      this.#sampleMemory();
      const views = [...this.#pools.values()].map((p) => this.#budgetView(p));
      // A replica that adopts a spare only adds what it holds beyond the spare (already counted).
      const adopt = pool ? this.#spareFor(pool) : undefined;
      const needMb = pool ? Math.max(0, estimateMb(this.#budgetView(pool), views) - this.#spareMbOf(adopt?.spare, adopt?.kind ?? "")) : 0;
      const usedMb = this.#usedMb();
      if (usedMb + needMb <= budget) return;
      const victimView = chooseVictim(views, pool?.queue.key ?? "");
      const victim = victimView && this.#pools.get(victimView.key);
      const sheddableMb = this.#spareEntries()
        .filter((e) => e.spare !== adopt?.spare)
        .reduce((a, e) => a + this.#spareMbOf(e.spare, e.kind), 0);
      if ((!victim || sheddableMb >= usedMb + needMb - budget) && this.#spareSets().some((set) => set.shed(adopt?.spare))) {
        this.#spareShed(pool, needMb);
        continue;
      }
      if (!victim) {
        if (!pool) return; // A lowered budget: what cannot give a replica back now is left until it can.
        const why =
          `a replica of model ${pool.queue.key} needs about ${Math.round(needMb)} MiB and ${Math.round(usedMb)} of the ${budget} MiB memory budget are in use; ` +
          "no other version can give a replica back (each is at its minimum or has queries waiting or in flight)";
        this.#event(pool, "refused", pool.replicas.length, pool.replicas.length, why);
        throw new ResourceExhaustedError(why, "raise --memory-budget-mb, lower other versions' --min-replicas, or retry when they are idle");
      }
      const idleS = Math.round((performance.now() - victim.lastQueryMs) / 1000);
      const reason = pool
        ? `least recently used (last query ${idleS} s ago): model ${pool.queue.key} needed about ${Math.round(needMb)} MiB, ${Math.round(usedMb)} of ${budget} MiB in use`
        : `least recently used (last query ${idleS} s ago): the memory budget was lowered to ${budget} MiB, ${Math.round(usedMb)} MiB in use`;
      this.#event(victim, "evict", victim.replicas.length, victim.replicas.length - 1, reason);
      victim.lastChangeMs = performance.now();
      await this.#resize(victim, victim.replicas.length - 1);
    }
  }

  /** The memory budget (MiB; 0: none) and the idle timeout in force. */
  limits(): { memoryBudgetMb: number; idleTimeoutMs: number } {
    return { memoryBudgetMb: this.#budgetMb, idleTimeoutMs: this.#idleTimeoutMs };
  }

  /**
   * Changes the memory budget and the idle timeout live (clipper.yaml's `server:` through `clipper apply`; a
   * restart goes back to the flags). A lower budget takes replicas back from the least recently used versions
   * at once, as far as they may give them (resolves when done); a timeout applies from the next tick.
   */
  async setLimits(l: { memoryBudgetMb?: number | undefined; idleTimeoutMs?: number | undefined }): Promise<void> {
    if (l.idleTimeoutMs !== undefined) this.#idleTimeoutMs = l.idleTimeoutMs;
    if (l.memoryBudgetMb === undefined || l.memoryBudgetMb === this.#budgetMb) return;
    this.#budgetMb = l.memoryBudgetMb;
    await this.#budgetTurnFor(() => this.#makeRoom(undefined));
  }

  /** Runs `fn` when the starts before it have passed the budget (one start at a time through it). */
  async #budgetTurnFor<T>(fn: () => Promise<T> | T): Promise<T> {
    const before = this.#budgetTurn;
    let done!: () => void;
    this.#budgetTurn = new Promise<void>((r) => (done = r));
    await before;
    try {
      return await fn();
    } finally {
      done();
    }
  }

  /**
   * Cold start: a query came for a version with no replica. Only a version allowed to run none (minimum 0): one
   * whose replicas crashed is brought back by the restart with its backoff, which a query must not bypass.
   */
  #coldStart(pool: Pool<Q>): void {
    if (pool.min > 0 || pool.stopped || pool.failed || pool.replicas.length > 0 || pool.queue.coldStarting) return;
    pool.queue.coldStarting = true;
    pool.lastQueryMs = performance.now();
    pool.lastChangeMs = performance.now();
    pool.wanted = Math.max(pool.wanted, 1);
    const t0 = performance.now();
    this.#event(pool, "cold start", 0, 1, "a query came and no replica was running");
    const started: Replica[] = [];
    this.#startReplica(pool, started)
      .then(() => {
        const spare = started[0]?.warm === true;
        const ms = Math.round(performance.now() - t0);
        pool.coldStarts++;
        if (spare) pool.coldStartsFromSpare++;
        pool.lastColdStart = { at: new Date().toISOString(), ms, spare };
        const roomMs = Math.round(pool.lastRoomWaitMs);
        this.#logger?.info(
          "cold_start",
          `model ${pool.queue.key} started ${spare ? "from a warm spare" : "cold"} in ${ms} ms (${roomMs} ms waiting for memory)`,
          {
            model: pool.queue.key,
            ms,
            room_ms: roomMs,
            spare,
            // A Python spare still importing when adopted: spares were taken faster than they warmed up.
            ...(pool.lastSpareWarm === undefined ? {} : { spare_warm: pool.lastSpareWarm }),
          },
        );
      })
      .catch((err: Error) => {
        pool.wanted = pool.replicas.length;
        pool.lastError = err.message;
        pool.queue.drain(`cold start of model ${pool.queue.key} failed: ${err.message}`);
      })
      .finally(() => {
        pool.queue.coldStarting = false;
      });
  }

  /**
   * What a spare for a replica of `pool` is warm for: Python replicas only; the interpreter of the model's own
   * environment or the server's, and for a model format the framework it imports (a scikit-learn spare would
   * leave the slow part, importing torch or onnxruntime, to the load).
   */
  #spareKind(pool: Pool<Q>): SpareKind | undefined {
    if (pool.model.runtime !== "python") return undefined;
    const format = pool.model.options.format;
    const module = format ? FORMAT_MODULES[format] : undefined;
    return { python: pool.python ?? this.#config.python, preload: module ? [module, "clipper_formats"] : [] };
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
    pids.push(...this.sparePids);
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
   * Starts `initial` replicas (default: the version's minimum) and resolves with the runtime's hello once all are
   * ready (an empty hello when none is started: a version at zero starts on its first query).
   * On failure every started replica is stopped and the runtime's own error is thrown.
   */
  async start(model: ModelRecord, artifactPath: string | undefined, python?: string, initial = model.replicas): Promise<RuntimeInfo> {
    const key = modelKey(model.name, model.version);
    if (this.#pools.has(key)) throw new ConflictError(`model ${key} is already running`);
    const maxBatch = model.options.batchSize ? Math.min(model.options.batchSize, this.#config.maxBatchSize) : this.#config.maxBatchSize;
    const pool = new Pool(model, artifactPath, python, maxBatch, this.#makeQueue);
    pool.wanted = initial;
    pool.queue.onEmpty = () => this.#coldStart(pool);
    pool.queue.startProbe = () => this.#startProbe(pool);
    this.#pools.set(key, pool);
    try {
      const infos = await Promise.all(Array.from({ length: initial }, () => this.#startReplica(pool)));
      return infos[0] ?? ({} as RuntimeInfo);
    } catch (err) {
      await this.stop(key);
      // Docker: which image failed matters as much as how (a missing image, an entrypoint that exits, garbage).
      if (model.runtime === "docker" && err instanceof RuntimeFailure) throw new RuntimeFailure(`image ${model.options.image}: ${err.message}`);
      throw err;
    }
  }

  /**
   * Changes a version's replica range live (`max` defaults to `min`: a fixed count): the count moves into the
   * range at once; new replicas join when ready, removed ones finish their batches first. All or nothing:
   * when a new replica fails to start, the ones this call started are stopped, the range goes back to what it
   * was, and the runtime's error is thrown.
   */
  async scale(key: string, min: number, max: number = min): Promise<void> {
    const pool = this.#pools.get(key);
    if (!pool) throw new ConflictError(`model ${key} is not running`, "start it with `clipper rollback` or `clipper deploy` first");
    const before = { min: pool.min, max: pool.max };
    pool.min = min;
    pool.max = Math.max(max, 1);
    pool.lastChangeMs = performance.now();
    const target = Math.min(Math.max(pool.replicas.length, min), max);
    try {
      await this.#resize(pool, target);
    } catch (err) {
      pool.min = before.min;
      pool.max = before.max;
      throw err;
    }
  }

  /** Moves a pool to `target` replicas: up all or nothing, down by draining the least loaded ones first. */
  async #resize(pool: Pool<Q>, target: number): Promise<void> {
    const before = pool.wanted;
    const current = pool.replicas;
    if (target > current.length) {
      pool.wanted = target;
      const started: Replica[] = [];
      try {
        await Promise.all(Array.from({ length: target - current.length }, () => this.#startReplica(pool, started)));
      } catch (err) {
        pool.wanted = before;
        pool.replicas = pool.replicas.filter((r) => !started.includes(r));
        await Promise.all(started.map((r) => r.stop()));
        this.#recordPids();
        throw err;
      }
      return;
    }
    pool.wanted = target;
    const leaving = [...current].sort((a, b) => a.outstandingRows - b.outstandingRows).slice(0, current.length - target);
    pool.replicas = current.filter((r) => !leaving.includes(r));
    for (const r of leaving) this.#leaving.set(r, pool);
    await Promise.all(
      leaving.map(async (r) => {
        // The batches it accepted are answered before it stops: scale-down never loses a query.
        await until(() => r.inflightBatches === 0, DRAIN_TIMEOUT_MS);
        await r.stop();
        this.#leaving.delete(r);
        this.#rssMb.delete(r);
      }),
    );
    await this.#containers.settled();
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
    this.#versionSpares.drop(key);
    pool.queue.drain(`model ${key} was stopped`);
    await Promise.all(pool.replicas.map((r) => r.stop()));
    await this.#containers.settled();
    this.#recordPids();
  }

  async stopAll(): Promise<void> {
    clearInterval(this.#watch);
    clearInterval(this.#tick);
    this.#stopping = true;
    for (const set of this.#spareSets()) set.killAll();
    await Promise.all([...this.#pools.keys()].map((k) => this.stop(k)));
    await this.#containers.settled();
    this.#recordPids();
  }

  status(key: string): PoolStatus | undefined {
    const pool = this.#pools.get(key);
    if (!pool) return undefined;
    const ready = pool.replicas.filter((r) => r.state === "ready" && !r.hung).length;
    const state = pool.failed
      ? "failed"
      : pool.replicas.length === 0 && pool.min === 0
        ? "idle"
        : ready >= pool.wanted
          ? "ready"
          : ready > 0
            ? "degraded"
            : "starting";
    return { key, state, lastError: pool.lastError, restarts: pool.restarts };
  }

  /** A version can answer: a replica is ready, or it is at zero and its first query starts one. */
  canServe(key: string): boolean {
    const pool = this.#pools.get(key);
    if (!pool || pool.failed) return false;
    if (pool.replicas.some((r) => r.state === "ready" && !r.hung)) return true;
    return pool.min === 0 && pool.replicas.every((r) => r.state === "starting");
  }

  /** A version's range, replicas, idle time, cold starts and replica memory (undefined when it is not running). */
  scaling(key: string): PoolScaling | undefined {
    const pool = this.#pools.get(key);
    if (!pool) return undefined;
    const memoryMb: Record<string, number> = {};
    for (const r of pool.replicas) memoryMb[r.id] = Math.round(this.#rssMb.get(r) ?? 0);
    return {
      min: pool.min,
      max: pool.max,
      wanted: pool.wanted,
      running: pool.replicas.filter((r) => r.state === "ready").length,
      idleMs: Math.round(performance.now() - pool.lastQueryMs),
      lastColdStart: pool.lastColdStart,
      coldStarts: pool.coldStarts,
      coldStartsFromSpare: pool.coldStartsFromSpare,
      memoryMb,
    };
  }

  /**
   * The memory budget (MiB; 0: none), what all replicas and warm spares hold (both count in the budget), each
   * spare (its memory as sampled, what it is warm for), how many spares each Python kind keeps now, the
   * evictions and the spares killed for room so far.
   */
  memory(): MemoryStatus {
    const replicasMb = this.memoryMb().reduce((a, r) => a + r.mb, 0);
    const spares = this.#spareEntries().map((e) => ({
      pid: e.spare.proc.pid,
      kind: e.kind,
      mb: Math.round(this.#spareMb.get(e.spare) ?? 0),
      warm: e.spare.warm,
      container: e.container,
    }));
    const sparesMb = spares.reduce((a, s) => a + s.mb, 0);
    return {
      budgetMb: this.#budgetMb,
      usedMb: Math.round(replicasMb + sparesMb),
      replicasMb: Math.round(replicasMb),
      sparesMb,
      evictions: this.evictions,
      sparesShed: this.sparesShed,
      spares,
      spareTargets: this.#spares.targets(),
    };
  }

  /** Every running version as the invariant check sees it: what it runs, its range, how many replicas it wants and has. */
  pools(): { key: string; model: ModelRecord; wanted: number; min: number; max: number; failed: boolean; replicas: readonly Replica[] }[] {
    return [...this.#pools].map(([key, p]) => ({ key, model: p.model, wanted: p.wanted, min: p.min, max: p.max, failed: p.failed, replicas: p.replicas }));
  }

  /** The Docker and Node runtimes' warm spares: their pids and containers (children of the server that are no replica). */
  standby(): { pids: number[]; containers: string[] } {
    return this.#versionSpares.standby();
  }

  /** Every warm spare's pid, Python, Node and Docker alike (child processes that are no replicas). */
  get sparePids(): number[] {
    return this.#spareEntries().map((e) => e.spare.proc.pid);
  }

  /** Containers started and not yet removed, and how many removals are under way. */
  containers(): { names: string[]; removing: number } {
    return { names: this.#containers.names(), removing: this.#containers.removing };
  }

  /** Every replica of every served version, those leaving (finishing their batches, stopping) included, for get_all_containers. */
  replicas(): { key: string; model: ModelRecord; replica: Replica }[] {
    const out: { key: string; model: ModelRecord; replica: Replica }[] = [];
    for (const [key, pool] of this.#pools) for (const replica of pool.replicas) out.push({ key, model: pool.model, replica });
    for (const [replica, pool] of this.#leaving) out.push({ key: pool.queue.key, model: pool.model, replica });
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

  #command(pool: Pool<Q>, container: { name: string; dataDir: string; replicaId: string } | undefined, standby = false): string[] {
    this.#workerPath ??= extractPythonWorker(this.#config.dataDir);
    return launchCommand(pool.model, {
      python: pool.python ?? this.#config.python,
      pythonWorker: this.#workerPath,
      self: this.#self,
      artifactPath: pool.artifactPath,
      ...(container ? { container } : {}),
      standby,
    });
  }

  /** Docker runtime: a new container name for replica `id`, recorded for the sweep after a SIGKILL. */
  #container(pool: Pool<Q>, id: string, seqId = id): { name: string; dataDir: string; replicaId: string } | undefined {
    if (pool.model.runtime !== "docker") return undefined;
    const dataDir = this.#config.dataDir;
    const name = containerName(dataDir, pool.model.name, pool.model.version, Number(seqId.slice(seqId.lastIndexOf("#") + 1)));
    this.#containers.add(name);
    return { name, dataDir, replicaId: id };
  }

  /**
   * Starts one replica of `pool` once the memory budget has room for it; `started` (when given) receives it at
   * once, so a failed scale can stop what it began.
   */
  async #startReplica(pool: Pool<Q>, started?: Replica[]): Promise<RuntimeInfo> {
    const t0 = performance.now();
    const { ready } = await this.#budgetTurnFor(async () => {
      await this.#makeRoom(pool);
      if (pool.stopped) throw new ConflictError(`model ${pool.queue.key} was stopped while its replica waited for memory`);
      pool.lastRoomWaitMs = performance.now() - t0;
      return this.#spawn(pool, started);
    });
    const info = await ready;
    // Idle time counts from when the version could answer (a slow start is no idleness).
    pool.lastQueryMs = Math.max(pool.lastQueryMs, performance.now());
    pool.queue.declareShape(info, `model ${pool.model.name} version ${pool.model.version}`);
    this.#warmVersionSpare(pool);
    if (pool.queue.unavailable !== undefined) {
      pool.queue.unavailable = undefined;
      this.#containers.removeStrays(new Set(this.replicas().flatMap(({ replica }) => (replica.container ? [replica.container] : []))));
    }
    pool.queue.kick();
    return info;
  }

  /**
   * A probe: a replica of `pool` that takes no traffic, for the suspects of a hang (model-queue.ts). It counts
   * as leaving (its memory and pid are seen, nothing routes to it) and is never replaced; it takes no warm
   * spare (the replacement of the hung replica needs it more). Undefined while the pool is stopping or failed.
   */
  #startProbe(pool: Pool<Q>): Promise<Replica> | undefined {
    if (pool.stopped || pool.failed || this.#stopping) return undefined;
    try {
      const { replica, ready } = this.#spawn(pool, undefined, false);
      return ready.then(() => replica);
    } catch {
      return undefined;
    }
  }

  /** What a Docker or Node replica of `pool` adopts a warm spare by: the key of its spares, undefined when it has none. */
  #spareKey(pool: Pool<Q>): string | undefined {
    if (pool.model.runtime === "docker") return this.#config.dockerSpares > 0 && pool.artifactPath ? pool.queue.key : undefined;
    if (pool.model.runtime === "node") return this.#config.nodeSpares > 0 ? "node" : undefined;
    return undefined;
  }

  /** Docker and Node: a warm spare for the next replica, started once one of the runtime's replicas is ready. */
  #warmVersionSpare(pool: Pool<Q>): void {
    const key = this.#spareKey(pool);
    if (key === undefined || pool.stopped || this.#stopping || !this.#spareRoom(key)) return;
    this.#versionSpares.warm(key, () => {
      if (pool.model.runtime === "node") return { command: [...this.#self, "runtime", "node", "--standby"] };
      const container = this.#container(pool, `${pool.queue.key}#spare`, pool.nextReplicaId())!;
      return { command: this.#command(pool, container, true), container: container.name };
    });
    this.#recordPids();
  }

  /** Spawns one replica of `pool` and routes to it (it counts as starting until its hello); `routed` false: a probe. */
  #spawn(pool: Pool<Q>, started?: Replica[], routed = true): { replica: Replica; ready: Promise<RuntimeInfo> } {
    const kind = routed && !this.#stopping ? this.#spareKind(pool) : undefined;
    // Cold starts from zero come in bursts (a wave of queries to idle versions): they grow the pool and have their
    // spare replaced at once. A scale-up or a replacement runs under load: its spare is replaced once it is up.
    const coldStart = pool.queue.coldStarting;
    const spare = kind && this.#spares.take(kind, coldStart);
    if (routed) pool.lastSpareWarm = spare ? spare.warm : undefined;
    const spareKey = routed && !spare ? this.#spareKey(pool) : undefined;
    const versionSpare: VersionSpare | undefined = spareKey === undefined ? undefined : this.#versionSpares.take(spareKey);
    const id = pool.nextReplicaId();
    // A warm container was started ahead under its own name (the replica adopts it and its name).
    const fresh = versionSpare ? undefined : this.#container(pool, id);
    const container = versionSpare?.container ? { name: versionSpare.container } : fresh;
    const replica = new Replica({
      id,
      model: pool.queue.key,
      command: this.#command(pool, fresh),
      ...(container ? { container: container.name } : {}),
      logPath: this.logPath(pool.model.name, pool.model.version),
      // The Python runtime reports the versions of the packages the model asked for.
      env: pool.model.options.pkgs ? { CLIPPER_REPORT_PACKAGES: pool.model.options.pkgs.map(packageName).join(",") } : {},
      maxResponseBytes: this.#config.maxResponseBytes,
      onExit: (r, reason) => this.#onReplicaExit(pool, r, reason),
      onContractError: (_r, message) => this.#onContractError(pool, message),
      ...(spare
        ? {
            spare: { spare, load: loadFrame(pool.model, pool.artifactPath!) },
          }
        : versionSpare
          ? {
              spare: {
                spare: versionSpare.spare,
                load: { artifact: versionSpare.container ? DOCKER_ARTIFACT : pool.artifactPath!, predict_method: pool.model.predictMethod, module: false },
              },
            }
          : {}),
    });
    if (routed) pool.replicas = [...pool.replicas, replica];
    else this.#leaving.set(replica, pool);
    // The spare taken is replaced at once (it counts in the budget after this replica, which counts from now).
    if (spare && coldStart) this.#spares.refill(kind!);
    started?.push(replica);
    let ready: Promise<RuntimeInfo>;
    try {
      ready = replica.start(this.#config.replicaStartTimeoutMs);
    } catch (err) {
      // The process could not even be spawned (too many open files, no such program): no replica to list.
      pool.replicas = pool.replicas.filter((r) => r !== replica);
      this.#leaving.delete(replica);
      if (container) this.#containers.remove(container.name);
      const typed = asResourceError(err, this.#config.dataDir, `starting a replica of model ${pool.queue.key}`);
      throw typed instanceof ServeError ? typed : new RuntimeFailure(`could not start a replica of model ${pool.queue.key}: ${(err as Error).message}`);
    }
    this.#recordPids();
    // A kind first asked for by this cold replica gets its first spare once the replica is up, not meanwhile; so
    // does the replacement of a spare a scale-up or a replacement took (its imports would slow the replicas down).
    if (kind && (!spare || !coldStart))
      ready.then(
        () => this.#stopping || this.#spares.warm(kind),
        () => this.#stopping || this.#spares.warm(kind),
      );
    return { replica, ready };
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

  #logReplaced(pool: Pool<Q>, old: Replica, by: Replica | undefined, ms: number): void {
    const how = by?.warm ? "from a warm spare" : "cold";
    this.#logger?.info("replica_replaced", `replica ${old.id} of model ${pool.queue.key} replaced by ${by?.id} ${how} in ${Math.round(ms)} ms`, {
      model: pool.queue.key,
      replica: by?.id,
      ms: Math.round(ms),
      spare: by?.warm === true,
    });
  }

  #onReplicaExit(pool: Pool<Q>, replica: Replica, reason: string): void {
    if (replica.container) {
      this.#containers.remove(replica.container);
      this.#containerMemory.forget(replica.container);
    }
    this.#rssMb.delete(replica);
    this.#leaving.delete(replica);
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
      if (pool.model.runtime === "docker") this.#versionSpares.drop(pool.queue.key);
      pool.queue.drain(`model ${pool.queue.key} failed: ${reason}`);
      return;
    }
    // The first exit is replaced at once; exits in a row back off exponentially. A replica the watchdog killed
    // for a hang is replaced at once too (its input is quarantined), but a model that hangs on everything still
    // ends "failed" after MAX_EARLY_EXITS hangs in a row.
    const delay = pool.consecutiveFailures <= 1 || replica.hung ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (pool.consecutiveFailures - 1));
    const exitedMs = performance.now();
    setTimeout(() => {
      if (pool.stopped || pool.replicas.length >= pool.wanted) return;
      pool.restarts++;
      const started: Replica[] = [];
      this.#startReplica(pool, started).then(
        () => this.#logReplaced(pool, replica, started[0], performance.now() - exitedMs),
        (err: Error) => (pool.lastError = err.message),
      );
    }, delay);
  }
}
