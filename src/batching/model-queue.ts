/**
 * Per-model-version queue: queries wait here ordered by deadline, are coalesced into batches
 * (counted in rows, not requests) and sent to the replica with the least outstanding work.
 * Invariants: a query whose deadline has passed, or whose client has gone, is settled without being
 * sent; a batch the model raised on is split in halves and retried (parts first, depth first) until
 * only the rows that raise on their own fail; a batch that failed otherwise rejects every query in it
 * (or re-queues it once when its replica died).
 */
import { ModelRaisedError, ReplicaExitError, RuntimeFailure } from "../errors.ts";
import type { InputType, Row } from "../domain.ts";
import type { RuntimeInfo } from "../runtime/protocol.ts";
import type { Replica } from "../runtime/replica.ts";
import { nextBatchSize } from "./batch-size-controller.ts";
import { failPart, halves, type Part, partRows, type QueuedQuery, rowCount, settlePart, wholeParts } from "./parts.ts";

export { type QueuedQuery, RowFailure } from "./parts.ts";

export interface BatchObserver {
  onBatch(modelKey: string, rows: number, latencyMicros: number, predictMicros: number): void;
  /** A failed batch was split in two to isolate the rows that raise. */
  onSplit(modelKey: string): void;
  /** Rows that raised on their own (each answered with the model's error, the others predicted). */
  onRowsFailed(modelKey: string, rows: number): void;
  /** Queries dropped before they were sent because their client had gone. */
  onClientGone(modelKey: string, queries: number): void;
}

/** What the runtime said of one row's input in its hello: the check at the door compares against it. */
export interface RowShape {
  /** The per-row shape without the batch dimension (`[5]`, `[1, 8, 8]`). */
  readonly shape: readonly number[];
  /** Values in one flat row: the product of the shape. */
  readonly width: number;
  /** `model NAME version V`, for messages. */
  readonly label: string;
}

const EXPIRED = new RuntimeFailure("the query's deadline passed while it waited in the queue");
const CLIENT_GONE = new RuntimeFailure("the client went away before the query was sent");

/**
 * Batches per replica that may be in flight at once: one computing, one on the pipe, which hides the round
 * trip to the runtime behind the model's work. Worth it only while that round trip is a real share of a
 * batch: once the model's own predict takes SLOW_PREDICT_MICROS or more (a forest, a network), a replica
 * gets one batch at a time, so the rows that arrive meanwhile form one bigger batch (such a model's cost per
 * call barely grows with its rows: a 100-tree forest takes 2.6 ms for 22 rows and 2.9 ms for 64).
 */
const MAX_INFLIGHT_BATCHES = 2;
const SLOW_PREDICT_MICROS = 1000;
/**
 * A model that failed this many rows alone in a row and answered nothing for ALL_FAILING_QUIET_MS (or
 * never) is taken to raise on every input: a split part that then fails is answered at once instead of
 * split further, so each failed batch costs two more batches, not one per row. Any answer clears it.
 */
const ALL_FAILING_AFTER_ROWS = 8;
const ALL_FAILING_QUIET_MS = 2000;

/** A split batch waiting to be sent again: parts of queries, and how many splits led to it. */
interface Retry {
  readonly parts: Part[];
  readonly level: number;
}

export class ModelQueue {
  readonly key: string;
  readonly inputType: InputType;
  /** Current adaptive limit on rows per batch. */
  batchSize: number;
  /** The last input this version answered: replayed as the first prediction of the version that replaces it. */
  lastRow: Row | undefined;
  /** The row shape the runtime declared, or undefined when it declared none (rows are then not checked). */
  shape: RowShape | undefined;

  readonly #ceiling: number;
  /** A model's own batch_size (Clipper's): a request's rows are split into units of at most this many. */
  readonly #unitRows: number;
  readonly #observer: BatchObserver | undefined;
  #queue: QueuedQuery[] = [];
  /** Index of the first waiting query in #queue (taken ones are dropped lazily). */
  #head = 0;
  /** Split parts of failed batches: sent before anything new, last pushed first (depth first). */
  #retries: Retry[] = [];
  #scheduled = false;
  /** Rows that failed alone since the model last answered anything. */
  #lonelyFailures = 0;
  /** performance.now() of the model's last answered batch or part. */
  #lastAnswerMs = -Infinity;
  /** The model's predict time per batch (µs), smoothed: decides how many batches a replica may have in flight. */
  #predictMicros = 0;

  /** The replicas of this version as their owner (the runtime's pool) has them now: the queue only picks among them. */
  readonly #replicas: () => readonly Replica[];

