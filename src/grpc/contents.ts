/** gRPC's typed tensor contents (`InferTensorContents`) as the flat data the V2 core parses. */
import { BadRequestError } from "../errors.ts";
import type { InputType } from "../domain.ts";
import { bytesElementsAsData } from "../query/oip-tensor.ts";

export interface TensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: number[];
  uint_contents?: number[];
  uint64_contents?: number[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
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
  const values = contents?.[name] ?? [];
  if (name === "bytes_contents") return bytesElementsAsData(values as Uint8Array[], inputType, field);
  if (name === "bool_contents") return (values as boolean[]).map((b) => (b ? 1 : 0));
  return values as number[];
}

/** True when `contents` holds any values at all (it must not, beside raw_input_contents). */
export function hasContents(contents: TensorContents | undefined): boolean {
  if (!contents) return false;
  for (const v of Object.values(contents)) if (Array.isArray(v) && v.length > 0) return true;
  return false;
}
