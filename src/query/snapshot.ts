/** The in-memory view of the registry that serves queries; rebuilt after every management write. */
import type { ModelChoice } from "../policy/select.ts";
import type { AppRecord, Registry } from "../registry/registry.ts";
import { modelKey } from "../runtime/manager.ts";

export interface AppRoute {
  readonly app: AppRecord;
  readonly policy: string;
  readonly candidates: readonly ModelChoice[];
  /** The app's default output, pre-serialized for the default answer. */
  readonly defaultOutputJson: string;
}

export interface Snapshot {
  readonly apps: ReadonlyMap<string, AppRoute>;
}

export function buildSnapshot(registry: Registry): Snapshot {
  const apps = new Map<string, AppRoute>();
  for (const app of registry.apps()) {
    const candidates: ModelChoice[] = [];
    for (const name of registry.linkedModels(app.name)) {
      const current = registry.currentModel(name);
      if (current) candidates.push({ name, version: current.version, key: modelKey(name, current.version) });
    }
    apps.set(app.name, { app, policy: app.policy, candidates, defaultOutputJson: JSON.stringify(app.defaultOutput) });
  }
  return { apps };
}
