/**
 * Goodput-first batch choice: which waiting queries go in the next batch, and which are answered the default
 * now because they can no longer make their deadline. Pure: the queue passes its entries (ordered by
 * deadline), the time and what a batch of n rows is expected to take.
 * Invariants: a query is sent only when the batch it joins is expected to finish before its deadline; a
 * batch never holds more than `maxRows` rows unless one query alone has more; on a calm day the order is
 * the deadline order; once the oldest query cannot be served in a full batch (overload), the newest go
 * first (adaptive LIFO), since they are the ones that can still make it, in a batch that leaves them part of
 * their time, and the old ones that cannot survive the batch about to go are answered at once.
 */

/**
 * Under overload, the share of the newest query's remaining time a batch may take (its wait behind the
 * batches ahead, the model's time, the margin). There are more queries than the model can serve, so bigger
 * batches gain nothing: a batch that took all of it would answer its oldest rows at their deadline's edge,
 * where the event loop's and the network's delays make them late at the client.
 */
const NEWEST_SHARE = 0.5;

export interface Waiting {
  readonly rows: { readonly length: number };
  /** performance.now() in ms after which nobody waits for the answer. */
  readonly deadlineMs: number;
}

export interface Plan {
  /** How many entries from the head cannot make their deadline: they are answered the default now. */
  readonly shed: number;
  /** True: the batch is the `take` newest entries (from the tail); false: the `take` entries after the shed ones. */
  readonly newestFirst: boolean;
  readonly take: number;
  /** Rows in the batch. */
  readonly rows: number;
}

/**
 * Plans the next batch from `queue[head…]`. `queuedRows` is the rows of all those entries (the queue keeps
 * the count). `estimateMs(n)` is the expected time of a batch of n rows (0 while unknown: all is feasible).
 */
export function planBatch(
  queue: readonly Waiting[],
  head: number,
  queuedRows: number,
  nowMs: number,
  estimateMs: (rows: number) => number,
  maxRows: number,
): Plan {
  let i = head;
  let rowsLeft = queuedRows;
  // Queries that could not make it even alone.
  while (i < queue.length && queue[i]!.deadlineMs - nowMs < estimateMs(queue[i]!.rows.length)) {
    rowsLeft -= queue[i]!.rows.length;
    i++;
  }
  if (i === queue.length) return { shed: i - head, newestFirst: false, take: 0, rows: 0 };
  const shed = i - head;
  const overloaded = queue[i]!.deadlineMs - nowMs < estimateMs(Math.min(maxRows, rowsLeft));
  if (overloaded) {
    const lifo = newestFirst(queue, i, nowMs, estimateMs, maxRows);
    if (lifo) return { ...lifo, shed: shed + lifo.shed };
  }
  const slack = queue[i]!.deadlineMs - nowMs;
  let rows = 0;
  let j = i;
  while (j < queue.length) {
    const r = queue[j]!.rows.length;
    if (j > i && (rows + r > maxRows || estimateMs(rows + r) > slack)) break;
    rows += r;
    j++;
  }
  return { shed, newestFirst: false, take: j - i, rows };
}

/**
 * The newest entries that fit one batch finishing before the earliest of their deadlines (walking back, each
 * entry has less time left than those after it, so it bounds the batch), and the old entries from `first`
 * that cannot wait for this batch and then go in one of their own. Undefined when not even the newest fits.
 */
function newestFirst(queue: readonly Waiting[], first: number, nowMs: number, estimateMs: (rows: number) => number, maxRows: number): Plan | undefined {
  const newest = queue[queue.length - 1]!;
  // The batch takes at most a share of the newest query's time, so its rows keep the rest for the trip to
  // their clients; unless even the newest alone needs more (a model slow per call), then all of it.
  const shareMs = (newest.deadlineMs - nowMs) * NEWEST_SHARE;
  const capMs = estimateMs(newest.rows.length) <= shareMs ? shareMs : Infinity;
  let rows = 0;
  let j = queue.length - 1;
  while (j >= first) {
    const r = queue[j]!.rows.length;
    if (rows > 0 && rows + r > maxRows) break;
    if (estimateMs(rows + r) > Math.min(capMs, queue[j]!.deadlineMs - nowMs)) break;
    rows += r;
    j--;
  }
  const take = queue.length - 1 - j;
  if (take === 0) return undefined;
  const batchMs = estimateMs(rows);
  let k = first;
  while (k <= j && queue[k]!.deadlineMs - nowMs < batchMs + estimateMs(queue[k]!.rows.length)) k++;
  return { shed: k - first, newestFirst: true, take, rows };
}
