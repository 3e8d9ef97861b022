/**
 * Learned policy state (exp3's and the ensemble's weights, the app's and each context's) off the hot path:
 * feedback updates it in memory, and it is written to the registry at most every `flushIntervalMs` (and at
 * once on flush(), which shutdown and every management write call). A SIGKILL loses at most the last
 * interval; a SIGTERM loses nothing.
 */
import type { Registry } from "../registry/registry.ts";
import { LEARNING_POLICIES } from "../query/snapshot.ts";

export type Weights = Record<string, number>;

/** What feedback changed in an app's policy config: its weights, its contexts (serialized when written), or both. */
export type Learned = { weights?: Weights; contexts?: unknown };

export class PolicyState {
  /** app → what was learned since the last write. */
  readonly #pending = new Map<string, Learned>();
  #timer: Timer | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly flushIntervalMs = 500,
  ) {}

  /** What `app` learned and did not write yet, if anything. */
  pending(app: string): Learned | undefined {
    return this.#pending.get(app);
  }

  record(app: string, learned: Learned): void {
    this.#pending.set(app, { ...this.#pending.get(app), ...learned });
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

  /** Writes what every pending app learned in one transaction (apps no longer under a learning policy are skipped). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const pending = [...this.#pending];
    this.#pending.clear();
    try {
      this.registry.transaction(() => {
        for (const [name, learned] of pending) {
          const app = this.registry.app(name);
          if (app && LEARNING_POLICIES.has(app.policy)) this.registry.setPolicy(name, app.policy, { ...app.policyConfig, ...learned });
        }
      });
    } catch (err) {
      // Nothing learned is lost: what was not written stays pending (unless newer weights came meanwhile).
      for (const [name, learned] of pending) if (!this.#pending.has(name)) this.#pending.set(name, learned);
      this.#timer ??= setTimeout(() => this.#flushLater(), this.flushIntervalMs);
      throw err;
    }
  }
}
