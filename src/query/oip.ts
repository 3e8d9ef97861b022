/**
 * The Open Inference Protocol (KServe V2) on clipper's terms: a V2 model is a clipper application;
 * `versions/{v}` pins the version of its linked model. Pure translation between V2 requests (JSON, with
 * or without binary tensor data, or gRPC) and the rows and outcomes of the request path.
 */
import { parseV2Timeout } from "./client-timeout.ts";
import { BadRequestError } from "../errors.ts";
import type { InputType } from "../domain.ts";
import { MAX_BATCH_ROWS, MAX_INPUT_LENGTH, type ParsedQuery, parseContext, parseRows } from "./input.ts";
import { type BinaryOutput, binaryOutput, bytesElementsAsData, decodeRaw, encodeBytesTensor, typedRows } from "./oip-tensor.ts";
import { plainOutput } from "../domain.ts";
import type { Outcome } from "./processor.ts";
import type { AppRoute } from "./snapshot.ts";
import pkg from "../../package.json" with { type: "json" };

/** The server metadata both V2 adapters answer. */
export const V2_SERVER = { name: "clipper", version: pkg.version, extensions: ["binary_tensor_data"] } as const;

/** The V2 datatype clipper reports for each input type. */
export const V2_DATATYPE: Record<InputType, string> = {
  doubles: "FP64",
  floats: "FP32",
  integers: "INT32",
  strings: "BYTES",
  bytes: "BYTES",
};

const NUMERIC_V2 = new Set(["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16", "FP32", "FP64"]);
const INTEGER_V2 = new Set(["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"]);

/** One input tensor: its values as JSON `data` (flat or nested), or as `raw` little-endian bytes. */
export interface V2Tensor {
  name?: unknown;
  shape?: unknown;
  datatype?: unknown;
  data?: unknown;
  raw?: Uint8Array;
}

/** A V2 infer body's rows, with its id and how it wants the output. */
export interface V2Request extends ParsedQuery {
  readonly id: string | undefined;
  /** The client asked for the output as binary data (`binary_data` on it, or `binary_data_output`). */
  readonly binaryOutput: boolean;
}

/**
 * Turns a V2 infer body into rows for an app of `inputType`. `binary` is what followed the JSON header
 * under the binary data extension: the input's `parameters.binary_data_size` bytes of it are its data.
 */
export function parseV2Request(body: unknown, inputType: InputType, withKeys: boolean, binary?: Uint8Array): V2Request {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new BadRequestError("the request body must be a JSON object with 'inputs'");
  const { id, inputs, outputs, parameters } = body as { id?: unknown; inputs?: unknown; outputs?: unknown; parameters?: unknown };
  if (!Array.isArray(inputs) || inputs.length !== 1) {
    throw new BadRequestError(
      "'inputs' must be an array holding exactly one tensor",
      `{"inputs": [{"name": "input", "shape": [1, 5], "datatype": "${V2_DATATYPE[inputType]}", "data": [...]}]}`,
    );
  }
  const t = inputs[0] as V2Tensor & { parameters?: unknown };
  if (typeof t !== "object" || t === null) throw new BadRequestError("inputs[0] must be a tensor object");
  const size = paramOf(t.parameters, "binary_data_size");
  const binaryLength = binary?.length ?? 0;
  let tensor: V2Tensor = t;
  if (size !== undefined) {
    if (!Number.isSafeInteger(size) || (size as number) < 0) {
      throw new BadRequestError("inputs[0].parameters.binary_data_size must be a whole number of bytes", `got ${JSON.stringify(size)}`);
    }
    if (t.data !== undefined) throw new BadRequestError("inputs[0] has both 'data' and parameters.binary_data_size", "give one of them");
    if ((size as number) !== binaryLength) {
      throw new BadRequestError(
        `inputs[0].parameters.binary_data_size is ${size as number} but ${binaryLength} bytes of binary data follow the JSON header`,
        binary === undefined
          ? "binary data needs the Inference-Header-Content-Length header"
          : "the sizes of the inputs must add up to the bytes after the header",
      );
    }
    tensor = { ...t, raw: binary };
  } else if (binaryLength > 0) {
    throw new BadRequestError(`${binaryLength} bytes of binary data follow the JSON header but no input has parameters.binary_data_size`);
  }
  const { rows, keys, batch } = parseV2Tensor(tensor, inputType, withKeys);
  const context = paramOf(parameters, "context");
  return {
    rows,
    keys,
    batch,
    ...(context === undefined ? {} : { context: parseContext(context, "parameters.context") }),
    id: typeof id === "string" ? id : undefined,
    binaryOutput: wantsBinaryOutput(outputs, parameters),
    timeoutMs: parseV2Timeout(paramOf(parameters, "timeout")),
  };
}

