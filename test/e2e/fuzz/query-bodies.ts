/** Bodies of the query routes by the app's input type: Clipper's predict and update, and V2 (Open Inference Protocol) infer. */
import fc from "fast-check";
import { bodyFor, mutatedObject, wrongValue } from "./arbitraries.ts";
import { type Loose, Raw } from "./loose-json.ts";

/** Apps without models, one per input type, created before fuzzing. */
export const TYPED_APPS = { integers: "fz-integers", floats: "fz-floats", doubles: "fz-doubles", strings: "fz-strings", bytes: "fz-bytes" } as const;
export type InputType = keyof typeof TYPED_APPS;

/** A row for an input type: valid, or one of the ways it can be wrong. */
function row(type: InputType, forProtected: boolean): fc.Arbitrary<Loose> {
  const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
  switch (type) {
    case "doubles":
    case "floats":
      // The deployed model takes 5 features; other widths reach the replica and fail there.
      return forProtected
        ? fc.oneof({ arbitrary: fc.array(finite, { minLength: 5, maxLength: 5 }), weight: 4 }, fc.array(finite, { maxLength: 8 }))
        : fc.array(finite, { minLength: 1, maxLength: 8 });
    case "integers":
      return fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 8 });
    case "strings":
      return fc.string({ unit: "grapheme", maxLength: 30 });
    case "bytes":
      return fc.base64String({ maxLength: 40 });
  }
}

const V2_TYPES = ["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16", "FP32", "FP64", "BYTES", "fp64", "", "STRING"];
const V2_DATATYPE: Record<InputType, string> = { doubles: "FP64", floats: "FP32", integers: "INT32", strings: "BYTES", bytes: "BYTES" };
/**
 * Odd shapes. A huge dimension is always over 2^32 - 1 (no array can be that long), never one a server could
 * start allocating for: believing [2^31, 0] would mean two billion rows (see the report of this test).
 */
const oddDim = fc.oneof({ arbitrary: fc.nat({ max: 7 }), weight: 4 }, fc.constantFrom(0, 2 ** 32, 2 ** 53, 1e300, -1, 1.5));
const oddShape: fc.Arbitrary<Loose> = fc.oneof(
  fc.array(oddDim, { maxLength: 3 }),
  fc.constantFrom<Loose>([], [0], [0, 0], [0, 5], [5, 0], [2 ** 32, 0], [1e300, 0], [1, 2, 3], ["1", "5"], [null], [new Raw("NaN"), 5], [new Raw("1e999"), 0]),
);

/** A tensor that agrees with its own odd shape: as many values as the shape multiplies to (none when that is huge or not a count). */
function shapedTensor(type: InputType): fc.Arbitrary<Loose> {
  const numeric = type === "doubles" || type === "floats" || type === "integers";
  // Zero and huge dimensions, the edges of "N rows of K values", come up often here.
  const dim = fc.constantFrom(0, 1, 2, 5, 2 ** 32, 1e300);
  return fc.array(dim, { minLength: 1, maxLength: numeric ? 2 : 1 }).chain((shape) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const n = Number.isInteger(count) && count >= 0 && count <= 64 ? count : 0;
    const value = numeric ? fc.double({ noNaN: true, noDefaultInfinity: true }) : fc.base64String({ maxLength: 8 });
    return fc
      .array(value as fc.Arbitrary<Loose>, { minLength: n, maxLength: n })
      .map((data): Loose => ({ name: "input", shape, datatype: V2_DATATYPE[type], data }));
  });
}

/** A V2 (Open Inference Protocol) infer body for an app of `type`: one tensor, mostly consistent, often broken. */
export function v2Body(type: InputType, forProtected: boolean): fc.Arbitrary<Loose | string | Uint8Array> {
  const numeric = type === "doubles" || type === "floats" || type === "integers";
  const r = row(type, forProtected);
  const mutated = fc.array(r, { minLength: 1, maxLength: 3 }).chain((rows) => {
    const width = numeric && Array.isArray(rows[0]) ? (rows[0] as Loose[]).length : 1;
    const validShape: Loose = numeric ? [rows.length, width] : [rows.length];
    return mutatedObject({
      name: fc.constant("input"),
      shape: fc.oneof({ arbitrary: fc.constant(validShape), weight: 3 }, { arbitrary: oddShape, weight: 2 }),
      datatype: fc.oneof({ arbitrary: fc.constant(V2_DATATYPE[type]), weight: 4 }, fc.constantFrom(...V2_TYPES)),
      data: fc.oneof(
        { arbitrary: fc.constant(numeric ? ((rows as Loose[]).flat() as Loose) : rows), weight: 3 },
        fc.constant(rows),
        fc.constant([]),
        fc.array(wrongValue, { maxLength: 4 }),
      ),
    });
  });
  const tensor = fc.oneof({ arbitrary: mutated, weight: 1 }, { arbitrary: shapedTensor(type), weight: 1 });
  const fields = {
    id: fc.string(),
    inputs: fc.array(tensor, { minLength: 1, maxLength: 1 }) as fc.Arbitrary<Loose>,
    parameters: fc.dictionary(fc.string(), fc.jsonValue()) as fc.Arbitrary<Loose>,
  };
  return bodyFor(fields, new Set(), boundShapes);
}

const isObject = (v: Loose | undefined): v is { readonly [key: string]: Loose } =>
  v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Raw);

/**
 * Keeps a random shape (a wrong value is any JSON) from making the server allocate: a row count from 8 to
 * 2^32 - 1 beside a zero becomes 2^32, which no array can hold, so it fails at once (see oddShape).
 */
function boundShapes(body: Loose): Loose {
  if (!isObject(body) || !Array.isArray(body.inputs)) return body;
  const bound = (t: Loose): Loose =>
    isObject(t) && Array.isArray(t.shape) && t.shape.includes(0)
      ? { ...t, shape: t.shape.map((d: Loose) => (typeof d === "number" && d > 7 && d < 2 ** 32 ? 2 ** 32 : d)) }
      : t;
  return { ...body, inputs: (body.inputs as Loose[]).map(bound) };
}

/** Fields of the body of a query route, by the app's input type. */
export function queryFields(label: string, type: InputType, forProtected: boolean): Record<string, fc.Arbitrary<Loose>> {
  const r = row(type, forProtected);
  if (label.endsWith("/update")) return { input: r, label: fc.oneof(fc.constantFrom("0", "1", "-1.0"), fc.integer(), fc.string()) };
  return { input: r, input_batch: fc.array(r, { minLength: 1, maxLength: 4 }) };
}
