/**
 * A ModelInferResponse written straight into its gRPC frame (the 5-byte prefix and the protobuf): the raw
 * output bytes are copied once, with no generic message object per field (protobufjs's serializer cost
 * more than the rest of the answer). Field numbers are grpc_predict_v2.proto's.
 */

/** An InferParameter: text, a count (int64), or a confidence (double). */
export type ResponseParameter = { readonly string_param: string } | { readonly int64_param: number } | { readonly double_param: number };

export interface InferResponseFields {
  readonly model_name: string;
  readonly model_version: string;
  readonly id: string;
  readonly parameters: Readonly<Record<string, ResponseParameter>>;
  readonly output: { readonly name: string; readonly datatype: string; readonly shape: readonly number[] };
  readonly raw: Uint8Array;
}

const TEXT = new TextEncoder();

/** A handler's answer already written as its gRPC frame: the transport sends it as it is. */
export class EncodedResponse {
  constructor(readonly frame: Buffer) {}
}

/** Bytes of a varint of a non-negative safe integer. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

class Writer {
  at = 0;
  constructor(readonly buf: Buffer) {}
  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.at++] = n;
  }
  bytes(field: number, b: Uint8Array): void {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
}

const bytesField = (field: number, length: number) => varintSize((field << 3) | 2) + varintSize(length) + length;

function parameterBody(p: ResponseParameter): { size: number; write: (w: Writer) => void } {
  if ("string_param" in p) {
    const b = TEXT.encode(p.string_param);
    return { size: bytesField(3, b.length), write: (w) => w.bytes(3, b) };
  }
  if ("int64_param" in p) {
    const n = p.int64_param;
    return {
      size: 1 + varintSize(n),
      write: (w) => {
        w.varint((2 << 3) | 0);
        w.varint(n);
      },
    };
  }
  const d = p.double_param;
  return {
    size: 9,
    write: (w) => {
      w.varint((4 << 3) | 1);
      w.buf.writeDoubleLE(d, w.at);
      w.at += 8;
    },
  };
}

/** The whole gRPC message frame (uncompressed flag, big-endian length, protobuf) of one ModelInferResponse. */
export function encodeInferResponseFrame(r: InferResponseFields): Buffer {
  const name = TEXT.encode(r.model_name);
  const version = TEXT.encode(r.model_version);
  const id = TEXT.encode(r.id);
  const params = Object.entries(r.parameters).map(([k, v]) => {
    const key = TEXT.encode(k);
    const value = parameterBody(v);
    const entry = bytesField(1, key.length) + bytesField(2, value.size);
    return { key, value, entry };
  });
  const outName = TEXT.encode(r.output.name);
  const outType = TEXT.encode(r.output.datatype);
  let shapeBytes = 0;
  for (const d of r.output.shape) shapeBytes += varintSize(d);
  const tensor = bytesField(1, outName.length) + bytesField(2, outType.length) + bytesField(3, shapeBytes);

  let size = 0;
  if (name.length) size += bytesField(1, name.length);
  if (version.length) size += bytesField(2, version.length);
  if (id.length) size += bytesField(3, id.length);
  for (const p of params) size += bytesField(4, p.entry);
  size += bytesField(5, tensor) + bytesField(6, r.raw.length);

  const w = new Writer(Buffer.allocUnsafe(5 + size));
  w.buf[0] = 0;
  w.buf.writeUInt32BE(size, 1);
  w.at = 5;
  if (name.length) w.bytes(1, name);
  if (version.length) w.bytes(2, version);
  if (id.length) w.bytes(3, id);
  for (const p of params) {
    w.varint((4 << 3) | 2);
    w.varint(p.entry);
    w.bytes(1, p.key);
    w.varint((2 << 3) | 2);
    w.varint(p.value.size);
    p.value.write(w);
  }
  w.varint((5 << 3) | 2);
  w.varint(tensor);
  w.bytes(1, outName);
  w.bytes(2, outType);
  w.varint((3 << 3) | 2);
  w.varint(shapeBytes);
  for (const d of r.output.shape) w.varint(d);
  w.bytes(6, r.raw);
  return w.buf;
}
