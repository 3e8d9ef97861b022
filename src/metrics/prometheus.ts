/**
 * Prometheus metrics (text format at GET /metrics), on a registry of our own: query outcomes and latency
 * per app, batch size, batch latency and runtime predict time per model, queue depth, cache, replicas.
 * Counters and gauges are read from live state when scraped, and the histograms are hot-histogram.ts's, so
 * the hot path only adds to plain numbers.
 */
import { Counter, Gauge, Registry } from "prom-client";
import { HotHistogram } from "./hot-histogram.ts";

/** What the scrape-time gauges read from. */
export interface LiveState {
  /** Rows answered with a prediction or the default, and requests rejected, per app and protocol since start. */
  apps(): { app: string; protocol: string; predictions: number; defaults: number; rejected: number }[];
  cache(): { hits: number; misses: number; entries: number; bytes: number };
  queues(): { model: string; depth: number; batchSize: number }[];
  replicas(): { model: string; state: string }[];
  restarts(): { model: string; restarts: number }[];
  /** Contexts kept (and dropped for the bound) by each app's learning policy. */
  contexts(): { app: string; contexts: number; evicted: number }[];
  /** Autoscaler decisions and memory-budget evictions so far, by model version and action. */
  scaling(): { model: string; action: string; count: number }[];
  /** Resident memory of each replica (MiB) and the budget (MiB; 0: none). */
  memory(): { budgetMb: number; replicas: { model: string; replica: string; mb: number }[] };
}

const LATENCY_BUCKETS = [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
const CONFIDENCE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];

