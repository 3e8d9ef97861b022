/**
 * Per-context weights of a learning policy (exp3, ensemble): a query or feedback naming a context
 * (`"context": "user-17"`) uses that context's weights; a context never seen uses the app's. At most
 * `maxContexts` are kept: the least recently used goes first. Weights are arrays in the order of `names`
 * (the app's candidates when the snapshot was built) and persist as `[context, {model: weight}]` pairs in
 * recency order (an array, so that a context named "17" keeps its place).
 */

/** Contexts kept per app unless its policy says otherwise. */
export const DEFAULT_MAX_CONTEXTS = 1000;
/** The longest context name a query may carry. */
export const MAX_CONTEXT_LENGTH = 128;

export type StoredContexts = readonly (readonly [string, Readonly<Record<string, number>>])[];

export class ContextWeights {
  /** Map iteration order is recency order: the first entry is the least recently used. */
  readonly #byContext = new Map<string, number[]>();
  #evicted = 0;

  constructor(
    readonly names: readonly string[],
    readonly maxContexts = DEFAULT_MAX_CONTEXTS,
    stored: StoredContexts = [],
  ) {
    for (const [context, weights] of stored)
      this.set(
        context,
        names.map((n) => weights[n] ?? 1),
      );
    this.#evicted = 0;
  }

  /** A context's weights (and it becomes the most recently used), or undefined for a context not kept. */
  get(context: string): readonly number[] | undefined {
    const w = this.#byContext.get(context);
    if (w === undefined) return undefined;
    this.#byContext.delete(context);
    this.#byContext.set(context, w);
    return w;
  }

  /** Stores a context's weights as the most recently used, dropping the least recently used beyond the bound. */
  set(context: string, weights: readonly number[]): void {
    this.#byContext.delete(context);
    this.#byContext.set(context, [...weights]);
    while (this.#byContext.size > this.maxContexts) {
      this.#byContext.delete(this.#byContext.keys().next().value as string);
      this.#evicted++;
    }
  }

  get size(): number {
    return this.#byContext.size;
  }

  /** Contexts dropped for the bound since this set was built. */
  get evicted(): number {
    return this.#evicted;
  }

  /** The persisted form (JSON.stringify calls it). */
  toJSON(): [string, Record<string, number>][] {
    return [...this.#byContext].map(([context, w]) => [context, Object.fromEntries(this.names.map((n, i) => [n, w[i]!]))]);
  }
}

/** The weights a query of `context` uses: the context's own when kept, else the app's. */
export function weightsFor(appWeights: readonly number[], contexts: ContextWeights | undefined, context: string | undefined): readonly number[] {
  return (context !== undefined && contexts?.get(context)) || appWeights;
}