function paramOf(parameters: unknown, name: string): unknown {
  return typeof parameters === "object" && parameters !== null ? (parameters as Record<string, unknown>)[name] : undefined;
}

/** The output goes as binary when its own `binary_data` says so, else when the request's `binary_data_output` does. */
function wantsBinaryOutput(outputs: unknown, parameters: unknown): boolean {
  const all = paramOf(parameters, "binary_data_output") === true;
  if (outputs === undefined) return all;
  if (!Array.isArray(outputs)) throw new BadRequestError("'outputs' must be an array of requested outputs", '[{"name": "output"}]');
  let binary = all;
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i] as { name?: unknown; parameters?: unknown } | null;
    if (typeof o !== "object" || o === null || o.name !== "output") {
      throw new BadRequestError(`outputs[${i}] names no output of this model`, "its one output is named 'output'");
    }
    const own = paramOf(o.parameters, "binary_data");
    if (typeof own === "boolean") binary = own;
  }
  return binary;
}

/** One input tensor as rows: shape [N, K] is N rows of K values; [K] is one row; BYTES [N] is N rows. */
export function parseV2Tensor(t: V2Tensor, inputType: InputType, withKeys: boolean, field = "inputs[0]"): ParsedQuery {
  if (typeof t.name !== "string") throw new BadRequestError(`${field}.name must be a string`);
  const shape = t.shape;
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 6 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new BadRequestError(`${field}.shape must be [N], [N, K] or [N, *row shape] (at most 6 dimensions) with whole numbers`, `got ${shown(shape)}`);
  }
  const datatype = t.datatype;
  const numeric = inputType === "doubles" || inputType === "floats" || inputType === "integers";
  if (typeof datatype !== "string" || (numeric ? !NUMERIC_V2.has(datatype) : datatype !== "BYTES") || (inputType === "integers" && !INTEGER_V2.has(datatype))) {
    throw new BadRequestError(`${field}.datatype '${String(datatype)}' does not fit the app's input type ${inputType}`, `use ${V2_DATATYPE[inputType]}`);
  }
  // [N, d1, d2, …] (a tensor model's input, e.g. [N, 1, 8, 8]) is N flat rows of d1·d2·… values, row-major.
  const rowValues = (shape as number[]).slice(1).reduce((a, d) => a * d, 1);
  const [n, k] = numeric ? ((shape.length >= 2 ? [shape[0], rowValues] : [1, shape[0]]) as [number, number]) : [shape[0] as number, 1];
  // Bound the shape before anything is built from it: the data check below cannot when a dimension is 0.
  if (n < 1 || n > MAX_BATCH_ROWS || k < 1 || k > MAX_INPUT_LENGTH || n * k > MAX_INPUT_LENGTH * 10) {
    throw new BadRequestError(`${field}.shape ${JSON.stringify(shape)} is out of range`, `1 to ${MAX_BATCH_ROWS} rows of 1 to ${MAX_INPUT_LENGTH} values`);
  }
  if (t.raw !== undefined && numeric && datatype === V2_DATATYPE[inputType]) return typedRows(t.raw, inputType, n, k, withKeys, field);
  let flat: unknown[];
  if (t.raw !== undefined) {
    const decoded = decodeRaw(t.raw, datatype, n * k, field);
    flat = datatype === "BYTES" ? bytesElementsAsData(decoded as Uint8Array[], inputType, field) : decoded;
  } else {
    flat = flatten(t.data, field);
  }
  if (flat.length !== n * k) {
    throw new BadRequestError(`${field}.data has ${flat.length} values but shape ${JSON.stringify(shape)} needs ${n * k}`);
  }
  const values = datatype === "BOOL" ? flat.map((v) => (v === true ? 1 : v === false ? 0 : v)) : flat;
  const rows = numeric ? Array.from({ length: n }, (_, r) => values.slice(r * k, r * k + k)) : values;
  return parseRows(rows, inputType, withKeys, `${field}.data`);
}

/** Row-major flattening of nested data (V2 allows both flat and nested). */
function flatten(data: unknown, field: string): unknown[] {
  if (!Array.isArray(data)) throw new BadRequestError(`${field}.data must be an array (flat row-major, or nested)`);
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 8) throw new BadRequestError(`${field}.data is nested too deeply`);
    if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else out.push(v);
  };
  walk(data, 0);
  return out;
}

/** What any V2 answer carries, whatever its encoding. */
export interface V2Answer {
  readonly modelName: string;
  readonly version: string | undefined;
  readonly id: string | undefined;
  /** JSON list of `{row, explanation}` for the rows that got the default output, when any did. */
  readonly defaultRows: string | undefined;
  /** One string per row (structured outputs as JSON text); empty when `tensor` holds the rows. */
  readonly data: string[];
  /** Asked for binary: the rows as one tensor of the model's own numbers (when the runtime packed them and no row got the default). */
  readonly tensor: BinaryOutput | undefined;
  /** An ensemble's vote: what the response's parameters say of it (v2Votes). */
  readonly votes: V2Votes | undefined;
}

