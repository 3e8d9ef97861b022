/**
 * What a model version's batches cost, learned from the batches it answered, each as a fixed part plus a
 * part per row fitted with exponential forgetting: the model's own time (the predict time the runtime
 * reports), which is the drain rate (batches queue in the runtime back to back), and the round trip from
 * send to answer as batches go now (behind the batch in flight, through a busy event loop), which is when
 * a batch sent now comes back; and a recent high (the 99th percentile of round trips) for the hang
 * watchdog. Nothing here reads a clock.
 */

/** Weight kept by the older observations at each new one: about the last 20 batches count. */
const FORGET = 0.95;
/** A batch this many times faster than the fit expected starts the fit over (a first call that loaded lazily, a stall that ended). */
const RESET_FASTER = 10;
/** Batches observed before the estimates are used. */
const KNOWN_AFTER = 8;
/** Batch times remembered for the percentile. */
const WINDOW = 128;

/** A line (ms = fixed + perRow × rows) fitted with exponential forgetting. */
class LineFit {
  #n = 0;
  #sx = 0;
  #sy = 0;
  #sxx = 0;
  #sxy = 0;
  fixedMs = 0;
  perRowMs = 0;

  add(rows: number, ms: number): void {
    if (this.#n > 0 && ms * RESET_FASTER < this.at(rows)) this.#n = this.#sx = this.#sy = this.#sxx = this.#sxy = 0;
    this.#n = this.#n * FORGET + 1;
    this.#sx = this.#sx * FORGET + rows;
    this.#sy = this.#sy * FORGET + ms;
    this.#sxx = this.#sxx * FORGET + rows * rows;
    this.#sxy = this.#sxy * FORGET + rows * ms;
    this.#fit();
  }

  at(rows: number): number {
    return this.fixedMs + this.perRowMs * rows;
  }

  #fit(): void {
    const n = this.#n;
    const meanX = this.#sx / n;
    const meanY = this.#sy / n;
    const varX = this.#sxx / n - meanX * meanX;
    // Batches of (nearly) one size say nothing of how the time grows: the time is taken as proportional to the rows.
    if (varX < 0.25 || meanX <= 0) {
      this.fixedMs = 0;
      this.perRowMs = meanX > 0 ? meanY / meanX : meanY;
      return;
    }
    const slope = (this.#sxy / n - meanX * meanY) / varX;
    if (slope <= 0) {
      // Bigger batches were not slower (noise, or a model whose cost is per call): a fixed cost.
      this.fixedMs = meanY;
      this.perRowMs = 0;
      return;
    }
    const intercept = meanY - slope * meanX;
    this.fixedMs = Math.max(0, intercept);
    this.perRowMs = intercept >= 0 ? slope : meanY / meanX;
  }
}

export class BatchLatency {
  /** The model's own time per batch. */
  readonly #model = new LineFit();
  /** Send to answer, as batches go now (behind the batch in flight, through a busy event loop). */
  readonly #roundTrip = new LineFit();
  readonly #window = new Float64Array(WINDOW);
  #seen = 0;
  #p99Ms = 0;
  #p99Stale = false;

  /**
   * True once enough batches were observed to go by: before that every query is admitted and sent (a
   * version's first calls are often slow: lazy imports, cold caches), and the deadline alone decides.
   */
  get known(): boolean {
    return this.#seen >= KNOWN_AFTER;
  }

  /**
   * One answered batch of `rows` rows: the model took `modelMs` (what the runtime reported; 0 when it reports
   * nothing, then the round trip counts as the model's), and it came back `roundTripMs` after it was sent.
   */
  observe(rows: number, modelMs: number, roundTripMs: number): void {
    this.#model.add(rows, modelMs > 0 && modelMs <= roundTripMs ? modelMs : roundTripMs);
    this.#roundTrip.add(rows, roundTripMs);
    this.#window[this.#seen++ % WINDOW] = roundTripMs;
    this.#p99Stale = true;
  }

  /** The model's expected ms for a batch of `rows` rows (0 while nothing is known): what drains the queue. */
  modelMs(rows: number): number {
    return this.#model.at(rows);
  }

  /** Expected ms from sending a batch of `rows` rows to its answer (0 while nothing is known). */
  estimateMs(rows: number): number {
    return this.#roundTrip.at(rows);
  }

  /** The most rows a batch may hold to come back within `ms` (at least 1; `ceiling` while nothing is known). */
  rowsWithin(ms: number, ceiling: number): number {
    const fit = this.#roundTrip;
    if (!this.known || fit.perRowMs <= 0) return ceiling;
    return Math.max(1, Math.min(ceiling, Math.floor((ms - fit.fixedMs) / fit.perRowMs)));
  }

