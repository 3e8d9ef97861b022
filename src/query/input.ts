/** Parses and validates a predict body against the app's input type; every rejection names what was expected. */
import { BadRequestError } from "../errors.ts";
import { INPUT_TYPES, type InputType, type Row } from "../domain.ts";
import { MAX_CONTEXT_LENGTH } from "../policy/contexts.ts";

export { INPUT_TYPES, type Row };

export interface ParsedQuery {
  readonly rows: Row[];
  /** Cache keys, one per row (the row's canonical text); empty when not asked for. */
  readonly keys: string[];
  /** The client's own timeout (ms) when its body carries one (V2 `parameters.timeout`, µs on the wire). */
  readonly timeoutMs?: number | undefined;
  readonly batch: boolean;
  /** The query's context (`"context": "user-17"`): exp3 and ensemble learn and answer with its own weights. */
  readonly context?: string;
}

/** Upper bound on values in one input and rows in one batch, beyond what the body limit implies. */
export const MAX_INPUT_LENGTH = 1_000_000;
export const MAX_BATCH_ROWS = 10_000;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** The keys of a query parsed without them (shared: nobody writes to it). */
const NO_KEYS: string[] = [];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The row width a model declared (the check at the door), and how messages name the model. */
export interface ExpectedWidth {
  readonly width: number;
  /** `model NAME version V` */
  readonly label: string;
}

const EXPECTED: Record<InputType, string> = {
  integers: "a non-empty array of 32-bit integers",
  floats: "a non-empty array of finite numbers",
  doubles: "a non-empty array of finite numbers",
  strings: "a string",
  bytes: "a base64-encoded string",
};

export function parseQuery(text: string, inputType: InputType, withKeys = true, expect?: ExpectedWidth): ParsedQuery {
  return parseQueryBody(parseJsonBody(text, inputType), inputType, withKeys, expect);
}

/** The body's JSON value, or a 400 saying what an app of `inputType` expects. */
export function parseJsonBody(text: string, inputType: InputType): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError("request body is not valid JSON", `expected {"input": ${EXPECTED[inputType]}}; ${(err as Error).message}`);
  }
}

/** Validates an already parsed body: `{"input": ...}` or `{"input_batch": [...]}`. */
export function parseQueryBody(body: unknown, inputType: InputType, withKeys = true, expect?: ExpectedWidth): ParsedQuery {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequestError("request body must be a JSON object", `expected {"input": ${EXPECTED[inputType]}} or {"input_batch": [...]}`);
  }
  const obj = body as { input?: unknown; input_batch?: unknown; context?: unknown };
  const input = obj.input;
  const context = obj.context === undefined ? undefined : parseContext(obj.context, "context");
  // The common case, one valid numeric input, without the intermediate result object.
  if (validNumbers(input, inputType) && (expect === undefined || input.length === expect.width)) {
    return { rows: [input], keys: withKeys ? [input.join(",")] : NO_KEYS, batch: false, context };
  }
  if (obj.input !== undefined) {
    const { row, key } = parseRow(obj.input, inputType, "input", withKeys);
    if (expect && Array.isArray(row) && row.length !== expect.width) throw wrongWidth("input", row.length, expect);
    return { rows: [row], keys: withKeys ? [key] : [], batch: false, context };
  }
  if (obj.input_batch !== undefined) {
    const parsed = parseRows(obj.input_batch, inputType, withKeys, "input_batch", expect);
    return context === undefined ? parsed : { ...parsed, context };
  }
  throw new BadRequestError("request body has no 'input' or 'input_batch' field", `expected {"input": ${EXPECTED[inputType]}}`);
}

/** Validates a list of inputs (`field` names it in messages): non-empty, bounded, not ragged. */
export function parseRows(value: unknown, inputType: InputType, withKeys: boolean, field: string, expect?: ExpectedWidth): ParsedQuery {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequestError(`'${field}' must be a non-empty array of inputs`, `each input is ${EXPECTED[inputType]}`);
  }
  if (value.length > MAX_BATCH_ROWS) {
    throw new BadRequestError(`'${field}' has ${value.length} inputs, more than the limit of ${MAX_BATCH_ROWS}`);
  }
  const rows: Row[] = new Array(value.length);
  const keys: string[] = withKeys ? new Array(value.length) : [];
  let width = expect ? expect.width : -1;
  for (let i = 0; i < value.length; i++) {
    // The common case (numeric rows that are all valid) is checked inline, without a result object per row.
    const v = value[i];
    if (validNumbers(v, inputType) && (width === -1 || v.length === width)) {
      width = v.length;
      rows[i] = v;
      if (withKeys) keys[i] = v.join(",");
      continue;
    }
    const { row, key } = parseRow(v, inputType, `${field}[${i}]`, withKeys);
    if (Array.isArray(row)) {
      if (width === -1) width = row.length;
      else if (row.length !== width) {
        if (expect) throw wrongWidth(`${field}[${i}]`, row.length, expect);
        throw new BadRequestError(
          `'${field}' is ragged: ${field}[${i}] has ${row.length} values, ${field}[0] has ${width}`,
          "every input in a batch must have the same length",
        );
      }
    }
    rows[i] = row;
    if (withKeys) keys[i] = key;
  }
  return { rows, keys, batch: true };
}

