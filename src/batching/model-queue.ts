/**
 * Per-model-version queue: the composition of the batching decisions, each in its own module. Queries are
 * admitted (admission.ts: expected wait against the time left; a hard bound on rows), wait ordered by
 * deadline, go in batches the scheduler chose (scheduler.ts: only rows that can make their deadline, newest
 * first under overload) to the replica with the least outstanding work, and a batch that fails is isolated
 * (isolation.ts: halves for a raise, single rows for a hang). The watchdog (watchdog.ts) kills a replica
 * whose batch runs far past this version's own batch times and quarantines an input that hangs alone.
 * Invariants: a query that cannot be answered in time, or whose client has gone, is settled without being
 * sent; every query settles once; memory is bounded by the row bound whatever arrives.
 */
import { ModelRaisedError, ReplicaExitError, RuntimeFailure, ShedError, type ShedReason } from "../errors.ts";
import { type InputType, type Row, rowKey } from "../domain.ts";
import type { RuntimeInfo } from "../runtime/protocol.ts";
import type { PredictResult, Replica } from "../runtime/replica.ts";
import { expectedWaitMs, retryAfterSeconds } from "./admission.ts";
import { BatchLatency, ReplicaClock } from "./batch-latency.ts";
import { nextBatchSize } from "./batch-size-controller.ts";
import { FailureIsolation } from "./isolation.ts";
import { type Abortable, failPart, type Part, partRows, type QueuedQuery, RowFailure, rowCount, settlePart, wholeParts } from "./parts.ts";
import { packBatch } from "./pack.ts";
import { SuspectProbe } from "./probe.ts";
import { planBatch } from "./scheduler.ts";
import { HangWatchdog, hangThresholdMs, type InFlight, Quarantine, type QuarantineEntry } from "./watchdog.ts";

export { type Abortable, type QueuedQuery, RowFailure } from "./parts.ts";
export { packBatch } from "./pack.ts";

/**
 * Why admission turned a query away, as plain data: under a storm thousands are refused a second, and the
 * query core answers them from the message alone (a ShedError, with its stack, is made only for `submit`'s callers).
 */
export interface Refusal {
  readonly reason: "overload" | "queue_full";
  /** The default's reason (`overload: model m:1 cannot answer in time (…)`). */
  readonly message: string;
  /** When a refused client may expect room (Retry-After). */
  readonly retryAfterSeconds: number;
}

export interface BatchObserver {
  onBatch(modelKey: string, rows: number, latencyMicros: number, predictMicros: number): void;
  /** A failed batch was split in two to isolate the rows that raise. */
  onSplit(modelKey: string): void;
  /** Rows that raised on their own (each answered with the model's error, the others predicted). */
  onRowsFailed(modelKey: string, rows: number): void;
  /** Queries dropped before they were sent because their client had gone. */
  onClientGone(modelKey: string, queries: number): void;
  /** Queries answered without reaching the model, by why. */
  onShed(modelKey: string, reason: ShedReason, queries: number): void;
  /** How long a query waited in the queue before its batch was sent. */
  onQueueWait(modelKey: string, seconds: number): void;
  /** The watchdog took a replica for hung and killed it (`detail` says how long the batch ran against what). */
  onHang(modelKey: string, replicaId: string, detail: string): void;
  /** An input that hung the model alone is quarantined. */
  onQuarantine(modelKey: string, reason: string): void;
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

/** How the queue guards the SLO: the watchdog's ceiling and override, the quarantine time, the row bound. */
export interface QueueLimits {
  /** The server's predict timeout (ms): the watchdog's ceiling, and its threshold before any batch was answered. */
  readonly predictTimeoutMs: number;
  /** The model's own hang threshold (ms), replacing the derived one. */
  readonly hangOverrideMs?: number;
  /** How long an input that hung the model stays quarantined (ms). */
  readonly quarantineMs: number;
  /** Rows the queue may hold; past it, queries are refused at once. */
  readonly maxQueuedRows: number;
}

const DEFAULT_LIMITS: QueueLimits = { predictTimeoutMs: 30_000, quarantineMs: 600_000, maxQueuedRows: 65_536 };

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
 * Batches per replica in flight once rows back up (overload): a server busy answering a storm reads a
 * replica's answer tens of ms late, and a replica with only the batch it answered would wait that long.
 */
const BACKED_UP_INFLIGHT_BATCHES = 2;
/** With nothing in flight and no batch sent for this long, the next batch goes as a probe (half the expected time suffices). */
const PROBE_AFTER_MS = 250;
/** How long after it last shed a query the queue counts as overloaded. */
const OVERLOAD_MEMORY_MS = 1000;
/** A query shed by admission within this long makes the autoscaler see the queue as full (two of its ticks). */
const PRESSURE_SHED_MS = 200;

export class ModelQueue {
  readonly key: string;
  readonly inputType: InputType;
  /** Current adaptive limit on rows per batch. */
  batchSize: number;
  /** The last input this version answered: replayed as the first prediction of the version that replaces it. */
  lastRow: Row | undefined;
  /** The row shape the runtime declared, or undefined when it declared none (rows are then not checked). */
  shape: RowShape | undefined;
  /**
   * Why no replica can start (the Docker engine is gone), while that lasts: queries are answered with it at
   * once instead of waiting out their deadline for a replica that cannot come.
   */
  unavailable: string | undefined;

