/** Counters behind GET /metrics (JSON for now): queries, defaults, batches, cache. */
import type { BatchObserver } from "../batching/model-queue.ts";

interface AppCounters { queries: number; defaults: number; errors: number }
interface ModelCounters { batches: number; rows: number; latencyMicrosSum: number; predictMicrosSum: number; maxBatch: number }

export class Metrics implements BatchObserver {
  readonly #apps = new Map<string, AppCounters>();
  readonly #models = new Map<string, ModelCounters>();
  /** app → shadow model key → [agreements, disagreements] */
  readonly #shadow = new Map<string, Map<string, [number, number]>>();

  onShadow(app: string, shadowKey: string, agreed: boolean): void {
    let byModel = this.#shadow.get(app);
    if (!byModel) this.#shadow.set(app, (byModel = new Map()));
    let c = byModel.get(shadowKey);
    if (!c) byModel.set(shadowKey, (c = [0, 0]));
    c[agreed ? 0 : 1]++;
  }

  /** Counts one answered row of an app; `isDefault` when the default output went out. */
  onAnswer(app: string, isDefault: boolean): void {
    let c = this.#apps.get(app);
    if (!c) this.#apps.set(app, (c = { queries: 0, defaults: 0, errors: 0 }));
    c.queries++;
    if (isDefault) c.defaults++;
  }

  onRejected(app: string): void {
    let c = this.#apps.get(app);
    if (!c) this.#apps.set(app, (c = { queries: 0, defaults: 0, errors: 0 }));
    c.errors++;
  }

  onBatch(model: string, rows: number, latencyMicros: number, predictMicros: number): void {
    let c = this.#models.get(model);
    if (!c) this.#models.set(model, (c = { batches: 0, rows: 0, latencyMicrosSum: 0, predictMicrosSum: 0, maxBatch: 0 }));
    c.batches++;
    c.rows += rows;
    c.latencyMicrosSum += latencyMicros;
    c.predictMicrosSum += predictMicros;
    if (rows > c.maxBatch) c.maxBatch = rows;
  }

  toJSON(cache: { hits: number; misses: number; size: number; enabled: boolean }): unknown {
    const models: Record<string, unknown> = {};
    for (const [key, c] of this.#models) {
      models[key] = {
        batches: c.batches, rows: c.rows, max_batch_size: c.maxBatch,
        mean_batch_size: c.batches ? c.rows / c.batches : 0,
        mean_batch_latency_micros: c.batches ? c.latencyMicrosSum / c.batches : 0,
        mean_predict_micros: c.batches ? c.predictMicrosSum / c.batches : 0,
      };
    }
    return {
      apps: Object.fromEntries(this.#apps),
      models,
      shadow: Object.fromEntries([...this.#shadow].map(([app, m]) =>
        [app, Object.fromEntries([...m].map(([k, [agree, disagree]]) => [k, { agree, disagree }]))])),
      cache: { enabled: cache.enabled, hits: cache.hits, misses: cache.misses, entries: cache.size },
    };
  }
}
