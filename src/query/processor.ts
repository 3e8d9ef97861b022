/**
 * The request path: app lookup → selection policy → cache → batcher → deadline race → response.
 * Invariant: the deadline timer, not the runtime, decides when an answer goes out; a row with no
 * prediction by then gets the app's default output and the reason.
 */
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { NotFoundError } from "../errors.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { selectModel } from "../policy/select.ts";
import type { RuntimeManager } from "../runtime/manager.ts";
import { parseQuery } from "./input.ts";
import type { AppRoute, Snapshot } from "./snapshot.ts";

/** Per-row outcome: the model's output, or why the default went out. */
type Outcome = { ok: true; output: unknown } | { ok: false; reason: string };

export class QueryProcessor {
  #nextQueryId = 0;

  constructor(
    private readonly snapshot: () => Snapshot,
    private readonly runtimes: RuntimeManager,
    private readonly cache: PredictionCache,
    private readonly metrics: Metrics,
  ) {}

  /** Answers one predict body for `appName` with the JSON text of the response. */
  async predict(appName: string, bodyText: string, arrivalMs: number): Promise<string> {
    const route = this.snapshot().apps.get(appName);
    if (!route) throw new NotFoundError(`no application named '${appName}'`, "register it with `clipper register-app` or POST /admin/add_app");
    let parsed;
    try {
      parsed = parseQuery(bodyText, route.app.inputType);
    } catch (err) {
      this.metrics.onRejected(appName);
      throw err;
    }
    const outcomes = await this.#predictRows(route, parsed.rows, parsed.keys, arrivalMs);
    if (!parsed.batch) return this.#answer(route, outcomes[0]!);
    let out = '{"batch_predictions":[';
    for (let i = 0; i < outcomes.length; i++) out += (i ? "," : "") + this.#answer(route, outcomes[i]!);
    return out + "]}";
  }

  #predictRows(route: AppRoute, rows: readonly unknown[], keys: readonly string[], arrivalMs: number): Promise<Outcome[]> | Outcome[] {
    const choice = selectModel(route);
    if (!choice) return rows.map(() => ({ ok: false, reason: `no model is linked to application '${route.app.name}'` }));
    const queue = this.runtimes.queue(choice.key);
    if (!queue) return rows.map(() => ({ ok: false, reason: `model ${choice.key} has no running replicas` }));
    const sloMicros = route.app.sloMicros;
    const deadlineMs = arrivalMs + sloMicros / 1000;
    const prefix = choice.key + "\u0000";
    const promises = rows.map((row, i) =>
      this.cache.getOrCompute(prefix + keys[i], () => queue.enqueue(row as never, deadlineMs, sloMicros)));
    return settleByDeadline(promises, deadlineMs, sloMicros);
  }

  #answer(route: AppRoute, outcome: Outcome): string {
    const id = this.#nextQueryId++;
    this.metrics.onAnswer(route.app.name, !outcome.ok);
    if (outcome.ok) return `{"query_id":${id},"output":${JSON.stringify(outcome.output)},"default":false}`;
    return `{"query_id":${id},"output":${route.defaultOutputJson},"default":true,"default_explanation":${JSON.stringify(outcome.reason)}}`;
  }
}

/** Waits for every promise until `deadlineMs`; rows not settled by then time out. One timer per request. */
function settleByDeadline(promises: Promise<unknown>[], deadlineMs: number, sloMicros: number): Promise<Outcome[]> {
  return new Promise((resolve) => {
    const outcomes: (Outcome | undefined)[] = new Array(promises.length);
    let remaining = promises.length;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const late: Outcome = { ok: false, reason: `no prediction within the latency SLO of ${sloMicros} µs` };
      for (let i = 0; i < outcomes.length; i++) outcomes[i] ??= late;
      resolve(outcomes as Outcome[]);
    };
    const timer = setTimeout(finish, Math.max(0, deadlineMs - performance.now()));
    promises.forEach((p, i) => {
      p.then(
        (output) => {
          if (done) return;
          outcomes[i] = { ok: true, output };
          if (--remaining === 0) finish();
        },
        (err: Error) => {
          if (done) return;
          outcomes[i] = { ok: false, reason: err.message };
          if (--remaining === 0) finish();
        },
      );
    });
  });
}
