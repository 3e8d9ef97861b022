/**
 * The autoscaler's decision for one model version (pure): add a replica when the queue's wait approaches the
 * SLO, go down to what was busy after a calm window, go to zero after the idle timeout (min 0).
 * Hysteresis: up needs the head of the queue to have waited UP_PRESSURE of its SLO while every replica is busy
 * (a query that waits beside an idle replica was held up by something another replica would not fix: a pause of
 * the server or of the machine); down needs a whole
 * window in which fewer replicas than run were busy and the queue stayed below DOWN_PRESSURE, so the two
 * never trade places from one sample to the next.
 */

/** Up when the oldest waiting query has used this share of its SLO waiting. */
export const UP_PRESSURE = 0.5;
/** Down only while the oldest waiting query has used less than this share. */
export const DOWN_PRESSURE = 0.1;
/** After a replica joined, the queue gets this long to feel it before another is added. */
export const UP_COOLDOWN_MS = 1000;

export interface ScaleInput {
  readonly nowMs: number;
  /** Replicas routed to (ready or starting). */
  readonly replicas: number;
  /** Of them, those still starting. */
  readonly starting: number;
  readonly min: number;
  readonly max: number;
  /** Wait of the oldest waiting query over its SLO (0 with nothing waiting). */
  readonly pressure: number;
  /** That wait, in ms (for the reason). */
  readonly waitMs: number;
  /** Admission control refused a query just now: the queue was too long for it to fit in its SLO. */
  readonly shed?: boolean;
  /** Replicas with a batch in flight now. */
  readonly busy: number;
  /** Nothing waits and no batch is in flight. */
  readonly queueIdle: boolean;
  readonly lastQueryMs: number;
  /** The most replicas busy at once over the last `scaleDownAfterMs`. */
  readonly peakBusy: number;
  /** When the replica count last changed. */
  readonly lastChangeMs: number;
  readonly idleTimeoutMs: number;
  readonly scaleDownAfterMs: number;
}

export type ScaleDecision =
  | { readonly action: "up"; readonly to: number; readonly reason: string }
  | { readonly action: "down"; readonly to: number; readonly reason: string }
  | { readonly action: "zero"; readonly to: 0; readonly reason: string };

export function decide(s: ScaleInput): ScaleDecision | undefined {
  if (s.replicas === 0) return undefined; // A query brings the first replica back (a cold start), not the tick.
  if (s.starting === 0 && s.replicas < s.max && s.busy >= s.replicas && s.pressure >= UP_PRESSURE && s.nowMs - s.lastChangeMs >= UP_COOLDOWN_MS) {
    return {
      action: "up",
      to: s.replicas + 1,
      reason: s.shed
        ? "admission control refused queries: the queue could not answer them within their SLO"
        : `the oldest query waited ${Math.round(s.waitMs)} ms, ${Math.round(s.pressure * 100)}% of its SLO`,
    };
  }
  const idleMs = s.nowMs - s.lastQueryMs;
  if (s.min === 0 && s.starting === 0 && s.queueIdle && idleMs >= s.idleTimeoutMs) {
    return { action: "zero", to: 0, reason: `no query for ${Math.round(idleMs / 1000)} s (idle timeout ${Math.round(s.idleTimeoutMs / 1000)} s)` };
  }
  const floor = Math.max(s.min, 1, s.peakBusy);
  if (s.replicas > floor && s.starting === 0 && s.pressure < DOWN_PRESSURE && s.nowMs - s.lastChangeMs >= s.scaleDownAfterMs) {
    return {
      action: "down",
      to: floor,
      reason: `at most ${s.peakBusy} of ${s.replicas} replicas were busy over the last ${Math.round(s.scaleDownAfterMs / 1000)} s`,
    };
  }
  return undefined;
}

/** The most busy replicas in samples no older than `windowMs` (samples are appended in time order; old ones are dropped). */
export class BusyWindow {
  #samples: { atMs: number; busy: number }[] = [];

  add(atMs: number, busy: number, windowMs: number): void {
    this.#samples.push({ atMs, busy });
    let drop = 0;
    while (drop < this.#samples.length && this.#samples[drop]!.atMs < atMs - windowMs) drop++;
    if (drop) this.#samples.splice(0, drop);
  }

  get peak(): number {
    let peak = 0;
    for (const s of this.#samples) if (s.busy > peak) peak = s.busy;
    return peak;
  }
}
