/**
 * A ModelInferRequest (grpc_predict_v2.proto) read straight from its protobuf bytes: typed tensor contents
 * come out as typed arrays over one copy of their bytes (fp64_contents a Float64Array, fp32 a Float32Array,
 * int an Int32Array), not as a JS number per element built by a generic decoder, and raw_input_contents as
 * views of the message. Fields the service does not read (the tensors' parameters) are skipped. Anything malformed throws
 * a MalformedMessage, and the caller falls back to the generic decoder for its error message.
 */

export class MalformedMessage extends Error {}

export interface DecodedContents {
  bool_contents?: Uint8Array;
  int_contents?: Int32Array;
  int64_contents?: number[];
  uint_contents?: number[];
  uint64_contents?: number[];
  fp32_contents?: Float32Array;
  fp64_contents?: Float64Array;
  bytes_contents?: Uint8Array[];
}

export interface DecodedInput {
  name?: string;
  datatype?: string;
  shape?: number[];
  contents?: DecodedContents;
}

/** One of a request's `parameters` (the oneof's field that is set, as the generic decoder gives it). */
export interface DecodedParameter {
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  parameter_choice?: "bool_param" | "int64_param" | "string_param";
}

export interface DecodedInferRequest {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, DecodedParameter>;
  inputs?: DecodedInput[];
  outputs?: { name?: string }[];
  raw_input_contents?: Uint8Array[];
}

const UTF8 = new TextDecoder();

/** A cursor over protobuf bytes. */
class Reader {
  at: number;
  constructor(
    readonly buf: Uint8Array,
    from = 0,
    readonly end = buf.length,
  ) {
    this.at = from;
  }