function parseRow(value: unknown, inputType: InputType, field: string, withKey: boolean): { row: Row; key: string } {
  switch (inputType) {
    case "doubles":
    case "floats":
    case "integers":
      return parseNumbers(value, inputType, field, withKey);
    case "strings":
      if (typeof value !== "string") throw wrongType(field, inputType, value);
      if (value.length > MAX_INPUT_LENGTH) throw tooLong(field, value.length);
      return { row: value, key: value };
    case "bytes": {
      if (typeof value !== "string" || !BASE64.test(value) || value.length % 4 !== 0) throw wrongType(field, inputType, value);
      return { row: Buffer.from(value, "base64"), key: value };
    }
  }
}

/** Index of the first value that is not a finite number (a 32-bit integer for `integers`), or -1. */
function firstInvalid(values: readonly unknown[], inputType: InputType): number {
  const ints = inputType === "integers";
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "number" || !Number.isFinite(v) || (ints && (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX))) return i;
  }
  return -1;
}

/** The fast path's test: a numeric app's input that parseNumbers would accept as it is. */
function validNumbers(value: unknown, inputType: InputType): value is number[] {
  return (
    (inputType === "doubles" || inputType === "floats" || inputType === "integers") &&
    Array.isArray(value) &&
    value.length > 0 &&
    value.length <= MAX_INPUT_LENGTH &&
    firstInvalid(value, inputType) === -1
  );
}

function parseNumbers(value: unknown, inputType: InputType, field: string, withKey: boolean): { row: number[]; key: string } {
  if (!Array.isArray(value) || value.length === 0) throw wrongType(field, inputType, value);
  if (value.length > MAX_INPUT_LENGTH) throw tooLong(field, value.length);
  const i = firstInvalid(value, inputType);
  if (i !== -1) {
    throw new BadRequestError(
      `${field}[${i}] is ${describe(value[i])}, not ${inputType === "integers" ? "a 32-bit integer" : "a finite number"}`,
      `${field} must be ${EXPECTED[inputType]}`,
    );
  }
  return { row: value as number[], key: withKey ? value.join(",") : "" };
}

/** A query's context: a non-empty string of at most MAX_CONTEXT_LENGTH characters (`field` names it in the 400). */
export function parseContext(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_CONTEXT_LENGTH) {
    throw new BadRequestError(
      `${field} must be a string of 1 to ${MAX_CONTEXT_LENGTH} characters, got ${describe(value)}`,
      'name the user or session whose weights the policy keeps, e.g. "context": "user-17"',
    );
  }
  return value;
}

/** A row whose width is not the model's: a client bug, answered before it can share a batch with others. */
export function wrongWidth(field: string, values: number, expect: ExpectedWidth): BadRequestError {
  return new BadRequestError(
    `${field} has ${values} value${values === 1 ? "" : "s"}; ${expect.label} expects ${expect.width}`,
    `send rows of ${expect.width} values`,
  );
}

function wrongType(field: string, inputType: InputType, value: unknown): BadRequestError {
  return new BadRequestError(`${field} must be ${EXPECTED[inputType]} (the app's input type is ${inputType}), got ${describe(value)}`);
}

function tooLong(field: string, length: number): BadRequestError {
  return new BadRequestError(`${field} has ${length} values, more than the limit of ${MAX_INPUT_LENGTH}`);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return v.length === 0 ? "an empty array" : `an array of ${v.length}`;
  if (typeof v === "string") return v.length > 20 ? `a string of ${v.length} characters` : `the string ${JSON.stringify(v)}`;
  return typeof v === "number" ? `the number ${v}` : `a ${typeof v}`;
}
