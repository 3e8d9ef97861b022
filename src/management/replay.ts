/**
 * Replay: captured queries sent to a version of the app's model (started for the purpose when it is not
 * running, never made current), and the report: agreement with the captured answers (the inputs that differ
 * listed), latency p50/p99 beside the current version's on the same rows, errors and defaults, and for
 * numeric outputs the shift of the distribution (means and the Kolmogorov–Smirnov distance).
 */
import type { CapturedRow } from "../capture/writer.ts";
import { modelKey, plainOutput, type Row, type RowOutcome } from "../domain.ts";
import { BadRequestError, ConflictError, NotFoundError } from "../errors.ts";
import { quantile } from "../batching/batch-latency.ts";
import type { Registry } from "../registry/registry.ts";
import type { ModelWrites } from "./model-writes.ts";

/** One row's answer from a version's queue. */
/** Sends one row to a running model version (by its key) and answers when it has. */
export type AskVersion = (key: string, row: Row) => Promise<RowOutcome>;

/** Rows in flight at once when no rate is given. */
const CONCURRENCY = 16;
/** Differing inputs listed in a report. */
const MAX_LISTED = 200;

export interface ReplayReport {
  readonly app: string;
  readonly model: string;
  readonly version: string;
  /** The current version, asked the same rows for the latency comparison (undefined when it is the replayed one). */
  readonly current: string | undefined;
  readonly rows: number;
  readonly finished_at: string;
  /** Rows replayed with a prediction whose captured answer was a prediction too, and the share of them that agree. */
  readonly compared: number;
  readonly agreed: number;
  readonly agreement: number;
  readonly differing: readonly { input: unknown; captured: unknown; replayed: unknown }[];
  readonly differing_total: number;
  /** Rows the version failed on (raised or too late), and rows captured with the default. */
  readonly errors: number;
  readonly error_examples: readonly { input: unknown; reason: string }[];
  readonly captured_defaults: number;
  readonly latency_micros: { readonly version: { p50: number; p99: number }; readonly current: { p50: number; p99: number } | undefined };
  /** Numeric outputs only: how the replayed outputs' distribution moved from the captured ones. */
  readonly shift: { captured_mean: number; replayed_mean: number; mean_difference: number; ks_distance: number } | undefined;
}

export interface ReplayDeps {
  readonly registry: Registry;
  readonly models: ModelWrites;
  readonly ask: AskVersion;
}

/** Replays `rows` (captured) against `version` of the app's one linked model; `rate`: rows per second (default: as fast as 16 in flight allow). */
export async function replay(d: ReplayDeps, app: string, version: string, rows: readonly CapturedRow[], rate?: number): Promise<ReplayReport> {
  if (!d.registry.app(app)) throw new NotFoundError(`no application named '${app}'`);
  const linked = d.registry.linkedModels(app);
  if (linked.length !== 1) throw new ConflictError(`application '${app}' has ${linked.length} linked models; a replay needs exactly one`);
  const model = linked[0]!;
  if (!d.registry.model(model, version)) throw new NotFoundError(`no model ${model} version ${version}`, `see \`clipper versions ${model}\``);
  if (rows.length === 0)
    throw new BadRequestError(
      "nothing to replay: the app has captured no queries",
      "turn capture on with `clipper capture APP --sample 0.1`, or give --from FILE",
    );
  const current = d.registry.currentModel(model)?.version;
  const other = current && current !== version ? current : undefined;
  const inputs = rows.map((r, i) => toRow(r.input, i));
  return d.models.withVersionRunning(model, version, async () => {
    const asked = new Array<RowOutcome>(rows.length);
    const versionMicros: number[] = [];
    const currentMicros: number[] = [];
    const one = async (i: number) => {
      const t0 = performance.now();
      const mine = d.ask(modelKey(model, version), inputs[i]!).then((a) => {
        versionMicros.push((performance.now() - t0) * 1000);
        return a;
      });
      const theirs =
        other &&
        d.ask(modelKey(model, other), inputs[i]!).then((a) => {
          if (a.ok) currentMicros.push((performance.now() - t0) * 1000);
        });
      asked[i] = await mine;
      await theirs;
    };
    await paced(rows.length, rate, one);
    return report(app, model, version, other, rows, asked, versionMicros, currentMicros);
  });
}

