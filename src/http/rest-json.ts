/**
 * Clipper's REST JSON protocol over the query core: `{"input": ...}` / `{"input_batch": [...]}` bodies in,
 * `{"query_id", "output", "default", ...}` text out; and the feedback route. Only parsing and writing JSON
 * live here: the answers come from the transport-free QueryProcessor.
 */
import { bearerToken } from "../auth.ts";
import { BadRequestError } from "../errors.ts";
import { plainOutput } from "../domain.ts";
import { type ParsedQuery, parseJsonBody, parseQuery, parseQueryBody } from "../query/input.ts";
import type { LabelledQuery, Outcome, Predicted, QueryParser, QueryProcessor } from "../query/processor.ts";
import type { AppRoute } from "../query/snapshot.ts";

export class RestJson {
  #nextQueryId = 0;
  /** JSON of recent string outputs: a classifier answers the same few labels over and over. */
  readonly #outputJsonMemo = new Map<string, string>();

  constructor(private readonly processor: QueryProcessor) {}

  /**
   * Answers one predict body for `appName` with the JSON text of the response (at once when every row was
   * cached). The core chooses the model first, so rows are checked against the width it declared as they are parsed.
   */
  predict(
    appName: string,
    bodyText: string,
    arrivalMs: number,
    requestId: string,
    authorization: string | null,
    signal?: AbortSignal,
    deadlineMs?: number,
  ): string | Promise<string> {
    const answered = this.processor.predict({
      app: appName,
      token: bearerToken(authorization),
      body: bodyText,
      parse: parseRest,
      arrivalMs,
      signal,
      requestId,
      deadlineMs,
    });
    return "outcomes" in answered ? this.#respond(answered) : answered.then((a) => this.#respond(a));
  }

  /** Clipper's feedback route: `{"input": ..., "label": ...}`; answers the rewards and the weights. */
  async update(appName: string, bodyText: string, arrivalMs: number, authorization: string | null): Promise<string> {
    const { rewards, weights } = await this.processor.feedback({
      app: appName,
      token: bearerToken(authorization),
      body: bodyText,
      parse: parseFeedback,
      arrivalMs,
    });
    return JSON.stringify({ app_name: appName, rewards: Object.fromEntries(rewards), weights: weights ?? null });
  }

  #respond({ route, query, outcomes, choice }: Predicted<ParsedQuery>): string {
    const model = choice?.json ?? "null";
    if (!query.batch) return this.#answer(route, outcomes[0]!, model);
    // One join of the parts: appending answer by answer builds a rope that costs twice as much to flatten.
    const parts = new Array<string>(outcomes.length);
    for (let i = 0; i < outcomes.length; i++) parts[i] = this.#answer(route, outcomes[i]!, model);
    return `{"batch_predictions":[${parts.join(",")}]}`;
  }

  #outputJson(packedOrPlain: unknown): string {
    const output = plainOutput(packedOrPlain);
    if (typeof output !== "string" || output.length > 64) return JSON.stringify(output);
    const memo = this.#outputJsonMemo;
    let json = memo.get(output);
    if (json === undefined) {
      if (memo.size >= 1024) memo.clear();
      memo.set(output, (json = JSON.stringify(output)));
    }
    return json;
  }

  #answer(route: AppRoute, outcome: Outcome, modelJson: string): string {
    const id = this.#nextQueryId++;
    const vote = outcome.vote;
    if (vote) {
      const head = outcome.ok
        ? `{"query_id":${id},"output":${this.#outputJson(outcome.output)},"default":false`
        : `{"query_id":${id},"output":${route.defaultOutputJson},"default":true,"default_explanation":${JSON.stringify(outcome.reason)}`;
      return `${head},"confidence":${vote.confidence},"models_answered":${vote.answeredBy.length},"models_total":${vote.total},"answered_by":${JSON.stringify(vote.answeredBy)}}`;
    }
    if (outcome.ok) return `{"query_id":${id},"output":${this.#outputJson(outcome.output)},"default":false,"model":${modelJson}}`;
    return `{"query_id":${id},"output":${route.defaultOutputJson},"default":true,"default_explanation":${JSON.stringify(outcome.reason)}}`;
  }
}

/** A predict body: `{"input": ...}` or `{"input_batch": [...]}`, each row as wide as the chosen model declared. */
const parseRest: QueryParser<string, ParsedQuery> = (text, route, expect, withKeys) => parseQuery(text, route.app.inputType, withKeys, expect);

/** A feedback body: one `input` and its `label`. */
function parseFeedback(text: string, route: AppRoute): LabelledQuery {
  const body = parseJsonBody(text, route.app.inputType);
  const parsed = parseQueryBody(body, route.app.inputType);
  const label = (body as { label?: unknown }).label;
  if (parsed.batch || (typeof label !== "string" && typeof label !== "number")) {
    throw new BadRequestError("feedback needs one 'input' and a 'label' (a string or a number)", '{"input": [...], "label": "1"}');
  }
  return { ...parsed, label };
}