  /** The 99th percentile of the recent round trips (ms). */
  get p99Ms(): number {
    if (this.#p99Stale) {
      this.#p99Ms = quantile(this.#window.subarray(0, Math.min(this.#seen, WINDOW)), 0.99);
      this.#p99Stale = false;
    }
    return this.#p99Ms;
  }
}

/** The q-quantile of `values` (nearest rank: the smallest value with at least q of them at or below it); 0 when empty. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Answer-time errors remembered for the margin. */
const ERROR_WINDOW = 64;
/** The share of recent batches whose answer the margin covers. */
const MARGIN_QUANTILE = 0.95;

/** A batch in flight on one replica, as the clock predicted it. */
export interface Sent {
  /** The model's expected ms for the batch. */
  readonly modelMs: number;
  /** performance.now() at which its answer is expected, without the margin (moved as the batches ahead come back). */
  expectedMs: number;
}

/**
 * When each replica's answers come back. A runtime works its batches one after another, so a batch sent
 * now starts when the batches ahead of it on that replica are done and comes back the model's time for its
 * rows later: `finishMs`. The clock is re-anchored at every answer (the replica's next batch started then),
 * and the margin is a high quantile of how late answers came against that (a busy event loop reading the
 * answer late, a model slower than usual): a batch is sent only when its rows' deadlines cover both.
 */
export class ReplicaClock {
  readonly #inflight = new WeakMap<object, Sent[]>();
  readonly #errors = new Float64Array(ERROR_WINDOW);
  #seen = 0;
  #marginMs = 0;
  #marginStale = false;

  /** performance.now() at which `replica` is expected to have finished what it was sent (≤ now when idle). */
  freeAtMs(replica: object, nowMs: number): number {
    const ahead = this.#inflight.get(replica);
    if (!ahead || ahead.length === 0) return nowMs;
    return ahead[ahead.length - 1]!.expectedMs;
  }

  /** Ms from now until `replica` has done what it was sent (0 when idle). */
  aheadMs(replica: object, nowMs: number): number {
    return Math.max(0, this.freeAtMs(replica, nowMs) - nowMs);
  }

  /**
   * Expected ms from now to the answer of a batch whose model time is `modelMs`, sent behind `aheadMs` of
   * work: with the margin when work is ahead (an idle replica takes what is expected to make it: the margin
   * decides between rows, never for idleness), and without it when `margin` is false.
   */
  finishMs(aheadMs: number, modelMs: number, margin = true): number {
    return aheadMs + (margin && aheadMs > 0 ? this.marginMs : 0) + modelMs;
  }

  /** A batch went to `replica`; the token goes back to `answered`. */
  sent(replica: object, nowMs: number, modelMs: number): Sent {
    let ahead = this.#inflight.get(replica);
    if (!ahead) this.#inflight.set(replica, (ahead = []));
    const start = Math.max(nowMs, ahead.length > 0 ? ahead[ahead.length - 1]!.expectedMs : nowMs);
    const s: Sent = { modelMs, expectedMs: start + modelMs };
    ahead.push(s);
    return s;
  }

  /** The batch `s` came back (or failed) at `nowMs`: its error is learned and the batches behind it re-anchored. */
  answered(replica: object, s: Sent, nowMs: number, failed = false): void {
    const ahead = this.#inflight.get(replica);
    if (!ahead) return;
    const at = ahead.indexOf(s);
    if (at < 0) return;
    ahead.splice(at, 1);
    // A batch sent before the model's speed was known (modelMs 0) says nothing of the clock's error.
    if (!failed && s.modelMs > 0) {
      this.#errors[this.#seen++ % ERROR_WINDOW] = nowMs - s.expectedMs;
      this.#marginStale = true;
    }
    // The batches still ahead started when this one ended: they come back their model time after now.
    let t = nowMs;
    for (let i = at; i < ahead.length; i++) {
      t += ahead[i]!.modelMs;
      ahead[i]!.expectedMs = t;
    }
  }

  /** How late answers come against the clock: the 95th percentile of the recent errors, at least 0 (ms). */
  get marginMs(): number {
    if (this.#marginStale) {
      const n = Math.min(this.#seen, ERROR_WINDOW);
      this.#marginMs = Math.max(0, quantile(this.#errors.subarray(0, n), MARGIN_QUANTILE));
      this.#marginStale = false;
    }
    return this.#marginMs;
  }
}
