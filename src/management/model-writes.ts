/**
 * Management writes of model versions: deploy, switch, scale, remove, and restore at start-up. Each is a
 * registry write (one transaction) → snapshot refresh → runtime change. A model version enters the registry
 * only after its replicas have loaded it, so a failed deploy leaves nothing behind.
 */
import { rmSync } from "node:fs";
import { extname } from "node:path";
import type { z } from "zod";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import type { Logger } from "../log.ts";
import { BadRequestError, ConflictError, NotFoundError, RuntimeFailure } from "../errors.ts";
import type { ModelRecord, Registry } from "../registry/registry.ts";
import { EnvironmentBuilder } from "../runtime/environments.ts";
import { needsExtension } from "../runtime/kinds.ts";
import { type InputType, modelKey } from "../domain.ts";
import type { ModelQueue } from "../batching/model-queue.ts";
import type { RuntimeManager } from "../runtime/manager.ts";
import type { ArtifactStore } from "./artifacts.ts";
import { formatExtension, resolveFormat } from "./format-choice.ts";
import { modelRoot } from "./formats.ts";
import type { ManagementReads } from "./reads.ts";
import type { SnapshotStore } from "./snapshot-store.ts";
import type { AddModel } from "./schemas.ts";

export class ModelWrites {
  constructor(
    private readonly registry: Registry,
    private readonly runtimes: RuntimeManager<ModelQueue>,
    private readonly artifacts: ArtifactStore,
    private readonly cache: PredictionCache,
    private readonly envs: EnvironmentBuilder,
    private readonly snapshots: SnapshotStore,
    private readonly reads: ManagementReads,
    /** Versions that could not be started at restore, with the reason (the reads show them). */
    private readonly restoreErrors: Map<string, string>,
    /** How long a new version's first prediction may take. */
    private readonly probeTimeoutMs = 10_000,
  ) {}

