/** The in-memory view of the registry that serves queries; rebuilt after every management write. */
import { type ModelChoice, modelChoice } from "../domain.ts";
import { ContextWeights, DEFAULT_MAX_CONTEXTS, type StoredContexts } from "../policy/contexts.ts";
import type { AppRouting, PolicyName } from "../policy/select.ts";
import type { AppRecord, Registry } from "../registry/registry.ts";

export interface AppRoute extends AppRouting {
  readonly app: AppRecord;
  /** Every linked model with a current version, in link order (what feedback asks). */
  readonly linked: readonly ModelChoice[];
  /** The app's default output, pre-serialized for the default answer. */
  readonly defaultOutputJson: string;
  /** sha256 of the app's query token, when its queries need one. */
  readonly queryTokenHash: Buffer | undefined;
  /** exp3 and ensemble: weights learned per context (shared by every patched copy of this route). */
  readonly contexts: ContextWeights | undefined;
  /** ensemble: an answer whose confidence is below this is the default (0: never). */
  readonly minConfidence: number;
  /** shadow: the share of queries copied to the shadow model. */
  readonly shadowSample: number;
  /** The share of queries captured (0: capture is off). */
  readonly captureSample: number;
  /** A canary of the linked model: the version on trial and its share of the traffic. */
  readonly canary: CanaryRoute | undefined;
}

/** A canary on the query path: the share of the model's queries its version answers (compared with the current one). */
export interface CanaryRoute {
  readonly model: string;
  readonly choice: ModelChoice;
  readonly share: number;
}

/** What a policy's config in the registry may hold. */
export type PolicyConfig = {
  weights?: Record<string, number>;
  primary?: string;
  shadow?: string;
  sample?: number;
  min_confidence?: number;
  max_contexts?: number;
  contexts?: StoredContexts;
};

/** Policies that learn from feedback, per context too. */
export const LEARNING_POLICIES: ReadonlySet<string> = new Set(["exp3", "ensemble"]);

export interface Snapshot {
  readonly apps: ReadonlyMap<string, AppRoute>;
}

function choice(registry: Registry, name: string): ModelChoice | undefined {
  const current = registry.currentModel(name);
  if (!current) return undefined;
  return modelChoice(name, current.version);
}

export function buildSnapshot(registry: Registry): Snapshot {
  const apps = new Map<string, AppRoute>();
  const captures = new Map(registry.captures().map((c) => [c.app, c.sample]));
  const canaries = registry.canaries().filter((c) => c.state === "running");
  for (const app of registry.apps()) {
    const linked = registry
      .linkedModels(app.name)
      .map((n) => choice(registry, n))
      .filter((c) => c !== undefined);
    const config = app.policyConfig as PolicyConfig;
    const policy = app.policy as PolicyName;
    let candidates = linked;
    let shadow: ModelChoice | undefined;
    if (policy === "shadow") {
      candidates = linked.filter((c) => c.name === config.primary);
      shadow = linked.find((c) => c.name === config.shadow);
    }
    const learning = LEARNING_POLICIES.has(policy);
    const weights = candidates.map((c) => config.weights?.[c.name] ?? (learning ? 1 : 0));
    const canary = canaries.find((c) => candidates.some((m) => m.name === c.model && m.version === c.previous));
    apps.set(app.name, {
      app,
      policy,
      candidates,
      weights,
      shadow,
      linked,
      defaultOutputJson: JSON.stringify(app.defaultOutput),
      queryTokenHash: app.queryTokenSha256 ? Buffer.from(app.queryTokenSha256, "hex") : undefined,
      contexts: learning
        ? new ContextWeights(
            candidates.map((c) => c.name),
            config.max_contexts ?? DEFAULT_MAX_CONTEXTS,
            config.contexts,
          )
        : undefined,
      minConfidence: config.min_confidence ?? 0,
      shadowSample: config.sample ?? 1,
      captureSample: captures.get(app.name) ?? 0,
      canary: canary && { model: canary.model, choice: modelChoice(canary.model, canary.version), share: canary.share },
    });
  }
  return { apps };
}

/**
 * The snapshot with an app's newly learned weights (feedback), without a rebuild from the registry. A new
 * snapshot: the one queries hold is read-only and never changes under them.
 */
export function withWeights(snapshot: Snapshot, appName: string, weights: Record<string, number>): Snapshot {
  const route = snapshot.apps.get(appName);
  if (!route) return snapshot;
  const app = { ...route.app, policyConfig: { ...route.app.policyConfig, weights } };
  const apps = new Map(snapshot.apps);
  apps.set(appName, { ...route, app, weights: route.candidates.map((c) => weights[c.name] ?? 1) });
  return { apps };
}

/** An app is ready when every model version its policy picks from has a ready replica (`versionReady` by key). */
export function appReady(route: AppRoute, versionReady: (key: string) => boolean): boolean {
  return route.candidates.every((c) => versionReady(c.key));
}
