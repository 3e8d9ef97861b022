/**
 * Adaptive batch size (additive increase, multiplicative decrease) against a latency SLO.
 * Pure: the state is a number in, a number out, so the rule is testable on its own.
 */

export interface BatchSizeRule {
  /** Grow while a full batch took less than this fraction of the SLO. */
  readonly growBelow: number;
  /** Cut back when a batch took more than this fraction of the SLO. */
  readonly shrinkAbove: number;
  readonly step: number;
  readonly backoff: number;
}

export const DEFAULT_RULE: BatchSizeRule = { growBelow: 0.25, shrinkAbove: 0.5, step: 4, backoff: 0.75 };

/**
 * Next maximum batch size after a batch took `latencyMicros` under an SLO of `sloMicros`. `full` says the
 * limit was binding: the batch reached it, or the next waiting query did not fit (a request's rows travel
 * together, so a batch of 100-row requests under a limit of 104 holds 100 rows and is still full).
 * Grows only then, so a quiet queue does not inflate the limit.
 */
export function nextBatchSize(
  current: number,
  full: boolean,
  latencyMicros: number,
  sloMicros: number,
  ceiling: number,
  rule: BatchSizeRule = DEFAULT_RULE,
): number {
  if (latencyMicros > sloMicros * rule.shrinkAbove) {
    return Math.max(1, Math.floor(current * rule.backoff));
  }
  if (full && latencyMicros < sloMicros * rule.growBelow) {
    return Math.min(ceiling, current + rule.step);
  }
  return current;
}
