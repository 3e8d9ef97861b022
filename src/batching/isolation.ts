/**
 * Batcher-side fault isolation: the rows of a batch the model raised on are retried by halves until only
 * the rows that raise on their own fail; the rows of a batch that hung are retried one by one (a hang costs
 * the watchdog's threshold and a replacement, a row a round trip), so the one that hangs alone is found and
 * quarantined while its batch-mates get their predictions. Runtimes that isolate failing rows themselves
 * need none of this; it is the fallback for those that do not.
 */
import type { ModelRaisedError } from "../errors.ts";
import { failPart, halves, type Part, rowCount } from "./parts.ts";

/**
 * A model that failed this many rows alone in a row and answered nothing for ALL_FAILING_QUIET_MS (or
 * never) is taken to raise on every input: a split part that then fails is answered at once instead of
 * split further, so each failed batch costs two more batches, not one per row. Any answer clears it.
 */
const ALL_FAILING_AFTER_ROWS = 8;
const ALL_FAILING_QUIET_MS = 2000;

/** Parts waiting to be sent again: how many splits led to them, and whether they are suspects of a hang. */
export interface Retry {
  readonly parts: Part[];
  readonly level: number;
  /** Rows of a batch that hung, sent alone: one that hangs again is the cause. */
  readonly suspect: boolean;
}

export interface IsolationEvents {
  onSplit(): void;
  onRowsFailed(rows: number): void;
}

export class FailureIsolation {
  /** Sent before anything new, last pushed first (depth first). */
  #retries: Retry[] = [];
  /** Rows that failed alone since the model last answered anything. */
  #lonelyFailures = 0;
  /** performance.now() of the model's last answered batch or part. */
  #lastAnswerMs = -Infinity;

  constructor(readonly events: IsolationEvents) {}

  get pending(): number {
    return this.#retries.length;
  }

  next(): Retry | undefined {
    return this.#retries.pop();
  }

  /** The model answered a batch or a part: it does not raise on everything. */
  answered(nowMs: number): void {
    this.#lonelyFailures = 0;
    this.#lastAnswerMs = nowMs;
  }

  /**
   * The model raised on `parts`: one row fails alone; more are split in two and retried, unless the model
   * has been failing every row it was given, when the parts fail at once.
   */
  raised(parts: Part[], level: number, err: ModelRaisedError, nowMs: number): void {
    const rows = rowCount(parts);
    const allFailing = level > 0 && this.#lonelyFailures >= ALL_FAILING_AFTER_ROWS && nowMs - this.#lastAnswerMs > ALL_FAILING_QUIET_MS;
    if (rows === 1 || allFailing) {
      if (rows === 1) this.#lonelyFailures++;
      for (const p of parts) failPart(p, err);
      this.events.onRowsFailed(rows);
      return;
    }
    this.events.onSplit();
    const [first, second] = halves(parts);
    // Pushed second then first: the stack sends the first half next, depth first, so single rows are reached soon.
    this.#retries.push({ parts: second, level: level + 1, suspect: false }, { parts: first, level: level + 1, suspect: false });
  }

  /**
   * A batch of several rows hung: each row goes again alone (the first row first), as a suspect (sent even
   * when its query is settled: finding the culprit is the point) unless the culprit was found already.
   */
  hung(parts: readonly Part[], level: number, suspect = true): void {
    const singles: Retry[] = [];
    for (const p of parts) for (let r = p.from; r < p.to; r++) singles.push({ parts: [{ q: p.q, from: r, to: r + 1 }], level: level + 1, suspect });
    for (let i = singles.length - 1; i >= 0; i--) this.#retries.push(singles[i]!);
  }

  /** Rejects every part waiting to be retried. */
  drain(err: Error): void {
    for (const retry of this.#retries) for (const p of retry.parts) p.q.reject(err);
    this.#retries = [];
  }
}