  constructor(key: string, inputType: InputType, maxBatchSize: number, replicas: () => readonly Replica[], observer?: BatchObserver, hardBatchSize = Infinity) {
    this.#replicas = replicas;
    this.key = key;
    this.inputType = inputType;
    this.#ceiling = maxBatchSize;
    this.#unitRows = hardBatchSize;
    this.batchSize = Math.min(8, maxBatchSize);
    this.#observer = observer;
  }

  get depth(): number {
    return this.#queue.length - this.#head + this.#retries.length;
  }

  /** True when nothing waits and no replica has a batch in flight. */
  get idle(): boolean {
    return this.depth === 0 && this.#replicas().every((r) => r.inflightBatches === 0);
  }

  /** Records the row shape from a runtime's hello (`input_shape`: positive integers); others leave it unknown. */
  declareShape(info: RuntimeInfo, label: string): void {
    const shape = info.input_shape;
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) return;
    const width = (shape as number[]).reduce((a, b) => a * b, 1);
    this.shape = { shape: shape as number[], width, label };
  }

  /** Queues one row; resolves with its output. */
  enqueue(row: Row, deadlineMs: number, sloMicros: number, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => this.submit([row], deadlineMs, sloMicros, signal, (outputs, start) => resolve(outputs[start]), reject));
  }

  /** Queues a request's rows as one unit; resolves with their outputs in order (a RowFailure where a row raised alone). */
  enqueueRows(rows: readonly Row[], deadlineMs: number, sloMicros: number, signal?: AbortSignal): Promise<unknown[]> {
    return new Promise((resolve, reject) =>
      this.submit(
        rows,
        deadlineMs,
        sloMicros,
        signal,
        (outputs, start) => resolve(start === 0 && outputs.length === rows.length ? (outputs as unknown[]) : outputs.slice(start, start + rows.length)),
        reject,
      ),
    );
  }

  /**
   * Queues a request's rows as one unit with callbacks instead of a promise (the query core's hot path
   * makes one promise per query, not one per step): `onOutputs` gets the batch's outputs and where these
   * rows start in them (a RowFailure where a row raised alone); `onError` why none came.
   */
  submit(
    rows: readonly Row[],
    deadlineMs: number,
    sloMicros: number,
    signal: AbortSignal | undefined,
    onOutputs: (outputs: readonly unknown[], start: number) => void,
    onError: (err: Error) => void,
  ): void {
    if (rows.length > this.#unitRows) {
      // A model's own batch_size: the rows go in units of at most that many, answered together.
      const parts: Promise<unknown[]>[] = [];
      for (let i = 0; i < rows.length; i += this.#unitRows) parts.push(this.enqueueRows(rows.slice(i, i + this.#unitRows), deadlineMs, sloMicros, signal));
      Promise.all(parts).then((outs) => onOutputs(outs.flat(), 0), onError);
      return;
    }
    this.#push({ rows, deadlineMs, sloMicros, signal, retried: false, partial: undefined, resolve: onOutputs, reject: onError });
  }

  /** Called when replicas change or one finishes a batch. */
  kick(): void {
    this.#schedule();
  }

  /**
   * Why no replica can start (the Docker engine is gone), while that lasts: queries are answered with it at
   * once instead of waiting out their deadline for a replica that cannot come.
   */
  unavailable: string | undefined;

  /** Rejects everything waiting (model removed or server stopping). */
  drain(reason: string): void {
    const err = new RuntimeFailure(reason);
    for (let i = this.#head; i < this.#queue.length; i++) this.#queue[i]!.reject(err);
    for (const retry of this.#retries) for (const p of retry.parts) p.q.reject(err);
    this.#queue = [];
    this.#head = 0;
    this.#retries = [];
  }

  #push(q: QueuedQuery): void {
    if (this.unavailable !== undefined && this.#replicas().length === 0) {
      q.reject(new RuntimeFailure(this.unavailable));
      return;
    }
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
      if (this.#retries.length > 0) {
        const retry = this.#retries.pop()!;
        const parts = this.#live(retry.parts);
        if (parts.length > 0) this.#sendParts(replica, parts, retry.level);
        continue;
      }
      const { batch, full } = this.#takeBatch();
      if (batch.length === 0) return;
      this.#send(replica, batch, full);
    }
  }

  #pickReplica(): Replica | undefined {
    const inflight = this.#predictMicros < SLOW_PREDICT_MICROS ? MAX_INFLIGHT_BATCHES : 1;
    let best: Replica | undefined;
    for (const r of this.#replicas()) {
      if (r.state !== "ready" || r.inflightBatches >= inflight) continue;
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
    let gone = 0;
    while (this.#head < queue.length) {
      const q = queue[this.#head]!;
      if (q.deadlineMs <= now) {
        // Its deadline timer already answered the default; settling here releases whoever still waits on it.
        q.reject(EXPIRED);
      } else if (q.signal?.aborted) {
        gone++;
        q.reject(CLIENT_GONE);
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
    if (gone > 0) this.#observer?.onClientGone(this.key, gone);
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

  /** The parts whose query still waits: past its deadline or with its client gone, a query is settled now. */
  #live(parts: readonly Part[]): Part[] {
    const now = performance.now();
    const live: Part[] = [];
    for (const p of parts) {
      if (p.q.deadlineMs <= now) {
        p.q.reject(new RuntimeFailure("deadline: the query's deadline passed before its rows could be retried apart from the batch that failed"));
      } else if (p.q.signal?.aborted) {
        p.q.reject(CLIENT_GONE);
      } else {
        live.push(p);
      }
    }
    return live;
  }

  #send(replica: Replica, batch: QueuedQuery[], full: boolean): void {
    const started = performance.now();
    const packed = packBatch(this.inputType, batch);
    const rows = packed.rows;
    replica.predict(packed.message, rows).then(
      (result) => {
        const latencyMicros = (performance.now() - started) * 1000;
        let slo = Infinity;
        for (const q of batch) if (q.sloMicros < slo) slo = q.sloMicros;
        this.#lonelyFailures = 0;
        this.#lastAnswerMs = performance.now();
        this.lastRow = batch[0]!.rows[0];
        this.batchSize = nextBatchSize(this.batchSize, full, latencyMicros, slo, this.#ceiling);
        this.#predictMicros += (result.predictMicros - this.#predictMicros) / 8;
        this.#observer?.onBatch(this.key, rows, latencyMicros, result.predictMicros);
        // The replica is free: what waits goes to it now, before this batch's answers are written, so the
        // model works while the server answers instead of after.
        this.#flush();
        let start = 0;
        for (const q of batch) {
          q.resolve(result.outputs, start);
          start += q.rows.length;
        }
      },
      (err: Error) => {
        if (err instanceof ModelRaisedError) {
          this.#isolate(wholeParts(batch), 0, err);
          this.#schedule();
          return;
        }
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

  /** Sends the parts of a split batch; they settle on their own, or are split again if the model raises. */
  #sendParts(replica: Replica, parts: Part[], level: number): void {
    const started = performance.now();
    const packed = packBatch(this.inputType, partRows(parts));
    replica.predict(packed.message, packed.rows).then(
      (result) => {
        let start = 0;
        for (const p of parts) {
          settlePart(p, result.outputs, start);
          start += p.to - p.from;
        }
        this.#lonelyFailures = 0;
        this.#lastAnswerMs = performance.now();
        this.#observer?.onBatch(this.key, packed.rows, (performance.now() - started) * 1000, result.predictMicros);
        this.#schedule();
      },
      (err: Error) => {
        if (err instanceof ModelRaisedError) this.#isolate(parts, level, err);
        else for (const p of parts) p.q.reject(err);
        this.#schedule();
      },
    );
  }

  /**
   * The model raised on `parts`: one row fails alone; more are split in two and retried, unless the
   * model has been failing every row it was given, when the parts fail at once.
   */
  #isolate(parts: Part[], level: number, err: ModelRaisedError): void {
    const rows = rowCount(parts);
    const allFailing = level > 0 && this.#lonelyFailures >= ALL_FAILING_AFTER_ROWS && performance.now() - this.#lastAnswerMs > ALL_FAILING_QUIET_MS;
    if (rows === 1 || allFailing) {
      if (rows === 1) this.#lonelyFailures++;
      for (const p of parts) failPart(p, err);
      this.#observer?.onRowsFailed(this.key, rows);
      return;
    }
    this.#observer?.onSplit(this.key);
    const [first, second] = halves(parts);
    // Pushed second then first: the stack sends the first half next, depth first, so single rows are reached soon.
    this.#retries.push({ parts: second, level: level + 1 }, { parts: first, level: level + 1 });
  }
}

const DTYPES = { doubles: "f8", floats: "f4", integers: "i4" } as const;

/** Numeric rows of one length travel as one packed buffer; anything else as a list. */
export function packBatch(inputType: InputType, batch: readonly { readonly rows: readonly Row[] }[]) {
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
          type: "predict" as const,
          input_type: inputType,
          shape: [rows, cols] as [number, number],
          dtype: DTYPES[inputType],
          data: new Uint8Array(bytes),
        },
      };
    }
  }
  const all: Row[] = [];
  for (const q of batch) for (const r of q.rows) all.push(r);
  return { rows, message: { type: "predict" as const, input_type: inputType, inputs: all } };
}
