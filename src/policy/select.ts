/**
 * Selection policies: pure functions from an app's routing state (and a random number) to the model
 * version that answers. A policy holds no state of its own: split weights and exp3's learned weights
 * live in the registry and reach it through the snapshot.
 *
 * - single: the current version of the one linked model.
 * - split:  weighted random choice among linked models (A/B tests).
 * - exp3:   a bandit; arm probabilities (1-γ)·w/Σw + γ/K, weights learned from feedback.
 * - shadow: the primary answers; the shadow model gets a copy (of a sampled share of queries) off the response path.
 * - ensemble: every linked model answers; the weighted vote wins (vote.ts, exp4.ts). selectModel names the
 *   first linked model, whose declared width the rows are parsed against.
 * exp3 and ensemble keep weights per context too (contexts.ts).
 */

import type { ModelChoice } from "../domain.ts";

export const POLICIES = ["single", "split", "exp3", "shadow", "ensemble"] as const;
export type PolicyName = (typeof POLICIES)[number];

export type { ModelChoice };

export interface AppRouting {
  readonly policy: PolicyName;
  /** Current versions of the linked models that can answer (for shadow: the primary only). */
  readonly candidates: readonly ModelChoice[];
  /** One weight per candidate (split, exp3, ensemble). */
  readonly weights: readonly number[];
  /** shadow: the model that receives copies. */
  readonly shadow: ModelChoice | undefined;
}

/** Exploration rate of exp3. */
export const EXP3_GAMMA = 0.1;
/** Learning rate of the exp3 weight update. */
export const EXP3_ETA = 0.1;

/** The policy's pick; `weights` are a context's own (exp3) when the query named a context that has them. */
export function selectModel(routing: AppRouting, random: number, weights: readonly number[] = routing.weights): ModelChoice | undefined {
  const c = routing.candidates;
  if (c.length <= 1 || routing.policy === "single" || routing.policy === "shadow" || routing.policy === "ensemble") return c[0];
  const p = routing.policy === "exp3" ? exp3Probabilities(weights) : normalize(weights);
  let acc = 0;
  for (let i = 0; i < c.length; i++) {
    acc += p[i]!;
    if (random < acc) return c[i];
  }
  return c[c.length - 1];
}

function normalize(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return total > 0 ? weights.map((w) => w / total) : weights.map(() => 1 / weights.length);
}

export function exp3Probabilities(weights: readonly number[]): number[] {
  const k = weights.length;
  return normalize(weights).map((p) => (1 - EXP3_GAMMA) * p + EXP3_GAMMA / k);
}

/**
 * One feedback step with every arm's reward observed (each linked model is asked about the labelled
 * input): w_i ← w_i · exp(η · r_i), rescaled so the largest weight is 1.
 */
export function exp3Update(weights: readonly number[], rewards: readonly number[]): number[] {
  const next = weights.map((w, i) => w * Math.exp(EXP3_ETA * rewards[i]!));
  const max = Math.max(...next);
  return next.map((w) => w / max);
}
