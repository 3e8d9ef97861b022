/**
 * Management writes of model versions: deploy, switch, scale, remove, and restore at start-up.
 * One writer per model: each operation holds its model's lock (key-lock.ts), so operations on one model run
 * one at a time in order of arrival and operations on different models run in parallel.
 * All or nothing: an operation is journaled in the registry before it changes anything; its runtime change
 * (replicas started) comes first and its registry change is one transaction that also closes the journal
 * entry; any failure before that commit stops what the operation started and removes what nobody else uses.
 * A version replaced by another is retired after its queue drains, outside the lock, and stopped only if,
 * under the lock again, it is still not current (a rollback may have made it current meanwhile).
 */
import { rmSync } from "node:fs";
import { extname } from "node:path";
import type { z } from "zod";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { modelKey, type InputType } from "../domain.ts";
import { asResourceError, BadRequestError, ConflictError, NotFoundError, RuntimeFailure } from "../errors.ts";
import type { Logger } from "../log.ts";
import { maxReplicas, type ModelRecord, type Registry } from "../registry/registry.ts";
import { EnvironmentBuilder } from "../runtime/environments.ts";
import { needsExtension } from "../runtime/kinds.ts";
import type { RuntimeInfo } from "../runtime/protocol.ts";
import type { ArtifactUsage } from "./artifact-usage.ts";
import type { ArtifactStore } from "./artifacts.ts";
import { type FormatChoice, formatExtension, resolveFormat } from "./format-choice.ts";
import { modelRoot } from "./formats.ts";
import type { KeyLock } from "./key-lock.ts";
import type { FirstPrediction, InFlight, Runtimes } from "./ports.ts";
import type { ManagementReads } from "./reads.ts";
import { recoverAfterCrash } from "./recovery.ts";
import { type AddModel, replicaRange } from "./schemas.ts";
import type { SnapshotStore } from "./snapshot-store.ts";

/** What model writes work with; the service builds it once. */
export interface ModelWriteDeps {
  readonly registry: Registry;
  readonly runtimes: Runtimes;
  readonly artifacts: ArtifactStore;
  readonly cache: PredictionCache;
  readonly envs: EnvironmentBuilder;
  readonly snapshots: SnapshotStore;
  readonly reads: ManagementReads;
  /** Versions that could not be started at restore, with the reason (the reads show them). */
  readonly restoreErrors: Map<string, string>;
  readonly locks: KeyLock;
  readonly inFlight: InFlight;
  readonly usage: ArtifactUsage;
  readonly firstPrediction: FirstPrediction;
  /** A version was removed: what is kept per version elsewhere (metric series) goes too. */
  readonly onVersionRemoved: (key: string) => void;
  readonly dataDir: string;
  readonly logger: Logger;
  /** How long a new version's first prediction may take. */
  readonly probeTimeoutMs?: number;
  /** A canary's version started (by its key): its comparison window starts. */
  readonly onCanaryStarted?: (key: string) => void;
}

export const modelLockKey = (name: string) => `model ${name}`;
export const appLockKey = (name: string) => `app ${name}`;
/** Internal follow-ups (a retire) wait for the lock without a bound: giving up would leave a version running. */
const NO_BOUND = Number.POSITIVE_INFINITY;

export class ModelWrites {
  readonly #d: ModelWriteDeps;
  /** Versions waiting for their queue to drain before they are stopped. */
  readonly #retiring = new Set<string>();
  constructor(deps: ModelWriteDeps) {
    this.#d = deps;
  }

  /** Versions started for a replay (not current, stopped when it ends). */
  readonly #replaying = new Set<string>();

  get replaying(): ReadonlySet<string> {
    return this.#replaying;
  }

