/**
 * Per-model-version queue: queries wait here ordered by deadline, are coalesced into batches
 * (counted in rows, not requests) and sent to the replica with the least outstanding work.
 * Invariants: a query whose deadline has passed is settled as expired, never sent; a failed batch
 * rejects every query in it (or re-queues it once when its replica died).
 */
import { ReplicaExitError, RuntimeFailure } from "../errors.ts";
import type { Row } from "../query/input.ts";
import type { InputType } from "../runtime/protocol.ts";
import type { Replica } from "../runtime/replica.ts";
import { nextBatchSize } from "./batch-size-controller.ts";

/** One request's rows: they travel in the same batch and settle together. */
export interface QueuedQuery {
  readonly rows: readonly Row[];
  /** performance.now() in ms after which nobody waits for the answer. */
  readonly deadlineMs: number;
  readonly sloMicros: number;
  /** Set once the query was re-queued after its replica died; it is not retried twice. */
  retried: boolean;
  /** Receives the batch's outputs and where this query's rows start in them. */
  resolve(outputs: readonly unknown[], start: number): void;
  reject(err: Error): void;
}

export interface BatchObserver {
  onBatch(modelKey: string, rows: number, latencyMicros: number, predictMicros: number): void;
}

const EXPIRED = new RuntimeFailure("the query's deadline passed while it waited in the queue");

/** Batches per replica that may be in flight at once: one computing, one on the pipe. */
const MAX_INFLIGHT_BATCHES = 2;

export class ModelQueue {
  readonly key: string;
  readonly inputType: InputType;
  replicas: Replica[] = [];
  /** Current adaptive limit on rows per batch. */
  batchSize: number;
  /** The last input this version answered: replayed as the first prediction of the version that replaces it. */
  lastRow: Row | undefined;

  readonly #ceiling: number;
  /** A model's own batch_size (Clipper's): a request's rows are split into units of at most this many. */
  readonly #unitRows: number;
  readonly #observer: BatchObserver | undefined;
  #queue: QueuedQuery[] = [];
  /** Index of the first waiting query in #queue (taken ones are dropped lazily). */
  #head = 0;
  #scheduled = false;

  constructor(key: string, inputType: InputType, maxBatchSize: number, observer?: BatchObserver, hardBatchSize = Infinity) {
    this.key = key;
    this.inputType = inputType;
    this.#ceiling = maxBatchSize;
    this.#unitRows = hardBatchSize;
    this.batchSize = Math.min(8, maxBatchSize);
    this.#observer = observer;
  }

  get depth(): number {
    return this.#queue.length - this.#head;
  }

  /** True when nothing waits and no replica has a batch in flight. */
  get idle(): boolean {
    return this.depth === 0 && this.replicas.every((r) => r.inflightBatches === 0);
  }

