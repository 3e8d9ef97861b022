/**
 * The concepts every layer of the request path shares: input types, rows, model keys, the model choice and
 * its cache key prefix. It imports nothing of clipper's, so any layer may import it (docs/architecture.md).
 */

/** What an application's inputs are, as Clipper names them. */
export type InputType = "integers" | "floats" | "doubles" | "strings" | "bytes";

export const INPUT_TYPES: readonly InputType[] = ["integers", "floats", "doubles", "strings", "bytes"];

/** A row of numbers held as the bytes it arrived in (a binary V2 tensor of the app's own datatype): never expanded. */
export type TypedRow = Float64Array | Float32Array | Int32Array;

/** One validated input: numbers for numeric types (a list, or a typed view), a string for strings, bytes for bytes. */
export type Row = number[] | TypedRow | string | Uint8Array;

/** What one row came to: its model's output, or the reason it has none (it is then answered the default). */
export type RowOutcome = { ok: true; output: unknown } | { ok: false; reason: string };

/** The number of values of a numeric row, or undefined for a string or bytes row. */
export function numericWidth(row: Row | undefined): number | undefined {
  return Array.isArray(row) || row instanceof Float64Array || row instanceof Float32Array || row instanceof Int32Array ? row.length : undefined;
}

/** A runtime's error for one row (the model raised on it alone), standing in the outputs where that row's prediction would be. */
export class RowFailure {
  constructor(readonly reason: string) {}
}

/** `name:version`: how one model version is named everywhere (queues, metrics, replica ids). */
export const modelKey = (name: string, version: string): string => `${name}:${version}`;

/** The model version a query goes to, with what the answer and the cache need, built once per version. */
export interface ModelChoice {
  readonly name: string;
  readonly version: string;
  readonly key: string;
  /** `{"name":…,"version":…}` pre-serialized for the response. */
  readonly json: string;
  /** What this version's cache keys start with (`key` and a NUL): a version never answers from another's entries. */
  readonly cachePrefix: string;
}

/** The one place a model choice is built. */
export function modelChoice(name: string, version: string): ModelChoice {
  const key = modelKey(name, version);
  return { name, version, key, json: JSON.stringify({ name, version }), cachePrefix: `${key}\u0000` };
}

/** A row's canonical text, as the cache keys it (numbers joined by commas, a string itself, bytes in base64). */
export function rowKey(row: Row): string {
  if (typeof row === "string") return row;
  if (row instanceof Uint8Array) return Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString("base64");
  return row.join(",");
}

/** The element types of a runtime's packed output (protocol version 3): numpy's kind and size, little-endian. */
export const OUTPUT_DTYPES = {
  f8: Float64Array,
  f4: Float32Array,
  i8: BigInt64Array,
  i4: Int32Array,
  i2: Int16Array,
  i1: Int8Array,
  u8: BigUint64Array,
  u4: Uint32Array,
  u2: Uint16Array,
  u1: Uint8Array,
} as const;
export type OutputDtype = keyof typeof OUTPUT_DTYPES;
type OutputArray = InstanceType<(typeof OUTPUT_DTYPES)[OutputDtype]>;

/**
 * A batch's outputs as the runtime packed them: `rows` rows of `width` values (width 0: one value a row, shape
 * [rows]), held as their bytes in an aligned copy. Its rows stand in the outputs as TensorRows; a binary answer
 * copies their bytes without making a JS value of each.
 */
export class OutputTensor {
  readonly values: OutputArray;
  constructor(
    readonly dtype: OutputDtype,
    readonly rows: number,
    readonly width: number,
    data: Uint8Array,
  ) {
    const copy = new Uint8Array(data.length);
    copy.set(data);
    this.values = new OUTPUT_DTYPES[dtype](copy.buffer);
  }
  /** Values a row: 1 for shape [rows]. */
  get perRow(): number {
    return this.width || 1;
  }
}

/**
 * One row of a packed output. Everything that shows it as JSON sees what a runtime of version 2 would have
 * sent: for shape [rows] the text Python's str() gives the value ("1", "0.5", "1e-05"), for [rows, k] a list of numbers.
 */
export class TensorRow {
  constructor(
    readonly tensor: OutputTensor,
    readonly index: number,
  ) {}
  toJSON(): string | number[] {
    const t = this.tensor;
    if (t.width === 0) return valueText(t.values[this.index]!, t.dtype);
    const out = new Array<number>(t.width);
    for (let c = 0, at = this.index * t.width; c < t.width; c++) out[c] = Number(t.values[at + c]!);
    return out;
  }
}

/** An output as its plain value (a packed row as the string or list its JSON is), anything else as it is. */
export function plainOutput(output: unknown): unknown {
  return output instanceof TensorRow ? output.toJSON() : output;
}

/** A value as Python's str() shows it: integers as they are, floats in repr's shortest form (1.0, 1e-05, 1e+16, inf). */
function valueText(v: number | bigint, dtype: OutputDtype): string {
  if (typeof v === "bigint" || dtype[0] !== "f") return String(v);
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  // toExponential() with no argument gives the shortest digits that round-trip, as repr does.
  const [mantissa, e] = v.toExponential().split("e") as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 16) return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  const s = String(v);
  return s.includes(".") ? s : `${s}.0`;
}
