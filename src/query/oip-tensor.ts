/**
 * Raw V2 tensor bytes (the REST binary data extension and gRPC's raw_input_contents): little-endian,
 * row-major, BYTES elements as a 4-byte little-endian length and the bytes. Every size is checked
 * against the bytes actually there before anything is read or built from it.
 */
import { BadRequestError } from "../errors.ts";
import { type InputType, type OutputDtype, TensorRow, type TypedRow } from "../domain.ts";
import type { Outcome } from "./processor.ts";
import type { ParsedQuery } from "./input.ts";

/** Bytes per element of each fixed-size V2 datatype (BYTES has none). */
export const ELEMENT_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  INT8: 1,
  UINT8: 1,
  INT16: 2,
  UINT16: 2,
  FP16: 2,
  INT32: 4,
  UINT32: 4,
  FP32: 4,
  INT64: 8,
  UINT64: 8,
  FP64: 8,
};

/** The `count` values of a raw tensor of `datatype`: numbers, or for BYTES the elements' bytes. */
export function decodeRaw(raw: Uint8Array, datatype: string, count: number, field: string): number[] | Uint8Array[] {
  if (datatype === "BYTES") return decodeBytesElements(raw, count, field);
  const size = ELEMENT_BYTES[datatype]!;
  if (raw.length !== count * size) {
    throw new BadRequestError(
      `${field} has ${raw.length} bytes of ${datatype} data but its shape needs ${count * size}`,
      `${count} elements of ${size} byte${size === 1 ? "" : "s"}, little-endian`,
    );
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Array<number>(count);
  const read = READERS[datatype]!;
  for (let i = 0; i < count; i++) out[i] = read(view, i * size);
  return out;
}

const TYPED = { doubles: Float64Array, floats: Float32Array, integers: Int32Array } as const;
/** What starts the cache key of a typed row: its bytes follow as latin1, so it can never equal a JSON row's "1,2,3". */
const TYPED_KEY = "\u0002";

/**
 * A binary tensor of the app's own datatype (FP64 for doubles, FP32 for floats, INT32 for integers) as `n`
 * rows of `k` values that are views into its bytes: nothing is expanded into JS numbers (the batch packs
 * them with one copy each). The bytes are copied once only when they do not start on an element boundary.
 * Floats are checked finite; each row's cache key is its bytes.
 */
export function typedRows(raw: Uint8Array, inputType: "doubles" | "floats" | "integers", n: number, k: number, withKeys: boolean, field: string): ParsedQuery {
  const Typed = TYPED[inputType];
  const size = Typed.BYTES_PER_ELEMENT;
  if (raw.length !== n * k * size) {
    throw new BadRequestError(
      `${field} has ${raw.length} bytes of ${inputType === "doubles" ? "FP64" : inputType === "floats" ? "FP32" : "INT32"} data but its shape needs ${n * k * size}`,
      `${n * k} elements of ${size} bytes, little-endian`,
    );
  }
  // new Uint8Array(raw) copies (a Buffer's slice() would not).
  const bytes = raw.byteOffset % size === 0 ? raw : new Uint8Array(raw);
  const all: TypedRow = new Typed(bytes.buffer as ArrayBuffer, bytes.byteOffset, n * k);
  if (inputType !== "integers") {
    for (let i = 0; i < all.length; i++) {
      if (!Number.isFinite(all[i]!)) {
        throw new BadRequestError(`${field}.data[${i}] is ${all[i]}, not a finite number`, `${field} must hold finite numbers`);
      }
    }
  }
  const rows: TypedRow[] = new Array(n);
  const keys: string[] = withKeys ? new Array(n) : [];
  const text = withKeys ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined;
  const rowBytes = k * size;
  for (let r = 0; r < n; r++) {
    rows[r] = all.subarray(r * k, r * k + k);
    if (text) keys[r] = TYPED_KEY + text.toString("latin1", r * rowBytes, r * rowBytes + rowBytes);
  }
  return { rows, keys, batch: true };
}

type Reader = (v: DataView, at: number) => number;
const READERS: Readonly<Record<string, Reader>> = {
  BOOL: (v, at) => (v.getUint8(at) === 0 ? 0 : 1),
  INT8: (v, at) => v.getInt8(at),
  UINT8: (v, at) => v.getUint8(at),
  INT16: (v, at) => v.getInt16(at, true),
  UINT16: (v, at) => v.getUint16(at, true),
  FP16: (v, at) => halfToNumber(v.getUint16(at, true)),
  INT32: (v, at) => v.getInt32(at, true),
  UINT32: (v, at) => v.getUint32(at, true),
  FP32: (v, at) => v.getFloat32(at, true),
  INT64: (v, at) => Number(v.getBigInt64(at, true)),
  UINT64: (v, at) => Number(v.getBigUint64(at, true)),
  FP64: (v, at) => v.getFloat64(at, true),
};

/** IEEE 754 half precision to a number. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Exactly `count` length-prefixed elements filling `raw`, as views into it (nothing is copied). */
export function decodeBytesElements(raw: Uint8Array, count: number, field: string): Uint8Array[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < raw.length) {
    if (out.length === count) {
      throw new BadRequestError(`${field} has more BYTES data than its shape's ${count} elements`, `${raw.length - at} bytes left over`);
    }
    if (at + 4 > raw.length) throw new BadRequestError(`${field}: BYTES element ${out.length} is cut short in its 4-byte length`);
    const length = view.getUint32(at, true);
    if (length > raw.length - at - 4) {
      throw new BadRequestError(`${field}: BYTES element ${out.length} claims ${length} bytes but only ${raw.length - at - 4} follow`);
    }
    out.push(raw.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (out.length !== count) throw new BadRequestError(`${field} has ${out.length} BYTES elements but its shape needs ${count}`);
  return out;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** BYTES elements as the values an app of `inputType` parses: text for strings, base64 for bytes. */
export function bytesElementsAsData(elements: readonly Uint8Array[], inputType: InputType, field: string): string[] {
  return elements.map((e, i) => {
    if (inputType === "bytes") return Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString("base64");
    try {
      return UTF8.decode(e);
    } catch {
      throw new BadRequestError(`${field} element ${i} is not valid UTF-8`, "a strings app takes text");
    }
  });
}

/** Strings as one BYTES tensor: each a 4-byte little-endian length and its UTF-8 bytes. */
export function encodeBytesTensor(values: readonly string[]): Buffer {
  const lengths = new Array<number>(values.length);
  let total = 0;
  for (let i = 0; i < values.length; i++) total += 4 + (lengths[i] = Buffer.byteLength(values[i]!, "utf8"));
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    out.writeUInt32LE(lengths[i]!, at);
    at += 4 + out.write(values[i]!, at + 4, "utf8");
  }
  return out;
}

/** The V2 datatype of each packed output dtype. */
const V2_OF_DTYPE: Readonly<Record<OutputDtype, string>> = {
  f8: "FP64",
  f4: "FP32",
  i8: "INT64",
  i4: "INT32",
  i2: "INT16",
  i1: "INT8",
  u8: "UINT64",
  u4: "UINT32",
  u2: "UINT16",
  u1: "UINT8",
};

/** An answer's output as one binary tensor of the model's own numbers. */
export interface BinaryOutput {
  readonly datatype: string;
  readonly shape: number[];
  readonly raw: Uint8Array;
}

/**
 * Every row's prediction as one binary tensor, when each is a row of a runtime's packed output of one dtype and
 * width: their bytes are copied (one copy for a run of consecutive rows of one batch), never made into JS values.
 * Undefined when any row got the default or came as a plain value: the answer is then BYTES.
 */
export function binaryOutput(outcomes: readonly Outcome[]): BinaryOutput | undefined {
  const first = outcomes[0];
  if (!first?.ok || !(first.output instanceof TensorRow)) return undefined;
  const { dtype, width } = first.output.tensor;
  for (const o of outcomes) {
    if (!o.ok || !(o.output instanceof TensorRow) || o.output.tensor.dtype !== dtype || o.output.tensor.width !== width) return undefined;
  }
  const per = first.output.tensor.perRow;
  const size = first.output.tensor.values.BYTES_PER_ELEMENT;
  const rowBytes = per * size;
  const raw = new Uint8Array(outcomes.length * rowBytes);
  let at = 0;
  for (let i = 0; i < outcomes.length; ) {
    const row = (outcomes[i] as { output: TensorRow }).output;
    // A run of rows that follow each other in one batch's tensor: one copy.
    let n = 1;
    while (i + n < outcomes.length) {
      const next = (outcomes[i + n] as { output: TensorRow }).output;
      if (next.tensor !== row.tensor || next.index !== row.index + n) break;
      n++;
    }
    const v = row.tensor.values;
    raw.set(new Uint8Array(v.buffer, v.byteOffset + row.index * rowBytes, n * rowBytes), at);
    at += n * rowBytes;
    i += n;
  }
  return { datatype: V2_OF_DTYPE[dtype], shape: width === 0 ? [outcomes.length] : [outcomes.length, width], raw };
}
