/**
 * A labelled histogram for the request path. prom-client's own `observe` validates and hashes the labels
 * on every call (about a microsecond, a few percent of a cached predict); here each label value gets its
 * bucket array once, `observe` is a short loop, and prom-client reads the arrays only when /metrics is
 * scraped (the registry accepts any metric with a name, help, type and get()).
 */
import type { Histogram, Registry } from "prom-client";

/** Counts of one label value: per-bucket (not cumulative), sum and count. */
export class Buckets {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

interface Sample {
  readonly metricName: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

export class HotHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly #children = new Map<string, Buckets>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelName: string,
    readonly bounds: readonly number[],
    registry: Registry,
  ) {
    // The registry only calls name, type, help and get() on what it holds.
    registry.registerMetric(this as unknown as Histogram);
  }

  /** The buckets of one label value (created on first use; keep the result rather than asking per observation). */
  child(labelValue: string): Buckets {
    let b = this.#children.get(labelValue);
    if (!b) this.#children.set(labelValue, (b = new Buckets(this.bounds)));
    return b;
  }

  /** Called by the registry when /metrics is scraped: cumulative buckets, +Inf, sum and count per label value. */
  get(): { name: string; help: string; type: "histogram"; aggregator: "sum"; values: Sample[] } {
    const values: Sample[] = [];
    for (const [label, b] of this.#children) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += b.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: this.bounds[i]!, [this.labelName]: label }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: "+Inf", [this.labelName]: label }, value: b.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.labelName]: label }, value: b.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.labelName]: label }, value: b.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Drops one label value's series (its model version was removed). */
  remove(labelValue: string): void {
    this.#children.delete(labelValue);
  }

  /** Registry.resetMetrics() calls this. */
  reset(): void {
    this.#children.clear();
  }
}
