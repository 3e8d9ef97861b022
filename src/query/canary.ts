/**
 * A canary's comparison on the query path: the rows its version answered and the same rows answered by the
 * current version (shadowed), counted in one window per canary: failed rows, agreement, latencies. Reads
 * are cheap summaries; management judges them (src/management/canary-writes.ts).
 */
import type { Row, RowOutcome } from "../domain.ts";
import { quantile } from "../batching/batch-latency.ts";

/** Latencies kept per side: a uniform sample of the window once it holds more (reservoir). */
const MAX_LATENCIES = 4096;
/** Inputs the two versions disagreed on, kept as examples. */
const MAX_EXAMPLES = 20;

export interface CanarySummary {
  /** Rows the canary answered (each also answered by the current version). */
  readonly rows: number;
  readonly canary_failed: number;
  readonly current_failed: number;
  readonly canary_error_rate: number;
  readonly current_error_rate: number;
  readonly canary_p99_micros: number;
  readonly current_p99_micros: number;
  /** canary p99 / current p99 (0 before both have answered). */
  readonly p99_ratio: number;
  /** Rows both answered with a prediction, and the share of them with the same output. */
  readonly compared: number;
  readonly agreement: number;
  readonly disagreements: readonly { input: unknown; current: unknown; canary: unknown }[];
}

class Latencies {
  readonly #values: number[] = [];
  #seen = 0;
  add(micros: number): void {
    this.#seen++;
    if (this.#values.length < MAX_LATENCIES) this.#values.push(micros);
    else {
      const j = Math.floor(Math.random() * this.#seen);
      if (j < MAX_LATENCIES) this.#values[j] = micros;
    }
  }
  p99(): number {
    return quantile(this.#values, 0.99);
  }
}

export class CanaryWindow {
  #rows = 0;
  #canaryFailed = 0;
  #currentFailed = 0;
  #compared = 0;
  #agreed = 0;
  readonly #canaryLatency = new Latencies();
  readonly #currentLatency = new Latencies();
  readonly #examples: { input: unknown; current: unknown; canary: unknown }[] = [];

  /** One query's rows as both versions answered them, with each side's time in microseconds. */
  record(rows: readonly Row[], current: readonly RowOutcome[], canary: readonly RowOutcome[], currentMicros: number, canaryMicros: number): void {
    this.#canaryLatency.add(canaryMicros);
    this.#currentLatency.add(currentMicros);
    for (let i = 0; i < canary.length; i++) {
      const a = current[i]!,
        b = canary[i]!;
      this.#rows++;
      if (!a.ok) this.#currentFailed++;
      if (!b.ok) this.#canaryFailed++;
      if (!a.ok || !b.ok) continue;
      this.#compared++;
      if (JSON.stringify(a.output) === JSON.stringify(b.output)) this.#agreed++;
      else if (this.#examples.length < MAX_EXAMPLES) this.#examples.push({ input: rows[i], current: a.output, canary: b.output });
    }
  }

  summary(): CanarySummary {
    const canaryP99 = this.#canaryLatency.p99();
    const currentP99 = this.#currentLatency.p99();
    return {
      rows: this.#rows,
      canary_failed: this.#canaryFailed,
      current_failed: this.#currentFailed,
      canary_error_rate: this.#rows ? this.#canaryFailed / this.#rows : 0,
      current_error_rate: this.#rows ? this.#currentFailed / this.#rows : 0,
      canary_p99_micros: canaryP99,
      current_p99_micros: currentP99,
      p99_ratio: currentP99 > 0 ? canaryP99 / currentP99 : 0,
      compared: this.#compared,
      agreement: this.#compared ? this.#agreed / this.#compared : 1,
      disagreements: [...this.#examples],
    };
  }
}

/** One window per canary version (by its key), shared by the query core (writes) and management (reads, resets). */
export class CanaryBoard {
  readonly #windows = new Map<string, CanaryWindow>();

  window(key: string): CanaryWindow {
    let w = this.#windows.get(key);
    if (!w) this.#windows.set(key, (w = new CanaryWindow()));
    return w;
  }

  /** A new window (a canary starts, or starts again after a restart). */
  reset(key: string): void {
    this.#windows.set(key, new CanaryWindow());
  }

  delete(key: string): void {
    this.#windows.delete(key);
  }
}
