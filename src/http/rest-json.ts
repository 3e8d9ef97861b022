/**
 * Clipper's REST JSON protocol over the query core: `{"input": ...}` / `{"input_batch": [...]}` bodies in,
 * `{"query_id", "output", "default", ...}` text out; and the feedback route. Only parsing and writing JSON
 * live here: the answers come from the transport-free QueryProcessor.
 */
import { bearerToken } from "../auth.ts";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { BadRequestError } from "../errors.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { parseJsonBody, parseQuery, parseQueryBody } from "../query/input.ts";
import type { Answered, Outcome, QueryProcessor } from "../query/processor.ts";
import type { AppRoute } from "../query/snapshot.ts";

export class RestJson {
  #nextQueryId = 0;
  /** JSON of recent string outputs: a classifier answers the same few labels over and over. */
  readonly #outputJsonMemo = new Map<string, string>();

  constructor(
    private readonly processor: QueryProcessor,
    private readonly cache: PredictionCache,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Answers one predict body for `appName` with the JSON text of the response (at once when every row was
   * cached). The model is chosen first, so rows are checked against the width it declared as they are parsed.
   */
  predict(
    appName: string,
    bodyText: string,
    arrivalMs: number,
    requestId: string,
    authorization: string | null,
    signal?: AbortSignal,
  ): string | Promise<string> {
    const route = this.processor.route(appName, bearerToken(authorization));
    const choice = this.processor.choose(route);
    const queue = this.processor.queueOf(choice);
    let parsed;
    try {
      parsed = parseQuery(bodyText, route.app.inputType, this.cache.enabled && route.app.cache, queue?.shape);
    } catch (err) {
      this.metrics.onRejected(appName);
      throw err;
    }
    const answered = this.processor.answerChosen(route, parsed, arrivalMs, choice, queue, { signal, requestId });
    return "outcomes" in answered ? this.#respond(route, parsed.batch, answered) : answered.then((a) => this.#respond(route, parsed.batch, a));
  }

  /** Clipper's feedback route: `{"input": ..., "label": ...}`; answers the rewards and the weights. */
  async update(appName: string, bodyText: string, arrivalMs: number, authorization: string | null): Promise<string> {
    const route = this.processor.route(appName, bearerToken(authorization));
    const body = parseJsonBody(bodyText, route.app.inputType);
    const parsed = parseQueryBody(body, route.app.inputType);
    const label = (body as { label?: unknown }).label;
    if (parsed.batch || (typeof label !== "string" && typeof label !== "number")) {
      throw new BadRequestError("feedback needs one 'input' and a 'label' (a string or a number)", '{"input": [...], "label": "1"}');
    }
    const { rewards, weights } = await this.processor.feedback(route, parsed, label, arrivalMs);
    return JSON.stringify({ app_name: appName, rewards: Object.fromEntries(rewards), weights: weights ?? null });
  }

  #respond(route: AppRoute, batch: boolean, { outcomes, choice }: Answered): string {
    const model = choice?.json ?? "null";
    if (!batch) return this.#answer(route, outcomes[0]!, model);
    // One join of the parts: appending answer by answer builds a rope that costs twice as much to flatten.
    const parts = new Array<string>(outcomes.length);
    for (let i = 0; i < outcomes.length; i++) parts[i] = this.#answer(route, outcomes[i]!, model);
    return `{"batch_predictions":[${parts.join(",")}]}`;
  }

  #outputJson(output: unknown): string {
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
    if (outcome.ok) return `{"query_id":${id},"output":${this.#outputJson(outcome.output)},"default":false,"model":${modelJson}}`;
    return `{"query_id":${id},"output":${route.defaultOutputJson},"default":true,"default_explanation":${JSON.stringify(outcome.reason)}}`;
  }
}
