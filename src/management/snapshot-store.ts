/**
 * The query snapshot, held for management: rebuilt from the registry after every write (learned policy
 * weights are written first, so nothing learned is lost), and replaced by a copy when feedback moves weights.
 * The query side reads `current` and nothing else of management.
 */
import { buildSnapshot, type Snapshot, withWeights } from "../query/snapshot.ts";
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
    try {
      this.policyState.flush();
    } catch {
      // A registry that cannot take the weights now (a full disk) keeps them pending; the routes still follow the write.
    }
    this.#snapshot = buildSnapshot(this.registry);
  }

  /** Feedback moved an app's weights: the live snapshot routes by them at once. */
  patchWeights(app: string, weights: Weights): void {
    this.#snapshot = withWeights(this.#snapshot, app, weights);
  }
}
