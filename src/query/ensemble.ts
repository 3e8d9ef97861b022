/**
 * The ensemble policy's query path (Clipper's model selection layer with straggler mitigation): every linked
 * model's current version is asked, each through its own cache and queue, against the same deadline; the
 * answer is the weighted vote of those that answered in time, with its confidence. A model whose recent
 * answers all came too late is not fed the query (StragglerGuard); a late answer is still timed when it comes.
 * Below the app's minimum confidence, or with no vote at all, the row gets the default with the reason.
 */
import type { ModelChoice, Row } from "../domain.ts";
import type { StragglerGuard } from "../policy/straggler.ts";
import { ABSTAIN, type Ballot, lowConfidenceReason, type VoteInfo, weightedVote } from "../policy/vote.ts";
import type { Outcome } from "./processor.ts";

/** Asks one model for rows against the deadline; `answered` is called when its answer (or failure) comes, even late. */
export type AskModel = (choice: ModelChoice, answered: (() => void) | undefined) => Outcome[] | Promise<Outcome[]>;

/**
 * Asks each of `models` that can answer in time (every model without a guard) and gives each model's outcomes,
 * in link order; a model left out gets `rows` outcomes saying why. Settles by the deadline at the latest,
 * since each model's own answer does.
 */
export function askModels(
  models: readonly ModelChoice[],
  rows: number,
  deadlineMs: number,
  ask: AskModel,
  guard: StragglerGuard | undefined,
): Outcome[][] | Promise<Outcome[][]> {
  const now = performance.now();
  const results: (Outcome[] | Promise<Outcome[]>)[] = new Array(models.length);
  let pending = false;
  for (let i = 0; i < models.length; i++) {
    const m = models[i]!;
    if (guard && !guard.shouldAsk(m.key, deadlineMs - now, now)) {
      const skipped: Outcome = {
        ok: false,
        reason: `model ${m.key} was not asked: its recent answers took ${Math.round(guard.fastestMs(m.key)!)} ms or more, longer than the ${Math.max(0, Math.round(deadlineMs - now))} ms left`,
      };
      results[i] = new Array(rows).fill(skipped);
      continue;
    }
    const result = ask(m, guard && (() => guard.observe(m.key, performance.now() - now)));
    if (!Array.isArray(result)) pending = true;
    results[i] = result;
  }
  return pending ? Promise.all(results) : (results as Outcome[][]);
}

/** Each row's weighted vote over the models' outcomes (`byModel[i][row]`), with the confidence rule applied. */
export function combineVotes(
  models: readonly ModelChoice[],
  byModel: readonly (readonly Outcome[])[],
  weights: readonly number[],
  rows: number,
  minConfidence: number,
): Outcome[] {
  const outcomes: Outcome[] = new Array(rows);
  const ballots: Ballot[] = new Array(models.length);
  for (let r = 0; r < rows; r++) {
    const answeredBy: string[] = [];
    for (let i = 0; i < models.length; i++) {
      const o = byModel[i]![r]!;
      ballots[i] = o.ok ? o.output : ABSTAIN;
      if (o.ok) answeredBy.push(models[i]!.key);
    }
    const vote = weightedVote(ballots, weights);
    if (!vote) {
      outcomes[r] = { ok: false, reason: noVoteReason(models, byModel, r), vote: { confidence: 0, answeredBy, total: models.length } };
      continue;
    }
    const info: VoteInfo = { confidence: vote.confidence, answeredBy, total: models.length };
    outcomes[r] =
      vote.confidence < minConfidence
        ? { ok: false, reason: lowConfidenceReason(vote.confidence, minConfidence), vote: info }
        : { ok: true, output: vote.output, vote: info };
  }
  return outcomes;
}

/** `no model of the ensemble answered (a:1: no prediction within …; s:1: was not asked …)`, the distinct reasons. */
function noVoteReason(models: readonly ModelChoice[], byModel: readonly (readonly Outcome[])[], row: number): string {
  if (models.length === 0) return "no model is linked to the ensemble";
  const reasons: string[] = [];
  for (let i = 0; i < models.length && reasons.length < 4; i++) {
    const o = byModel[i]![row]!;
    if (!o.ok) reasons.push(o.reason.startsWith(`model ${models[i]!.key}`) ? o.reason : `${models[i]!.key}: ${o.reason}`);
  }
  return `no model of the ensemble answered (${reasons.join("; ")})`;
}

/** Rows through every model to one voted outcome each. */
export function ensembleOutcomes(
  models: readonly ModelChoice[],
  weights: readonly number[],
  minConfidence: number,
  rows: readonly Row[],
  deadlineMs: number,
  ask: AskModel,
  guard: StragglerGuard,
): Outcome[] | Promise<Outcome[]> {
  const asked = askModels(models, rows.length, deadlineMs, ask, guard);
  return Array.isArray(asked)
    ? combineVotes(models, asked, weights, rows.length, minConfidence)
    : asked.then((byModel) => combineVotes(models, byModel, weights, rows.length, minConfidence));
}
