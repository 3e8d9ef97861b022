/**
 * The transport-free query core: app lookup (with the caller's token) → selection policy → width check →
 * cache → batcher → deadline race → one outcome per row. Adapters (src/http, src/grpc) call one entry per
 * operation (predict, feedback, metadata, ready) with the caller's token and a parser for their body, and
 * write the answers in their own format.
 * Invariant: the deadline timer, not the runtime, decides when an answer goes out; a row with no
 * prediction by then gets the app's default output and the reason.
 */
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { tokenMatchesHash } from "../auth.ts";
import { modelChoice, modelKey, numericWidth, plainOutput, type RowOutcome } from "../domain.ts";
import { BadRequestError, NotFoundError, OverloadedError, ShedError, UnauthorizedError } from "../errors.ts";
import { type Logger, LogThrottle } from "../log.ts";
import type { Metrics, Protocol } from "../metrics/metrics.ts";
import { type ModelChoice, selectModel } from "../policy/select.ts";
import { weightsFor } from "../policy/contexts.ts";
import { StragglerGuard } from "../policy/straggler.ts";
import type { VoteInfo } from "../policy/vote.ts";
import { askModels, ensembleOutcomes } from "./ensemble.ts";
import { type ModelQueue, RowFailure } from "../batching/model-queue.ts";
import { type ExpectedWidth, type ParsedQuery, type Row, wrongWidth } from "./input.ts";
import { v2Metadata } from "./oip.ts";
import { SharedRow } from "./shared-row.ts";
import type { CanaryBoard } from "./canary.ts";
import { DeadlineTimers } from "./deadlines.ts";
import { type AppRoute, appReady, type CanaryRoute, type Snapshot } from "./snapshot.ts";

/** Per-row outcome: the model's output, or why the default went out; an ensemble's answer carries its vote. */
export type Outcome = RowOutcome & { vote?: VoteInfo };

/** Who asks about which app: every adapter turns its transport's request into this and calls one entry of the core. */
export interface QueryCall {
  /** The application (a V2 model's name). */
  readonly app: string;
  /** The caller's bearer token ("" when it sent none): checked against the app's query token. */
  readonly token: string;
  /** A version the caller pinned (V2 `versions/{v}`, gRPC `model_version`): that version of the linked model answers. */
  readonly version?: string | undefined;
  /** The transport, for the metrics. */
  readonly protocol?: Protocol;
}

/** How a transport calls the core: how its 400s name the rows, and its client's abort signal. */
export interface AnswerOptions {
  /** Names the rows in a wrong-width 400 (`each row of inputs[0]`). */
  readonly field?: string;
  /** Aborts when the client has gone: its queries are dropped before they are sent. */
  readonly signal?: AbortSignal;
  /** Names the request in the log line of an answer with defaults. */
  readonly requestId?: string;
  /**
   * The client's own deadline (performance.now() ms), when it asked for less time than the app's SLO (gRPC
   * `grpc-timeout`, REST `Clipper-Timeout-Ms`, V2 `timeout`): the earlier of the two is the query's deadline.
   */
  readonly deadlineMs?: number | undefined;
}

/**
 * Turns a transport's body into rows for the app's input type. `expect` is the width the chosen model
 * declared (REST JSON names the first bad row with it), `withKeys` whether the rows need cache keys.
 * A 400 it throws is counted as a rejected request of the app.
 */
export type QueryParser<B, Q extends ParsedQuery> = (body: B, route: AppRoute, expect: ExpectedWidth | undefined, withKeys: boolean) => Q;

/** One predict: the call, the transport's body and how to parse it. */
export interface PredictCall<B, Q extends ParsedQuery> extends QueryCall, AnswerOptions {
  readonly body: B;
  readonly parse: QueryParser<B, Q>;
  /** When the request arrived (performance.now()): the SLO counts from it. */
  readonly arrivalMs: number;
}

export interface Answered {
  readonly outcomes: Outcome[];
  /** The model version that answered (undefined when none is linked). */
  readonly choice: ModelChoice | undefined;
}

/** A predict's answer with the app it went to and the query as the transport parsed it. */
export interface Predicted<Q extends ParsedQuery> extends Answered {
  readonly route: AppRoute;
  readonly query: Q;
}

