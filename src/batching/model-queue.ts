/**
 * Per-model-version queue: queries wait here ordered by deadline, are coalesced into batches
 * (rows, not requests) and sent to the replica with the least outstanding work.
 * Invariant: a query whose deadline has passed is dropped, never sent; a failed batch rejects every query in it.
 */
import { ReplicaExitError, RuntimeFailure } from "../errors.ts";
import type { InputType } from "../runtime/protocol.ts";
import type { Replica } from "../runtime/replica.ts";
import { nextBatchSize } from "./batch-size-controller.ts";
import type { Row } from "../query/input.ts";

export interface QueuedQuery {
  readonly row: Row;
  /** performance.now() in ms after which nobody waits for the answer. */
  readonly deadlineMs: number;
  readonly sloMicros: number;
  /** Set once the query was re-queued after its replica died; it is not retried twice. */
  retried: boolean;
  resolve(output: unknown): void;
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
  batchSize = 8;
  /** The last input this version answered: replayed as the first prediction of the version that replaces it. */
  lastRow: Row | undefined;

  readonly #ceiling: number;
  readonly #observer: BatchObserver | undefined;
  #queue: QueuedQuery[] = [];
  #scheduled = false;

  constructor(key: string, inputType: InputType, maxBatchSize: number, observer?: BatchObserver) {
    this.key = key;
    this.inputType = inputType;
    this.#ceiling = maxBatchSize;
    this.batchSize = Math.min(8, maxBatchSize);
    this.#observer = observer;
  }

  get depth(): number {
    return this.#queue.length;
  }

  /** True when nothing waits and no replica has a batch in flight. */
  get idle(): boolean {
    return this.#queue.length === 0 && this.replicas.every((r) => r.inflightBatches === 0);
  }

  /** Queues one row; the answer (or the model's error) settles the returned promise. */
  enqueue(row: Row, deadlineMs: number, sloMicros: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const q: QueuedQuery = { row, deadlineMs, sloMicros, retried: false, resolve, reject };
      const queue = this.#queue;
      // Deadlines mostly arrive in order: append, and walk back only when an earlier one arrives late.
      let i = queue.length;
      while (i > 0 && queue[i - 1]!.deadlineMs > deadlineMs) i--;
      if (i === queue.length) queue.push(q);
      else queue.splice(i, 0, q);
      this.#schedule();
    });
  }

  /** Called when replicas change or one finishes a batch. */
  kick(): void {
    this.#schedule();
  }

  /** Rejects everything waiting (model removed or server stopping). */
  drain(reason: string): void {
    const err = new RuntimeFailure(reason);
    for (const q of this.#queue) q.reject(err);
    this.#queue = [];
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
    while (this.#queue.length > 0) {
      const replica = this.#pickReplica();
      if (!replica) return;
      const batch = this.#takeBatch();
      if (batch.length === 0) return;
      this.#send(replica, batch);
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

  #takeBatch(): QueuedQuery[] {
    const now = performance.now();
    const queue = this.#queue;
    let skip = 0;
    // Expired queries were already answered with the default by their deadline timer; settling them
    // here releases whatever still waits on them (the cache's in-flight entry).
    while (skip < queue.length && queue[skip]!.deadlineMs <= now) queue[skip++]!.reject(EXPIRED);
    const batch = queue.slice(skip, skip + this.batchSize);
    this.#queue = queue.slice(skip + batch.length);
    return batch;
  }

  #send(replica: Replica, batch: QueuedQuery[]): void {
    const started = performance.now();
    replica.predict(packBatch(this.inputType, batch), batch.length).then(
      (result) => {
        const latencyMicros = (performance.now() - started) * 1000;
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(result.outputs[i]);
        this.lastRow = batch[0]!.row;
        let slo = Infinity;
        for (const q of batch) if (q.sloMicros < slo) slo = q.sloMicros;
        this.batchSize = nextBatchSize(this.batchSize, batch.length, latencyMicros, slo, this.#ceiling);
        this.#observer?.onBatch(this.key, batch.length, latencyMicros, result.predictMicros);
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
        if (retry.length) this.#queue = retry.concat(this.#queue);
        this.#schedule();
      },
    );
  }
}

const DTYPES = { doubles: "f8", floats: "f4", integers: "i4" } as const;

/** Numeric rows of one length travel as one packed buffer; anything else as a list. */
export function packBatch(inputType: InputType, batch: readonly QueuedQuery[]) {
  if (inputType === "doubles" || inputType === "floats" || inputType === "integers") {
    const cols = (batch[0]!.row as number[]).length;
    if (batch.every((q) => (q.row as number[]).length === cols)) {
      const Typed = inputType === "doubles" ? Float64Array : inputType === "floats" ? Float32Array : Int32Array;
      const data = new Typed(batch.length * cols);
      for (let i = 0; i < batch.length; i++) data.set(batch[i]!.row as number[], i * cols);
      return {
        type: "predict" as const, input_type: inputType, shape: [batch.length, cols] as [number, number],
        dtype: DTYPES[inputType], data: new Uint8Array(data.buffer),
      };
    }
  }
  return { type: "predict" as const, input_type: inputType, inputs: batch.map((q) => q.row) };
}
