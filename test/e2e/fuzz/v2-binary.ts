/**
 * V2 infer requests under the binary tensor data extension: a JSON header whose declared length, shape,
 * datatype and binary_data_size may lie, followed by raw bytes (BYTES elements whose 4-byte lengths may lie).
 */
import fc from "fast-check";
import { TYPED_APPS } from "./query-bodies.ts";
import { PROTECTED } from "./management-bodies.ts";

export interface BinaryRequest {
  readonly app: string;
  /** The Inference-Header-Content-Length header as sent. */
  readonly headerLength: string;
  readonly body: Uint8Array;
  readonly what: string;
}

const DATATYPES = ["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16", "FP32", "FP64", "BYTES", "fp64", ""];
const SIZE: Record<string, number> = { BOOL: 1, INT8: 1, UINT8: 1, INT16: 2, UINT16: 2, FP16: 2, INT32: 4, UINT32: 4, FP32: 4, INT64: 8, UINT64: 8, FP64: 8 };
const apps = [PROTECTED, ...Object.values(TYPED_APPS)];
const dim = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 6 }), weight: 5 }, fc.constantFrom(-1, 2 ** 31, 2 ** 32, 2 ** 53, 1e300, 1.5));
const shape = fc.oneof({ arbitrary: fc.array(dim, { minLength: 1, maxLength: 2 }), weight: 5 }, fc.constantFrom([], [1, 2, 3], ["2", 5], null));

/** BYTES elements, each a 4-byte length that may lie (past the end, 2^32 - 1) and its bytes. */
const bytesPayload = fc
  .array(fc.tuple(fc.uint8Array({ maxLength: 12 }), fc.constantFrom("true", "true", "true", "over", "huge", "short")), { maxLength: 6 })
  .map((elements) =>
    Buffer.concat(
      elements.map(([data, lie]) => {
        const head = Buffer.alloc(4);
        head.writeUInt32LE(lie === "over" ? data.length + 5 : lie === "huge" ? 0xffffffff : lie === "short" ? Math.max(0, data.length - 1) : data.length);
        return Buffer.concat([head, data]);
      }),
    ),
  );

/** The tensor bytes: as many as the shape needs, a few more or less, random, or BYTES elements. */
function payload(datatype: string, shape: unknown): fc.Arbitrary<Uint8Array> {
  const dims = Array.isArray(shape) ? shape : [];
  const count = dims.reduce((a: number, b) => a * (typeof b === "number" ? b : 0), 1) as number;
  const exact = Number.isInteger(count) && count >= 0 && count <= 64 ? count * (SIZE[datatype] ?? 1) : 0;
  return fc.oneof(
    { arbitrary: fc.uint8Array({ minLength: exact, maxLength: exact }), weight: 4 },
    fc.integer({ min: -3, max: 3 }).chain((d) => fc.uint8Array({ minLength: Math.max(0, exact + d), maxLength: Math.max(0, exact + d) })),
    fc.uint8Array({ maxLength: 80 }),
    { arbitrary: bytesPayload, weight: datatype === "BYTES" ? 4 : 1 },
  );
}

/** How the declared binary_data_size relates to the bytes sent. */
const sizeLie = fc.constantFrom<unknown>("exact", "exact", "exact", 1, -1, 2 ** 53, 2 ** 31, -5, 1.5, "10", null, "absent");
/** How Inference-Header-Content-Length relates to the JSON header. */
const headerLie = fc.constantFrom("exact", "exact", "exact", "+1", "-1", "past", "0", "-1abs", "abc", "1e3", "99999999999999999999", "", " 7");

export const binaryRequest: fc.Arbitrary<BinaryRequest> = fc
  .record({
    app: fc.constantFrom(...apps),
    datatype: fc.constantFrom(...DATATYPES),
    shape,
    sizeLie,
    headerLie,
    binaryOutput: fc.constantFrom(undefined, true, false),
    withData: fc.boolean(),
    truncateJson: fc.integer({ min: 0, max: 20 }),
  })
  .chain((r) =>
    payload(r.datatype, r.shape).map((bytes) => {
      const size = r.sizeLie === "exact" ? bytes.length : typeof r.sizeLie === "number" ? bytes.length + r.sizeLie : r.sizeLie;
      const input: Record<string, unknown> = { name: "input", shape: r.shape, datatype: r.datatype };
      if (size !== "absent") input.parameters = { binary_data_size: size };
      if (r.withData && r.truncateJson < 3) input.data = [1, 2];
      const header: Record<string, unknown> = { inputs: [input] };
      if (r.binaryOutput !== undefined) header.outputs = [{ name: "output", parameters: { binary_data: r.binaryOutput } }];
      let json = Buffer.from(JSON.stringify(header));
      // Now and then the JSON header itself is cut short.
      if (r.truncateJson === 0) json = json.subarray(0, Math.floor(json.length / 2));
      const body = Buffer.concat([json, bytes]);
      const n = json.length;
      const headerLength =
        (
          {
            exact: String(n),
            "+1": String(n + 1),
            "-1": String(n - 1),
            past: String(body.length + 1),
            "0": "0",
            "-1abs": "-1",
          } as Record<string, string>
        )[r.headerLie] ?? r.headerLie;
      return {
        app: r.app,
        headerLength,
        body,
        what: `${r.app} header-length=${JSON.stringify(headerLength)} ${JSON.stringify(header).slice(0, 160)} + ${bytes.length} bytes`,
      };
    }),
  );
