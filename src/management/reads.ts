/**
 * The read side of management: what the registry and the runtimes say about apps, models, versions,
 * replicas and logs, in the shapes of Clipper's management API. Writes live in service.ts.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { NotFoundError } from "../errors.ts";
import type { PolicyState } from "./policy-state.ts";
import type { SnapshotStore } from "./snapshot-store.ts";
import { type AppRecord, maxReplicas, type ModelRecord, type Registry } from "../registry/registry.ts";
import { modelKey } from "../domain.ts";
import type { Runtimes } from "./ports.ts";
import { appReady } from "../query/snapshot.ts";

export class ManagementReads {
  constructor(
    private readonly registry: Registry,
    private readonly runtimes: Runtimes,
    private readonly cache: PredictionCache,
    private readonly snapshots: SnapshotStore,
    private readonly policyState: PolicyState,
    /** Model versions that could not be started when the server restored them, with the reason (model writes fill it). */
    private readonly restoreErrors: ReadonlyMap<string, string>,
    private readonly ensembleSummary: (app: string) => unknown = () => null,
  ) {}

  /** The end of a version's captured stderr (the current version when none is given). */
  logs(name: string, version: string | undefined, maxBytes: number): string {
    const v = version ?? this.current(name).version;
    if (!this.registry.model(name, v)) throw new NotFoundError(`no model ${name} version ${v}`);
    const path = this.runtimes.logPath(name, v);
    if (!existsSync(path)) return "";
    const size = statSync(path).size;
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    const fd = openSync(path, "r");
    try {
      readSync(fd, buf, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return buf.toString("utf8");
  }

  versions(name: string) {
    const versions = this.registry.versions(name);
    if (versions.length === 0) throw new NotFoundError(`no model named '${name}'`);
    return versions.map((m) => this.describeModel(m));
  }

  /**
   * An app as the registry has it, with weights learned and not yet written; a learning policy's contexts
   * (how many are kept) and an ensemble's answers (confidence, defaults for want of it).
   */
  getApplication(name: string) {
    const app = this.app(name);
    const pending = this.policyState.pending(app.name);
    const route = this.snapshots.current.apps.get(app.name);
    return {
      name: app.name,
      input_type: app.inputType,
      default_output: app.defaultOutput,
      latency_slo_micros: app.sloMicros,
      policy: app.policy,
      policy_config: {
        ...app.policyConfig,
        ...pending,
        // A learning policy's weights as queries use them: learned ones at once, 1 for a model linked since.
        ...(route?.contexts ? { weights: Object.fromEntries(route.candidates.map((c, i) => [c.name, route.weights[i]!])) } : {}),
      },
      ...(route?.contexts ? { contexts: route.contexts.size } : {}),
      ...(app.policy === "ensemble" ? { ensemble: this.ensembleSummary(app.name) } : {}),
      query_token_required: app.queryTokenSha256 !== undefined,
      cache: app.cache,
      overload: app.overload,
      linked_models: this.registry.linkedModels(app.name),
    };
  }

  getAllApplications(verbose: boolean) {
    const apps = this.registry.apps();
    return verbose ? apps.map((a) => this.getApplication(a.name)) : apps.map((a) => a.name);
  }

  getLinkedModels(appName: string): string[] {
    return this.registry.linkedModels(this.app(appName).name);
  }

  getModel(name: string, version: string) {
    const m = this.registry.model(name, version);
    if (!m) throw new NotFoundError(`no model ${name} version ${version}`);
    return this.describeModel(m);
  }

  getAllModels(verbose: boolean) {
    const models = this.registry.models();
    return verbose ? models.map((m) => this.describeModel(m)) : models.map((m) => modelKey(m.name, m.version));
  }

  /**
   * Every replica. Clipper's fields (`model_id`, a numeric `model_replica_id`, `input_type`, `batch_size`)
   * beside clipper's own (`replica_id` "name:version#n", `state` and its alias `status`, `pid`).
   */
  getAllContainers() {
    return this.runtimes.replicas().map(({ model, replica }) => {
      const key = modelKey(model.name, model.version);
      const n = replica.id.startsWith(`${key}#`) ? Number(replica.id.slice(key.length + 1)) : replica.id;
      return {
        model_name: model.name,
        model_version: model.version,
        model_id: key,
        model_replica_id: n,
        replica_id: replica.id,
        input_type: model.inputType,
        batch_size: model.options.batchSize ?? -1,
        zmq_connection_id: null,
        state: replica.state,
        status: replica.state,
        pid: replica.pid ?? null,
        container: replica.container ?? null,
        outstanding_rows: replica.outstandingRows,
      };
    });
  }

  /** Clipper's names list: "name:version:replica". */
  getAllContainerNames(): string[] {
    return this.getAllContainers().map((c) => `${c.model_id}:${c.model_replica_id}`);
  }

  /** One replica (Clipper's get_container), by its number within the version. */
  getContainer(name: string, version: string, replicaNumber: number) {
    const found = this.getAllContainers().find((c) => c.model_name === name && c.model_version === version && c.model_replica_id === replicaNumber);
    if (!found) throw new NotFoundError(`no replica ${replicaNumber} of model ${name} version ${version}`, "see get_all_containers");
    return found;
  }

  status() {
    return {
      applications: this.registry.apps().map((a) => ({
        ...this.getApplication(a.name),
        ready: this.isAppReady(a.name),
      })),
      models: this.registry.models().map((m) => this.describeModel(m)),
      memory: this.#memory(),
      limits: this.limits(),
      scaling_events: this.runtimes.events().map((e) => ({ ...e })),
      cache: { enabled: this.cache.enabled, entries: this.cache.size, hits: this.cache.hits, misses: this.cache.misses },
    };
  }

  /** The memory budget and the idle timeout in force (flags at start, set_server_limits since). */
  limits() {
    const l = this.runtimes.limits();
    return { memory_budget_mb: l.memoryBudgetMb, idle_timeout_ms: l.idleTimeoutMs };
  }

  /**
   * The memory budget, what it counts (the replicas and the warm spares: each replica's and spare's resident
   * memory), how many spares each Python kind keeps now, the evictions and the spares killed for room so far.
   */
  #memory() {
    const m = this.runtimes.memory();
    return {
      budget_mb: m.budgetMb,
      used_mb: m.usedMb,
      replicas_mb: m.replicasMb,
      spares_mb: m.sparesMb,
      evictions: m.evictions,
      spares_shed: m.sparesShed,
      spare_targets: m.spareTargets,
      spares: m.spares.map((s) => ({ pid: s.pid, kind: s.kind, memory_mb: s.mb, warm: s.warm, ...(s.container ? { container: s.container } : {}) })),
      // Spares are no replicas (they hold no model): their pids, so that a reader can tell them apart.
      spare_pid: this.runtimes.sparePids[0] ?? null,
      spare_pids: this.runtimes.sparePids,
      replicas: this.runtimes.memoryMb().map((r) => ({ replica_id: r.replica, model_id: r.model, memory_mb: Math.round(r.mb), leaving: r.leaving })),
    };
  }

  /** An app is ready when every model version its policy picks from has a ready replica (the query core's rule). */
  isAppReady(appName: string): boolean {
    const route = this.snapshots.current.apps.get(appName);
    if (!route) return false;
    return appReady(route, this.isVersionReady);
  }

  /**
   * True when the model version `key` has a replica ready to predict (not one the hang watchdog is killing), or
   * is at zero and starts one on its first query.
   */
  isVersionReady = (key: string): boolean => this.runtimes.canServe(key);

  describeModel(m: ModelRecord) {
    const key = modelKey(m.name, m.version);
    const pool = this.runtimes.status(key);
    const state = m.runtime === "none" ? "registered" : (pool?.state ?? (m.isCurrent ? (this.restoreErrors.has(key) ? "failed" : "stopped") : "inactive"));
    return {
      model_name: m.name,
      model_version: m.version,
      input_type: m.inputType,
      runtime: m.runtime,
      // Clipper's fields, beside clipper's own.
      is_current_version: m.isCurrent,
      labels: m.options.labels ?? [],
      container_name: containerName(m),
      model_data_path: "DEPRECATED",
      batch_size: m.options.batchSize ?? -1,
      is_current: m.isCurrent,
      replicas: m.replicas,
      min_replicas: m.replicas,
      max_replicas: maxReplicas(m),
      ...this.#scaling(key),
      state,
      status: state,
      ready_replicas: this.runtimes.replicasOf(key).filter((r) => r.state === "ready" && !r.hung).length,
      ...this.#watchdog(key),
      last_error: pool?.lastError ?? this.restoreErrors.get(key) ?? null,
      artifact_sha256: m.artifactSha256,
      artifact_name: m.artifactName,
      predict_method: m.predictMethod,
      runtime_info: m.runtimeInfo,
      created_at: m.createdAt,
    };
  }

  /** The hang watchdog's view of a running version: its threshold, the hangs it found, the inputs quarantined. */
  #watchdog(key: string) {
    const queue = this.runtimes.queue(key);
    if (!queue) return {};
    const now = performance.now();
    return {
      hang_threshold_ms: Math.round(queue.hangThresholdMs),
      hangs: queue.hangs,
      quarantined: queue.quarantined().map((q) => ({ reason: q.reason, seconds_left: Math.max(0, Math.round((q.untilMs - now) / 1000)) })),
    };
  }

  /** Replicas running and wanted, idle time, cold starts and each replica's memory (null while the version is not running). */
  #scaling(key: string) {
    const s = this.runtimes.scaling(key);
    return {
      running_replicas: s?.running ?? 0,
      wanted_replicas: s?.wanted ?? 0,
      idle_seconds: s ? Math.round(s.idleMs / 1000) : null,
      last_cold_start: s?.lastColdStart ? { at: s.lastColdStart.at, ms: s.lastColdStart.ms, spare: s.lastColdStart.spare } : null,
      cold_starts: s?.coldStarts ?? 0,
      cold_starts_from_spare: s?.coldStartsFromSpare ?? 0,
      replica_memory_mb: s?.memoryMb ?? {},
    };
  }

  current(name: string): ModelRecord {
    const model = this.registry.currentModel(name);
    if (!model) throw new NotFoundError(`no model named '${name}' with a current version`, "deploy it first with `clipper deploy`");
    return model;
  }

  app(name: string): AppRecord {
    const app = this.registry.app(name);
    if (!app) throw new NotFoundError(`no application named '${name}'`, "register it with `clipper register-app`");
    return app;
  }
}

/** What Clipper showed as `container_name`: the image a docker model runs, NO_CONTAINER for none, else the runtime's name. */
function containerName(m: ModelRecord): string {
  if (m.runtime === "none") return "NO_CONTAINER";
  return m.options.containerName ?? m.options.image ?? `clipper/${m.runtime}-runtime`;
}
