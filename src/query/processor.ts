/**
 * The request path: app lookup → selection policy → cache → batcher → deadline race → response.
 * Invariant: the deadline timer, not the runtime, decides when an answer goes out; a row with no
 * prediction by then gets the app's default output and the reason.
 */
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { createHash, timingSafeEqual } from "node:crypto";
import { BadRequestError, NotFoundError, UnauthorizedError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics, Protocol } from "../metrics/metrics.ts";
import { type ModelChoice, selectModel } from "../policy/select.ts";
import { type ModelQueue, RowFailure } from "../batching/model-queue.ts";
import { parseJsonBody, type ParsedQuery, parseQuery, parseQueryBody, type Row, wrongWidth } from "./input.ts";
import { DeadlineTimers } from "./deadlines.ts";
import type { AppRoute, Snapshot } from "./snapshot.ts";

/** Per-row outcome: the model's output, or why the default went out. */
export type Outcome = { ok: true; output: unknown } | { ok: false; reason: string };

/** How a transport calls the core: its name for the metrics, how its 400s name the rows, and its client's abort signal. */
export interface AnswerOptions {
  readonly protocol?: Protocol;
  /** Names the rows in a wrong-width 400 (`each row of inputs[0]`). */
  readonly field?: string;
  /** Aborts when the client has gone: its queries are dropped before they are sent. */
  readonly signal?: AbortSignal;
}

export interface Answered {
  readonly outcomes: Outcome[];
  /** The model version that answered (undefined when none is linked). */
  readonly choice: ModelChoice | undefined;
}

/** Finds the batching queue of a model version by its key (`name:version`). */
export type QueueLookup = (key: string) => ModelQueue | undefined;

/** Receives the reward of each linked model for one labelled input (exp3 learns from it). */
export type FeedbackSink = (app: string, rewards: ReadonlyMap<string, number>) => Record<string, number> | undefined;

export class QueryProcessor {
  #nextQueryId = 0;
  /** JSON of recent string outputs: a classifier answers the same few labels over and over. */
  readonly #outputJsonMemo = new Map<string, string>();
  readonly #timers = new DeadlineTimers();

  constructor(
    private readonly snapshot: () => Snapshot,
    /** The queue of a running model version (by its key), or undefined: the core knows no runtime, only queues. */
    private readonly queues: QueueLookup,
    private readonly cache: PredictionCache,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly onFeedback: FeedbackSink,
  ) {}

  /**
   * Answers one predict body for `appName` with the JSON text of the response (at once when every row was
   * cached). The model is chosen first, so rows are checked against the width it declared before they queue.
   */
  predict(
    appName: string,
    bodyText: string,
    arrivalMs: number,
    requestId = "",
    authorization: string | null = null,
    signal?: AbortSignal,
  ): string | Promise<string> {
    const route = this.route(appName, authorization);
    const choice = selectModel(route, Math.random());
    const queue = choice && this.queues(choice.key);
    let parsed;
    try {
      parsed = parseQuery(bodyText, route.app.inputType, this.cache.enabled && route.app.cache, queue?.shape);
    } catch (err) {
      this.metrics.onRejected(appName);
      throw err;
    }
    const answered = this.#answerChosen(route, parsed, arrivalMs, choice, queue, !!route.shadow, signal, "rest");
    return "outcomes" in answered
      ? this.#respond(route, parsed.batch, answered, requestId, arrivalMs)
      : answered.then((a) => this.#respond(route, parsed.batch, a, requestId, arrivalMs));
  }

  #respond(route: AppRoute, batch: boolean, { outcomes, choice }: Answered, requestId: string, arrivalMs: number): string {
    this.#logAnswer(route.app.name, requestId, outcomes, choice, arrivalMs);
    const model = choice?.json ?? "null";
    if (!batch) return this.#answer(route, outcomes[0]!, model);
    // One join of the parts: appending answer by answer builds a rope that costs twice as much to flatten.
    const parts = new Array<string>(outcomes.length);
    for (let i = 0; i < outcomes.length; i++) parts[i] = this.#answer(route, outcomes[i]!, model);
    return `{"batch_predictions":[${parts.join(",")}]}`;
  }

  /**
   * The transport-free core of a predict: the policy picks a model (or `pinned` names one), rows are
   * checked against the width it declared (`field` names them in the 400), go through cache and batcher
   * against the app's deadline, and each row gets an outcome.
   */
  answerRows(route: AppRoute, parsed: ParsedQuery, arrivalMs: number, pinned?: ModelChoice, opts: AnswerOptions = {}): Answered | Promise<Answered> {
    const { protocol = "rest", field = "each input row", signal } = opts;
    const choice = pinned ?? selectModel(route, Math.random());
    const queue = choice && this.queues(choice.key);
    const first = parsed.rows[0];
    // The transport counts the rejection (it counts its own parse errors the same way).
    if (queue?.shape && Array.isArray(first) && first.length !== queue.shape.width) throw wrongWidth(field, first.length, queue.shape);
    return this.#answerChosen(route, parsed, arrivalMs, choice, queue, !!route.shadow && !pinned, signal, protocol);
  }

