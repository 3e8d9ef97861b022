/**
 * What the request path counts: per-app answers, per-model batches, shadow agreement. Each event goes
 * to the Prometheus metrics (GET /metrics) and to a JSON summary (GET /metrics.json, `clipper status`).
 */
import type { BatchObserver } from "../batching/model-queue.ts";
import type { ShedReason } from "../errors.ts";

const SHED_REASONS: readonly ShedReason[] = ["deadline", "overload", "queue_full", "quarantined"];
import type { Buckets } from "./hot-histogram.ts";
import { type LiveState, PrometheusMetrics } from "./prometheus.ts";

/** The transport a query came by (a label on clipper_queries_total). */
export type Protocol = "rest" | "grpc";

interface AppCounters {
  queries: number;
  defaults: number;
  errors: number;
  /** The part of the counts above that came by gRPC. */
  grpcQueries: number;
  grpcDefaults: number;
  grpcErrors: number;
  /** The app's latency histogram, looked up once per app instead of once per request. */
  readonly latency: Buckets;
}
/** An ensemble app's rows since start. */
export interface EnsembleCounters {
  answers: number;
  lowConfidence: number;
  noVote: number;
  confidenceSum: number;
  lastConfidence: number | undefined;
}

interface ModelCounters {
  splits: number;
  failedRows: number;
  clientGone: number;
  shed: Record<ShedReason, number>;
  hangs: number;
  quarantines: number;
  batches: number;
  rows: number;
  latencyMicrosSum: number;
  predictMicrosSum: number;
  maxBatch: number;
  readonly size: Buckets;
  readonly latency: Buckets;
  readonly predict: Buckets;
  readonly queueWait: Buckets;
}

export class Metrics implements BatchObserver {
  readonly prometheus: PrometheusMetrics;
  readonly #apps = new Map<string, AppCounters>();
  readonly #models = new Map<string, ModelCounters>();
  /** More sections of /metrics.json, read when it is asked for (capture, canaries, input statistics). */
  readonly #sections = new Map<string, () => unknown>();
  /** app → shadow model key → [agreements, disagreements] */
  readonly #shadow = new Map<string, Map<string, [number, number]>>();
  readonly #ensemble = new Map<string, EnsembleCounters>();