  /**
   * Runs `fn` with `version` of model `name` running (started for it, without becoming current, when it is not;
   * stopped afterwards unless it became current or a canary meanwhile). The start and the stop hold the model's turn.
   */
  async withVersionRunning<T>(name: string, version: string, fn: () => Promise<T>): Promise<T> {
    const { registry, runtimes } = this.#d;
    const key = modelKey(name, version);
    const started = await this.#locked(name, `start of model ${key} for a replay`, async () => {
      const model = registry.model(name, version);
      if (!model) throw new NotFoundError(`no model ${name} version ${version}`, `see \`clipper versions ${name}\``);
      if (model.runtime === "none") throw new ConflictError(`model ${key} was registered without containers and cannot answer a replay`);
      if (runtimes.running(key) || this.#replaying.has(key)) return false;
      this.#replaying.add(key);
      try {
        await runtimes.start(model, this.#artifactPath(model), await this.#python(model));
      } catch (err) {
        this.#replaying.delete(key);
        throw err;
      }
      return true;
    });
    try {
      return await fn();
    } finally {
      if (started) {
        await this.#locked(
          name,
          `stop of model ${key} after a replay`,
          async () => {
            const c = registry.canary(name);
            const kept = registry.currentModel(name)?.version === version || (c?.state === "running" && c.version === version);
            if (!kept) await runtimes.stop(key);
          },
          NO_BOUND,
        ).finally(() => this.#replaying.delete(key));
      }
    }
  }

  /** Versions being retired now (the invariant check waits for them). */
  get retiring(): ReadonlySet<string> {
    return this.#retiring;
  }

