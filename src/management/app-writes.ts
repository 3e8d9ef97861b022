/**
 * Management writes of applications, links and policies (model versions are model-writes.ts's, reads are
 * reads.ts's): each is a registry write (one transaction) → snapshot refresh, as the one writer of its app
 * (the app's lock, in order of arrival, like a model's).
 */
import { createHash } from "node:crypto";
import type { z } from "zod";
import { asResourceError, BadRequestError, ConflictError, NotFoundError } from "../errors.ts";
import { exp3Update, type PolicyName } from "../policy/select.ts";
import { exp4Update } from "../policy/exp4.ts";
import { DEFAULT_MAX_CONTEXTS } from "../policy/contexts.ts";
import { LEARNING_POLICIES, type PolicyConfig } from "../query/snapshot.ts";
import type { InputType } from "../domain.ts";
import type { Registry } from "../registry/registry.ts";
import type { KeyLock } from "./key-lock.ts";
import { appLockKey, type ModelWrites } from "./model-writes.ts";
import type { PolicyState } from "./policy-state.ts";
import type { ManagementReads } from "./reads.ts";
import type { SnapshotStore } from "./snapshot-store.ts";
import type { AddApp, AddModelLinks, SetPolicy } from "./schemas.ts";

export class AppWrites {
  constructor(
    private readonly registry: Registry,
    private readonly snapshots: SnapshotStore,
    private readonly policyState: PolicyState,
    private readonly reads: ManagementReads,
    private readonly models: ModelWrites,
    private readonly locks: KeyLock,
    private readonly dataDir: string,
  ) {}