/** One labelled input for feedback, as the transport parsed it. */
export interface LabelledQuery extends ParsedQuery {
  readonly label: string | number;
}

/** One feedback call: the call, the transport's body and how to parse it into one labelled input. */
export interface FeedbackCall<B> extends QueryCall {
  readonly body: B;
  readonly parse: (body: B, route: AppRoute) => LabelledQuery;
  readonly arrivalMs: number;
}

/** What the answer's log line and metrics need of a predict call. */
type AnsweredCall = AnswerOptions & { readonly protocol?: Protocol; readonly arrivalMs: number };

/** Finds the batching queue of a model version by its key (`name:version`). */
export type QueueLookup = (key: string) => ModelQueue | undefined;

/** Receives the reward of each linked model for one labelled input of a context (exp3 and ensemble learn from it). */
export type FeedbackSink = (app: string, rewards: ReadonlyMap<string, number>, context: string | undefined) => Record<string, number> | undefined;

/** A query's deadline, the key its timer is grouped by, and the reason a row late for it gets (undefined: the SLO's). */
interface QueryDeadline {
  readonly atMs: number;
  readonly timerKey: number;
  readonly late: string | undefined;
}

/** Receives a sampled query's rows and answers (payload capture); called only for an app with capture on. */
export type CaptureHook = (
  route: AppRoute,
  choice: ModelChoice | undefined,
  rows: readonly Row[],
  outcomes: readonly Outcome[],
  micros: number,
  requestId: string,
) => void;

/** What the core needs beside the request path: payload capture and the canaries' comparison windows. */
export interface QueryObservers {
  readonly capture?: CaptureHook;
  readonly canaries?: CanaryBoard;
}

/**
 * The core's one entry per operation (predict, feedback, metadata, ready), which every adapter (REST,
 * V2 REST, gRPC) calls with the caller's token: each rule (the token check, what "ready" means, counting
 * rejected requests, the pinned-version lookup) lives here once.
 */
