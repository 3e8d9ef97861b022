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
