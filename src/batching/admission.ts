/**
 * Admission control: a query is queued only when its expected wait (the rows ahead of it at the queue's
 * drain rate, then its own batch) fits in the time it has left. Pure arithmetic on what the queue knows.
 */

export interface Backlog {
  /** Rows waiting in the queue. */
  readonly queuedRows: number;
  /** Replicas ready to take batches. */
  readonly replicas: number;
  /** The batch size the queue forms now (rows). */
  readonly batchRows: number;
  /** Expected ms from sending a batch of n rows to its answer; 0 while unknown. */
  estimateMs(rows: number): number;
  /** The model's own ms for a batch of n rows (batches queue in the runtime back to back): the drain rate. */
  modelMs(rows: number): number;
}

/** Expected ms until a query of `rows` rows arriving now is answered (0 while the model's speed is unknown). */
export function expectedWaitMs(b: Backlog, rows: number): number {
  const batchRows = Math.max(1, b.batchRows);
  const batchMs = b.modelMs(batchRows);
  const own = b.estimateMs(Math.min(rows, batchRows));
  if (batchMs <= 0 || b.replicas <= 0) return own;
  const rowsPerMs = (b.replicas * batchRows) / batchMs;
  return b.queuedRows / rowsPerMs + own;
}

/** Seconds after which a refused client may expect room (Retry-After): the excess wait over its budget, at least 1. */
export function retryAfterSeconds(waitMs: number, budgetMs: number): number {
  return Math.max(1, Math.ceil((waitMs - Math.max(0, budgetMs)) / 1000));
}