/** Runs `one(i)` for every row: at `rate` per second when given, else with CONCURRENCY in flight. */
async function paced(n: number, rate: number | undefined, one: (i: number) => Promise<void>): Promise<void> {
  if (rate === undefined) {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, n) }, async () => {
        while (next < n) await one(next++);
      }),
    );
    return;
  }
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    pending.push(one(i));
  }
  await Promise.all(pending);
}

function report(
  app: string,
  model: string,
  version: string,
  current: string | undefined,
  rows: readonly CapturedRow[],
  asked: readonly RowOutcome[],
  versionMicros: number[],
  currentMicros: number[],
): ReplayReport {
  let compared = 0;
  let agreed = 0;
  let errors = 0;
  let capturedDefaults = 0;
  const differing: ReplayReport["differing"][number][] = [];
  const errorExamples: { input: unknown; reason: string }[] = [];
  let differingTotal = 0;
  const capturedNums: number[] = [];
  const replayedNums: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const a = asked[i]!;
    if (r.default) capturedDefaults++;
    if (!a.ok) {
      errors++;
      if (errorExamples.length < 20) errorExamples.push({ input: r.input, reason: a.reason });
      continue;
    }
    if (r.default || r.output === undefined) continue;
    compared++;
    // A runtime's packed row as the value a JSON answer (and so the capture) shows.
    const replayed = plainOutput(a.output);
    const cn = asNumber(r.output);
    const rn = asNumber(replayed);
    if (cn !== undefined && rn !== undefined) {
      capturedNums.push(cn);
      replayedNums.push(rn);
    }
    if (JSON.stringify(r.output) === JSON.stringify(replayed)) agreed++;
    else {
      differingTotal++;
      if (differing.length < MAX_LISTED) differing.push({ input: r.input, captured: r.output, replayed });
    }
  }
  const lat = (v: number[]) => ({ p50: Math.round(quantile(v, 0.5)), p99: Math.round(quantile(v, 0.99)) });
  return {
    app,
    model,
    version,
    current,
    rows: rows.length,
    finished_at: new Date().toISOString(),
    compared,
    agreed,
    agreement: compared ? agreed / compared : 0,
    differing,
    differing_total: differingTotal,
    errors,
    error_examples: errorExamples,
    captured_defaults: capturedDefaults,
    latency_micros: { version: lat(versionMicros), current: current ? lat(currentMicros) : undefined },
    shift: capturedNums.length && capturedNums.length === compared ? shift(capturedNums, replayedNums) : undefined,
  };
}

function shift(captured: number[], replayed: number[]) {
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const cm = mean(captured),
    rm = mean(replayed);
  return { captured_mean: cm, replayed_mean: rm, mean_difference: rm - cm, ks_distance: ksDistance(captured, replayed) };
}

/** The Kolmogorov–Smirnov distance: the largest gap between the two empirical distribution functions. */
export function ksDistance(a: readonly number[], b: readonly number[]): number {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0,
    j = 0,
    d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= v) i++;
    while (j < y.length && y[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

function asNumber(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** A captured input back as a row: numbers, a string, or bytes (captured as `{"b64": ...}`). */
function toRow(input: unknown, i: number): Row {
  if (typeof input === "string") return input;
  if (Array.isArray(input) && input.every((v) => typeof v === "number")) return input as number[];
  if (input && typeof input === "object" && typeof (input as { b64?: unknown }).b64 === "string") {
    return new Uint8Array(Buffer.from((input as { b64: string }).b64, "base64"));
  }
  throw new BadRequestError(`rows[${i}].input must be an array of numbers, a string or {"b64": ...}, as capture writes it`);
}