export class QueryProcessor {
  readonly #timers = new DeadlineTimers();
  /** Single rows in flight that several queries wait on, by cache key. */
  readonly #shared = new Map<string, SharedRow>();
  /** The ensemble's record of each model's recent answer times: who is worth asking with the time left. */
  readonly #stragglers = new StragglerGuard();
  /** The default_answer lines written: one a second per app and kind of reason, the rest counted. */
  readonly #defaultLines = new LogThrottle(DEFAULT_LINE_WINDOW_MS, (kind, count) => {
    const [app, reason] = kind.split(DEFAULT_LINE_SEP);
    this.logger.warn("default_answers_held", `${count} more answers of application '${app}' got the default (${reason}…) in the last second`, {
      app,
      answers: count,
    });
  });
  readonly #debug: boolean;

  constructor(
    private readonly snapshot: () => Snapshot,
    /** The queue of a running model version (by its key), or undefined: the core knows no runtime, only queues. */
    private readonly queues: QueueLookup,
    private readonly cache: PredictionCache,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly onFeedback: FeedbackSink,
    /** True when the model version (by its key) has a replica ready to predict. */
    private readonly versionReady: (key: string) => boolean,
    private readonly observers: QueryObservers = {},
  ) {
    this.#debug = logger.enabled("debug");
  }

  /**
   * One predict: the app (its token checked), the pinned version or the policy's pick, the body parsed
   * against the width the model declared (a 400 is counted as rejected), then cache and batcher against
   * the app's deadline; each row gets an outcome.
   */
  predict<B, Q extends ParsedQuery>(call: PredictCall<B, Q>): Predicted<Q> | Promise<Predicted<Q>> {
    const route = this.#authorized(call);
    const pinned = call.version === undefined ? undefined : this.#pinned(route, call.version);
    // A pinned version is the caller's choice, not the policy's: no ensemble, no shadow copy.
    const ensemble = route.policy === "ensemble" && !pinned;
    let choice = pinned ?? selectModel(route, Math.random());
    let queue = choice && this.queues(choice.key);
    let query: Q;
    try {
      query = call.parse(call.body, route, queue?.shape, this.cache.enabled && route.app.cache);
      // A query naming a context is answered with that context's weights (exp3 picks again with them).
      if (!pinned && query.context !== undefined && route.contexts) {
        choice = selectModel(route, Math.random(), weightsFor(route.weights, route.contexts, query.context));
        queue = choice && this.queues(choice.key);
      }
      checkWidth(query, queue, call.field ?? "each input row");
      if (ensemble) for (const m of route.linked) checkWidth(query, this.queues(m.key), call.field ?? "each input row");
    } catch (err) {
      if (err instanceof BadRequestError) this.metrics.onRejected(route.app.name, call.protocol);
      throw err;
    }
    // The client's deadline: from its transport (a header, grpc-timeout) or its body (V2 `parameters.timeout`).
    const fromBody = query.timeoutMs === undefined ? undefined : call.arrivalMs + query.timeoutMs;
    const deadline = this.#deadline(route, call.arrivalMs, fromBody === undefined || (call.deadlineMs ?? Infinity) < fromBody ? call.deadlineMs : fromBody);
    if (ensemble) {
      const voted = this.#ensemble(route, query, deadline, call.signal);
      return Array.isArray(voted)
        ? this.#answered(route, query, undefined, voted, call)
        : voted.then((outcomes) => this.#answered(route, query, undefined, outcomes, call));
    }
    const reject429 = route.app.overload === "reject";
    const canary = route.canary;
    const predicted =
      canary && !pinned && choice?.name === canary.model && Math.random() < canary.share
        ? this.#canaryRows(route, choice, canary, query.rows, query.keys, deadline, call.signal)
        : this.#predictRows(route, choice, queue, query.rows, query.keys, deadline, call.signal, reject429);
    const shadow = route.shadow;
    if (shadow && choice && !pinned && (route.shadowSample >= 1 || Math.random() < route.shadowSample)) this.#shadow(route, shadow, query, deadline, predicted);
    if (reject429 && !Array.isArray(predicted)) {
      return predicted.then(
        (outcomes) => this.#answered(route, query, choice, outcomes, call),
        (err: unknown) => {
          if (err instanceof OverloadedError) this.metrics.onRejected(route.app.name, call.protocol);
          throw err;
        },
      );
    }
    return Array.isArray(predicted)
      ? this.#answered(route, query, choice, predicted, call)
      : predicted.then((outcomes) => this.#answered(route, query, choice, outcomes, call));
  }

  /**
   * Every linked model, each through its own cache and queue, to one voted outcome per row (ensemble.ts). A
   * model that sheds the query (overload) abstains: the others still vote.
   */
  #ensemble(route: AppRoute, query: ParsedQuery, deadline: QueryDeadline, signal: AbortSignal | undefined): Outcome[] | Promise<Outcome[]> {
    const { rows, keys } = query;
    return ensembleOutcomes(
      route.linked,
      weightsFor(route.weights, route.contexts, query.context),
      route.minConfidence,
      rows,
      deadline.atMs,
      (m, answered) => this.#predictRows(route, m, this.queues(m.key), rows, keys, deadline, signal, false, answered),
      this.#stragglers,
    );
  }

  /** The V2 metadata of the app (its token checked); with a pinned version, that version, which must be linked. */
  metadata(call: QueryCall) {
    const meta = v2Metadata(this.#authorized(call));
    if (call.version === undefined) return meta;
    if (!meta.versions.includes(call.version)) throw new NotFoundError(`model '${meta.name}' has no version ${call.version} being served`);
    return { ...meta, versions: [call.version] };
  }

  /** Whether the app (its token checked) is ready: every model it picks from has a ready replica. A pinned version must be running. */
  modelReady(call: QueryCall): boolean {
    const route = this.#authorized(call);
    if (call.version !== undefined) this.#pinned(route, call.version);
    return appReady(route, this.versionReady);
  }

  /** The server is ready when every app is: the names of those that are not (empty when ready). */
  notReadyApps(): string[] {
    const notReady: string[] = [];
    for (const route of this.snapshot().apps.values()) if (!appReady(route, this.versionReady)) notReady.push(route.app.name);
    return notReady;
  }

  /** The query's deadline: the app's SLO from arrival, or the client's when it is earlier (and why a late row got the default). */
  #deadline(route: AppRoute, arrivalMs: number, clientMs: number | undefined): QueryDeadline {
    const sloMs = arrivalMs + route.app.sloMicros / 1000;
    if (clientMs === undefined || clientMs >= sloMs) return { atMs: sloMs, timerKey: route.app.sloMicros, late: undefined };
    const ms = Math.max(0, clientMs - arrivalMs);
    // Timers are grouped by duration (the FIFO of one duration stays in order): the client's, to the millisecond.
    return { atMs: clientMs, timerKey: -Math.round(ms), late: `no prediction within the client's timeout of ${Math.round(ms)} ms` };
  }

  #answered<Q extends ParsedQuery>(route: AppRoute, query: Q, choice: ModelChoice | undefined, outcomes: Outcome[], call: AnsweredCall): Predicted<Q> {
    const answered = { outcomes, choice, route, query };
    // Nobody reads the answer of a client that went away: it is neither a prediction nor a default.
    if (call.signal?.aborted) return answered;
    if (route.policy === "ensemble") this.metrics.onEnsemble(route.app.name, outcomes);
    this.#logAnswer(route.app.name, call.requestId ?? "", outcomes, choice, call.arrivalMs);
    let defaults = 0;
    for (let i = 0; i < outcomes.length; i++) if (!outcomes[i]!.ok) defaults++;
    const seconds = (performance.now() - call.arrivalMs) / 1000;
    this.metrics.onAnswered(route.app.name, outcomes.length, defaults, seconds, call.protocol ?? "rest");
    if (route.captureSample !== 0 && Math.random() < route.captureSample)
      this.observers.capture?.(route, choice, query.rows, outcomes, seconds * 1e6, call.requestId ?? "");
    return answered;
  }

  /** A warning line (with the request id) when rows got the default; with --log-level debug, a line per query. */
  #logAnswer(app: string, requestId: string, outcomes: readonly Outcome[], choice: ModelChoice | undefined, arrivalMs: number): void {
    let failed: { reason: string } | undefined;
    for (let i = 0; i < outcomes.length && !failed; i++) if (!outcomes[i]!.ok) failed = outcomes[i] as { reason: string };
    if (failed) {
      // Under a storm of defaults one line a second per app and kind of reason, and a count of the rest
      // (at debug level every one).
      if (this.#debug || this.#defaultLines.pass(app + DEFAULT_LINE_SEP + reasonKind(failed.reason), performance.now())) {
        this.logger.warn("default_answer", failed.reason, { request_id: requestId, app, model: choice?.key, rows: outcomes.length });
      }
    } else if (this.#debug) {
      this.logger.debug("query", "answered", {
        request_id: requestId,
        app,
        model: choice?.key,
        rows: outcomes.length,
        micros: Math.round((performance.now() - arrivalMs) * 1000),
      });
    }
  }

  /**
   * Feedback for one labelled input (Clipper's update): every linked model is asked about it (under ensemble,
   * those that can answer in time); a model whose output equals the label is rewarded 1, others 0. Returns the
   * rewards and, under exp3 and ensemble, the new weights (of the input's context when it names one).
   */
  async feedback<B>(call: FeedbackCall<B>) {
    const route = this.#authorized(call);
    const query = call.parse(call.body, route);
    const deadline = this.#deadline(route, call.arrivalMs, undefined);
    const queues = route.linked.map((choice) => this.queues(choice.key));
    for (const queue of queues) checkWidth(query, queue, "input");
    const byModel = await askModels(
      route.linked,
      1,
      deadline.atMs,
      (m, answered) => this.#predictRows(route, m, this.queues(m.key), query.rows, query.keys, deadline, undefined, false, answered),
      route.policy === "ensemble" ? this.#stragglers : undefined,
    );
    const rewards = new Map<string, number>();
    route.linked.forEach((choice, i) => {
      const outcome = byModel[i]![0]!;
      rewards.set(choice.name, outcome.ok && sameLabel(outcome.output, query.label) ? 1 : 0);
    });
    return { rewards, weights: this.onFeedback(route.app.name, rewards, query.context) };
  }

  /** The route of the called app, or 404; 401 when the app has a query token and the caller's is not it. */
  #authorized(call: QueryCall): AppRoute {
    const route = this.snapshot().apps.get(call.app);
    if (!route) throw new NotFoundError(`no application named '${call.app}'`, "register it with `clipper register-app` or POST /admin/add_app");
    if (route.queryTokenHash && !tokenMatchesHash(call.token, route.queryTokenHash)) {
      throw new UnauthorizedError(
        `application '${route.app.name}' needs its query token`,
        "send 'Authorization: Bearer <query token>' (set with register-app --query-token)",
      );
    }
    return route;
  }

  /** The linked model's `version`, which must be running, as the pinned choice; 404 otherwise. */
  #pinned(route: AppRoute, version: string): ModelChoice {
    const model = route.linked[0];
    if (!model) throw new NotFoundError(`application '${route.app.name}' has no linked model`);
    if (!this.queues(modelKey(model.name, version))) {
      throw new NotFoundError(`version ${version} of model '${model.name}' is not being served`, `current: ${model.version}`);
    }
    return model.version === version ? model : modelChoice(model.name, version);
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
    deadline: QueryDeadline,
    signal: AbortSignal | undefined,
    reject429: boolean,
    /** Called when the model's answer or failure arrives, in time or late (the ensemble times its models). */
    answered?: () => void,
  ): Promise<Outcome[]> | Outcome[] {
    if (!choice) return rows.map(() => ({ ok: false, reason: `no model is linked to application '${route.app.name}'` }));
    const cache = this.cache;
    // An app registered with cache=False neither reads nor fills the cache.
    const cached = cache.enabled && route.app.cache;
    const prefix = choice.cachePrefix;
    const sloMicros = route.app.sloMicros;
    const deadlineMs = deadline.atMs;
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
    // Admission first: a query its model cannot answer in time (a storm) is answered now, with no timer and
    // no promise; unless an identical row is in flight, which it joins.
    if (!(cached && rows.length === 1 && this.#shared.has(prefix + keys[0]))) {
      const refused = queue.refuse(missing.length, deadlineMs);
      if (refused) {
        answered?.();
        if (reject429) return Promise.reject(new OverloadedError(refused.message, refused.retryAfterSeconds));
        return failRows(outcomes, missing, refused.message);
      }
    }
    // A single row of a cached app shares an identical query in flight (getOrCompute stores its answer); other
    // uncached rows go to the queue as one unit. One promise per query, settled by the outputs or the deadline.
    const shared = cached && rows.length === 1 ? this.#joinShared(prefix + keys[0], deadlineMs, signal) : undefined;
    return new Promise((resolve, reject) => {
      const timer = this.#timers.add(deadlineMs, deadline.timerKey, () => {
        shared?.waiter.leave();
        resolve(failRows(outcomes, missing, deadline.late ?? (queue.coldStarting ? coldStart(choice.key, sloMicros) : timedOut(sloMicros))));
      });
      const onOutputs = (outputs: readonly unknown[], start: number) => {
        answered?.();
        if (cached && !shared) {
          for (let m = 0; m < missing.length; m++) {
            const output = outputs[start + m];
            if (!(output instanceof RowFailure)) cache.store(prefix + keys[missing[m]!], output);
          }
        }
        shared?.waiter.leave();
        if (!timer.settle()) return;
        for (let m = 0; m < missing.length; m++) {
          const output = outputs[start + m];
          outcomes[missing[m]!] = output instanceof RowFailure ? { ok: false, reason: output.reason } : { ok: true, output };
        }
        resolve(outcomes);
      };
      const onError = (err: Error) => {
        answered?.();
        shared?.waiter.leave();
        if (!timer.settle()) return;
        // An app with overload 'reject' answers a query refused on arrival with 429 and when to come back.
        if (reject429 && err instanceof ShedError && err.admission) reject(new OverloadedError(err.message, err.retryAfterSeconds));
        else resolve(failRows(outcomes, missing, err.message));
      };
      if (shared) {
        const { row: s, key } = shared;
        cache
          .getOrCompute(key, () => {
            this.#shared.set(key, s);
            return s.compute(queue, rows[0]!, sloMicros).finally(() => this.#shared.delete(key));
          })
          .then((output) => onOutputs([output], 0), onError);
      } else {
        queue.submit(missing.length === rows.length ? rows : missing.map((i) => rows[i]!), deadlineMs, sloMicros, signal, onOutputs, onError, true);
      }
    });
  }

  /**
   * A canary's share of the queries: its version answers, and the current version answers the same rows
   * (shadowed) for the comparison. A row the canary fails on gets the current version's answer (or the
   * default when that failed too): a canary loses no query.
   */
  #canaryRows(
    route: AppRoute,
    current: ModelChoice,
    canary: CanaryRoute,
    rows: readonly Row[],
    keys: readonly string[],
    deadline: QueryDeadline,
    signal: AbortSignal | undefined,
  ): Promise<Outcome[]> {
    const started = performance.now();
    let currentMicros = 0;
    let canaryMicros = 0;
    const timed = (o: Outcome[] | Promise<Outcome[]>, done: (micros: number) => void) =>
      Promise.resolve(o).then((outcomes) => {
        done((performance.now() - started) * 1000);
        return outcomes;
      });
    const asked = timed(this.#predictRows(route, current, this.queues(current.key), rows, keys, deadline, undefined, false), (m) => (currentMicros = m));
    const trial = timed(
      this.#predictRows(route, canary.choice, this.queues(canary.choice.key), rows, keys, deadline, signal, false),
      (m) => (canaryMicros = m),
    );
    void Promise.all([asked, trial]).then(([a, b]) => this.observers.canaries?.window(canary.choice.key).record(rows, a, b, currentMicros, canaryMicros));
    return trial.then((b) => (b.every((o) => o.ok) ? b : asked.then((a) => b.map((o, i) => (o.ok ? o : a[i]!)))));
  }

  /**
   * A waiter on the identical single row in flight (or the first, which starts it): the shared computation
   * is dropped only when every waiter has gone, and goes on while any has time left.
   */
  #joinShared(key: string, deadlineMs: number, signal: AbortSignal | undefined) {
    const row = this.#shared.get(key) ?? new SharedRow();
    return { key, row, waiter: row.join(deadlineMs, signal) };
  }

  /** Sends a copy to the shadow model off the response path and counts agreement with the primary's own answer. */
  #shadow(route: AppRoute, shadow: ModelChoice, query: ParsedQuery, deadline: QueryDeadline, primary: Outcome[] | Promise<Outcome[]>): void {
    const copy = this.#predictRows(route, shadow, this.queues(shadow.key), query.rows, query.keys, deadline, undefined, false);
    Promise.all([primary, copy]).then(
      ([a, b]) => {
        for (let i = 0; i < a.length; i++) {
          const x = a[i]!,
            y = b[i]!;
          if (x.ok && y.ok) this.metrics.onShadow(route.app.name, shadow.key, JSON.stringify(x.output) === JSON.stringify(y.output));
        }
      },
      // The primary was refused (overload 'reject'): its client has its 429; there is nothing to compare.
      () => undefined,
    );
  }
}