  #answerChosen(
    route: AppRoute,
    parsed: ParsedQuery,
    arrivalMs: number,
    choice: ModelChoice | undefined,
    queue: ModelQueue | undefined,
    withShadow: boolean,
    signal: AbortSignal | undefined,
    protocol: Protocol,
  ): Answered | Promise<Answered> {
    const deadlineMs = arrivalMs + route.app.sloMicros / 1000;
    if (withShadow) this.#shadow(route, choice, route.shadow!, parsed.rows, parsed.keys, deadlineMs);
    const predicted = this.#predictRows(route, choice, queue, parsed.rows, parsed.keys, deadlineMs, signal);
    return Array.isArray(predicted)
      ? this.#answered(route, choice, predicted, arrivalMs, signal, protocol)
      : predicted.then((outcomes) => this.#answered(route, choice, outcomes, arrivalMs, signal, protocol));
  }

  #answered(
    route: AppRoute,
    choice: ModelChoice | undefined,
    outcomes: Outcome[],
    arrivalMs: number,
    signal: AbortSignal | undefined,
    protocol: Protocol,
  ): Answered {
    // Nobody reads the answer of a client that went away: it is neither a prediction nor a default.
    if (signal?.aborted) return { outcomes, choice };
    let defaults = 0;
    for (let i = 0; i < outcomes.length; i++) if (!outcomes[i]!.ok) defaults++;
    this.metrics.onAnswered(route.app.name, outcomes.length, defaults, (performance.now() - arrivalMs) / 1000, protocol);
    return { outcomes, choice };
  }

  /** A warning line (with the request id) when rows got the default; with --log-level debug, a line per query. */
  #logAnswer(app: string, requestId: string, outcomes: readonly Outcome[], choice: ModelChoice | undefined, arrivalMs: number): void {
    let failed: { reason: string } | undefined;
    for (let i = 0; i < outcomes.length && !failed; i++) if (!outcomes[i]!.ok) failed = outcomes[i] as { reason: string };
    if (failed) {
      this.logger.warn("default_answer", failed.reason, { request_id: requestId, app, model: choice?.key, rows: outcomes.length });
    } else if (this.logger.enabled("debug")) {
      this.logger.debug("query", "answered", {
        request_id: requestId,
        app,
        model: choice?.key,
        rows: outcomes.length,
        micros: Math.round((performance.now() - arrivalMs) * 1000),
      });
    }
  }

  /** The route of an app, or 404; 401 when the app has a query token and `authorization` does not carry it. */
  route(appName: string, authorization: string | null = null): AppRoute {
    const route = this.#route(appName);
    if (route.queryTokenHash) checkQueryToken(route, authorization);
    return route;
  }

  /**
   * Clipper's feedback route: `{"input": ..., "label": ...}`. Every linked model is asked about the
   * input; a model whose output equals the label is rewarded 1, others 0.
   */
  async update(appName: string, bodyText: string, arrivalMs: number, authorization: string | null = null): Promise<string> {
    const route = this.route(appName, authorization);
    const body = parseJsonBody(bodyText, route.app.inputType);
    const parsed = parseQueryBody(body, route.app.inputType);
    const label = (body as { label?: unknown }).label;
    if (parsed.batch || (typeof label !== "string" && typeof label !== "number")) {
      throw new BadRequestError("feedback needs one 'input' and a 'label' (a string or a number)", '{"input": [...], "label": "1"}');
    }
    const deadlineMs = arrivalMs + route.app.sloMicros / 1000;
    const queues = route.linked.map((choice) => this.queues(choice.key));
    const row = parsed.rows[0];
    for (const queue of queues) if (queue?.shape && Array.isArray(row) && row.length !== queue.shape.width) throw wrongWidth("input", row.length, queue.shape);
    const rewards = new Map<string, number>();
    await Promise.all(
      route.linked.map(async (choice, i) => {
        const [outcome] = await this.#predictRows(route, choice, queues[i], parsed.rows, parsed.keys, deadlineMs, undefined);
        rewards.set(choice.name, outcome!.ok && sameLabel(outcome!.output, label) ? 1 : 0);
      }),
    );
    const weights = this.onFeedback(appName, rewards);
    return JSON.stringify({ app_name: appName, rewards: Object.fromEntries(rewards), weights: weights ?? null });
  }

  #route(appName: string): AppRoute {
    const route = this.snapshot().apps.get(appName);
    if (!route) throw new NotFoundError(`no application named '${appName}'`, "register it with `clipper register-app` or POST /admin/add_app");
    return route;
  }

  /**
   * One outcome per row. Cached rows answer at once (no timer, no promise when all are cached); a single
   * uncached row shares an identical query in flight; the uncached rows of a batch go as one unit. A row
   * the model raised on alone gets its own default; the others keep their predictions.
   */
  #predictRows(
    route: AppRoute,
    choice: ModelChoice | undefined,
    queue: ModelQueue | undefined,
    rows: readonly Row[],
    keys: readonly string[],
    deadlineMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Outcome[]> | Outcome[] {
    if (!choice) return rows.map(() => ({ ok: false, reason: `no model is linked to application '${route.app.name}'` }));
    const cache = this.cache;
    // An app registered with cache=False neither reads nor fills the cache.
    const cached = cache.enabled && route.app.cache;
    const prefix = choice.cachePrefix;
    const sloMicros = route.app.sloMicros;
    const outcomes: Outcome[] = new Array(rows.length);
    const missing: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      const hit = cached ? cache.peek(prefix + keys[i]) : undefined;
      if (hit === undefined) missing.push(i);
      else outcomes[i] = { ok: true, output: hit };
    }
    // Answers this version gave before stay valid while its replicas are down (a version's entries go when it is deleted).
    if (missing.length === 0) return outcomes;
    if (!queue) {
      for (const i of missing) outcomes[i] = { ok: false, reason: `model ${choice.key} has no running replicas` };
      return outcomes;
    }
    let pending: Promise<unknown[]>;
    if (!cached) {
      pending =
        rows.length === 1 ? queue.enqueue(rows[0]!, deadlineMs, sloMicros, signal).then((o) => [o]) : queue.enqueueRows(rows, deadlineMs, sloMicros, signal);
    } else if (rows.length === 1) {
      pending = cache.getOrCompute(prefix + keys[0], () => queue.enqueue(rows[0]!, deadlineMs, sloMicros, signal)).then((o) => [o]);
    } else {
      pending = queue
        .enqueueRows(
          missing.map((i) => rows[i]!),
          deadlineMs,
          sloMicros,
          signal,
        )
        .then((outs) => {
          for (let m = 0; m < missing.length; m++) if (!(outs[m] instanceof RowFailure)) cache.store(prefix + keys[missing[m]!], outs[m]);
          return outs;
        });
    }
    return settleByDeadline(this.#timers, pending, deadlineMs, sloMicros).then((result) => {
      for (let m = 0; m < missing.length; m++) {
        const output = result.ok ? result.outputs[m] : undefined;
        outcomes[missing[m]!] = !result.ok ? result : output instanceof RowFailure ? { ok: false, reason: output.reason } : { ok: true, output };
      }
      return outcomes;
    });
  }

  /** Sends a copy to the shadow model off the response path and counts agreement with the primary. */
  #shadow(route: AppRoute, primary: ModelChoice | undefined, shadow: ModelChoice, rows: readonly Row[], keys: readonly string[], deadlineMs: number): void {
    if (!primary) return;
    void Promise.all([
      this.#predictRows(route, primary, this.queues(primary.key), rows, keys, deadlineMs, undefined),
      this.#predictRows(route, shadow, this.queues(shadow.key), rows, keys, deadlineMs, undefined),
    ]).then(([a, b]) => {
      for (let i = 0; i < a.length; i++) {
        const x = a[i]!,
          y = b[i]!;
        if (x.ok && y.ok) this.metrics.onShadow(route.app.name, shadow.key, JSON.stringify(x.output) === JSON.stringify(y.output));
      }
    });
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

