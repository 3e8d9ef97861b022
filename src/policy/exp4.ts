/**
 * Exp4's weight update for the ensemble: multiplicative weights on each model's loss for one labelled input,
 * w_i ← w_i · exp(−η · loss_i), rescaled so the largest weight is 1. A floor keeps a model that was wrong for a
 * long time able to win its weight back when it improves. Pure.
 */

/** Learning rate of the ensemble's weights: slow enough that a few wrong answers do not silence a good model. */
export const EXP4_ETA = 0.05;
/** The smallest weight relative to the largest. */
export const EXP4_MIN_WEIGHT = 1e-6;

/** `losses[i]` in [0, 1] for model i (0: it was right; 1: wrong, failed or late). */
export function exp4Update(weights: readonly number[], losses: readonly number[], eta = EXP4_ETA): number[] {
  const next = weights.map((w, i) => (w > 0 && Number.isFinite(w) ? w : EXP4_MIN_WEIGHT) * Math.exp(-eta * (losses[i] ?? 1)));
  const max = Math.max(...next);
  return next.map((w) => Math.max(w / max, EXP4_MIN_WEIGHT));
}