  /** The next varint as its low and high 32 bits (unsigned). */
  varint64(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new MalformedMessage("a varint runs past the end");
      const b = this.buf[this.at++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw new MalformedMessage("a varint longer than 10 bytes");
  }

  /** A varint that is a length, a key or an unsigned count. */
  varint(): number {
    const [lo, hi] = this.varint64();
    return hi * 2 ** 32 + lo;
  }

  /** The next length-delimited field's bytes, as a view. */
  bytes(): Uint8Array {
    const n = this.varint();
    if (n > this.end - this.at) throw new MalformedMessage("a length runs past the end");
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  string(): string {
    return UTF8.decode(this.bytes());
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.at += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.at += 4;
    else throw new MalformedMessage(`wire type ${wire} is not supported`);
    if (this.at > this.end) throw new MalformedMessage("a field runs past the end");
  }
}

/** Reads the fields of one message between `from` and `end`, handing each (field number, wire type) to `on`. */
function fields(buf: Uint8Array, on: (field: number, wire: number, r: Reader) => boolean, from = 0, end = buf.length): void {
  const r = new Reader(buf, from, end);
  while (r.at < r.end) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (!on(field, wire, r)) r.skip(wire);
  }
}

export function decodeInferRequest(buf: Uint8Array): DecodedInferRequest {
  const req: DecodedInferRequest = {};
  fields(buf, (field, wire, r) => {
    if (wire !== 2) return false;
    if (field === 1) req.model_name = r.string();
    else if (field === 2) req.model_version = r.string();
    else if (field === 3) req.id = r.string();
    else if (field === 4) decodeParameterEntry(r.bytes(), (req.parameters ??= {}));
    else if (field === 5) (req.inputs ??= []).push(decodeInput(r.bytes()));
    else if (field === 6) (req.outputs ??= []).push(decodeOutput(r.bytes()));
    else if (field === 7) (req.raw_input_contents ??= []).push(r.bytes());
    else return false;
    return true;
  });
  return req;
}

/** One `map<string, InferParameter>` entry (key = 1, value = 2) into `into`. */
function decodeParameterEntry(buf: Uint8Array, into: Record<string, DecodedParameter>): void {
  let key = "";
  const value: DecodedParameter = {};
  fields(buf, (field, wire, r) => {
    if (field === 1 && wire === 2) key = r.string();
    else if (field === 2 && wire === 2) {
      fields(r.bytes(), (f, w, p) => {
        if (f === 1 && w === 0) {
          value.bool_param = BOOL(...p.varint64()) === 1;
          value.parameter_choice = "bool_param";
        } else if (f === 2 && w === 0) {
          value.int64_param = INT64(...p.varint64());
          value.parameter_choice = "int64_param";
        } else if (f === 3 && w === 2) {
          value.string_param = p.string();
          value.parameter_choice = "string_param";
        } else return false;
        return true;
      });
    } else return false;
    return true;
  });
  into[key] = value;
}

function decodeOutput(buf: Uint8Array): { name?: string } {
  const out: { name?: string } = {};
  fields(buf, (field, wire, r) => {
    if (field !== 1 || wire !== 2) return false;
    out.name = r.string();
    return true;
  });
  return out;
}

function decodeInput(buf: Uint8Array): DecodedInput {
  const input: DecodedInput = {};
  fields(buf, (field, wire, r) => {
    if (field === 1 && wire === 2) input.name = r.string();
    else if (field === 2 && wire === 2) input.datatype = r.string();
    else if (field === 3) varints(r, wire, INT64, (input.shape ??= []));
    else if (field === 5 && wire === 2) input.contents = decodeContents(r.bytes());
    else return false;
    return true;
  });
  return input;
}

type VarintAs = (lo: number, hi: number) => number;
/** How each integer type reads a varint's two halves (as protobufjs does with longs as Number). */
const INT32: VarintAs = (lo) => lo | 0;
const UINT32: VarintAs = (lo) => lo;
const INT64: VarintAs = (lo, hi) => (hi | 0) * 2 ** 32 + lo;
const UINT64: VarintAs = (lo, hi) => hi * 2 ** 32 + lo;
const BOOL: VarintAs = (lo, hi) => (lo !== 0 || hi !== 0 ? 1 : 0);

/** Appends a repeated varint field's values to `out`: packed (wire type 2) or one element (wire type 0). */
function varints(r: Reader, wire: number, as: VarintAs, out: number[]): number[] {
  if (wire === 0) {
    out.push(as(...r.varint64()));
    return out;
  }
  if (wire !== 2) throw new MalformedMessage("a repeated integer field of the wrong wire type");
  const inner = new Reader(r.bytes());
  while (inner.at < inner.end) out.push(as(...inner.varint64()));
  return out;
}

function decodeContents(buf: Uint8Array): DecodedContents {
  const c: DecodedContents = {};
  const fixed: { f32: Uint8Array[]; f64: Uint8Array[] } = { f32: [], f64: [] };
  const ints: number[] = [];
  const bools: number[] = [];
  fields(buf, (field, wire, r) => {
    switch (field) {
      case 1:
        varints(r, wire, BOOL, bools);
        return true;
      case 2:
        varints(r, wire, INT32, ints);
        return true;
      case 3:
        varints(r, wire, INT64, (c.int64_contents ??= []));
        return true;
      case 4:
        varints(r, wire, UINT32, (c.uint_contents ??= []));
        return true;
      case 5:
        varints(r, wire, UINT64, (c.uint64_contents ??= []));
        return true;
      case 6:
        fixed.f32.push(fixedBytes(r, wire, 4));
        return true;
      case 7:
        fixed.f64.push(fixedBytes(r, wire, 8));
        return true;
      case 8:
        if (wire !== 2) return false;
        (c.bytes_contents ??= []).push(r.bytes());
        return true;
      default:
        return false;
    }
  });
  if (bools.length > 0) c.bool_contents = Uint8Array.from(bools);
  if (ints.length > 0) c.int_contents = Int32Array.from(ints);
  if (fixed.f32.length > 0) c.fp32_contents = new Float32Array(joined(fixed.f32).buffer);
  if (fixed.f64.length > 0) c.fp64_contents = new Float64Array(joined(fixed.f64).buffer);
  return c;
}

/** A packed fixed-width field's bytes (wire type 2), or one element (wire type 1 or 5). */
function fixedBytes(r: Reader, wire: number, size: 4 | 8): Uint8Array {
  if (wire === 2) {
    const b = r.bytes();
    if (b.length % size !== 0) throw new MalformedMessage(`a packed field of ${b.length} bytes is not a whole number of ${size}-byte values`);
    return b;
  }
  if (wire !== (size === 8 ? 1 : 5)) throw new MalformedMessage("a floating-point field of the wrong wire type");
  if (r.at + size > r.end) throw new MalformedMessage("a value runs past the end");
  const b = r.buf.subarray(r.at, r.at + size);
  r.at += size;
  return b;
}

/** Parts joined into a fresh buffer (aligned for any typed array). */
function joined(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
