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
    this.#timer ??= setTimeout(() => this.#flushLater(), this.flushIntervalMs);
  }

  /** The timer's flush: a registry that cannot be written (a full disk) keeps the weights for the next try. */
  #flushLater(): void {
    try {
      this.flush();
    } catch {
      // Kept pending and tried again on the next interval.
    }
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
    try {
      this.registry.transaction(() => {
        for (const [name, weights] of pending) {
          const app = this.registry.app(name);
          if (app?.policy === "exp3") this.registry.setPolicy(name, "exp3", { ...app.policyConfig, weights });
        }
      });
    } catch (err) {
      // Nothing learned is lost: what was not written stays pending (unless newer weights came meanwhile).
      for (const [name, weights] of pending) if (!this.#pending.has(name)) this.#pending.set(name, weights);
      this.#timer ??= setTimeout(() => this.#flushLater(), this.flushIntervalMs);
      throw err;
    }
  }
}
