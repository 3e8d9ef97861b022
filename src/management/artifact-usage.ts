/**
 * Who uses an uploaded artifact: a registered version, a running version, an operation in flight or an
 * upload's lease (ports.ts's InFlight). An artifact is removed only when none does; one that a removal finds
 * held only by an operation in flight is removed when that hold ends, if nothing else uses it by then.
 */
import type { Registry } from "../registry/registry.ts";
import type { ArtifactStore } from "./artifacts.ts";
import type { InFlight, Runtimes } from "./ports.ts";

export class ArtifactUsage {
  /** Artifacts a removal left because only a hold kept them. */
  readonly #orphans = new Set<string>();

  constructor(
    private readonly registry: Registry,
    private readonly runtimes: Runtimes,
    private readonly inFlight: InFlight,
    private readonly artifacts: ArtifactStore,
  ) {
    inFlight.onReleased = (name) => {
      if (this.#orphans.delete(name)) this.removeIfUnused(name);
    };
  }

  /** Whether a registered or a running version uses the artifact. */
  referenced(sha256: string): boolean {
    return this.registry.artifactInUse(sha256) || this.runtimes.pools().some((p) => p.model.artifactSha256 === sha256);
  }

  /** Whether anything uses it: beyond `ownRefs` holds that the asking operation has itself. */
  inUse(sha256: string, ownRefs = 0): boolean {
    return this.referenced(sha256) || this.inFlight.count(sha256) > ownRefs;
  }

  /** Removes an artifact nothing uses; `heldByCaller` names the one the calling operation holds (its own hold does not count). */
  removeIfUnused(sha256: string, heldByCaller?: string): void {
    if (!sha256) return;
    if (this.inUse(sha256, sha256 === heldByCaller ? 1 : 0)) {
      if (!this.referenced(sha256)) this.#orphans.add(sha256);
      return;
    }
    try {
      this.artifacts.remove(sha256);
    } catch {
      // The garbage collector removes it later.
    }
  }
}