  /** Queues one row; resolves with its output. */
  enqueue(row: Row, deadlineMs: number, sloMicros: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#push({ rows: [row], deadlineMs, sloMicros, retried: false, resolve: (outputs, start) => resolve(outputs[start]), reject });
    });
  }

  /** Queues a request's rows as one unit; resolves with their outputs in order. */
  enqueueRows(rows: readonly Row[], deadlineMs: number, sloMicros: number): Promise<unknown[]> {
    if (rows.length > this.#unitRows) {
      const parts: Promise<unknown[]>[] = [];
      for (let i = 0; i < rows.length; i += this.#unitRows) parts.push(this.enqueueRows(rows.slice(i, i + this.#unitRows), deadlineMs, sloMicros));
      return Promise.all(parts).then((outs) => outs.flat());
    }
    return new Promise((resolve, reject) => {
      this.#push({
        rows, deadlineMs, sloMicros, retried: false, reject,
        resolve: (outputs, start) => resolve(start === 0 && outputs.length === rows.length ? outputs as unknown[] : outputs.slice(start, start + rows.length)),
      });
    });
  }

  /** Called when replicas change or one finishes a batch. */
  kick(): void {
    this.#schedule();
  }

  /** Rejects everything waiting (model removed or server stopping). */
  drain(reason: string): void {
    const err = new RuntimeFailure(reason);
    for (let i = this.#head; i < this.#queue.length; i++) this.#queue[i]!.reject(err);
    this.#queue = [];
    this.#head = 0;
  }

  #push(q: QueuedQuery): void {
    const queue = this.#queue;
    // Deadlines mostly arrive in order: append, and walk back only when an earlier one arrives late.
    let i = queue.length;
    while (i > this.#head && queue[i - 1]!.deadlineMs > q.deadlineMs) i--;
    if (i === queue.length) queue.push(q);
    else queue.splice(i, 0, q);
    this.#schedule();
  }

  // Flushing once per event-loop turn lets every request parsed in this turn join the batch.
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.depth > 0) {
      const replica = this.#pickReplica();
      if (!replica) return;
      const { batch, full } = this.#takeBatch();
      if (batch.length === 0) return;
      this.#send(replica, batch, full);
    }
  }

  #pickReplica(): Replica | undefined {
    let best: Replica | undefined;
    for (const r of this.replicas) {
      if (r.state !== "ready" || r.inflightBatches >= MAX_INFLIGHT_BATCHES) continue;
      if (!best || r.outstandingRows < best.outstandingRows) best = r;
    }
    return best;
  }

  /**
   * Takes queries in deadline order up to `batchSize` rows (always at least one query). The batch is
   * full when it reached the limit or the next query did not fit.
   */
  #takeBatch(): { batch: QueuedQuery[]; full: boolean } {
    const now = performance.now();
    const queue = this.#queue;
    const batch: QueuedQuery[] = [];
    let rows = 0;
    let full = false;
    while (this.#head < queue.length) {
      const q = queue[this.#head]!;
      if (q.deadlineMs <= now) {
        // Its deadline timer already answered the default; settling here releases whoever still waits on it.
        q.reject(EXPIRED);
      } else {
        if (batch.length > 0 && rows + q.rows.length > this.batchSize) {
          full = true;
          break;
        }
        batch.push(q);
        rows += q.rows.length;
      }
      this.#head++;
    }
    if (rows >= this.batchSize) full = true;
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    return { batch, full };
  }

  #send(replica: Replica, batch: QueuedQuery[], full: boolean): void {
    const started = performance.now();
    const packed = packBatch(this.inputType, batch);
    const rows = packed.rows;
    replica.predict(packed.message, rows).then(
      (result) => {
        const latencyMicros = (performance.now() - started) * 1000;
        let start = 0;
        let slo = Infinity;
        for (const q of batch) {
          q.resolve(result.outputs, start);
          start += q.rows.length;
          if (q.sloMicros < slo) slo = q.sloMicros;
        }
        this.lastRow = batch[0]!.rows[0];
        this.batchSize = nextBatchSize(this.batchSize, full, latencyMicros, slo, this.#ceiling);
        this.#observer?.onBatch(this.key, rows, latencyMicros, result.predictMicros);
        this.#schedule();
      },
      (err: Error) => {
        // A dead replica's queries get one more try on another replica while their deadline allows.
        const now = performance.now();
        const retry: QueuedQuery[] = [];
        for (const q of batch) {
          if (err instanceof ReplicaExitError && !q.retried && q.deadlineMs > now) {
            q.retried = true;
            retry.push(q);
          } else {
            q.reject(err);
          }
        }
        if (retry.length) {
          this.#queue = retry.concat(this.#queue.slice(this.#head));
          this.#head = 0;
        }
        this.#schedule();
      },
    );
  }
}

const DTYPES = { doubles: "f8", floats: "f4", integers: "i4" } as const;

/** Numeric rows of one length travel as one packed buffer; anything else as a list. */
export function packBatch(inputType: InputType, batch: readonly QueuedQuery[]) {
  let rows = 0;
  for (const q of batch) rows += q.rows.length;
  if (inputType === "doubles" || inputType === "floats" || inputType === "integers") {
    const cols = (batch[0]!.rows[0] as number[]).length;
    if (batch.every((q) => q.rows.every((r) => (r as number[]).length === cols))) {
      const Typed = inputType === "doubles" ? Float64Array : inputType === "floats" ? Float32Array : Int32Array;
      // The ArrayBuffer first: asking a typed array for its .buffer afterwards makes JSC copy it out of the GC heap.
      const bytes = new ArrayBuffer(rows * cols * Typed.BYTES_PER_ELEMENT);
      const data = new Typed(bytes);
      let at = 0;
      for (const q of batch) {
        for (const r of q.rows as number[][]) for (let c = 0; c < cols; c++) data[at++] = r[c]!;
      }
      return {
        rows,
        message: {
          type: "predict" as const, input_type: inputType, shape: [rows, cols] as [number, number],
          dtype: DTYPES[inputType], data: new Uint8Array(bytes),
        },
      };
    }
  }
  const all: Row[] = [];
  for (const q of batch) for (const r of q.rows) all.push(r);
  return { rows, message: { type: "predict" as const, input_type: inputType, inputs: all } };
}