  /** Starts the current version of every registered model (server start-up). */
  async restore(logger: Logger): Promise<void> {
    const current = this.registry.models().filter((m) => m.isCurrent && m.runtime !== "none");
    await Promise.all(
      current.map(async (m) => {
        const key = modelKey(m.name, m.version);
        try {
          const python = m.options.pkgs ? await this.envs.ensure(m.options.pkgs) : undefined;
          await this.runtimes.start(m, this.#artifactPath(m), python);
          logger.info("restored", `restored model ${key} (${m.replicas} replica${m.replicas === 1 ? "" : "s"})`, { model: key });
        } catch (err) {
          this.restoreErrors.set(key, (err as Error).message);
          logger.error("restore_failed", `could not restore model ${key}: ${(err as Error).message}`, { model: key });
        }
      }),
    );
  }

  /** Loads the artifact in fresh replicas, then registers the version as current (and links it, if asked). */
  async addModel(body: z.output<typeof AddModel>) {
    const version = body.model_version ?? this.#nextVersion(body.model_name);
    // A version registered without containers (Clipper's NO_CONTAINER) can be deployed later under its own version.
    const registered = this.registry.model(body.model_name, version);
    if (registered && (registered.runtime !== "none" || body.runtime === "none")) {
      throw new ConflictError(`model ${body.model_name} version ${version} already exists`, "deploy with a new --version");
    }
    const current = this.registry.currentModel(body.model_name);
    if (current && current.inputType !== body.input_type) {
      throw new BadRequestError(
        `model ${body.model_name} takes ${current.inputType} (version ${current.version}); a new version must too`,
        "deploy under a new model name to change the input type",
      );
    }
    const app = body.app ? this.registry.app(body.app.name) : undefined;
    if (app && app.inputType !== body.input_type) {
      throw new BadRequestError(`application '${app.name}' takes ${app.inputType} but the model takes ${body.input_type}`);
    }
    if (app) this.checkSingleLink(app.name, body.model_name);
    // The upload must be there before anything slow (an environment build) starts.
    if (body.artifact_sha256) this.artifacts.existing(body.artifact_sha256);
    const containerless = body.runtime === "none";
    const choice = resolveFormat(body, this.artifacts, this.envs.basePython);
    const draft: ModelRecord = {
      name: body.model_name,
      version,
      inputType: body.input_type as InputType,
      runtime: body.runtime,
      artifactSha256: body.artifact_sha256 ?? "",
      artifactName: body.artifact_name,
      predictMethod: body.predict_method,
      replicas: containerless ? 0 : body.replicas,
      runtimeInfo: {},
      isCurrent: true,
      createdAt: new Date().toISOString(),
      options: {
        image: body.image,
        cpus: body.cpus,
        memory: body.memory,
        command: body.command,
        pkgs: choice.pkgs ? EnvironmentBuilder.normalize(choice.pkgs) : undefined,
        labels: body.labels.length ? body.labels : undefined,
        containerName: body.container_name,
        batchSize: body.batch_size > 0 ? body.batch_size : undefined,
        ...choice.options,
      },
    };
    const previous = this.registry.currentModel(body.model_name);
    let runtimeInfo = {};
    try {
      if (!containerless) runtimeInfo = await this.#startAndProbe(draft, previous?.runtime === "none" ? undefined : previous);
    } catch (err) {
      // Nothing half-registered: an upload that no model uses goes too.
      if (draft.artifactSha256 && !this.registry.artifactInUse(draft.artifactSha256)) this.artifacts.remove(draft.artifactSha256);
      throw err;
    }
    this.registry.transaction(() => {
      if (registered) this.registry.deleteModelVersion(body.model_name, version);
      this.registry.insertCurrentModel({ ...draft, runtimeInfo: { ...runtimeInfo, ...choice.info } });
      if (body.app) {
        if (!app) {
          this.registry.insertApp({
            name: body.app.name,
            inputType: draft.inputType,
            defaultOutput: body.app.default_output,
            sloMicros: body.app.latency_slo_micros,
            policy: "single",
          });
        }
        this.registry.insertLink(body.app.name, body.model_name);
      }
    });
    this.snapshots.refresh();
    // The previous version stops only after the snapshot routes new queries to the new one and it has drained.
    if (previous && previous.version !== version) await this.runtimes.retire(modelKey(previous.name, previous.version));
    return this.reads.getModel(body.model_name, version);
  }

  /**
   * Starts a version's replicas and, when the version it replaces has served a query, replays that
   * input as a first prediction: a version that cannot answer it is stopped and refused.
   */
  async #startAndProbe(model: ModelRecord, previous: ModelRecord | undefined) {
    const python = model.options.pkgs ? await this.envs.ensure(model.options.pkgs) : undefined;
    const info = await this.runtimes.start(model, this.#artifactPath(model), python);
    const key = modelKey(model.name, model.version);
    const sample = previous ? this.runtimes.queue(modelKey(previous.name, previous.version))?.lastRow : undefined;
    if (sample !== undefined) {
      try {
        await this.runtimes.queue(key)!.enqueue(sample, performance.now() + this.probeTimeoutMs, this.probeTimeoutMs * 1000);
      } catch (err) {
        await this.runtimes.stop(key);
        throw new RuntimeFailure(
          `model ${key} loaded but failed its first prediction: ${(err as Error).message}`,
          `version ${previous!.version} keeps serving`,
        );
      }
    }
    return info;
  }

  /** Makes `version` the current one: starts it if needed, switches traffic, then retires the old one. */
  async setModelVersion(name: string, version: string) {
    const target = this.registry.model(name, version);
    if (!target) throw new NotFoundError(`no model ${name} version ${version}`, `see \`clipper versions ${name}\``);
    const previous = this.registry.currentModel(name);
    if (previous?.version === version && this.runtimes.running(modelKey(name, version))) return this.reads.getModel(name, version);
    if (target.runtime !== "none" && !this.runtimes.running(modelKey(name, version))) {
      await this.#startAndProbe(target, previous);
    }
    this.registry.transaction(() => this.registry.setCurrent(name, version));
    this.snapshots.refresh();
    if (previous && previous.version !== version) await this.runtimes.retire(modelKey(previous.name, previous.version));
    return this.reads.getModel(name, version);
  }

  async setNumReplicas(name: string, replicas: number) {
    const current = this.reads.current(name);
    if (current.runtime === "none") {
      throw new ConflictError(
        `model ${name} version ${current.version} was registered without containers (NO_CONTAINER) and has no replicas to scale`,
        "deploy a version with an artifact or an image first",
      );
    }
    await this.runtimes.scale(modelKey(name, current.version), replicas);
    this.registry.transaction(() => this.registry.setReplicas(name, current.version, replicas));
    return this.reads.getModel(name, current.version);
  }

  /** Removes one version: its replicas, its registry row, its logs and (when unused) its artifact. */
  async deleteVersionedModel(name: string, version: string): Promise<void> {
    const model = this.registry.model(name, version);
    if (!model) throw new NotFoundError(`no model ${name} version ${version}`);
    await this.runtimes.stop(modelKey(name, version));
    this.registry.transaction(() => {
      this.registry.deleteModelVersion(name, version);
      if (this.registry.versions(name).length === 0) this.registry.deleteLinksOfModel(name);
    });
    this.snapshots.refresh();
    this.cache.evictPrefix(`${modelKey(name, version)}\u0000`);
    rmSync(this.runtimes.logPath(name, version), { force: true });
    if (model.artifactSha256 && !this.registry.artifactInUse(model.artifactSha256)) this.artifacts.remove(model.artifactSha256);
  }

  /** Stops and removes every version of each model (Clipper's stop_models). */
  async stopModels(names: readonly string[]): Promise<void> {
    for (const name of names) if (this.registry.versions(name).length === 0) throw new NotFoundError(`no model named '${name}'`);
    for (const name of names) for (const m of this.registry.versions(name)) await this.deleteVersionedModel(name, m.version);
  }

  /** Removes every version but the current one. */
  async stopInactiveVersions(names: readonly string[]): Promise<string[]> {
    const removed: string[] = [];
    for (const name of names) {
      this.reads.current(name);
      for (const m of this.registry.versions(name).filter((v) => !v.isCurrent)) {
        await this.deleteVersionedModel(name, m.version);
        removed.push(modelKey(name, m.version));
      }
    }
    return removed;
  }

  /** The artifact file a runtime opens: none for an image-only docker model; with its extension for importers. */
  #artifactPath(model: ModelRecord): string | undefined {
    if (!model.artifactSha256) return undefined;
    const dir = this.artifacts.directory(model.artifactSha256);
    if (model.options.format && dir) return modelRoot(dir);
    if (!needsExtension(model)) return this.artifacts.existing(model.artifactSha256);
    return this.artifacts.withExtension(model.artifactSha256, formatExtension(model.options.format, extname(model.artifactName)));
  }

  /** The `single` policy serves one model: a second, different link is refused. */
  checkSingleLink(appName: string, modelName: string): void {
    const app = this.registry.app(appName);
    if (app?.policy !== "single") return;
    const other = this.registry.linkedModels(appName).find((m) => m !== modelName);
    if (other) {
      throw new ConflictError(
        `application '${appName}' already serves model '${other}' (policy 'single')`,
        "unlink it first, or deploy a new version of that model",
      );
    }
  }

  #nextVersion(name: string): string {
    const numeric = this.registry
      .versions(name)
      .map((m) => Number(m.version))
      .filter(Number.isInteger);
    return String(numeric.length ? Math.max(...numeric) + 1 : 1);
  }
}
