/**
 * Learned policy state (exp3's arm weights) off the hot path: feedback updates it in memory, and it is
 * written to the registry at most every `flushIntervalMs` (and at once on flush(), which shutdown and every
 * management write call). A SIGKILL loses at most the last interval; a SIGTERM loses nothing.
 */
import type { Registry } from "../registry/registry.ts";

export type Weights = Record<string, number>;

export class PolicyState {
  /** app → weights learned since the last write. */
  readonly #pending = new Map<string, Weights>();
  #timer: Timer | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly flushIntervalMs = 500,
  ) {}

  /** The newest weights of `app` not yet written, if any. */
  pending(app: string): Weights | undefined {
    return this.#pending.get(app);
  }

  record(app: string, weights: Weights): void {
    this.#pending.set(app, weights);
    this.#timer ??= setTimeout(() => this.flush(), this.flushIntervalMs);
  }

  /** Forgets what `app` learned and did not write yet (its policy is being replaced or it is deleted). */
  discard(app: string): void {
    this.#pending.delete(app);
  }

  /** Writes every pending app's weights in one transaction (apps no longer under exp3 are skipped). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const pending = [...this.#pending];
    this.#pending.clear();
    this.registry.transaction(() => {
      for (const [name, weights] of pending) {
        const app = this.registry.app(name);
        if (app?.policy === "exp3") this.registry.setPolicy(name, "exp3", { ...app.policyConfig, weights });
      }
    });
  }
}
