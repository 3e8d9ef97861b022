/**
 * Slices of queries for isolating a failed batch: a batch the model raised on is cut in two halves by
 * rows (a query's rows may be cut too), and each row that raises on its own settles as a RowFailure in
 * place of its output while the query's other rows keep theirs.
 */
import { type Row, RowFailure } from "../domain.ts";
import { ModelRaisedError } from "../errors.ts";

export { RowFailure };

/** What the queue reads of a query's client: an AbortSignal, or several waiters' view of one shared row. */
export interface Abortable {
  readonly aborted: boolean;
}

/** One query as the queue holds it: its rows travel together unless a failed batch has to be split. */
export interface QueuedQuery {
  readonly rows: readonly Row[];
  /** performance.now() in ms after which nobody waits for the answer. */
  readonly deadlineMs: number;
  readonly sloMicros: number;
  /** performance.now() when it was queued: the queue wait it reports, and the age in a shed reason. */
  readonly enqueuedMs: number;
  /** Aborts when the client has gone away: the query is dropped instead of predicted. */
  readonly signal: Abortable | undefined;
  /** Set once the query was re-queued after its replica died; it is not retried twice. */
  retried: boolean;
  /** Outputs gathered part by part once the query was split, and how many rows are still unsettled. */
  partial: { readonly outputs: unknown[]; left: number } | undefined;
  /** Receives the batch's outputs and where this query's rows start in them. */
  resolve(outputs: readonly unknown[], start: number): void;
  reject(err: Error): void;
}

/** Rows [from, to) of one query. */
export interface Part {
  readonly q: QueuedQuery;
  readonly from: number;
  readonly to: number;
}

export function wholeParts(batch: readonly QueuedQuery[]): Part[] {
  return batch.map((q) => ({ q, from: 0, to: q.rows.length }));
}

export function rowCount(parts: readonly Part[]): number {
  let n = 0;
  for (const p of parts) n += p.to - p.from;
  return n;
}

/** The two halves (by rows) of parts holding at least two rows. */
export function halves(parts: readonly Part[]): [Part[], Part[]] {
  let left = Math.floor(rowCount(parts) / 2);
  const first: Part[] = [];
  const second: Part[] = [];
  for (const p of parts) {
    const n = p.to - p.from;
    if (left >= n) {
      first.push(p);
      left -= n;
    } else if (left > 0) {
      first.push({ q: p.q, from: p.from, to: p.from + left });
      second.push({ q: p.q, from: p.from + left, to: p.to });
      left = 0;
    } else {
      second.push(p);
    }
  }
  return [first, second];
}

/** The rows of each part, for packing into a batch. */
export function partRows(parts: readonly Part[]): { rows: readonly Row[] }[] {
  return parts.map((p) => ({ rows: p.from === 0 && p.to === p.q.rows.length ? p.q.rows : p.q.rows.slice(p.from, p.to) }));
}

/** Settles part `p` with `outputs[start…]`; a query resolves once all of its rows have settled. */
export function settlePart(p: Part, outputs: readonly unknown[], start: number): void {
  const q = p.q;
  if (p.from === 0 && p.to === q.rows.length && q.partial === undefined) {
    resolveQuery(q, outputs, start);
    return;
  }
  const partial = (q.partial ??= { outputs: new Array(q.rows.length), left: q.rows.length });
  for (let r = p.from; r < p.to; r++) partial.outputs[r] = outputs[start + r - p.from];
  partial.left -= p.to - p.from;
  if (partial.left === 0) q.resolve(partial.outputs, 0);
}

/**
 * Settles a whole query with `outputs[start…]`: a one-row query whose row failed (a RowFailure the runtime
 * isolated) is rejected with the model's error, like a row isolated by splitting; longer ones keep theirs.
 */
export function resolveQuery(q: QueuedQuery, outputs: readonly unknown[], start: number): void {
  const first = outputs[start];
  if (q.rows.length === 1 && first instanceof RowFailure) q.reject(new ModelRaisedError(first.reason));
  else q.resolve(outputs, start);
}

/** Settles every row of `p` as failed with `reason`: a one-row query is rejected, a longer one keeps its other rows. */
export function failPart(p: Part, err: Error): void {
  const q = p.q;
  if (q.rows.length === 1) {
    q.reject(err);
    return;
  }
  const failure = new RowFailure(err.message);
  const outputs = new Array<RowFailure>(p.to - p.from).fill(failure);
  settlePart(p, outputs, 0);
}