/**
 * An ensemble's vote in a V2 response's parameters: `votes`, JSON of `{row, confidence, answered_by}` per row;
 * `models_total`; and for a one-row request, the row's `confidence`, `models_answered` and `answered_by` (JSON list).
 */
export interface V2Votes {
  readonly votes: string;
  readonly modelsTotal: number;
  readonly single: { readonly confidence: number; readonly modelsAnswered: number; readonly answeredBy: string } | undefined;
}

function v2Votes(outcomes: readonly Outcome[]): V2Votes | undefined {
  const first = outcomes[0]?.vote;
  if (!first) return undefined;
  const rows = outcomes.map((o, row) => ({ row, confidence: o.vote?.confidence ?? 0, answered_by: o.vote?.answeredBy ?? [] }));
  return {
    votes: JSON.stringify(rows),
    modelsTotal: first.total,
    single:
      outcomes.length === 1
        ? { confidence: first.confidence, modelsAnswered: first.answeredBy.length, answeredBy: JSON.stringify(first.answeredBy) }
        : undefined,
  };
}

/** The V2 JSON `parameters` of an answer: default_rows, and an ensemble's vote. */
export function v2Parameters(a: V2Answer): Record<string, string | number> | undefined {
  if (a.defaultRows === undefined && a.votes === undefined) return undefined;
  const p: Record<string, string | number> = {};
  if (a.defaultRows !== undefined) p.default_rows = a.defaultRows;
  const v = a.votes;
  if (v) {
    p.votes = v.votes;
    p.models_total = v.modelsTotal;
    if (v.single) {
      p.confidence = v.single.confidence;
      p.models_answered = v.single.modelsAnswered;
      p.answered_by = v.single.answeredBy;
    }
  }
  return p;
}

export function v2Answer(
  modelName: string,
  version: string | undefined,
  id: string | undefined,
  outcomes: readonly Outcome[],
  defaultOutput: string,
  binary = false,
): V2Answer {
  const tensor = binary ? binaryOutput(outcomes) : undefined;
  const data = tensor ? [] : outcomes.map((o) => (o.ok ? outputText(o.output) : defaultOutput));
  let defaults: { row: number; explanation: string }[] | undefined;
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i]!;
    if (!o.ok) (defaults ??= []).push({ row: i, explanation: o.reason });
  }
  return { modelName, version, id, defaultRows: defaults ? JSON.stringify(defaults) : undefined, data, tensor, votes: v2Votes(outcomes) };
}

/** A prediction as a BYTES element: a string as it is, anything else (a list, a map) as its JSON. */
function outputText(output: unknown): string {
  const plain = plainOutput(output);
  return typeof plain === "string" ? plain : JSON.stringify(plain);
}

/** The answer's output as binary bytes: its tensor's, or its strings as BYTES elements. */
export function v2OutputBytes(a: V2Answer): { datatype: string; shape: number[]; raw: Uint8Array } {
  return a.tensor ?? { datatype: "BYTES", shape: [a.data.length], raw: encodeBytesTensor(a.data) };
}

/** The V2 JSON response: one BYTES output of N strings, or only its shape, datatype and size when `binary` follows it. */
export function v2Json(a: V2Answer, binary?: { datatype: string; shape: number[]; raw: Uint8Array }) {
  return {
    model_name: a.modelName,
    ...(a.version === undefined ? {} : { model_version: a.version }),
    ...(a.id === undefined ? {} : { id: a.id }),
    ...(a.defaultRows === undefined && a.votes === undefined ? {} : { parameters: v2Parameters(a) }),
    outputs: [
      binary === undefined
        ? { name: "output", shape: [a.data.length], datatype: "BYTES", data: a.data }
        : { name: "output", shape: binary.shape, datatype: binary.datatype, parameters: { binary_data_size: binary.raw.length } },
    ],
  };
}

/** A value for an error message: its JSON, cut short; a value nested too deeply for JSON.stringify says so. */
function shown(value: unknown): string {
  try {
    return String(JSON.stringify(value)).slice(0, 200);
  } catch {
    return "a value nested too deeply to show";
  }
}

/** The V2 model metadata of an app. */
export function v2Metadata(route: AppRoute) {
  const datatype = V2_DATATYPE[route.app.inputType];
  return {
    name: route.app.name,
    versions: route.linked.map((c) => c.version),
    platform: `clipper-${route.app.policy}`,
    inputs: [{ name: "input", datatype, shape: datatype === "BYTES" ? [-1] : [-1, -1] }],
    outputs: [{ name: "output", datatype: "BYTES", shape: [-1] }],
  };
}
