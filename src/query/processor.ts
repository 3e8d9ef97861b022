/**
 * The transport-free query core: app lookup (with the caller's token) → selection policy → width check →
 * cache → batcher → deadline race → one outcome per row. Adapters (src/http, src/grpc) parse their
 * transport's request into rows and write the outcomes in their own format.
 * Invariant: the deadline timer, not the runtime, decides when an answer goes out; a row with no
 * prediction by then gets the app's default output and the reason.
 */
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { tokenMatchesHash } from "../auth.ts";
import { NotFoundError, UnauthorizedError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics, Protocol } from "../metrics/metrics.ts";
import { type ModelChoice, selectModel } from "../policy/select.ts";
import { type ModelQueue, RowFailure } from "../batching/model-queue.ts";
import { type ParsedQuery, type Row, wrongWidth } from "./input.ts";
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
  /** Names the request in the log line of an answer with defaults. */
  readonly requestId?: string;
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
   * The transport-free core of a predict: the policy picks a model (or `pinned` names one), rows are
   * checked against the width it declared (`field` names them in the 400), go through cache and batcher
   * against the app's deadline, and each row gets an outcome.
   */
  answerRows(route: AppRoute, parsed: ParsedQuery, arrivalMs: number, pinned?: ModelChoice, opts: AnswerOptions = {}): Answered | Promise<Answered> {
    const choice = pinned ?? this.choose(route);
    const queue = this.queueOf(choice);
    // The transport counts the rejection (it counts its own parse errors the same way).
    checkWidth(parsed, queue, opts.field ?? "each input row");
    return this.answerChosen(route, parsed, arrivalMs, choice, queue, pinned ? { ...opts, withShadow: false } : opts);
  }

  /**
   * The policy's pick for one query: an adapter that parses rows against the model's declared width (REST
   * JSON names the first bad row of a batch) chooses first, then parses, then calls answerChosen.
   */
  choose(route: AppRoute): ModelChoice | undefined {
    return selectModel(route, Math.random());
  }

  /** The batching queue of a chosen model version (undefined when none is chosen or it is not running). */
  queueOf(choice: ModelChoice | undefined): ModelQueue | undefined {
    return choice && this.queues(choice.key);
  }

  /** Rows (already checked against the chosen model's width) through cache and batcher to one outcome each. */
  answerChosen(
    route: AppRoute,
    parsed: ParsedQuery,
    arrivalMs: number,
    choice: ModelChoice | undefined,
    queue: ModelQueue | undefined,
    opts: AnswerOptions & { readonly withShadow?: boolean } = {},
  ): Answered | Promise<Answered> {
    const deadlineMs = arrivalMs + route.app.sloMicros / 1000;
    if (route.shadow && opts.withShadow !== false) this.#shadow(route, choice, route.shadow, parsed.rows, parsed.keys, deadlineMs);
    const predicted = this.#predictRows(route, choice, queue, parsed.rows, parsed.keys, deadlineMs, opts.signal);
    return Array.isArray(predicted)
      ? this.#answered(route, choice, predicted, arrivalMs, opts)
      : predicted.then((outcomes) => this.#answered(route, choice, outcomes, arrivalMs, opts));
  }

  #answered(route: AppRoute, choice: ModelChoice | undefined, outcomes: Outcome[], arrivalMs: number, opts: AnswerOptions): Answered {
    // Nobody reads the answer of a client that went away: it is neither a prediction nor a default.
    if (opts.signal?.aborted) return { outcomes, choice };
    this.#logAnswer(route.app.name, opts.requestId ?? "", outcomes, choice, arrivalMs);
    let defaults = 0;
    for (let i = 0; i < outcomes.length; i++) if (!outcomes[i]!.ok) defaults++;
    this.metrics.onAnswered(route.app.name, outcomes.length, defaults, (performance.now() - arrivalMs) / 1000, opts.protocol ?? "rest");
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

  /** The route of an app, or 404; 401 when the app has a query token and the caller's `token` is not it. */
  route(appName: string, token = ""): AppRoute {
    const route = this.#route(appName);
    if (route.queryTokenHash && !tokenMatchesHash(token, route.queryTokenHash)) {
      throw new UnauthorizedError(
        `application '${route.app.name}' needs its query token`,
        "send 'Authorization: Bearer <query token>' (set with register-app --query-token)",
      );
    }
    return route;
  }

  /**
   * Feedback for one labelled input (Clipper's update): every linked model is asked about it; a model whose
   * output equals the label is rewarded 1, others 0. Returns the rewards and, under exp3, the new weights.
   */
  async feedback(route: AppRoute, parsed: ParsedQuery, label: string | number, arrivalMs: number) {
    const deadlineMs = arrivalMs + route.app.sloMicros / 1000;
    const queues = route.linked.map((choice) => this.queues(choice.key));
    for (const queue of queues) checkWidth(parsed, queue, "input");
    const rewards = new Map<string, number>();
    await Promise.all(
      route.linked.map(async (choice, i) => {
        const [outcome] = await this.#predictRows(route, choice, queues[i], parsed.rows, parsed.keys, deadlineMs, undefined);
        rewards.set(choice.name, outcome!.ok && sameLabel(outcome!.output, label) ? 1 : 0);
      }),
    );
    return { rewards, weights: this.onFeedback(route.app.name, rewards) };
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
    let missing: number[] | undefined;
    for (let i = 0; i < rows.length; i++) {
      const hit = cached ? cache.peek(prefix + keys[i]) : undefined;
      if (hit === undefined) (missing ??= []).push(i);
      else outcomes[i] = hit;
    }
    // Answers this version gave before stay valid while its replicas are down (a version's entries go when it is deleted).
    if (missing === undefined) return outcomes;
    if (!queue) {
      for (const i of missing) outcomes[i] = { ok: false, reason: `model ${choice.key} has no running replicas` };
      return outcomes;
    }
    // A single row of a cached app shares an identical query in flight (getOrCompute stores its answer); other
    // uncached rows go to the queue as one unit. One promise per query, settled by the outputs or the deadline.
    const shared = cached && rows.length === 1;
    return new Promise((resolve) => {
      const deadline = this.#timers.add(deadlineMs, sloMicros, () => resolve(failRows(outcomes, missing, timedOut(sloMicros))));
      const onOutputs = (outputs: readonly unknown[], start: number) => {
        if (cached && !shared) {
          for (let m = 0; m < missing.length; m++) {
            const output = outputs[start + m];
            if (!(output instanceof RowFailure)) cache.store(prefix + keys[missing[m]!], output);
          }
        }
        if (!deadline.settle()) return;
        for (let m = 0; m < missing.length; m++) {
          const output = outputs[start + m];
          outcomes[missing[m]!] = output instanceof RowFailure ? { ok: false, reason: output.reason } : { ok: true, output };
        }
        resolve(outcomes);
      };
      const onError = (err: Error) => {
        if (deadline.settle()) resolve(failRows(outcomes, missing, err.message));
      };
      if (shared) {
        cache.getOrCompute(prefix + keys[0], () => queue.enqueue(rows[0]!, deadlineMs, sloMicros, signal)).then((output) => onOutputs([output], 0), onError);
      } else {
        queue.submit(missing.length === rows.length ? rows : missing.map((i) => rows[i]!), deadlineMs, sloMicros, signal, onOutputs, onError);
      }
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
}

/** 400 when the rows (one width: parsing refuses ragged batches) are not as wide as the queue's model declared. */
function checkWidth(parsed: ParsedQuery, queue: ModelQueue | undefined, field: string): void {
  const first = parsed.rows[0];
  const shape = queue?.shape;
  if (shape && Array.isArray(first) && first.length !== shape.width) throw wrongWidth(field, first.length, shape);
}

function sameLabel(output: unknown, label: string | number): boolean {
  if (String(output) === String(label)) return true;
  const a = Number(output),
    b = Number(label);
  return typeof output === "string" && output.trim() !== "" && !Number.isNaN(a) && a === b;
}

/** Every row in `missing` gets the default with `reason`. */
function failRows(outcomes: Outcome[], missing: readonly number[], reason: string): Outcome[] {
  const failed: Outcome = { ok: false, reason };
  for (const i of missing) outcomes[i] = failed;
  return outcomes;
}

function timedOut(sloMicros: number): string {
  return `no prediction within the latency SLO of ${sloMicros} µs`;
}