  /** Runs `fn` as the one writer of app `name`; a resource failure becomes its typed error. */
  #locked<T>(name: string, what: string, fn: () => T): Promise<T> {
    return this.locks.run(appLockKey(name), what, () => {
      try {
        return fn();
      } catch (err) {
        throw asResourceError(err, this.dataDir, what);
      }
    });
  }

  addApp(body: z.output<typeof AddApp>) {
    return this.#locked(body.name, `registration of application '${body.name}'`, () => this.#addApp(body));
  }

  #addApp(body: z.output<typeof AddApp>) {
    if (this.registry.app(body.name)) throw new ConflictError(`application '${body.name}' already exists`);
    this.registry.insertApp({
      name: body.name,
      inputType: body.input_type as InputType,
      defaultOutput: body.default_output,
      sloMicros: body.latency_slo_micros,
      policy: "single",
      cache: body.cache,
      overload: body.overload,
      queryTokenSha256: body.query_token ? createHash("sha256").update(body.query_token).digest("hex") : undefined,
    });
    this.snapshots.refresh();
    return this.reads.getApplication(body.name);
  }

  deleteModelLinks(appName: string, modelNames: readonly string[]): Promise<string[]> {
    return this.#locked(appName, `unlink from application '${appName}'`, () => this.#deleteModelLinks(appName, modelNames));
  }

  #deleteModelLinks(appName: string, modelNames: readonly string[]): string[] {
    const app = this.reads.app(appName);
    const linked = this.registry.linkedModels(app.name);
    for (const m of modelNames) if (!linked.includes(m)) throw new NotFoundError(`model '${m}' is not linked to application '${app.name}'`);
    this.registry.transaction(() => modelNames.forEach((m) => this.registry.deleteLink(app.name, m)));
    this.snapshots.refresh();
    return this.registry.linkedModels(app.name);
  }

  deleteApp(name: string): Promise<void> {
    return this.#locked(name, `removal of application '${name}'`, () => this.#deleteApp(name));
  }

  #deleteApp(name: string): void {
    this.reads.app(name);
    this.policyState.discard(name);
    this.registry.transaction(() => this.registry.deleteApp(name));
    this.snapshots.refresh();
  }

  /** Chooses an app's selection policy; models named in it are linked when they are not yet. */
  setPolicy(body: z.output<typeof SetPolicy>) {
    return this.#locked(body.app_name, `policy change of application '${body.app_name}'`, () => this.#setPolicy(body));
  }

  #setPolicy(body: z.output<typeof SetPolicy>) {
    const app = this.reads.app(body.app_name);
    const policy = body.policy as PolicyName;
    const named = policy === "split" ? Object.keys(body.weights ?? {}) : policy === "shadow" ? [body.primary!, body.shadow!] : [];
    for (const name of named) {
      const model = this.reads.current(name);
      if (model.inputType !== app.inputType) {
        throw new BadRequestError(`model '${name}' takes ${model.inputType} but application '${app.name}' takes ${app.inputType}`);
      }
    }
    // Setting the learning policy an app already has changes its options and keeps what it learned.
    const keep = app.policy === policy && LEARNING_POLICIES.has(policy);
    if (keep) this.policyState.flush();
    else this.policyState.discard(app.name);
    const learned = keep ? (this.reads.app(app.name).policyConfig as PolicyConfig) : {};
    const linked = new Set([...this.registry.linkedModels(app.name), ...named]);
    if (policy === "single" && linked.size > 1) {
      throw new ConflictError(`application '${app.name}' has ${linked.size} linked models; 'single' serves one`, "unlink the others first");
    }
    const config: PolicyConfig =
      policy === "split"
        ? { weights: body.weights }
        : policy === "shadow"
          ? { primary: body.primary, shadow: body.shadow, ...(body.sample === undefined ? {} : { sample: body.sample }) }
          : LEARNING_POLICIES.has(policy)
            ? {
                weights: Object.fromEntries([...linked].map((m) => [m, learned.weights?.[m] ?? 1])),
                ...(learned.contexts ? { contexts: learned.contexts.slice(-(body.max_contexts ?? learned.max_contexts ?? DEFAULT_MAX_CONTEXTS)) } : {}),
                ...(keep && learned.min_confidence !== undefined && body.min_confidence === undefined ? { min_confidence: learned.min_confidence } : {}),
                ...(keep && learned.max_contexts !== undefined && body.max_contexts === undefined ? { max_contexts: learned.max_contexts } : {}),
                ...(body.min_confidence === undefined ? {} : { min_confidence: body.min_confidence }),
                ...(body.max_contexts === undefined ? {} : { max_contexts: body.max_contexts }),
              }
            : {};
    this.registry.transaction(() => {
      for (const name of named) this.registry.insertLink(app.name, name);
      this.registry.setPolicy(app.name, policy, config);
    });
    this.snapshots.refresh();
    return this.reads.getApplication(app.name);
  }

  /**
   * Feedback for one labelled input: under exp3 the arm weights move toward the models that were right, under
   * ensemble each model's weight shrinks by its loss (Exp4). With a context, only that context's weights move
   * (starting from the app's when the context is new). In memory and in the query snapshot at once; in the
   * registry within PolicyState's interval.
   */
  recordFeedback(appName: string, rewards: ReadonlyMap<string, number>, context?: string): Record<string, number> | undefined {
    const route = this.snapshots.current.apps.get(appName);
    if (!route || !LEARNING_POLICIES.has(route.app.policy)) return undefined;
    const names = route.candidates.map((c) => c.name);
    const contexts = context === undefined ? undefined : route.contexts;
    const old = (context !== undefined && contexts?.get(context)) || route.weights;
    const next =
      route.app.policy === "exp3"
        ? exp3Update(
            old,
            names.map((n) => rewards.get(n) ?? 0),
          )
        : exp4Update(
            old,
            names.map((n) => 1 - (rewards.get(n) ?? 0)),
          );
    const weights = Object.fromEntries(names.map((n, i) => [n, next[i]!]));
    if (contexts) {
      contexts.set(context as string, next);
      this.policyState.record(appName, { contexts });
    } else {
      this.policyState.record(appName, { weights });
      this.snapshots.patchWeights(appName, weights);
    }
    return weights;
  }

  addModelLinks(body: z.output<typeof AddModelLinks>): Promise<string[]> {
    return this.#locked(body.app_name, `link to application '${body.app_name}'`, () => this.#addModelLinks(body));
  }

  #addModelLinks(body: z.output<typeof AddModelLinks>): string[] {
    const app = this.reads.app(body.app_name);
    for (const name of body.model_names) {
      const model = this.registry.currentModel(name);
      if (!model) throw new NotFoundError(`no model named '${name}'`, "deploy it first with `clipper deploy`");
      if (model.inputType !== app.inputType) {
        throw new BadRequestError(`model '${name}' takes ${model.inputType} but application '${app.name}' takes ${app.inputType}`);
      }
      this.models.checkSingleLink(app.name, name);
    }
    this.registry.transaction(() => body.model_names.forEach((m) => this.registry.insertLink(app.name, m)));
    this.snapshots.refresh();
    return this.registry.linkedModels(app.name);
  }
}