  readonly #ceiling: number;
  /** A model's own batch_size (Clipper's): a request's rows are split into units of at most this many. */
  readonly #unitRows: number;
  readonly #observer: BatchObserver | undefined;
  readonly #limits: QueueLimits;
  #queue: QueuedQuery[] = [];
  /** Index of the first waiting query in #queue (taken ones are dropped lazily). */
  #head = 0;
  /** Rows of the queries in #queue from #head. */
  #queuedRows = 0;
  readonly #isolation: FailureIsolation;
  readonly #latency = new BatchLatency();
  /** When each replica's batches come back: the scheduler's estimate of a batch sent now. */
  readonly #clock = new ReplicaClock();
  readonly #quarantine: Quarantine;
  readonly #inflight: HangWatchdog<Replica, Part[]>;
  readonly #probe: SuspectProbe<Replica>;
  #scheduled = false;
  /** The model's predict time per batch (µs), smoothed: decides how many batches a replica may have in flight. */
  #predictMicros = 0;
  /** Hangs the watchdog found (status). */
  hangs = 0;
  /** performance.now() when the queue last sent a batch. */
  #lastSentMs = -Infinity;
  /** performance.now() when the queue last shed a query for its deadline or on arrival. */
  #lastShedMs = -Infinity;

  /** The replicas of this version as their owner (the runtime's pool) has them now: the queue only picks among them. */
  readonly #replicas: () => readonly Replica[];

