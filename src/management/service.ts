/**
 * Management operations: each is a registry write (one transaction) → snapshot refresh → runtime change.
 * A model version enters the registry only after its replicas have loaded it, so a failed deploy leaves nothing behind.
 */
import type { z } from "zod";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { BadRequestError, ConflictError, NotFoundError } from "../errors.ts";
import { buildSnapshot, type Snapshot } from "../query/snapshot.ts";
import type { AppRecord, ModelRecord, Registry } from "../registry/registry.ts";
import { modelKey, type RuntimeManager } from "../runtime/manager.ts";
import type { InputType } from "../runtime/protocol.ts";
import type { ArtifactStore } from "./artifacts.ts";
import type { AddApp, AddModel, AddModelLinks } from "./schemas.ts";

export class ManagementService {
  #snapshot: Snapshot;
  /** Model versions that could not be started when the server restored them, with the reason. */
  readonly #restoreErrors = new Map<string, string>();

  constructor(
    private readonly registry: Registry,
    private readonly runtimes: RuntimeManager,
    private readonly artifacts: ArtifactStore,
    private readonly cache: PredictionCache,
  ) {
    this.#snapshot = buildSnapshot(registry);
  }

  get snapshot(): Snapshot {
    return this.#snapshot;
  }

  #refresh(): void {
    this.#snapshot = buildSnapshot(this.registry);
  }

  /** Starts the current version of every registered model (server start-up). */
  async restore(log: (line: string) => void): Promise<void> {
    const current = this.registry.models().filter((m) => m.isCurrent);
    await Promise.all(current.map(async (m) => {
      const key = modelKey(m.name, m.version);
      try {
        await this.runtimes.start(m, this.artifacts.existing(m.artifactSha256));
        log(`restored model ${key} (${m.replicas} replica${m.replicas === 1 ? "" : "s"})`);
      } catch (err) {
        this.#restoreErrors.set(key, (err as Error).message);
        log(`could not restore model ${key}: ${(err as Error).message}`);
      }
    }));
  }

  addApp(body: z.output<typeof AddApp>): AppRecord {
    if (this.registry.app(body.name)) throw new ConflictError(`application '${body.name}' already exists`);
    this.registry.insertApp({
      name: body.name, inputType: body.input_type as InputType, defaultOutput: body.default_output,
      sloMicros: body.latency_slo_micros, policy: "single",
    });
    this.#refresh();
    return this.registry.app(body.name)!;
  }

  /** Loads the artifact in fresh replicas, then registers the version as current (and links it, if asked). */
  async addModel(body: z.output<typeof AddModel>) {
    const version = body.model_version ?? this.#nextVersion(body.model_name);
    if (this.registry.model(body.model_name, version)) {
      throw new ConflictError(`model ${body.model_name} version ${version} already exists`, "deploy with a new --version");
    }
    const app = body.app ? this.registry.app(body.app.name) : undefined;
    if (app && app.inputType !== body.input_type) {
      throw new BadRequestError(`application '${app.name}' takes ${app.inputType} but the model takes ${body.input_type}`);
    }
    if (body.app) this.#checkSingleLink(body.app.name, body.model_name);
    const artifactPath = this.artifacts.existing(body.artifact_sha256);
    const draft: ModelRecord = {
      name: body.model_name, version, inputType: body.input_type as InputType, runtime: body.runtime,
      artifactSha256: body.artifact_sha256, artifactName: body.artifact_name, predictMethod: body.predict_method,
      replicas: body.replicas, runtimeInfo: {}, isCurrent: true, createdAt: new Date().toISOString(),
    };
    const runtimeInfo = await this.runtimes.start(draft, artifactPath);
    const previous = this.registry.currentModel(body.model_name);
    this.registry.transaction(() => {
      this.registry.insertCurrentModel({ ...draft, runtimeInfo: { ...runtimeInfo } });
      if (body.app) {
        if (!app) {
          this.registry.insertApp({
            name: body.app.name, inputType: draft.inputType, defaultOutput: body.app.default_output,
            sloMicros: body.app.latency_slo_micros, policy: "single",
          });
        }
        this.registry.insertLink(body.app.name, body.model_name);
      }
    });
    this.#refresh();
    // The previous version stops only after the snapshot routes new queries to the new one.
    if (previous) await this.runtimes.stop(modelKey(previous.name, previous.version));
    return this.getModel(body.model_name, version);
  }

  addModelLinks(body: z.output<typeof AddModelLinks>): string[] {
    const app = this.#app(body.app_name);
    for (const name of body.model_names) {
      const model = this.registry.currentModel(name);
      if (!model) throw new NotFoundError(`no model named '${name}'`, "deploy it first with `clipper deploy`");
      if (model.inputType !== app.inputType) {
        throw new BadRequestError(`model '${name}' takes ${model.inputType} but application '${app.name}' takes ${app.inputType}`);
      }
      this.#checkSingleLink(app.name, name);
    }
    this.registry.transaction(() => body.model_names.forEach((m) => this.registry.insertLink(app.name, m)));
    this.#refresh();
    return this.registry.linkedModels(app.name);
  }

  getApplication(name: string) {
    const app = this.#app(name);
    return {
      name: app.name, input_type: app.inputType, default_output: app.defaultOutput,
      latency_slo_micros: app.sloMicros, policy: app.policy, linked_models: this.registry.linkedModels(app.name),
    };
  }

  getAllApplications(verbose: boolean) {
    const apps = this.registry.apps();
    return verbose ? apps.map((a) => this.getApplication(a.name)) : apps.map((a) => a.name);
  }

  getLinkedModels(appName: string): string[] {
    return this.registry.linkedModels(this.#app(appName).name);
  }

  getModel(name: string, version: string) {
    const m = this.registry.model(name, version);
    if (!m) throw new NotFoundError(`no model ${name} version ${version}`);
    return this.#describeModel(m);
  }

  getAllModels(verbose: boolean) {
    const models = this.registry.models();
    return verbose ? models.map((m) => this.#describeModel(m)) : models.map((m) => modelKey(m.name, m.version));
  }

  getAllContainers() {
    return this.runtimes.replicas().map(({ model, replica }) => ({
      model_name: model.name, model_version: model.version, model_replica_id: replica.id,
      state: replica.state, pid: replica.pid ?? null, outstanding_rows: replica.outstandingRows,
    }));
  }

  status() {
    return {
      applications: this.registry.apps().map((a) => ({
        ...this.getApplication(a.name), ready: this.isAppReady(a.name),
      })),
      models: this.registry.models().map((m) => this.#describeModel(m)),
      cache: { enabled: this.cache.enabled, entries: this.cache.size, hits: this.cache.hits, misses: this.cache.misses },
    };
  }

  /** An app is ready when every linked model's current version has a ready replica. */
  isAppReady(appName: string): boolean {
    const route = this.#snapshot.apps.get(appName);
    if (!route) return false;
    return route.candidates.every((c) => (this.runtimes.queue(c.key)?.replicas ?? []).some((r) => r.state === "ready"));
  }

  #describeModel(m: ModelRecord) {
    const key = modelKey(m.name, m.version);
    const pool = this.runtimes.status(key);
    const state = pool?.state ?? (m.isCurrent ? (this.#restoreErrors.has(key) ? "failed" : "stopped") : "inactive");
    return {
      model_name: m.name, model_version: m.version, input_type: m.inputType, runtime: m.runtime,
      is_current: m.isCurrent, replicas: m.replicas, state,
      ready_replicas: (this.runtimes.queue(key)?.replicas ?? []).filter((r) => r.state === "ready").length,
      last_error: pool?.lastError ?? this.#restoreErrors.get(key) ?? null,
      artifact_sha256: m.artifactSha256, artifact_name: m.artifactName, predict_method: m.predictMethod,
      runtime_info: m.runtimeInfo, created_at: m.createdAt,
    };
  }

  #app(name: string): AppRecord {
    const app = this.registry.app(name);
    if (!app) throw new NotFoundError(`no application named '${name}'`, "register it with `clipper register-app`");
    return app;
  }

  /** The `single` policy serves one model: a second, different link is refused. */
  #checkSingleLink(appName: string, modelName: string): void {
    const app = this.registry.app(appName);
    if (!app || app.policy !== "single") return;
    const other = this.registry.linkedModels(appName).find((m) => m !== modelName);
    if (other) {
      throw new ConflictError(`application '${appName}' already serves model '${other}' (policy 'single')`,
        "unlink it first, or deploy a new version of that model");
    }
  }

  #nextVersion(name: string): string {
    const numeric = this.registry.versions(name).map((m) => Number(m.version)).filter(Number.isInteger);
    return String(numeric.length ? Math.max(...numeric) + 1 : 1);
  }
}
