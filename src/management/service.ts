/**
 * Management, composed of small pieces, each tested alone: the snapshot the query side reads
 * (snapshot-store.ts), reads (reads.ts), model-version writes (model-writes.ts), app, link and policy writes
 * (app-writes.ts), learned policy state (policy-state.ts), one writer per key (key-lock.ts), the invariant
 * check (invariants.ts) and garbage collection (garbage.ts). This facade only wires them and gives the
 * routes one object; it holds no logic of its own.
 */
import { rmSync } from "node:fs";
import type { z } from "zod";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import type { CapturedRow, CaptureWriter } from "../capture/writer.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { CanaryBoard } from "../query/canary.ts";
import type { Logger } from "../log.ts";
import type { Snapshot } from "../query/snapshot.ts";
import { maxReplicas, type Registry } from "../registry/registry.ts";
import type { EnvironmentBuilder } from "../runtime/environments.ts";
import { AppWrites } from "./app-writes.ts";
import { ArtifactUsage } from "./artifact-usage.ts";
import type { ArtifactStore } from "./artifacts.ts";
import { collectGarbage } from "./garbage.ts";
import { CanaryWrites } from "./canary-writes.ts";
import { checkInvariants, type InvariantReport } from "./invariants.ts";
import { KeyLock } from "./key-lock.ts";
import { appLockKey, ModelWrites } from "./model-writes.ts";
import { type AskVersion, replay, type ReplayReport } from "./replay.ts";
import { type FirstPrediction, InFlight, type Runtimes } from "./ports.ts";
import { PolicyState } from "./policy-state.ts";
import { ManagementReads } from "./reads.ts";
import { type AddApp, type AddModel, type AddModelLinks, type Replay, replicaRange, type SetCapture, type SetPolicy, type SetReference } from "./schemas.ts";
import { SnapshotStore } from "./snapshot-store.ts";

/** How long an unreferenced artifact or unused environment is kept before the periodic collection removes it. */
export const GC_GRACE_MS = 60 * 60 * 1000;
const GC_INTERVAL_MS = 10 * 60 * 1000;
/** How long an upload is kept for the deploy that follows it, whatever another operation's clean-up finds. */
const UPLOAD_LEASE_MS = 60_000;

export interface ManagementOptions {
  readonly dataDir: string;
  readonly logger: Logger;
  /** The server's replay of a version's last input on its successor (management never reaches into a queue). */
  readonly firstPrediction: FirstPrediction;
  /** A version was removed: its metric series go. */
  readonly onVersionRemoved?: (key: string) => void;
  /** How long a caller waits behind another operation on the same model or app before a 409. */
  readonly lockWaitMs?: number;
  /** How long a new version's first prediction may take. */
  readonly probeTimeoutMs?: number;
  /** How an ensemble app's answers went (confidence, low-confidence defaults), for status and get_app_info. */
  readonly ensembleSummary?: (app: string) => unknown;
  /** Payload capture (the server's writer; absent: capture cannot be turned on). */
  readonly capture?: CaptureWriter;
  /** The canaries' comparison windows, which the query core fills. */
  readonly canaryBoard?: CanaryBoard;
  /** Sends one row to a running model version (replays). */
  readonly ask?: AskVersion;
  /** A canary's verdict (metrics). */
  readonly onCanaryVerdict?: (model: string, state: "promoted" | "rolled_back" | "aborted") => void;
}

export class ManagementService {
  readonly policyState: PolicyState;
  readonly snapshots: SnapshotStore;
  readonly reads: ManagementReads;
  readonly models: ModelWrites;
  readonly apps: AppWrites;
  readonly canaries: CanaryWrites;
  readonly #locks: KeyLock;
  /** The last replay report of each app (the dashboard shows it). */
  readonly #replays = new Map<string, ReplayReport>();
  readonly #inFlight = new InFlight();
  readonly #usage: ArtifactUsage;
  readonly #restoreErrors = new Map<string, string>();
  readonly #registry: Registry;
  readonly #runtimes: Runtimes;
  readonly #artifacts: ArtifactStore;
  readonly #envs: EnvironmentBuilder;
  readonly #opts: ManagementOptions;
  #gcTimer: Timer | undefined;

