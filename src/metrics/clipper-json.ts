/**
 * Clipper's metrics JSON (what its query frontend answered at GET /metrics and `inspect_instance` parses):
 * lists of one-key objects under `counters`, `ratio_counters`, `meters` and `histograms`, values as strings.
 * Built from the same counters as /metrics.json; clipper keeps no request rates, so `meters` is empty.
 */

export interface MetricsSummary {
  readonly apps: Record<string, { queries: number; defaults: number; errors: number; mean_latency_micros: number }>;
  readonly models: Record<string, { batches: number; rows: number; mean_batch_size: number; mean_predict_micros: number }>;
  readonly cache: { hits: number; misses: number };
}

type Entry = Record<string, Record<string, string>>;

const num = (n: number) => String(Number.isFinite(n) ? Math.round(n * 1000) / 1000 : 0);

export function clipperMetricsJson(s: MetricsSummary) {
  const counters: Entry[] = [];
  const ratios: Entry[] = [];
  const histograms: Entry[] = [];
  let predictions = 0;
  for (const [app, a] of Object.entries(s.apps)) {
    predictions += a.queries;
    counters.push({ [`app:${app}:num_predictions`]: { count: num(a.queries) } });
    ratios.push({ [`app:${app}:default_prediction_ratio`]: { ratio: num(a.queries ? a.defaults / a.queries : 0) } });
    histograms.push({ [`app:${app}:prediction_latency`]: { unit: "microseconds", size: num(a.queries), mean: num(a.mean_latency_micros) } });
  }
  for (const [model, m] of Object.entries(s.models)) {
    counters.push({ [`model:${model}:num_predictions`]: { count: num(m.rows) } });
    histograms.push({ [`model:${model}:batch_size`]: { unit: "queries", size: num(m.batches), mean: num(m.mean_batch_size) } });
    histograms.push({ [`model:${model}:prediction_latency`]: { unit: "microseconds", size: num(m.batches), mean: num(m.mean_predict_micros) } });
  }
  counters.unshift({ "internal:aggregate_num_predictions": { count: num(predictions) } });
  const lookups = s.cache.hits + s.cache.misses;
  ratios.push({ "internal:prediction_cache_hit_ratio": { ratio: num(lookups ? s.cache.hits / lookups : 0) } });
  return { counters, ratio_counters: ratios, meters: [] as Entry[], histograms };
}

/**
 * Prometheus asks for `text/plain` (format 0.0.4) or `application/openmetrics-text` in its Accept header;
 * Clipper's client sends no preference (`*\/*`). Text goes to whoever names a text format, JSON to the rest.
 */
export function wantsPrometheusText(accept: string | null): boolean {
  return accept !== null && /\b(text\/plain|application\/openmetrics-text)\b/i.test(accept);
}