export class PrometheusMetrics {
  readonly registry = new Registry();
  readonly queryLatency = new HotHistogram(
    "clipper_query_duration_seconds",
    "Time from a predict request's arrival to its answer, by app",
    "app",
    LATENCY_BUCKETS,
    this.registry,
  );
  readonly batchSize = new HotHistogram("clipper_batch_size_rows", "Rows per batch sent to a model version's replicas", "model", BATCH_BUCKETS, this.registry);
  readonly batchLatency = new HotHistogram(
    "clipper_batch_duration_seconds",
    "Round trip of one batch to a replica, by model version",
    "model",
    LATENCY_BUCKETS,
    this.registry,
  );
  readonly predictTime = new HotHistogram(
    "clipper_runtime_predict_duration_seconds",
    "Time the runtime spent in the model's predict for one batch",
    "model",
    LATENCY_BUCKETS,
    this.registry,
  );
  readonly queueWait = new HotHistogram(
    "clipper_queue_wait_seconds",
    "Time a query waited in a model version's queue before its batch was sent",
    "model",
    LATENCY_BUCKETS,
    this.registry,
  );
  readonly shed = new Counter({
    name: "clipper_shed_queries_total",
    help: "Queries answered without reaching the model, by model version and reason (deadline: could not make it; overload: refused on arrival; queue_full: the row bound; quarantined: an input that hung the model)",
    labelNames: ["model", "reason"] as const,
    registers: [this.registry],
  });
  readonly hangs = new Counter({
    name: "clipper_replica_hangs_total",
    help: "Batches the hang watchdog found hung (the replica was killed and replaced), by model version",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly quarantines = new Counter({
    name: "clipper_quarantined_inputs_total",
    help: "Inputs quarantined because they hung a model version on their own",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly shadow = new Counter({
    name: "clipper_shadow_comparisons_total",
    help: "Shadow policy: rows where the shadow model agreed or disagreed with the primary",
    labelNames: ["app", "model", "result"] as const,
    registers: [this.registry],
  });

  readonly ensembleConfidence = new HotHistogram(
    "clipper_ensemble_confidence",
    "Ensemble policy: share of the ensemble's weight that voted for each answered row, by app",
    "app",
    CONFIDENCE_BUCKETS,
    this.registry,
  );
  readonly ensembleAnswers = new Counter({
    name: "clipper_ensemble_answers_total",
    help: "Ensemble policy rows by result: prediction, low_confidence (the default: below min_confidence), no_vote (no model answered in time)",
    labelNames: ["app", "result"] as const,
    registers: [this.registry],
  });

  /** Fault isolation (rare events, so labels are hashed per call). */
  readonly batchSplits = new Counter({
    name: "clipper_batch_splits_total",
    help: "Failed batches split in two to isolate the rows the model raised on, by model version",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly failedRows = new Counter({
    name: "clipper_isolated_row_failures_total",
    help: "Rows the model raised on by themselves (answered with the default and the model's error)",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly clientGone = new Counter({
    name: "clipper_client_gone_total",
    help: "Queries dropped from a model version's queue because their client had gone away",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });

  constructor(live: LiveState) {
    const r = [this.registry];
    this.#scalingMetrics(live, this.registry);
    new Counter({
      name: "clipper_queries_total",
      help: "Answered query rows by app, outcome (prediction, default) and protocol (rest, grpc), and rejected requests",
      labelNames: ["app", "outcome", "protocol"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const a of live.apps()) {
          this.inc({ app: a.app, outcome: "prediction", protocol: a.protocol }, a.predictions);
          this.inc({ app: a.app, outcome: "default", protocol: a.protocol }, a.defaults);
          this.inc({ app: a.app, outcome: "rejected", protocol: a.protocol }, a.rejected);
        }
      },
    });
    new Counter({
      name: "clipper_goodput_rows_total",
      help: "Goodput: query rows answered with a prediction within their deadline, by app",
      labelNames: ["app"] as const,
      registers: r,
      collect() {
        this.reset();
        const byApp = new Map<string, number>();
        for (const a of live.apps()) byApp.set(a.app, (byApp.get(a.app) ?? 0) + a.predictions);
        for (const [app, n] of byApp) this.inc({ app }, n);
      },
    });
    new Counter({
      name: "clipper_cache_hits_total",
      help: "Prediction cache hits (including identical queries in flight)",
      registers: r,
      collect() {
        this.reset();
        this.inc(live.cache().hits);
      },
    });
    new Counter({
      name: "clipper_cache_misses_total",
      help: "Prediction cache misses",
      registers: r,
      collect() {
        this.reset();
        this.inc(live.cache().misses);
      },
    });
    new Gauge({
      name: "clipper_cache_entries",
      help: "Predictions held in the cache",
      registers: r,
      collect() {
        this.set(live.cache().entries);
      },
    });
    new Gauge({
      name: "clipper_cache_bytes",
      help: "Bytes the prediction cache holds (keys and answers, estimated), bounded by --cache-bytes",
      registers: r,
      collect() {
        this.set(live.cache().bytes);
      },
    });
    new Gauge({
      name: "clipper_queue_depth",
      help: "Queries waiting in a model version's queue",
      labelNames: ["model"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const q of live.queues()) this.set({ model: q.model }, q.depth);
      },
    });
    new Gauge({
      name: "clipper_batch_size_limit_rows",
      help: "Current adaptive batch size limit of a model version",
      labelNames: ["model"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const q of live.queues()) this.set({ model: q.model }, q.batchSize);
      },
    });
    new Gauge({
      name: "clipper_replicas",
      help: "Replicas by model version and state",
      labelNames: ["model", "state"] as const,
      registers: r,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const x of live.replicas()) counts.set(`${x.model}\u0000${x.state}`, (counts.get(`${x.model}\u0000${x.state}`) ?? 0) + 1);
        for (const [k, n] of counts) {
          const [model, state] = k.split("\u0000") as [string, string];
          this.set({ model, state }, n);
        }
      },
    });
    new Gauge({
      name: "clipper_policy_contexts",
      help: "Contexts whose weights an app's learning policy (exp3, ensemble) keeps",
      labelNames: ["app"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const x of live.contexts()) this.set({ app: x.app }, x.contexts);
      },
    });
    new Counter({
      name: "clipper_policy_context_evictions_total",
      help: "Contexts dropped, least recently used first, to keep an app within its bound (since the policy was last loaded)",
      labelNames: ["app"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const x of live.contexts()) this.inc({ app: x.app }, x.evicted);
      },
    });
    new Counter({
      name: "clipper_replica_restarts_total",
      help: "Replicas started again after one exited, by model version",
      labelNames: ["model"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const x of live.restarts()) this.inc({ model: x.model }, x.restarts);
      },
    });
  }

  #scalingMetrics(live: LiveState, r: Registry): void {
    new Counter({
      name: "clipper_scaling_decisions_total",
      help: "Replica changes by model version and action: up, down, zero (idle timeout), cold start, evict (memory budget), refused",
      labelNames: ["model", "action"] as const,
      registers: [r],
      collect() {
        this.reset();
        for (const x of live.scaling()) this.inc({ model: x.model, action: x.action }, x.count);
      },
    });
    new Gauge({
      name: "clipper_replica_resident_bytes",
      help: "Resident memory of each replica process, by model version and replica",
      labelNames: ["model", "replica"] as const,
      registers: [r],
      collect() {
        this.reset();
        for (const x of live.memory().replicas) this.set({ model: x.model, replica: x.replica }, Math.round(x.mb * 1024 * 1024));
      },
    });
    new Gauge({
      name: "clipper_memory_budget_bytes",
      help: "The memory budget of all replicas together (--memory-budget-mb; 0: none)",
      registers: [r],
      collect() {
        this.set(live.memory().budgetMb * 1024 * 1024);
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