  constructor(live: Omit<LiveState, "apps">) {
    this.prometheus = new PrometheusMetrics({
      ...live,
      apps: () =>
        [...this.#apps].flatMap(([app, c]) => [
          {
            app,
            protocol: "rest",
            predictions: c.queries - c.grpcQueries - (c.defaults - c.grpcDefaults),
            defaults: c.defaults - c.grpcDefaults,
            rejected: c.errors - c.grpcErrors,
          },
          { app, protocol: "grpc", predictions: c.grpcQueries - c.grpcDefaults, defaults: c.grpcDefaults, rejected: c.grpcErrors },
        ]),
    });
  }

  #app(app: string): AppCounters {
    let c = this.#apps.get(app);
    if (!c) {
      const p = this.prometheus;
      c = { queries: 0, defaults: 0, errors: 0, grpcQueries: 0, grpcDefaults: 0, grpcErrors: 0, latency: p.queryLatency.child(app) };
      this.#apps.set(app, c);
    }
    return c;
  }

  /** One answered request: `rows` rows, `defaults` of them with the default output, after `seconds`. */
  onAnswered(app: string, rows: number, defaults: number, seconds: number, protocol: Protocol = "rest"): void {
    const c = this.#app(app);
    c.queries += rows;
    c.defaults += defaults;
    if (protocol === "grpc") {
      c.grpcQueries += rows;
      c.grpcDefaults += defaults;
    }
    c.latency.observe(seconds);
  }

  onRejected(app: string, protocol: Protocol = "rest"): void {
    const c = this.#app(app);
    c.errors++;
    if (protocol === "grpc") c.grpcErrors++;
  }

  onShadow(app: string, shadowKey: string, agreed: boolean): void {
    let byModel = this.#shadow.get(app);
    if (!byModel) this.#shadow.set(app, (byModel = new Map()));
    let c = byModel.get(shadowKey);
    if (!c) byModel.set(shadowKey, (c = [0, 0]));
    c[agreed ? 0 : 1]++;
    this.prometheus.shadow.inc({ app, model: shadowKey, result: agreed ? "agree" : "disagree" });
  }

  /** An ensemble app's answered rows: each row's confidence, and which ones got the default for want of it. */
  onEnsemble(app: string, outcomes: readonly { ok: boolean; vote?: { readonly confidence: number; readonly answeredBy: readonly string[] } }[]): void {
    let c = this.#ensemble.get(app);
    if (!c) this.#ensemble.set(app, (c = { answers: 0, lowConfidence: 0, noVote: 0, confidenceSum: 0, lastConfidence: undefined }));
    let low = 0;
    let none = 0;
    const histogram = this.prometheus.ensembleConfidence.child(app);
    for (const o of outcomes) {
      const vote = o.vote;
      if (!vote || vote.answeredBy.length === 0) {
        none++;
        continue;
      }
      if (!o.ok) low++;
      c.confidenceSum += vote.confidence;
      c.lastConfidence = vote.confidence;
      histogram.observe(vote.confidence);
    }
    c.answers += outcomes.length;
    c.lowConfidence += low;
    c.noVote += none;
    const predicted = outcomes.length - low - none;
    if (predicted) this.prometheus.ensembleAnswers.inc({ app, result: "prediction" }, predicted);
    if (low) this.prometheus.ensembleAnswers.inc({ app, result: "low_confidence" }, low);
    if (none) this.prometheus.ensembleAnswers.inc({ app, result: "no_vote" }, none);
  }

  /** What `status` and get_app_info show of an ensemble app's answers. */
  ensembleSummary(app: string) {
    const c = this.#ensemble.get(app);
    const voted = c ? c.answers - c.noVote : 0;
    return {
      rows: c?.answers ?? 0,
      mean_confidence: c && voted > 0 ? c.confidenceSum / voted : null,
      last_confidence: c?.lastConfidence ?? null,
      low_confidence_defaults: c?.lowConfidence ?? 0,
      no_vote_defaults: c?.noVote ?? 0,
    };
  }

  onBatch(model: string, rows: number, latencyMicros: number, predictMicros: number): void {
    const c = this.#model(model);
    c.batches++;
    c.rows += rows;
    c.latencyMicrosSum += latencyMicros;
    c.predictMicrosSum += predictMicros;
    if (rows > c.maxBatch) c.maxBatch = rows;
    c.size.observe(rows);
    c.latency.observe(latencyMicros / 1e6);
    c.predict.observe(predictMicros / 1e6);
  }

  onSplit(model: string): void {
    this.#model(model).splits++;
    this.prometheus.batchSplits.inc({ model });
  }

  onRowsFailed(model: string, rows: number): void {
    this.#model(model).failedRows += rows;
    this.prometheus.failedRows.inc({ model }, rows);
  }

  onClientGone(model: string, queries: number): void {
    this.#model(model).clientGone += queries;
    this.prometheus.clientGone.inc({ model }, queries);
  }

  /** A model version was removed: its series (counters, histograms, shadow agreement) disappear from both outputs. */
  forgetModel(model: string): void {
    this.#models.delete(model);
    const p = this.prometheus;
    for (const h of [p.batchSize, p.batchLatency, p.predictTime, p.queueWait]) h.remove(model);
    for (const c of [p.batchSplits, p.failedRows, p.clientGone, p.hangs, p.quarantines]) c.remove({ model });
    for (const reason of SHED_REASONS) p.shed.remove({ model, reason });
    for (const [app, byModel] of this.#shadow) {
      if (!byModel.delete(model)) continue;
      for (const result of ["agree", "disagree"]) p.shadow.remove({ app, model, result });
    }
  }

  onShed(model: string, reason: ShedReason, queries: number): void {
    this.#model(model).shed[reason] += queries;
    this.prometheus.shed.inc({ model, reason }, queries);
  }

  onQueueWait(model: string, seconds: number): void {
    this.#model(model).queueWait.observe(seconds);
  }

  onHang(model: string): void {
    this.#model(model).hangs++;
    this.prometheus.hangs.inc({ model });
  }

  onQuarantine(model: string): void {
    this.#model(model).quarantines++;
    this.prometheus.quarantines.inc({ model });
  }

  #model(model: string): ModelCounters {
    let c = this.#models.get(model);
    if (!c) {
      const p = this.prometheus;
      c = {
        splits: 0,
        failedRows: 0,
        clientGone: 0,
        shed: { deadline: 0, overload: 0, queue_full: 0, quarantined: 0 },
        hangs: 0,
        quarantines: 0,
        batches: 0,
        rows: 0,
        latencyMicrosSum: 0,
        predictMicrosSum: 0,
        maxBatch: 0,
        size: p.batchSize.child(model),
        latency: p.batchLatency.child(model),
        predict: p.predictTime.child(model),
        queueWait: p.queueWait.child(model),
      };
      this.#models.set(model, c);
    }
    return c;
  }

  /** Adds a section to /metrics.json, read at request time. */
  addSection(name: string, read: () => unknown): void {
    this.#sections.set(name, read);
  }

  toJSON(cache: { hits: number; misses: number; size: number; enabled: boolean }): unknown {
    const models: Record<string, unknown> = {};
    for (const [key, c] of this.#models) {
      models[key] = {
        batches: c.batches,
        rows: c.rows,
        max_batch_size: c.maxBatch,
        mean_batch_size: c.batches ? c.rows / c.batches : 0,
        mean_batch_latency_micros: c.batches ? c.latencyMicrosSum / c.batches : 0,
        mean_predict_micros: c.batches ? c.predictMicrosSum / c.batches : 0,
        batch_splits: c.splits,
        isolated_row_failures: c.failedRows,
        client_gone: c.clientGone,
        shed: { ...c.shed },
        hangs: c.hangs,
        quarantined_inputs: c.quarantines,
        mean_queue_wait_micros: c.queueWait.count ? (c.queueWait.sum / c.queueWait.count) * 1e6 : 0,
      };
    }
    return {
      apps: Object.fromEntries(
        [...this.#apps].map(([app, c]) => [
          app,
          {
            queries: c.queries,
            defaults: c.defaults,
            goodput: c.queries - c.defaults,
            errors: c.errors,
            mean_latency_micros: c.latency.count ? (c.latency.sum / c.latency.count) * 1e6 : 0,
          },
        ]),
      ),
      models,
      shadow: Object.fromEntries(
        [...this.#shadow].map(([app, m]) => [app, Object.fromEntries([...m].map(([k, [agree, disagree]]) => [k, { agree, disagree }]))]),
      ),
      ensemble: Object.fromEntries([...this.#ensemble.keys()].map((app) => [app, this.ensembleSummary(app)])),
      cache: { enabled: cache.enabled, hits: cache.hits, misses: cache.misses, entries: cache.size },
      ...Object.fromEntries([...this.#sections].map(([name, read]) => [name, read()])),
    };
  }
}
