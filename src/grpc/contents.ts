/** gRPC's typed tensor contents (`InferTensorContents`) as the flat data the V2 core parses. */
import { BadRequestError } from "../errors.ts";
import type { InputType } from "../domain.ts";
import { bytesElementsAsData } from "../query/oip-tensor.ts";

/** As the generic decoder gives them (lists), or as decodeInferRequest does (typed arrays for the fixed-size ones). */
export interface TensorContents {
  bool_contents?: boolean[] | Uint8Array;
  int_contents?: number[] | Int32Array;
  int64_contents?: number[];
  uint_contents?: number[];
  uint64_contents?: number[];
  fp32_contents?: number[] | Float32Array;
  fp64_contents?: number[] | Float64Array;
  bytes_contents?: Uint8Array[];
}

/** The datatype whose typed contents are the app's own rows as they are: passed on as their bytes. */
const OWN: Readonly<Record<string, { datatype: string; field: "fp64_contents" | "fp32_contents" | "int_contents" }>> = {
  doubles: { datatype: "FP64", field: "fp64_contents" },
  floats: { datatype: "FP32", field: "fp32_contents" },
  integers: { datatype: "INT32", field: "int_contents" },
};

/** The bytes of typed contents of the app's own datatype (decoded as a typed array), or undefined. */
export function ownTypedBytes(contents: TensorContents | undefined, datatype: string, inputType: InputType): Uint8Array | undefined {
  const own = OWN[inputType];
  if (!own || own.datatype !== datatype) return undefined;
  const values = contents?.[own.field];
  return ArrayBuffer.isView(values) ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength) : undefined;
}

/** Which repeated field carries each datatype (the V2 gRPC spec's table). */
const FIELD_OF: Readonly<Record<string, keyof TensorContents>> = {
  BOOL: "bool_contents",
  INT8: "int_contents",
  INT16: "int_contents",
  INT32: "int_contents",
  INT64: "int64_contents",
  UINT8: "uint_contents",
  UINT16: "uint_contents",
  UINT32: "uint_contents",
  UINT64: "uint64_contents",
  FP32: "fp32_contents",
  FP64: "fp64_contents",
  BYTES: "bytes_contents",
};

/** The values of `contents` for `datatype` (an unknown datatype gives none: the core names the datatype). */
export function contentsData(contents: TensorContents | undefined, datatype: string, inputType: InputType, field: string): unknown[] {
  if (datatype === "FP16") throw new BadRequestError(`${field}: FP16 data must come in raw_input_contents`, "there is no typed field for FP16");
  const name = FIELD_OF[datatype];
  if (name === undefined) return [];
  const found = contents?.[name] ?? [];
  if (name === "bytes_contents") return bytesElementsAsData(found as Uint8Array[], inputType, field);
  const values = ArrayBuffer.isView(found) ? Array.from(found as ArrayLike<number>) : (found as (number | boolean)[]);
  if (name === "bool_contents") return values.map((b) => (b ? 1 : 0));
  return values as number[];
}

/** True when `contents` holds any values at all (it must not, beside raw_input_contents). */
export function hasContents(contents: TensorContents | undefined): boolean {
  if (!contents) return false;
  for (const v of Object.values(contents)) if ((Array.isArray(v) || ArrayBuffer.isView(v)) && (v as ArrayLike<unknown>).length > 0) return true;
  return false;
}