  constructor(registry: Registry, runtimes: Runtimes, artifacts: ArtifactStore, cache: PredictionCache, envs: EnvironmentBuilder, opts: ManagementOptions) {
    this.#registry = registry;
    this.#runtimes = runtimes;
    this.#artifacts = artifacts;
    this.#envs = envs;
    this.#opts = opts;
    this.#locks = new KeyLock(opts.lockWaitMs);
    this.#usage = new ArtifactUsage(registry, runtimes, this.#inFlight, artifacts);
    const board = opts.canaryBoard ?? new CanaryBoard();
    this.policyState = new PolicyState(registry);
    this.snapshots = new SnapshotStore(registry, this.policyState);
    this.reads = new ManagementReads(registry, runtimes, cache, this.snapshots, this.policyState, this.#restoreErrors, opts.ensembleSummary);
    this.models = new ModelWrites({
      registry,
      runtimes,
      artifacts,
      cache,
      envs,
      snapshots: this.snapshots,
      reads: this.reads,
      restoreErrors: this.#restoreErrors,
      locks: this.#locks,
      inFlight: this.#inFlight,
      usage: this.#usage,
      firstPrediction: opts.firstPrediction,
      onVersionRemoved: opts.onVersionRemoved ?? (() => undefined),
      dataDir: opts.dataDir,
      logger: opts.logger,
      probeTimeoutMs: opts.probeTimeoutMs,
      onCanaryStarted: (key) => board.reset(key),
    });
    this.apps = new AppWrites(registry, this.snapshots, this.policyState, this.reads, this.models, this.#locks, opts.dataDir);
    this.canaries = new CanaryWrites({
      registry,
      runtimes,
      snapshots: this.snapshots,
      locks: this.#locks,
      models: this.models,
      board,
      logger: opts.logger,
      onVerdict: opts.onCanaryVerdict,
    });
    opts.capture?.configure(registry.captures());
  }

  /** The in-memory view that serves queries. */
  get snapshot(): Snapshot {
    return this.snapshots.current;
  }

  /** Writes what policies learned and stops the periodic collection (shutdown). */
  close(): void {
    clearInterval(this.#gcTimer);
    this.canaries.stop();
    try {
      this.policyState.flush();
    } catch (err) {
      this.#opts.logger.error("policy_state_lost", `the weights learned since the last write could not be written: ${(err as Error).message}`);
    }
  }

  /** Stores an upload and holds it for the deploy that follows (UPLOAD_LEASE_MS). */
  async uploadArtifact(body: ReadableStream<Uint8Array> | null) {
    const stored = await this.#artifacts.put(body);
    this.#inFlight.lease(stored.sha256, UPLOAD_LEASE_MS);
    return stored;
  }

  /**
   * Every invariant of docs/architecture.md, checked now. `processes`: also compare the replicas with this
   * process's children (the server's own check; a unit test's process has children of its own).
   */
  checkInvariants({ artifactGraceMs = GC_GRACE_MS, processes = true } = {}): InvariantReport & { checked_at: string } {
    const report = checkInvariants({
      registry: this.#registry,
      runtimes: this.#runtimes,
      snapshot: () => this.snapshots.current,
      policyState: this.policyState,
      artifacts: this.#artifacts,
      locks: this.#locks,
      models: this.models,
      usage: this.#usage,
      restoreErrors: this.#restoreErrors,
      artifactGraceMs,
      processes,
    });
    return { ...report, checked_at: new Date().toISOString() };
  }

  /** Removes what nothing uses and is older than `graceMs`; answers what was freed. */
  collectGarbage(graceMs: number) {
    const collected = collectGarbage(
      {
        registry: this.#registry,
        runtimes: this.#runtimes,
        artifacts: this.#artifacts,
        envs: this.#envs,
        usage: this.#usage,
        inFlight: this.#inFlight,
        dataDir: this.#opts.dataDir,
      },
      graceMs,
    );
    if (collected.freed_bytes > 0 || collected.partial.length > 0) this.#opts.logger.info("gc", collected.summary, { freed_bytes: collected.freed_bytes });
    return collected;
  }

  /** Restores the registered models, then collects garbage every GC_INTERVAL_MS. */
  async restore(): Promise<void> {
    await this.models.restore();
    this.#gcTimer = setInterval(() => {
      try {
        this.collectGarbage(GC_GRACE_MS);
      } catch (err) {
        this.#opts.logger.error("gc_failed", `garbage collection failed: ${(err as Error).message}`);
      }
    }, GC_INTERVAL_MS);
    this.#gcTimer.unref?.();
  }

  // Reads.
  logs = (name: string, version: string | undefined, maxBytes: number) => this.reads.logs(name, version, maxBytes);
  versions = (name: string) => this.reads.versions(name);
  getApplication = (name: string) => this.reads.getApplication(name);
  getAllApplications = (verbose: boolean) => this.reads.getAllApplications(verbose);
  getLinkedModels = (appName: string) => this.reads.getLinkedModels(appName);
  getModel = (name: string, version: string) => this.reads.getModel(name, version);
  getAllModels = (verbose: boolean) => this.reads.getAllModels(verbose);
  getAllContainers = () => this.reads.getAllContainers();
  getAllContainerNames = () => this.reads.getAllContainerNames();
  getContainer = (name: string, version: string, replicaNumber: number) => this.reads.getContainer(name, version, replicaNumber);
  status = () => ({ ...this.reads.status(), canaries: this.canaries.views() });
  isVersionReady = (key: string) => this.reads.isVersionReady(key);

  // Model versions.
  addModel = (body: z.output<typeof AddModel>) => this.models.addModel(body);
  setModelVersion = (name: string, version: string) => this.models.setModelVersion(name, version);
  setNumReplicas = (name: string, min: number, max: number = min) => this.models.setNumReplicas(name, min, max);
  /** set_num_replicas: a count, or a range whose missing bound is the current version's. */
  setReplicaRange = (b: { model_name: string; num_replicas?: number | undefined; min_replicas?: number | undefined; max_replicas?: number | undefined }) => {
    const current = this.reads.current(b.model_name);
    const range = replicaRange(b, { min: current.replicas, max: maxReplicas(current) });
    return this.models.setNumReplicas(b.model_name, range.min, range.max);
  };
  /** set_server_limits: the memory budget (a lower one evicts at once) and the idle timeout; answers what is in force. */
  setServerLimits = async (b: { memory_budget_mb?: number | undefined; idle_timeout_ms?: number | undefined }) => {
    await this.#runtimes.setLimits({ memoryBudgetMb: b.memory_budget_mb, idleTimeoutMs: b.idle_timeout_ms });
    return this.reads.limits();
  };
  deleteVersionedModel = (name: string, version: string) => this.models.deleteVersionedModel(name, version);
  stopModels = (names: readonly string[]) => this.models.stopModels(names);
  stopInactiveVersions = (names: readonly string[]) => this.models.stopInactiveVersions(names);

  // Apps, links and policies.
  addApp = (body: z.output<typeof AddApp>) => this.apps.addApp(body);
  deleteApp = (name: string) => this.deleteCapturedApp(name);
  addModelLinks = (body: z.output<typeof AddModelLinks>) => this.apps.addModelLinks(body);
  deleteModelLinks = (appName: string, modelNames: readonly string[]) => this.apps.deleteModelLinks(appName, modelNames);
  setPolicy = (body: z.output<typeof SetPolicy>) => this.apps.setPolicy(body);
  /** Deletes an app; its capture goes with it (the registry's row, the writer's state, its files). */
  deleteCapturedApp = async (name: string) => {
    await this.apps.deleteApp(name);
    const capture = this.#opts.capture;
    if (!capture) return;
    capture.configure(this.#registry.captures());
    await capture.flush(name);
    rmSync(capture.directory(name), { recursive: true, force: true });
  };

  // Payload capture, replay and canaries.
  /** Turns an app's capture on (or off with sample 0) under the app's turn. */
  async setCapture(body: z.output<typeof SetCapture>) {
    const capture = this.#capture();
    await this.#locks.run(appLockKey(body.app_name), `capture of application ${body.app_name}`, () => {
      if (!this.#registry.app(body.app_name)) throw new NotFoundError(`no application named '${body.app_name}'`);
      this.#registry.setCapture(body.app_name, body.sample, Math.round(body.max_mb * 1024 * 1024), body.stats_window_ms);
      this.snapshots.refresh();
      capture.configure(this.#registry.captures());
    });
    return this.captureStatus(body.app_name);
  }

  /** Sets the reference of an app's input statistics from inputs (a capture file's); answers the rows it holds. */
  setReference(body: z.output<typeof SetReference>) {
    this.captureStatus(body.app_name);
    if (!this.#registry.captures().some((c) => c.app === body.app_name)) {
      throw new ConflictError(
        `application '${body.app_name}' has no capture on; its input statistics come from the capture`,
        "turn it on with `clipper capture APP --sample F`",
      );
    }
    return { app: body.app_name, reference_rows: this.#capture().stats.setReference(body.app_name, body.inputs) };
  }

  captureStatus(app: string) {
    if (!this.#registry.app(app)) throw new NotFoundError(`no application named '${app}'`);
    return this.#capture().status(app);
  }

  /** The app's capture files as one gzip stream (after writing what is pending). */
  async captureExport(app: string): Promise<Uint8Array> {
    this.captureStatus(app);
    await this.#capture().flush(app);
    return this.#capture().export(app);
  }

  /** Replays the app's capture (or the rows given) against a version of its model; the report is kept for the dashboard. */
  async replay(body: z.output<typeof Replay>): Promise<ReplayReport> {
    if (!this.#opts.ask) throw new NotFoundError("replay is not available in this server");
    const rows = (body.rows as CapturedRow[] | undefined) ?? (await this.#capture().read(body.app_name));
    const report = await replay({ registry: this.#registry, models: this.models, ask: this.#opts.ask }, body.app_name, body.version, rows, body.rate);
    this.#replays.set(body.app_name, report);
    return report;
  }

  lastReplay(app: string): ReplayReport {
    const r = this.#replays.get(app);
    if (!r) throw new NotFoundError(`application '${app}' has no replay report since the server started`, "run `clipper replay APP --version V`");
    return r;
  }

  lastReplays(): ReplayReport[] {
    return [...this.#replays.values()];
  }

  #capture(): CaptureWriter {
    if (!this.#opts.capture) throw new NotFoundError("payload capture is not available in this server");
    return this.#opts.capture;
  }

  recordFeedback = (appName: string, rewards: ReadonlyMap<string, number>, context?: string) => this.apps.recordFeedback(appName, rewards, context);
}