  constructor(
    key: string,
    inputType: InputType,
    maxBatchSize: number,
    replicas: () => readonly Replica[],
    observer?: BatchObserver,
    hardBatchSize = Infinity,
    limits: QueueLimits = DEFAULT_LIMITS,
  ) {
    this.#replicas = replicas;
    this.key = key;
    this.inputType = inputType;
    this.#ceiling = maxBatchSize;
    this.#unitRows = hardBatchSize;
    this.batchSize = Math.min(8, maxBatchSize);
    this.#observer = observer;
    this.#limits = limits;
    this.#quarantine = new Quarantine(limits.quarantineMs);
    this.#inflight = new HangWatchdog((batch) => this.#onHang(batch));
    this.#probe = new SuspectProbe<Replica>({
      start: () => this.startProbe?.(),
      key: (part) => rowKey(part.q.rows[part.from]!),
      send: (replica, part) => this.#dispatch(replica, [part], 1, undefined, (hung) => this.#probe.done(hung)),
      fallback: (parts, culpritFound) => {
        // The culprit's copies (the same input sent again while it was suspected) get its quarantine.
        const now = performance.now();
        const rest = parts.filter((p) => {
          const reason = this.#quarantine.reason(rowKey(p.q.rows[p.from]!), now);
          if (reason !== undefined) {
            this.#observer?.onShed(this.key, "quarantined", 1);
            failPart(p, new ShedError("quarantined", reason));
          }
          return reason === undefined;
        });
        this.#isolation.hung(rest, 0, !culpritFound);
        this.#schedule();
      },
    });
    this.#isolation = new FailureIsolation({ onSplit: () => observer?.onSplit(key), onRowsFailed: (rows) => observer?.onRowsFailed(key, rows) });
  }

  get depth(): number {
    return this.#queue.length - this.#head + this.#isolation.pending;
  }

  /** True when nothing waits and no replica has a batch in flight (nor a probe suspects of a hang). */
  get idle(): boolean {
    return this.depth === 0 && this.#probe.pending === 0 && this.#replicas().every((r) => r.inflightBatches === 0);
  }

  /** Inputs quarantined now (status, metrics). */
  quarantined(): QuarantineEntry[] {
    return this.#quarantine.list(performance.now());
  }

  /** The watchdog's threshold for this version now (ms). */
  get hangThresholdMs(): number {
    return hangThresholdMs(this.#latency.p99Ms, this.#latency.known, this.#limits.predictTimeoutMs, this.#limits.hangOverrideMs);
  }

  /** Records the row shape from a runtime's hello (`input_shape`: positive integers); others leave it unknown. */
  declareShape(info: RuntimeInfo, label: string): void {
    const shape = info.input_shape;
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) return;
    const width = (shape as number[]).reduce((a, b) => a * b, 1);
    this.shape = { shape: shape as number[], width, label };
  }

  /** Queues one row; resolves with its output. */
  enqueue(row: Row, deadlineMs: number, sloMicros: number, signal?: Abortable): Promise<unknown> {
    return new Promise((resolve, reject) => this.submit([row], deadlineMs, sloMicros, signal, (outputs, start) => resolve(outputs[start]), reject));
  }

  /** Queues a request's rows as one unit; resolves with their outputs in order (a RowFailure where a row raised alone). */
  enqueueRows(rows: readonly Row[], deadlineMs: number, sloMicros: number, signal?: Abortable): Promise<unknown[]> {
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
   * rows start in them (a RowFailure where a row raised alone); `onError` why none came (a ShedError when
   * the query was not sent: `admission` set when it was refused on arrival).
   */
  submit(
    rows: readonly Row[],
    deadlineMs: number,
    sloMicros: number,
    signal: Abortable | undefined,
    onOutputs: (outputs: readonly unknown[], start: number) => void,
    onError: (err: Error) => void,
    /** True when the caller asked `refuse` just now and was not refused: admission is not weighed twice. */
    admitted = false,
  ): void {
    if (this.#quarantine.size > 0 && this.#quarantinedRows(rows, deadlineMs, sloMicros, signal, onOutputs, onError)) return;
    if (this.#probe.pending > 0 && rows.length === 1 && this.#probe.suspected(rowKey(rows[0]!))) {
      // The input is a suspect of a hang being tried on the probe: it waits for the verdict there, not among the traffic.
      const now = performance.now();
      const q = { rows, deadlineMs, sloMicros, enqueuedMs: now, signal, retried: false, partial: undefined, resolve: onOutputs, reject: onError };
      this.#probe.add(wholeParts([q]));
      return;
    }
    if (rows.length > this.#unitRows) {
      // A model's own batch_size: the rows go in units of at most that many, answered together.
      const parts: Promise<unknown[]>[] = [];
      for (let i = 0; i < rows.length; i += this.#unitRows) parts.push(this.enqueueRows(rows.slice(i, i + this.#unitRows), deadlineMs, sloMicros, signal));
      Promise.all(parts).then((outs) => onOutputs(outs.flat(), 0), onError);
      return;
    }
    const refused = admitted && this.#plainAdmission ? undefined : this.#refuse(rows.length, deadlineMs);
    if (refused) {
      onError(new ShedError(refused.reason, refused.message, true, refused.retryAfterSeconds));
      return;
    }
    const now = performance.now();
    this.#push({ rows, deadlineMs, sloMicros, enqueuedMs: now, signal, retried: false, partial: undefined, resolve: onOutputs, reject: onError });
  }

  /**
   * Admission control on its own: why a query of `rows` plain rows with `deadlineMs` would be refused on
   * arrival (counted as shed), or undefined when it would be queued. The query core asks first, so a query
   * refused under a storm is answered at once without the promise and timer of one that waits. Inputs in
   * quarantine or on the probe, and rows past the model's own batch_size, are left to `submit` (undefined).
   */
  refuse(rows: number, deadlineMs: number): Refusal | undefined {
    if (!this.#plainAdmission || rows > this.#unitRows) return undefined;
    return this.#refuse(rows, deadlineMs);
  }

  /** True when nothing is quarantined nor on the probe: a query's fate is admission's alone (`refuse` answers for it). */
  get #plainAdmission(): boolean {
    return this.#quarantine.size === 0 && this.#probe.pending === 0;
  }

  /** Admission's verdict, counted as shed when it refuses. */
  #refuse(rows: number, deadlineMs: number): Refusal | undefined {
    const refused = this.#admit(rows, deadlineMs);
    if (refused) {
      this.#lastShedMs = performance.now();
      this.#observer?.onShed(this.key, refused.reason, 1);
    }
    return refused;
  }

  /** Called when replicas change or one finishes a batch. */
  kick(): void {
    this.#schedule();
  }

  /** Queries submitted so far: the autoscaler sees the version used when it grows. */
  submitted = 0;
  /**
   * Starts a replica of this version that takes no traffic (its pool sets it): the suspects of a hang go to it
   * one by one. Undefined, or undefined returned: they are retried among the traffic.
   */
  startProbe: (() => Promise<Replica> | undefined) | undefined;
  /** Called when a query arrives and no replica serves this version (scaled to zero): its pool starts one. */
  onEmpty: (() => void) | undefined;
  /** True while queries wait for that first replica: a deadline missed meanwhile is a cold start's. */
  coldStarting = false;

  /**
   * The oldest waiting query's wait over its SLO (0 when nothing waits), and that wait in ms. A query shed by
   * admission control within the last tick counts as a full SLO: the queue was too long for one to fit.
   */
  pressure(nowMs: number): { share: number; waitMs: number; shed: boolean } {
    const shed = nowMs - this.#lastShedMs < PRESSURE_SHED_MS;
    const head = this.#queue[this.#head];
    if (!head) return { share: shed ? 1 : 0, waitMs: 0, shed };
    const sloMs = head.sloMicros / 1000;
    const waitMs = Math.max(0, nowMs - (head.deadlineMs - sloMs));
    return { share: shed ? Math.max(1, waitMs / sloMs) : sloMs > 0 ? waitMs / sloMs : 0, waitMs, shed };
  }

  /** Rejects everything waiting (model removed or server stopping). */
  drain(reason: string): void {
    const err = new RuntimeFailure(reason);
    for (let i = this.#head; i < this.#queue.length; i++) this.#queue[i]!.reject(err);
    this.#isolation.drain(err);
    this.#probe.drain(err);
    this.#queue = [];
    this.#head = 0;
    this.#queuedRows = 0;
  }

  /** Why a query of `rows` rows with `deadlineMs` is refused on arrival, or undefined when it is queued. */
  #admit(rows: number, deadlineMs: number): Refusal | undefined {
    if (this.#queuedRows + rows > this.#limits.maxQueuedRows) {
      return {
        reason: "queue_full",
        message: `overload: the queue of model ${this.key} holds ${this.#queuedRows} rows, its bound is ${this.#limits.maxQueuedRows}`,
        retryAfterSeconds: retryAfterSeconds(expectedWaitMs(this.#backlog(deadlineMs - performance.now()), rows), 0),
      };
    }
    // An empty queue admits: the scheduler still answers at once a query its batch cannot make in time.
    if (!this.#latency.known || this.#queuedRows === 0) return undefined;
    const leftMs = deadlineMs - performance.now();
    const waitMs = expectedWaitMs(this.#backlog(leftMs), rows);
    if (waitMs <= leftMs) return undefined;
    return {
      reason: "overload",
      message: `overload: model ${this.key} cannot answer in time (expected wait ${Math.round(waitMs)} ms, ${Math.max(0, Math.round(leftMs))} ms left)`,
      retryAfterSeconds: retryAfterSeconds(waitMs, leftMs),
    };
  }

  /**
   * The most rows a batch may hold: once the model's speed is known, the scheduler sizes each batch to finish
   * before the earliest deadline in it, up to the ceiling; before that, the adaptive limit.
   */
  get #maxRows(): number {
    return this.#latency.known ? this.#ceiling : this.batchSize;
  }

  /**
   * The expected time from now to the answer of a batch sent now to `replica` (the freest ready one when
   * undefined): the wait for the batches ahead of it on that replica, the model's time for its rows, and the
   * margin by which answers have come late (ReplicaClock). With nothing in flight for a while (everything
   * looked hopeless), the next batch goes as a probe when its rows have at least half the model's expected
   * time left, so a model that got faster (a slow first call, a stall that ended) is seen to, while a query
   * that has less time than even a much faster model would need (a client's 20 ms deadline against a 60 ms
   * model) is still never sent. Admission weighs the expected time (`margin` false): the margin guards which
   * rows go, it must not turn queries away while the replica could take them.
   */
  #estimator(replica: Replica | undefined, margin = true): (rows: number) => number {
    const latency = this.#latency;
    if (!latency.known) return () => 0;
    const now = performance.now();
    if (this.#inflight.size === 0 && now - this.#lastSentMs > PROBE_AFTER_MS) return (n) => latency.modelMs(n) / 2;
    const clock = this.#clock;
    let aheadMs = Infinity;
    if (replica) aheadMs = clock.aheadMs(replica, now);
    else for (const r of this.#replicas()) if (r.state === "ready" && !r.hung) aheadMs = Math.min(aheadMs, clock.aheadMs(r, now));
    if (!Number.isFinite(aheadMs)) aheadMs = 0;
    return (n) => clock.finishMs(aheadMs, latency.modelMs(n), margin);
  }

  /** What admission weighs a query of `leftMs` against: the rows waiting, and batches as big as fit in its time. */
  #backlog(leftMs: number) {
    let ready = 0;
    for (const r of this.#replicas()) if (r.state === "ready" && !r.hung) ready++;
    const latency = this.#latency;
    return {
      queuedRows: this.#queuedRows,
      replicas: ready,
      batchRows: latency.rowsWithin(leftMs, this.#ceiling),
      estimateMs: this.#estimator(undefined, false),
      modelMs: (n: number) => latency.modelMs(n),
    };
  }

  /**
   * Rows whose input is quarantined get the default at once; true when that settled the query (all its rows
   * are, or it has one). The other rows of a longer query go on, and their outputs join the failures.
   */
  #quarantinedRows(
    rows: readonly Row[],
    deadlineMs: number,
    sloMicros: number,
    signal: Abortable | undefined,
    onOutputs: (outputs: readonly unknown[], start: number) => void,
    onError: (err: Error) => void,
  ): boolean {
    const now = performance.now();
    let reasons: (string | undefined)[] | undefined;
    for (let i = 0; i < rows.length; i++) {
      const reason = this.#quarantine.reason(rowKey(rows[i]!), now);
      if (reason !== undefined) (reasons ??= new Array(rows.length))[i] = reason;
    }
    if (!reasons) return false;
    this.#observer?.onShed(this.key, "quarantined", 1);
    if (rows.length === 1) {
      onError(new ShedError("quarantined", reasons[0]!));
      return true;
    }
    const outputs: unknown[] = reasons.map((r) => (r === undefined ? undefined : new RowFailure(r)));
    const rest = rows.filter((_, i) => reasons[i] === undefined);
    if (rest.length === 0) {
      onOutputs(outputs, 0);
      return true;
    }
    this.enqueueRows(rest, deadlineMs, sloMicros, signal).then((outs) => {
      let at = 0;
      for (let i = 0; i < outputs.length; i++) if (reasons[i] === undefined) outputs[i] = outs[at++];
      onOutputs(outputs, 0);
    }, onError);
    return true;
  }

  #push(q: QueuedQuery): void {
    if (this.unavailable !== undefined && this.#replicas().length === 0) {
      q.reject(new RuntimeFailure(this.unavailable));
      return;
    }
    this.submitted++;
    if (this.onEmpty !== undefined && this.#replicas().length === 0) this.onEmpty();
    const queue = this.#queue;
    // Deadlines mostly arrive in order: append, and walk back only when an earlier one arrives late.
    let i = queue.length;
    while (i > this.#head && queue[i - 1]!.deadlineMs > q.deadlineMs) i--;
    if (i === queue.length) queue.push(q);
    else queue.splice(i, 0, q);
    this.#queuedRows += q.rows.length;
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
      const retry = this.#isolation.next();
      if (retry) {
        // A suspect of a hang goes even when its query is settled: finding the input that hangs is the point.
        const parts = retry.suspect ? retry.parts : this.#live(retry.parts);
        if (parts.length > 0) this.#dispatch(replica, parts, retry.level, undefined);
        continue;
      }
      const { batch, full } = this.#takeBatch(replica);
      if (batch.length === 0) return;
      this.#dispatch(replica, wholeParts(batch), 0, full);
    }
  }

  /**
   * A slow model gets two batches in flight too while the queue is shedding queries (overload): then the replica then never waits for the server to read its answer and send the next.
   */
  #pickReplica(): Replica | undefined {
    const backedUp = performance.now() - this.#lastShedMs < OVERLOAD_MEMORY_MS;
    const inflight = backedUp ? BACKED_UP_INFLIGHT_BATCHES : this.#predictMicros < SLOW_PREDICT_MICROS ? MAX_INFLIGHT_BATCHES : 1;
    let best: Replica | undefined;
    for (const r of this.#replicas()) {
      if (r.state !== "ready" || r.inflightBatches >= inflight) continue;
      if (!best || r.outstandingRows < best.outstandingRows) best = r;
    }
    return best;
  }

  /**
   * Takes the batch the scheduler chose; the queries it found unable to make their deadline are answered
   * now, with how long they waited and what a batch takes. The batch is full when the size limit bound it.
   */
  #takeBatch(replica: Replica): { batch: QueuedQuery[]; full: boolean } {
    const now = performance.now();
    this.#dropGone(now);
    const queue = this.#queue;
    const plan = planBatch(queue, this.#head, this.#queuedRows, now, this.#estimator(replica), this.#maxRows);
    for (let s = 0; s < plan.shed; s++) {
      const q = queue[this.#head++]!;
      this.#queuedRows -= q.rows.length;
      q.reject(this.#cannotMakeIt(q, now));
    }
    if (plan.shed > 0) {
      this.#lastShedMs = now;
      this.#observer?.onShed(this.key, "deadline", plan.shed);
    }
    let batch: QueuedQuery[];
    if (plan.newestFirst) {
      batch = queue.splice(queue.length - plan.take, plan.take).reverse();
    } else {
      batch = queue.slice(this.#head, this.#head + plan.take);
      this.#head += plan.take;
    }
    this.#queuedRows -= plan.rows;
    let gone = 0;
    for (const q of batch) {
      if (q.signal?.aborted) gone++;
      else this.#observer?.onQueueWait(this.key, (now - q.enqueuedMs) / 1000);
    }
    if (gone > 0) {
      batch = batch.filter((q) => !q.signal?.aborted || (q.reject(CLIENT_GONE), false));
      this.#observer?.onClientGone(this.key, gone);
    }
    const full = plan.rows >= this.batchSize || (plan.take > 0 && this.#head < queue.length);
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    return { batch, full };
  }

  /** Settles the queries at the head whose client has gone (they are never predicted). */
  #dropGone(now: number): void {
    const queue = this.#queue;
    let gone = 0;
    while (this.#head < queue.length) {
      const q = queue[this.#head]!;
      if (!q.signal?.aborted && q.deadlineMs > now) break;
      this.#head++;
      this.#queuedRows -= q.rows.length;
      if (q.signal?.aborted) {
        gone++;
        q.reject(CLIENT_GONE);
      } else {
        q.reject(this.#cannotMakeIt(q, now));
      }
    }
    if (gone > 0) this.#observer?.onClientGone(this.key, gone);
  }

  #cannotMakeIt(q: QueuedQuery, now: number): ShedError {
    const takes = this.#latency.estimateMs(q.rows.length);
    return new ShedError(
      "deadline",
      `deadline: cannot be met (waited ${Math.round(now - q.enqueuedMs)} ms, a batch takes ~${Math.max(1, Math.round(takes))} ms)`,
    );
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

  /**
   * Sends parts of queries as one batch: a fresh batch (`full` says whether the size limit bound it, for the
   * batch-size controller) or the retry of a failed one at split `level`.
   */
  #dispatch(replica: Replica, parts: Part[], level: number, full: boolean | undefined, after?: (hung: boolean) => void): void {
    const started = performance.now();
    const packed = packBatch(this.inputType, partRows(parts));
    const watched = this.#inflight.watch(replica, parts, started, this.hangThresholdMs);
    const sent = this.#clock.sent(replica, started, this.#latency.known ? this.#latency.modelMs(packed.rows) : 0);
    this.#lastSentMs = started;
    replica.predict(packed.message, packed.rows).then(
      (result) => {
        const now = performance.now();
        this.#inflight.answered(watched, now);
        this.#clock.answered(replica, sent, now);
        this.#answered(parts, packed.rows, started, full, result);
        after?.(false);
      },
      (err: Error) => {
        const now = performance.now();
        this.#inflight.answered(watched, now);
        this.#clock.answered(replica, sent, now, true);
        this.#failed(parts, level, full, watched.hung ? watched : undefined, err);
        after?.(watched.hung);
      },
    );
  }

  /** A batch answered: its queries settle (per row once runtimes answer per-row errors), the model's speed is learned. */
  #answered(parts: readonly Part[], rows: number, startedMs: number, full: boolean | undefined, result: PredictResult): void {
    const now = performance.now();
    const latencyMs = now - startedMs;
    this.#isolation.answered(now);
    this.#latency.observe(rows, result.predictMicros / 1000, latencyMs);
    const first = parts[0]!.q.rows[parts[0]!.from]!;
    // A typed row is a view into its request's body: kept as a copy, so the body can go.
    this.lastRow = ArrayBuffer.isView(first) && !(first instanceof Uint8Array) ? first.slice() : first;
    if (full !== undefined) {
      let slo = Infinity;
      for (const p of parts) if (p.q.sloMicros < slo) slo = p.q.sloMicros;
      this.batchSize = nextBatchSize(this.batchSize, full, latencyMs * 1000, slo, this.#ceiling);
    }
    this.#predictMicros += (result.predictMicros - this.#predictMicros) / 8;
    this.#observer?.onBatch(this.key, rows, latencyMs * 1000, result.predictMicros);
    // The replica is free: what waits goes to it now, before this batch's answers are written, so the
    // model works while the server answers instead of after.
    this.#flush();
    // Rows the runtime isolated itself (protocol version 2) come back as RowFailures in their place.
    if (result.failedRows > 0) this.#observer?.onRowsFailed(this.key, result.failedRows);
    let start = 0;
    for (const p of parts) {
      settlePart(p, result.outputs, start);
      start += p.to - p.from;
    }
  }

  #failed(parts: Part[], level: number, full: boolean | undefined, hang: InFlight<Replica, Part[]> | undefined, err: Error): void {
    const now = performance.now();
    if (hang) {
      this.#hung(parts, hang, now);
    } else if (err instanceof ModelRaisedError) {
      this.#isolation.raised(parts, level, err, now);
    } else if (full !== undefined && err instanceof ReplicaExitError) {
      // A dead replica's queries get one more try on another replica while their deadline allows.
      const retry: QueuedQuery[] = [];
      for (const { q } of parts) {
        if (!q.retried && q.deadlineMs > now) {
          q.retried = true;
          retry.push(q);
        } else {
          q.reject(err);
        }
      }
      if (retry.length) {
        this.#queue = retry.concat(this.#queue.slice(this.#head));
        this.#head = 0;
        for (const q of retry) this.#queuedRows += q.rows.length;
      }
    } else {
      for (const p of parts) p.q.reject(err);
    }
    this.#schedule();
  }

  /**
   * A batch hung: one row alone is quarantined (its query gets the default); more go again one by one to a
   * probe (probe.ts), so that the one that hangs again blocks none of the traffic.
   */
  #hung(parts: Part[], hang: InFlight<Replica, Part[]>, now: number): void {
    if (rowCount(parts) > 1) {
      this.#probe.add(parts);
      return;
    }
    const p = parts[0]!;
    const seconds = ((now - hang.startedMs) / 1000).toFixed(1);
    const reason = `quarantined: this input made model ${this.key} hang for ${seconds} s`;
    this.#quarantine.add(rowKey(p.q.rows[p.from]!), reason, now);
    this.#observer?.onQuarantine(this.key, reason);
    failPart(p, new ShedError("quarantined", reason));
  }

  /** The watchdog found `batch` running past its threshold: its replica is killed (the batch then fails as a hang). */
  #onHang(batch: InFlight<Replica, Part[]>): void {
    this.hangs++;
    const rows = rowCount(batch.batch);
    const detail = `hung: the runtime did not answer a batch of ${rows} row${rows === 1 ? "" : "s"} within ${Math.round(batch.thresholdMs)} ms (the watchdog's threshold for model ${this.key})`;
    this.#observer?.onHang(this.key, batch.replica.id, detail);
    batch.replica.hung = true;
    batch.replica.kill(detail);
  }
}
