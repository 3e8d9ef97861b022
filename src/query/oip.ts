/**
 * The Open Inference Protocol (KServe V2) on clipper's terms: a V2 model is a clipper application;
 * `versions/{v}` pins the version of its linked model. Pure translation between V2 JSON and the rows
 * and outcomes of the request path.
 */
import { BadRequestError } from "../errors.ts";
import type { InputType } from "../runtime/protocol.ts";
import { MAX_BATCH_ROWS, MAX_INPUT_LENGTH, type ParsedQuery, parseRows } from "./input.ts";
import type { Outcome } from "./processor.ts";

/** The V2 datatype clipper reports for each input type. */
export const V2_DATATYPE: Record<InputType, string> = {
  doubles: "FP64", floats: "FP32", integers: "INT32", strings: "BYTES", bytes: "BYTES",
};

const NUMERIC_V2 = new Set(["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16", "FP32", "FP64"]);
const INTEGER_V2 = new Set(["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"]);

interface V2Tensor { name?: unknown; shape?: unknown; datatype?: unknown; data?: unknown }

/** Turns a V2 infer body into rows for an app of `inputType`: shape [N, K] is N rows of K values; [K] is one row. */
export function parseV2Request(body: unknown, inputType: InputType, withKeys: boolean): { id: string | undefined; parsed: ParsedQuery } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new BadRequestError("the request body must be a JSON object with 'inputs'");
  const { id, inputs } = body as { id?: unknown; inputs?: unknown };
  if (!Array.isArray(inputs) || inputs.length !== 1) {
    throw new BadRequestError("'inputs' must be an array holding exactly one tensor", `{"inputs": [{"name": "input", "shape": [1, 5], "datatype": "${V2_DATATYPE[inputType]}", "data": [...]}]}`);
  }
  const t = inputs[0] as V2Tensor;
  if (typeof t !== "object" || t === null) throw new BadRequestError("inputs[0] must be a tensor object");
  if (typeof t.name !== "string") throw new BadRequestError("inputs[0].name must be a string");
  const shape = t.shape;
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 6 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new BadRequestError("inputs[0].shape must be [N], [N, K] or [N, *row shape] (at most 6 dimensions) with whole numbers", `got ${JSON.stringify(shape)}`);
  }
  const datatype = t.datatype;
  const numeric = inputType === "doubles" || inputType === "floats" || inputType === "integers";
  if (typeof datatype !== "string" || (numeric ? !NUMERIC_V2.has(datatype) : datatype !== "BYTES")
      || (inputType === "integers" && !INTEGER_V2.has(datatype))) {
    throw new BadRequestError(`inputs[0].datatype '${String(datatype)}' does not fit the app's input type ${inputType}`,
      `use ${V2_DATATYPE[inputType]}`);
  }
  // [N, d1, d2, …] (a tensor model's input, e.g. [N, 1, 8, 8]) is N flat rows of d1·d2·… values, row-major.
  const rowValues = (shape as number[]).slice(1).reduce((a, d) => a * d, 1);
  const [n, k] = numeric ? (shape.length >= 2 ? [shape[0], rowValues] : [1, shape[0]]) as [number, number] : [shape[0] as number, 1];
  // Bound the shape before anything is built from it: the data check below cannot when a dimension is 0.
  if (n < 1 || n > MAX_BATCH_ROWS || k < 1 || k > MAX_INPUT_LENGTH) {
    throw new BadRequestError(`inputs[0].shape ${JSON.stringify(shape)} is out of range`,
      `1 to ${MAX_BATCH_ROWS} rows of 1 to ${MAX_INPUT_LENGTH} values`);
  }
  const flat = flatten(t.data);
  if (flat.length !== n * k) {
    throw new BadRequestError(`inputs[0].data has ${flat.length} values but shape ${JSON.stringify(shape)} needs ${n * k}`);
  }
  const values = datatype === "BOOL" ? flat.map((v) => (v === true ? 1 : v === false ? 0 : v)) : flat;
  const rows = numeric ? Array.from({ length: n }, (_, r) => values.slice(r * k, r * k + k)) : values;
  return { id: typeof id === "string" ? id : undefined, parsed: parseRows(rows, inputType, withKeys, "inputs[0].data") };
}

/** Row-major flattening of nested data (V2 allows both flat and nested). */
function flatten(data: unknown): unknown[] {
  if (!Array.isArray(data)) throw new BadRequestError("inputs[0].data must be an array (flat row-major, or nested)");
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 8) throw new BadRequestError("inputs[0].data is nested too deeply");
    if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else out.push(v);
  };
  walk(data, 0);
  return out;
}

/** The V2 response: one BYTES output of N strings (structured outputs as JSON text). */
export function v2Response(modelName: string, version: string | undefined, id: string | undefined, outcomes: readonly Outcome[], defaultOutput: string) {
  const data = outcomes.map((o) => (o.ok ? (typeof o.output === "string" ? o.output : JSON.stringify(o.output)) : defaultOutput));
  const defaults = outcomes.flatMap((o, i) => (o.ok ? [] : [{ row: i, explanation: o.reason }]));
  return {
    model_name: modelName,
    ...(version === undefined ? {} : { model_version: version }),
    ...(id === undefined ? {} : { id }),
    ...(defaults.length ? { parameters: { default_rows: JSON.stringify(defaults) } } : {}),
    outputs: [{ name: "output", shape: [data.length], datatype: "BYTES", data }],
  };
}