/** Constant-time check of `Authorization: Bearer <query token>` against the app's stored hash. */
function checkQueryToken(route: AppRoute, authorization: string | null): void {
  const given = authorization?.startsWith("Bearer ") ? authorization.slice(7).trim() : "";
  const hash = createHash("sha256").update(given).digest();
  if (!given || !timingSafeEqual(hash, route.queryTokenHash!)) {
    throw new UnauthorizedError(
      `application '${route.app.name}' needs its query token`,
      "send 'Authorization: Bearer <query token>' (set with register-app --query-token)",
    );
  }
}

function sameLabel(output: unknown, label: string | number): boolean {
  if (String(output) === String(label)) return true;
  const a = Number(output),
    b = Number(label);
  return typeof output === "string" && output.trim() !== "" && !Number.isNaN(a) && a === b;
}

type Settled = { ok: true; outputs: unknown[] } | { ok: false; reason: string };

/** Waits for `pending` until `deadlineMs`; past it, the rows time out. Shares one timer among all queries. */
function settleByDeadline(timers: DeadlineTimers, pending: Promise<unknown[]>, deadlineMs: number, sloMicros: number): Promise<Settled> {
  return new Promise((resolve) => {
    const deadline = timers.add(deadlineMs, sloMicros, () => resolve({ ok: false, reason: `no prediction within the latency SLO of ${sloMicros} µs` }));
    pending.then(
      (outputs) => {
        if (deadline.settled) return;
        deadline.settled = true;
        resolve({ ok: true, outputs });
      },
      (err: Error) => {
        if (deadline.settled) return;
        deadline.settled = true;
        resolve({ ok: false, reason: err.message });
      },
    );
  });
}
