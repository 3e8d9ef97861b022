/**
 * The query snapshot, held for management: rebuilt from the registry after every write (learned policy
 * weights are written first, so nothing learned is lost), and patched in place when feedback moves weights.
 * The query side reads `current` and nothing else of management.
 */
import { buildSnapshot, patchWeights, type Snapshot } from "../query/snapshot.ts";
import type { Registry } from "../registry/registry.ts";
import type { PolicyState, Weights } from "./policy-state.ts";

export class SnapshotStore {
  #snapshot: Snapshot;

  constructor(
    private readonly registry: Registry,
    private readonly policyState: PolicyState,
  ) {
    this.#snapshot = buildSnapshot(registry);
  }

  get current(): Snapshot {
    return this.#snapshot;
  }

  /** Rebuilds the snapshot after a registry write. */
  refresh(): void {
    this.policyState.flush();
    this.#snapshot = buildSnapshot(this.registry);
  }

  /** Feedback moved an app's weights: the live snapshot routes by them at once. */
  patchWeights(app: string, weights: Weights): void {
    patchWeights(this.#snapshot, app, weights);
  }
}
