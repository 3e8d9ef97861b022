/**
 * The ensemble's weighted vote (Clipper's Exp4 combiner): the answer that most of the ensemble's weight agrees
 * on, and its confidence, the share of the ensemble's whole weight that voted for it. A model that did not
 * answer (missed the deadline, failed, or was not asked) counts as not agreeing. Pure.
 */
import { plainOutput } from "../domain.ts";

/** What one answer of the ensemble carries beside its output. */
export interface VoteInfo {
  /** Share of the ensemble's total weight that voted for the answer, 0..1. */
  readonly confidence: number;
  /** Keys (`name:version`) of the models that answered in time, in link order. */
  readonly answeredBy: readonly string[];
  /** Models in the ensemble. */
  readonly total: number;
}

/** Marks a model that gave no answer for a row. */
export const ABSTAIN: unique symbol = Symbol("abstain");
export type Ballot = unknown | typeof ABSTAIN;

export interface Vote {
  readonly output: unknown;
  readonly confidence: number;
}

/** Outputs compare by value: strings as they are, anything else by its JSON. */
function ballotKey(packedOrPlain: unknown): string {
  const output = plainOutput(packedOrPlain);
  return typeof output === "string" ? `s${output}` : `j${JSON.stringify(output)}`;
}

/**
 * The weighted vote over `ballots` (one per model, in link order) with `weights` (one per model). Ties go to
 * the answer whose first voter comes first in link order. Undefined when nobody voted. Weights that are all
 * zero (or missing) count as equal.
 */
export function weightedVote(ballots: readonly Ballot[], weights: readonly number[]): Vote | undefined {
  let total = 0;
  for (let i = 0; i < ballots.length; i++) total += weightOf(weights, i);
  const equal = !(total > 0);
  if (equal) total = ballots.length;
  const sums = new Map<string, { output: unknown; weight: number }>();
  let best: { output: unknown; weight: number } | undefined;
  for (let i = 0; i < ballots.length; i++) {
    const b = ballots[i];
    if (b === ABSTAIN) continue;
    const key = ballotKey(b);
    let s = sums.get(key);
    if (!s) sums.set(key, (s = { output: b, weight: 0 }));
    s.weight += equal ? 1 : weightOf(weights, i);
    if (!best || s.weight > best.weight) best = s;
  }
  return best && { output: best.output, confidence: total > 0 ? best.weight / total : 0 };
}

function weightOf(weights: readonly number[], i: number): number {
  const w = weights[i];
  return w !== undefined && Number.isFinite(w) && w > 0 ? w : 0;
}

/** `confidence 0.50 below 0.90`: the reason a low-confidence answer is the default. */
export function lowConfidenceReason(confidence: number, minConfidence: number): string {
  return `confidence ${confidence.toFixed(2)} below ${minConfidence.toFixed(2)}`;
}
