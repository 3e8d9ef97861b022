/**
 * Input statistics per app, from the captured rows (fed by the capture writer off the request path): per
 * numeric feature the count, mean, min/max and quantiles over a window, and a drift score against a reference
 * (the app's first complete window, or rows given from a file). The score is the population stability index
 * (PSI) over the reference's deciles, the largest over the features: under 0.1 stable, above 0.25 a shift.
 */

/** Features of a row kept (the first ones of a wide row). */
const MAX_FEATURES = 64;
/** Values kept per feature and window for its quantiles (a uniform sample beyond). */
const SAMPLE = 2048;
/** A window closes only once it holds this many rows (a quiet app's windows last longer). */
export const MIN_WINDOW_ROWS = 100;
const EPS = 1e-4;

class Feature {
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  readonly sample: number[] = [];

  add(x: number): void {
    this.count++;
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    if (this.sample.length < SAMPLE) this.sample.push(x);
    else {
      const j = Math.floor(Math.random() * this.count);
      if (j < SAMPLE) this.sample[j] = x;
    }
  }
}

class Window {
  rows = 0;
  readonly features: Feature[] = [];
  constructor(readonly startedMs: number) {}

  add(row: readonly number[]): void {
    this.rows++;
    const n = Math.min(row.length, MAX_FEATURES);
    for (let i = 0; i < n; i++) (this.features[i] ??= new Feature()).add(row[i]!);
  }
}

export interface FeatureSummary {
  readonly count: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

export interface AppInputStats {
  readonly window_ms: number;
  readonly reference: { readonly source: "first window" | "file" | "none yet"; readonly rows: number };
  /** The last complete window (or the one filling, before any is complete). */
  readonly window: { readonly started_at: string; readonly rows: number; readonly complete: boolean; readonly features: readonly FeatureSummary[] };
  /** PSI of the window against the reference: the largest over the features, and each one's. */
  readonly drift: { readonly score: number; readonly by_feature: readonly number[] } | undefined;
}

interface AppState {
  windowMs: number;
  current: Window;
  last: Window | undefined;
  reference: Window | undefined;
  referenceSource: "first window" | "file" | undefined;
}

export class InputStats {
  readonly #apps = new Map<string, AppState>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The app's window length (its statistics start over when it changes). */
  configure(app: string, windowMs: number): void {
    const s = this.#apps.get(app);
    if (s && s.windowMs === windowMs) return;
    this.#apps.set(app, { windowMs, current: new Window(this.now()), last: undefined, reference: s?.reference, referenceSource: s?.referenceSource });
  }

  /** The app's window length (0 when it keeps none). */
  windowMs(app: string): number {
    return this.#apps.get(app)?.windowMs ?? 0;
  }

  /** Forgets apps not in `apps` (their capture was turned off or they were deleted). */
  keepOnly(apps: ReadonlySet<string>): void {
    for (const app of this.#apps.keys()) if (!apps.has(app)) this.#apps.delete(app);
  }

  /** Captured inputs of an app (numeric rows only count). */
  add(app: string, inputs: readonly unknown[]): void {
    const s = this.#apps.get(app);
    if (!s) return;
    for (const input of inputs) {
      this.#roll(s);
      if (Array.isArray(input) && typeof input[0] === "number") s.current.add(input as number[]);
    }
    this.#roll(s);
  }

  /** Sets the reference from rows (a capture file's inputs) instead of the first window. */
  setReference(app: string, inputs: readonly unknown[]): number {
    const s = this.#apps.get(app);
    if (!s) return 0;
    const w = new Window(this.now());
    for (const input of inputs) if (Array.isArray(input) && typeof input[0] === "number") w.add(input as number[]);
    s.reference = w;
    s.referenceSource = "file";
    return w.rows;
  }

  /** Closes the filling window once it is old enough and holds enough rows; the first closed one is the reference. */
  #roll(s: AppState): void {
    const now = this.now();
    if (now - s.current.startedMs < s.windowMs || s.current.rows < MIN_WINDOW_ROWS) return;
    s.last = s.current;
    if (!s.reference) {
      s.reference = s.current;
      s.referenceSource = "first window";
    }
    s.current = new Window(now);
  }

  stats(app: string): AppInputStats | undefined {
    const s = this.#apps.get(app);
    if (!s) return undefined;
    this.#roll(s);
    const w = s.last ?? s.current;
    const drift = s.reference && s.last && s.reference !== s.last ? driftOf(s.reference, s.last) : undefined;
    return {
      window_ms: s.windowMs,
      reference: { source: s.referenceSource ?? "none yet", rows: s.reference?.rows ?? 0 },
      window: { started_at: new Date(w.startedMs).toISOString(), rows: w.rows, complete: w === s.last, features: w.features.map(summary) },
      drift,
    };
  }

  all(): Record<string, AppInputStats> {
    const out: Record<string, AppInputStats> = {};
    for (const app of this.#apps.keys()) out[app] = this.stats(app)!;
    return out;
  }
}

function summary(f: Feature): FeatureSummary {
  const sorted = [...f.sample].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
  return { count: f.count, mean: f.count ? f.sum / f.count : 0, min: f.min, max: f.max, p10: q(0.1), p50: q(0.5), p90: q(0.9), p99: q(0.99) };
}

function driftOf(reference: Window, window: Window) {
  const byFeature = reference.features.map((f, i) => {
    const g = window.features[i];
    return g ? psi(f.sample, g.sample) : 0;
  });
  return { score: byFeature.length ? Math.max(...byFeature) : 0, by_feature: byFeature };
}

/** Population stability index of `actual` against `expected`, over the deciles of `expected`. */
export function psi(expected: readonly number[], actual: readonly number[]): number {
  if (expected.length === 0 || actual.length === 0) return 0;
  const sorted = [...expected].sort((a, b) => a - b);
  const edges: number[] = [];
  for (let k = 1; k < 10; k++) {
    const e = sorted[Math.floor((k * sorted.length) / 10)]!;
    if (edges.length === 0 || e > edges.at(-1)!) edges.push(e);
  }
  const share = (values: readonly number[]) => {
    const counts = new Array(edges.length + 1).fill(0);
    for (const v of values) {
      let b = 0;
      while (b < edges.length && v >= edges[b]!) b++;
      counts[b]++;
    }
    return counts.map((c) => Math.max(c / values.length, EPS));
  };
  const e = share(expected);
  const a = share(actual);
  let sum = 0;
  for (let i = 0; i < e.length; i++) sum += (a[i]! - e[i]!) * Math.log(a[i]! / e[i]!);
  return sum;
}