/** 400 when the rows (one width: parsing refuses ragged batches) are not as wide as the queue's model declared. */
function checkWidth(parsed: ParsedQuery, queue: ModelQueue | undefined, field: string): void {
  const shape = queue?.shape;
  const width = shape && numericWidth(parsed.rows[0]);
  if (shape && width !== undefined && width !== shape.width) throw wrongWidth(field, width, shape);
}

function sameLabel(packedOrPlain: unknown, label: string | number): boolean {
  const output = plainOutput(packedOrPlain);
  if (String(output) === String(label)) return true;
  const a = Number(output),
    b = Number(label);
  return typeof output === "string" && output.trim() !== "" && !Number.isNaN(a) && a === b;
}

const DEFAULT_LINE_WINDOW_MS = 1000;
const DEFAULT_LINE_SEP = "\u0000";

/** What a default's reason says without its numbers: the text before its first colon (`deadline`, `overload`), else its first 40 characters. */
function reasonKind(reason: string): string {
  const colon = reason.indexOf(":");
  return colon > 0 && colon <= 40 ? reason.slice(0, colon) : reason.slice(0, 40);
}

/** Every row in `missing` gets the default with `reason`. */
function failRows(outcomes: Outcome[], missing: readonly number[], reason: string): Outcome[] {
  const failed: Outcome = { ok: false, reason };
  for (const i of missing) outcomes[i] = failed;
  return outcomes;
}

/** The reason a query gets the default while its model's first replica starts (the version had scaled to zero). */
function coldStart(key: string, sloMicros: number): string {
  return `cold start: model ${key} had no replica running and its first one was not ready within the latency SLO of ${sloMicros} µs`;
}

function timedOut(sloMicros: number): string {
  return `no prediction within the latency SLO of ${sloMicros} µs`;
}
