/**
 * Start-up after a crash: what the registry's journal says was cut short is logged and closed (a deploy,
 * switch, scale or removal that did not commit was rolled back; a retire finished, or the version is current
 * again), and what the previous run left half-written or unreferenced goes. Runs before any model starts.
 */
import { modelKey } from "../domain.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry/registry.ts";
import type { EnvironmentBuilder } from "../runtime/environments.ts";
import type { ArtifactUsage } from "./artifact-usage.ts";
import type { ArtifactStore } from "./artifacts.ts";

export function recoverAfterCrash(registry: Registry, artifacts: ArtifactStore, usage: ArtifactUsage, envs: EnvironmentBuilder, logger: Logger): void {
  for (const op of registry.openOperations()) {
    const current = registry.currentModel(op.model);
    const now = current ? `version ${current.version} is current` : "no version of it is current";
    const outcome =
      op.kind === "retire"
        ? current?.version === op.version
          ? `kept: ${now} again`
          : `finished: version ${op.version} is not current and is not started`
        : `rolled back: nothing of it was committed, ${now}`;
    logger.warn("recovered", `${op.kind} of model ${op.model} version ${op.version} was cut short by the previous run's end: ${outcome}`, {
      model: modelKey(op.model, op.version),
      operation: op.kind,
    });
    registry.endOperation(op.id);
  }
  const startedMs = Date.now();
  const leftovers = artifacts.list().filter((a) => a.mtimeMs < startedMs && !usage.inUse(a.sha256));
  for (const a of leftovers) artifacts.remove(a.sha256);
  if (leftovers.length) {
    logger.warn("recovered", `removed ${leftovers.length} artifact${leftovers.length === 1 ? "" : "s"} nothing references, left by the previous run`);
  }
  const partial = artifacts.removePartial();
  if (partial.length) logger.warn("recovered", `removed ${partial.length} half-written upload${partial.length === 1 ? "" : "s"} left by the previous run`);
  for (const env of envs.list()) {
    if (env.ready) continue;
    envs.remove(env.id);
    logger.warn("recovered", `removed environment ${env.id}: its build was cut short by the previous run's end`);
  }
}