  /** Runs `fn` as the one writer of model `name`; a resource failure becomes its typed error. */
  #locked<T>(name: string, what: string, fn: () => Promise<T> | T, maxWaitMs?: number): Promise<T> {
    return this.#d.locks.run(
      modelLockKey(name),
      what,
      async () => {
        try {
          return await fn();
        } catch (err) {
          throw asResourceError(err, this.#d.dataDir, what);
        }
      },
      maxWaitMs,
    );
  }

  /**
   * Server start-up: says what a crash cut short (recovery.ts), removes half-written files, then starts the
   * current version of every registered model.
   */
  async restore(): Promise<void> {
    recoverAfterCrash(this.#d.registry, this.#d.artifacts, this.#d.usage, this.#d.envs, this.#d.logger);
    const { registry, logger } = this.#d;
    // A running canary's version starts again too, and its window starts over (its comparison was in memory).
    const canaries = registry.canaries().filter((c) => c.state === "running");
    for (const c of canaries) registry.restartCanary(c.model);
    const onTrial = canaries.flatMap((c) => registry.model(c.model, c.version) ?? []);
    const current = [...registry.models().filter((m) => m.isCurrent && m.runtime !== "none"), ...onTrial];
    await Promise.all(
      current.map((m) =>
        this.#locked(m.name, `restore of model ${m.name}`, async () => {
          const key = modelKey(m.name, m.version);
          try {
            await this.#d.runtimes.start(m, this.#artifactPath(m), await this.#python(m));
            const how = m.replicas === 0 ? "at zero replicas: its first query starts one" : `${m.replicas} replica${m.replicas === 1 ? "" : "s"}`;
            logger.info("restored", `restored model ${key} (${how})`, { model: key });
          } catch (err) {
            this.#d.restoreErrors.set(key, (err as Error).message);
            logger.error("restore_failed", `could not restore model ${key}: ${(err as Error).message}`, { model: key });
          }
        }),
      ),
    );
  }

  /** Loads the artifact in fresh replicas, then registers the version as current (and links it, if asked). */
  async addModel(body: z.output<typeof AddModel>) {
    const containerless = body.runtime === "none";
    // Held until the end: no clean-up or garbage collection removes the upload while this deploy uses it.
    const release = this.#d.inFlight.hold(body.artifact_sha256);
    this.#d.inFlight.claim(body.artifact_sha256);
    try {
      let deployed: { result: ReturnType<ManagementReads["getModel"]>; previous: ModelRecord | undefined };
      try {
        // Outside the model's lock (nothing here touches the model's state): the upload must be there before
        // anything slow starts, and an environment build may take minutes.
        if (body.artifact_sha256) this.#d.artifacts.existing(body.artifact_sha256);
        const choice = resolveFormat(body, this.#d.artifacts, this.#d.envs.basePython);
        const pkgs = choice.pkgs ? EnvironmentBuilder.normalize(choice.pkgs) : undefined;
        const releaseEnv = this.#d.inFlight.hold(pkgs && `env ${this.#d.envs.id(pkgs)}`);
        try {
          const python = pkgs && !containerless ? await this.#envOf(pkgs) : undefined;
          const what = `deploy of model ${body.model_name}${body.model_version ? ` version ${body.model_version}` : ""}`;
          deployed = await this.#locked(body.model_name, what, () => this.#deploy(body, choice, pkgs, python));
        } finally {
          releaseEnv();
        }
      } catch (err) {
        // Nothing half-registered: an upload that nothing else uses goes too (the deploy's own hold aside).
        if (body.artifact_sha256) this.#d.usage.removeIfUnused(body.artifact_sha256, body.artifact_sha256);
        throw err;
      }
      // The previous version stops only after the snapshot routes new queries to the new one and it has drained.
      if (deployed.previous && deployed.previous.version !== deployed.result.model_version) await this.retire(deployed.previous);
      // What was committed (a later operation may already have changed or removed it).
      return deployed.result;
    } finally {
      release();
    }
  }

  /** The deploy itself, under the model's lock: checks, journal, start and first prediction, one commit. */
  async #deploy(body: z.output<typeof AddModel>, choice: FormatChoice, pkgs: string[] | undefined, python: string | undefined) {
    const { registry } = this.#d;
    const name = body.model_name;
    const version = body.model_version ?? this.#nextVersion(name);
    // A version registered without containers (Clipper's NO_CONTAINER) can be deployed later under its own version.
    const registered = registry.model(name, version);
    if (registered && (registered.runtime !== "none" || body.runtime === "none")) {
      throw new ConflictError(`model ${name} version ${version} already exists`, "deploy with a new --version");
    }
    const previous = registry.currentModel(name);
    this.checkNoCanary(name);
    if (body.canary && (!previous || previous.runtime === "none" || !this.#d.runtimes.running(modelKey(name, previous.version)))) {
      throw new ConflictError(`a canary of model ${name} needs a running current version to compare with`, "deploy it without --canary first");
    }
    if (previous && previous.inputType !== body.input_type) {
      throw new BadRequestError(
        `model ${name} takes ${previous.inputType} (version ${previous.version}); a new version must too`,
        "deploy under a new model name to change the input type",
      );
    }
    if (body.app) this.#checkApp(body.app.name, name, body.input_type);
    const containerless = body.runtime === "none";
    const range = replicaRange(body, { min: body.replicas, max: body.replicas });
    const draft: ModelRecord = {
      name,
      version,
      inputType: body.input_type as InputType,
      runtime: body.runtime,
      artifactSha256: body.artifact_sha256 ?? "",
      artifactName: body.artifact_name,
      predictMethod: body.predict_method,
      replicas: containerless ? 0 : range.min,
      runtimeInfo: {},
      isCurrent: !body.canary,
      createdAt: new Date().toISOString(),
      options: {
        image: body.image,
        cpus: body.cpus,
        memory: body.memory,
        command: body.command,
        pkgs,
        labels: body.labels.length ? body.labels : undefined,
        containerName: body.container_name,
        batchSize: body.batch_size > 0 ? body.batch_size : undefined,
        predictTimeoutMs: body.predict_timeout_ms,
        maxReplicas: containerless ? undefined : range.max,
        ...choice.options,
      },
    };
    const key = modelKey(name, version);
    const op = registry.beginOperation(body.canary ? "canary" : "deploy", name, version);
    let started = false;
    try {
      let runtimeInfo: RuntimeInfo | Record<string, never> = {};
      if (!containerless) {
        runtimeInfo = await this.#startAndProbe(draft, python, previous?.runtime === "none" ? undefined : previous);
        started = true;
      }
      const commit = () =>
        registry.transaction(() => {
          if (registered) registry.deleteModelVersion(name, version);
          registry.insertCurrentModel({ ...draft, runtimeInfo: { ...runtimeInfo, ...choice.info } }, !body.canary);
          if (body.canary && previous) {
            const c = body.canary;
            const thresholds = { maxErrorRate: c.max_error_rate, maxP99Ratio: c.max_p99_ratio, minAgreement: c.min_agreement };
            registry.insertCanary({
              model: name,
              version,
              previous: previous.version,
              share: c.share,
              windowMs: c.window_ms,
              thresholds,
              startedAt: new Date().toISOString(),
            });
          }
          if (body.app) {
            // Checked again at commit: the app may have changed while the replicas started.
            const app = this.#checkApp(body.app.name, name, body.input_type);
            if (!app) {
              registry.insertApp({
                name: body.app.name,
                inputType: draft.inputType,
                defaultOutput: body.app.default_output,
                sloMicros: body.app.latency_slo_micros,
                policy: "single",
              });
            }
            registry.insertLink(body.app.name, name);
          }
          registry.endOperation(op);
        });
      if (body.app) await this.#d.locks.run(appLockKey(body.app.name), `deploy of model ${key}`, commit);
      else commit();
    } catch (err) {
      // Nothing half-done: what this deploy started stops and its journal entry goes.
      if (started) await this.#d.runtimes.stop(key);
      this.#endQuietly(op);
      throw err;
    }
    this.#d.snapshots.refresh();
    if (body.canary) this.#d.onCanaryStarted?.(modelKey(name, version));
    // A canary replaces nothing yet: its verdict promotes it or stops it (canary-writes.ts).
    return { result: this.#d.reads.getModel(name, version), previous: body.canary ? undefined : previous };
  }

  /** 409 while the model has a canary on trial: a deploy, switch or removal waits for its verdict (or a promote/abort). */
  checkNoCanary(name: string, what = "deploy or switch"): void {
    const c = this.#d.registry.canary(name);
    if (c?.state === "running") {
      throw new ConflictError(
        `model ${name} has a canary of version ${c.version} on trial; a ${what} waits for its verdict`,
        `promote or abort it first: \`clipper canary ${name} --promote\` or \`--abort\``,
      );
    }
  }

  /** The app a deploy links to, when it exists, checked against the model (input type, the `single` policy). */
  #checkApp(appName: string, modelName: string, inputType: string) {
    const app = this.#d.registry.app(appName);
    if (app && app.inputType !== inputType) {
      throw new BadRequestError(`application '${app.name}' takes ${app.inputType} but the model takes ${inputType}`);
    }
    if (app) this.checkSingleLink(app.name, modelName);
    return app;
  }

  /**
   * Starts a version's replicas and, when the version it replaces has served a query, replays that
   * input as a first prediction: a version that cannot answer it is stopped and refused.
   */
  async #startAndProbe(model: ModelRecord, python: string | undefined, previous: ModelRecord | undefined): Promise<RuntimeInfo> {
    const key = modelKey(model.name, model.version);
    // A version whose range starts at 0 still loads once now: a deploy says whether the model works.
    const info = await this.#d.runtimes.start(model, this.#artifactPath(model), python, Math.max(1, model.replicas));
    if (!previous) return info;
    try {
      await this.#d.firstPrediction(modelKey(previous.name, previous.version), key, this.#d.probeTimeoutMs ?? 10_000);
    } catch (err) {
      await this.#d.runtimes.stop(key);
      throw new RuntimeFailure(`model ${key} loaded but failed its first prediction: ${(err as Error).message}`, `version ${previous.version} keeps serving`);
    }
    return info;
  }

  /** Makes `version` the current one: starts it if needed, switches traffic, then retires the old one. */
  async setModelVersion(name: string, version: string) {
    const { previous, result } = await this.#locked(name, `switch of model ${name} to version ${version}`, async () => ({
      previous: await this.#switch(name, version),
      result: this.#d.reads.getModel(name, version),
    }));
    if (previous && previous.version !== version) await this.retire(previous);
    // What was committed (a later operation may already have changed or removed it).
    return result;
  }

  async #switch(name: string, version: string): Promise<ModelRecord | undefined> {
    const { registry, runtimes } = this.#d;
    const target = registry.model(name, version);
    if (!target) throw new NotFoundError(`no model ${name} version ${version}`, `see \`clipper versions ${name}\``);
    const key = modelKey(name, version);
    const previous = registry.currentModel(name);
    if (previous?.version === version && (target.runtime === "none" || runtimes.running(key))) return undefined;
    this.checkNoCanary(name);
    const op = registry.beginOperation("switch", name, version);
    let started = false;
    try {
      if (target.runtime !== "none" && !runtimes.running(key)) {
        await this.#startAndProbe(target, await this.#python(target), previous?.runtime === "none" || previous?.version === version ? undefined : previous);
        started = true;
        this.#d.restoreErrors.delete(key);
      }
      registry.transaction(() => {
        registry.setCurrent(name, version);
        registry.endOperation(op);
      });
    } catch (err) {
      if (started) await runtimes.stop(key);
      this.#endQuietly(op);
      throw err;
    }
    this.#d.snapshots.refresh();
    return previous;
  }

  /**
   * Stops a replaced version once its queue has drained. The drain is waited for outside the model's lock (other
   * operations go on meanwhile); the stop happens under it, and only if the version is still not current.
   */
  async retire(model: ModelRecord): Promise<void> {
    const { registry, runtimes, logger } = this.#d;
    const key = modelKey(model.name, model.version);
    this.#retiring.add(key);
    let op: number | undefined;
    try {
      op = registry.beginOperation("retire", model.name, model.version);
    } catch {
      // Journaling a retire is only for the log after a crash; a full disk does not stop the retire.
    }
    try {
      await runtimes.drained(key);
      await this.#locked(
        model.name,
        `retire of model ${key}`,
        async () => {
          if (registry.currentModel(model.name)?.version === model.version) return; // current again: a rollback came first
          await runtimes.stop(key);
        },
        NO_BOUND,
      );
    } catch (err) {
      logger.error("retire_failed", `could not stop model ${key} after it was replaced: ${(err as Error).message}`, { model: key });
    } finally {
      if (op !== undefined) this.#endQuietly(op);
      this.#retiring.delete(key);
    }
  }

  /**
   * Sets the current version's replica range (`max` = `min`: a fixed count): the runtime and the registry agree
   * afterwards, or nothing changed.
   */
  async setNumReplicas(name: string, min: number, max: number = min) {
    const what = min === max ? `scale of model ${name} to ${min}` : `scale of model ${name} to ${min}..${max}`;
    return this.#locked(name, what, async () => {
      const { registry, runtimes } = this.#d;
      const current = this.#d.reads.current(name);
      if (current.runtime === "none") {
        throw new ConflictError(
          `model ${name} version ${current.version} was registered without containers (NO_CONTAINER) and has no replicas to scale`,
          "deploy a version with an artifact or an image first",
        );
      }
      const key = modelKey(name, current.version);
      const op = registry.beginOperation("scale", name, current.version);
      const pool = () => runtimes.pools().find((p) => p.key === key);
      const before = { min: pool()?.min ?? current.replicas, max: pool()?.max ?? maxReplicas(current) };
      try {
        await runtimes.scale(key, min, max);
        registry.transaction(() => {
          registry.setReplicas(name, current.version, min, max);
          registry.endOperation(op);
        });
      } catch (err) {
        this.#endQuietly(op);
        // A scale that started or stopped replicas and then could not be recorded goes back to the registry's range.
        const now = pool();
        if (now && (now.min !== before.min || now.max !== before.max)) await runtimes.scale(key, before.min, before.max).catch(() => undefined);
        throw err;
      }
      return this.#d.reads.getModel(name, current.version);
    });
  }

  /** Removes one version: its registry row (first: queries stop going to it), its replicas, logs and (when unused) artifact. */
  async deleteVersionedModel(name: string, version: string): Promise<void> {
    await this.#locked(name, `removal of model ${name} version ${version}`, () => this.#delete(name, version));
  }

  async #delete(name: string, version: string): Promise<void> {
    const { registry, runtimes } = this.#d;
    const model = registry.model(name, version);
    if (!model) throw new NotFoundError(`no model ${name} version ${version}`);
    const canary = registry.canary(name);
    if (canary?.state === "running" && (canary.version === version || canary.previous === version)) this.checkNoCanary(name, "removal");
    const key = modelKey(name, version);
    registry.transaction(() => {
      registry.deleteModelVersion(name, version);
      if (registry.versions(name).length === 0) registry.deleteLinksOfModel(name);
    });
    this.#d.snapshots.refresh();
    await runtimes.stop(key);
    this.#d.cache.evictPrefix(`${key}\u0000`);
    this.#d.restoreErrors.delete(key);
    this.#d.onVersionRemoved(key);
    rmSync(runtimes.logPath(name, version), { force: true });
    this.#d.usage.removeIfUnused(model.artifactSha256);
  }

  /** Stops and removes every version of each model (Clipper's stop_models). */
  async stopModels(names: readonly string[]): Promise<void> {
    for (const name of names) {
      await this.#locked(name, `stop of model ${name}`, async () => {
        const versions = this.#d.registry.versions(name);
        if (versions.length === 0) throw new NotFoundError(`no model named '${name}'`);
        if (this.#d.registry.canary(name)?.state === "running") this.#d.registry.endCanary(name, "aborted", "the model was stopped");
        for (const m of versions) await this.#delete(name, m.version);
      });
    }
  }

  /** Removes every version but the current one. */
  async stopInactiveVersions(names: readonly string[]): Promise<string[]> {
    const removed: string[] = [];
    for (const name of names) {
      await this.#locked(name, `stop of the inactive versions of model ${name}`, async () => {
        this.#d.reads.current(name);
        const canary = this.#d.registry.canary(name);
        const onTrial = canary?.state === "running" ? canary.version : undefined;
        for (const m of this.#d.registry.versions(name).filter((v) => !v.isCurrent && v.version !== onTrial)) {
          await this.#delete(name, m.version);
          removed.push(modelKey(name, m.version));
        }
      });
    }
    return removed;
  }

  /** Closes a journal entry of an operation that did not commit; a registry that cannot be written leaves it for the next start to report. */
  #endQuietly(op: number): void {
    try {
      this.#d.registry.endOperation(op);
    } catch {
      // Reported as rolled back at the next start.
    }
  }

  /** The interpreter of a model's own environment (undefined: the server's Python). */
  #python(model: ModelRecord): Promise<string | undefined> {
    return model.options.pkgs && model.runtime !== "none" ? this.#envOf(model.options.pkgs) : Promise.resolve(undefined);
  }

  #envOf(pkgs: readonly string[]): Promise<string> {
    return this.#d.envs.ensure(pkgs);
  }

  /** The artifact file a runtime opens: none for an image-only docker model; with its extension for importers. */
  #artifactPath(model: ModelRecord): string | undefined {
    if (!model.artifactSha256) return undefined;
    const dir = this.#d.artifacts.directory(model.artifactSha256);
    if (model.options.format && dir) return modelRoot(dir);
    if (!needsExtension(model)) return this.#d.artifacts.existing(model.artifactSha256);
    return this.#d.artifacts.withExtension(model.artifactSha256, formatExtension(model.options.format, extname(model.artifactName)));
  }

  /** The `single` policy serves one model: a second, different link is refused. */
  checkSingleLink(appName: string, modelName: string): void {
    const app = this.#d.registry.app(appName);
    if (app?.policy !== "single") return;
    const other = this.#d.registry.linkedModels(appName).find((m) => m !== modelName);
    if (other) {
      throw new ConflictError(
        `application '${appName}' already serves model '${other}' (policy 'single')`,
        "unlink it first, or deploy a new version of that model",
      );
    }
  }

  #nextVersion(name: string): string {
    const numeric = this.#d.registry
      .versions(name)
      .map((m) => Number(m.version))
      .filter(Number.isInteger);
    return String(numeric.length ? Math.max(...numeric) + 1 : 1);
  }
}
