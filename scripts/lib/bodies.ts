/** Request bodies for wrk: HR rows (5 doubles) in clipper's JSON form and in the V2 inference protocol's. */
import { writeFileSync } from "node:fs";

export type Row = readonly number[];

/** The tutorial's first candidate: the one input of the cache-hit runs. */
export const CONSTANT_ROW: Row = [5.0, 3.0, 85.0, 4.5, 2.0];

/** Deterministic PRNG (mulberry32): the same seed gives the same numbers (bench inputs, replayable random tests). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` distinct rows in the ranges of examples/hr/hr_data.py. */
export function hrRows(count: number, seed = 42): Row[] {
  const rand = prng(seed);
  const uniform = (lo: number, hi: number, step: number) => Math.round((lo + rand() * (hi - lo)) / step) * step;
  const seen = new Set<string>();
  const rows: Row[] = [];
  while (rows.length < count) {
    const row = [uniform(0, 15, 0.01), Math.floor(1 + rand() * 4), uniform(40, 100, 0.01), uniform(1, 5, 0.01), Math.floor(rand() * 8)];
    const key = fmtRow(row);
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push(row);
  }
  return rows;
}

/** Doubles written with a decimal point, as a client serializing floats would. */
function fmt(v: number): string {
  const s = String(Math.round(v * 100) / 100);
  return s.includes(".") ? s : `${s}.0`;
}
const fmtRow = (row: Row) => `[${row.map(fmt).join(",")}]`;

export type Protocol = "clipper" | "v2";

/** One request body for one row. */
export function singleBody(protocol: Protocol, row: Row): string {
  if (protocol === "clipper") return `{"input":${fmtRow(row)}}`;
  return `{"inputs":[{"name":"input-0","shape":[1,${row.length}],"datatype":"FP64","data":${fmtRow(row)}}]}`;
}

/** One request body for a batch of rows. */
export function batchBody(protocol: Protocol, rows: readonly Row[]): string {
  if (protocol === "clipper") return `{"input_batch":[${rows.map(fmtRow).join(",")}]}`;
  const data = rows.map((r) => r.map(fmt).join(",")).join(",");
  return `{"inputs":[{"name":"input-0","shape":[${rows.length},${rows[0]!.length}],"datatype":"FP64","data":[${data}]}]}`;
}

/** Writes bodies one per line, the format post.lua reads. */
export function writeBodies(path: string, bodies: readonly string[]): string {
  writeFileSync(path, `${bodies.join("\n")}\n`);
  return path;
}
