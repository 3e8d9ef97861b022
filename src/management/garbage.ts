/**
 * Garbage collection of the data directory: uploaded artifacts that nothing references (no registered
 * version, no running replica, no operation in flight), environments no registered version uses, and
 * half-written uploads, each once it is older than a grace period (an upload that a deploy is about to
 * use is young). Runs on a timer in the server and on `clipper gc`; answers what it freed.
 * Synchronous from the first look to the last removal: no management operation interleaves with it.
 */
import { join } from "node:path";
import { formatBytes } from "../errors.ts";
import type { Registry } from "../registry/registry.ts";
import type { EnvironmentBuilder } from "../runtime/environments.ts";
import { type ArtifactStore, treeBytes } from "./artifacts.ts";
import type { ArtifactUsage } from "./artifact-usage.ts";
import type { InFlight, Runtimes } from "./ports.ts";

export interface GarbageWorld {
  readonly registry: Registry;
  readonly runtimes: Runtimes;
  readonly artifacts: ArtifactStore;
  readonly envs: EnvironmentBuilder;
  readonly usage: ArtifactUsage;
  readonly inFlight: InFlight;
  readonly dataDir: string;
}

export interface Collected {
  readonly artifacts: { sha256: string; bytes: number }[];
  readonly environments: { id: string; bytes: number }[];
  /** Half-written uploads and unpackings. */
  readonly partial: string[];
  readonly freed_bytes: number;
  readonly summary: string;
}

export function collectGarbage(w: GarbageWorld, graceMs: number): Collected {
  const now = Date.now();
  // An upload's lease protects it for less than the grace period asked for: the grace decides.
  const artifacts = w.artifacts
    .list()
    .filter((a) => now - a.mtimeMs >= graceMs && !w.usage.referenced(a.sha256) && !w.inFlight.heldByOperation(a.sha256))
    .map((a) => {
      w.artifacts.remove(a.sha256);
      return { sha256: a.sha256, bytes: a.bytes };
    });
  const used = usedEnvironments(w);
  const building = w.envs.building();
  const environments = w.envs
    .list()
    .filter((e) => now - e.mtimeMs >= graceMs && !used.has(e.id) && !building.has(e.id) && !w.inFlight.has(`env ${e.id}`))
    .map((e) => {
      const bytes = treeBytes(join(w.dataDir, "envs", e.id));
      w.envs.remove(e.id);
      return { id: e.id, bytes };
    });
  const partial = w.artifacts.removePartial(Math.max(graceMs, 1));
  const freed = [...artifacts, ...environments].reduce((n, x) => n + x.bytes, 0);
  const summary =
    `removed ${artifacts.length} unreferenced artifact${artifacts.length === 1 ? "" : "s"}, ` +
    `${environments.length} unused environment${environments.length === 1 ? "" : "s"} and ${partial.length} half-written upload${partial.length === 1 ? "" : "s"}: ` +
    `${formatBytes(freed)} freed`;
  return { artifacts, environments, partial, freed_bytes: freed, summary };
}

/** Environment ids a registered version (current or not: a rollback needs it) or a running replica uses. */
function usedEnvironments(w: GarbageWorld): Set<string> {
  const used = new Set<string>();
  for (const m of w.registry.models()) if (m.options.pkgs?.length) used.add(w.envs.id(m.options.pkgs));
  for (const p of w.runtimes.pools()) if (p.model.options.pkgs?.length) used.add(w.envs.id(p.model.options.pkgs));
  return used;
}
