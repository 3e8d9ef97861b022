/** V2 gRPC calls that are wrong: bytes that are no protobuf (random, cut short, flipped) and ModelInfer messages whose sizes lie. */
import fc from "fast-check";
import { TYPED_APPS } from "./query-bodies.ts";
import { PROTECTED } from "./management-bodies.ts";

export const METHODS = ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"] as const;

export type GrpcFuzz =
  | { readonly kind: "bytes"; readonly method: string; readonly bytes: Buffer; readonly what: string }
  | { readonly kind: "message"; readonly method: string; readonly message: unknown; readonly what: string };

const DATATYPES = ["BOOL", "INT8", "INT32", "INT64", "UINT8", "UINT64", "FP16", "FP32", "FP64", "BYTES", "fp64", ""];
const models = fc.constantFrom(PROTECTED, ...Object.values(TYPED_APPS), "no-such-app", "../../etc/passwd", "", "a".repeat(300));
const dim = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 6 }), weight: 5 }, fc.constantFrom(-1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1));

/** BYTES elements whose 4-byte lengths may lie. */
const lyingBytes = fc.array(fc.tuple(fc.uint8Array({ maxLength: 10 }), fc.constantFrom(0, 0, 1, 0xffffffff, 1000)), { maxLength: 5 }).map((els) =>
  Buffer.concat(
    els.map(([d, extra]) => {
      const head = Buffer.alloc(4);
      head.writeUInt32LE(extra === 0xffffffff ? extra : d.length + extra);
      return Buffer.concat([head, d]);
    }),
  ),
);

const contents = fc.oneof(
  fc.constant(undefined),
  fc.record({ fp64_contents: fc.array(fc.double(), { maxLength: 12 }) }),
  fc.record({ int_contents: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 12 }) }),
  fc.record({ bool_contents: fc.array(fc.boolean(), { maxLength: 12 }) }),
  fc.record({
    bytes_contents: fc.array(
      fc.uint8Array({ maxLength: 10 }).map((b) => Buffer.from(b)),
      { maxLength: 6 },
    ),
  }),
);

/** A ModelInfer message with shapes, datatypes and raw sizes that disagree now and then. */
export const lyingInfer: fc.Arbitrary<GrpcFuzz> = fc
  .record({
    model_name: models,
    model_version: fc.constantFrom("", "", "1", "99", "../x"),
    inputs: fc.array(
      fc.record({ name: fc.constantFrom("input", ""), datatype: fc.constantFrom(...DATATYPES), shape: fc.array(dim, { maxLength: 3 }), contents }),
      { maxLength: 2 },
    ),
    raw_input_contents: fc.array(
      fc.oneof(
        fc.uint8Array({ maxLength: 96 }).map((b) => Buffer.from(b)),
        lyingBytes,
      ),
      { maxLength: 2 },
    ),
    outputs: fc.constantFrom(undefined, [{ name: "output" }], [{ name: "other" }]),
  })
  .map((message) => ({
    kind: "message" as const,
    method: "ModelInfer",
    message,
    what: `ModelInfer ${JSON.stringify(message, (_, v) => (v?.type === "Buffer" ? `<${v.data.length} bytes>` : v)).slice(0, 200)}`,
  }));

/** Bytes that are no valid message: random, or an encoded message cut short, flipped or with garbage after it. */
export function malformed(encode: (m: unknown) => Buffer): fc.Arbitrary<GrpcFuzz> {
  return fc
    .tuple(
      fc.constantFrom(...METHODS),
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 120 }).map((b) => Buffer.from(b)),
        fc.tuple(lyingInfer, fc.nat(), fc.nat(255), fc.constantFrom("cut", "flip", "append")).map(([m, at, byte, how]) => {
          const bytes = encode((m as { message: unknown }).message);
          if (bytes.length === 0) return Buffer.from([byte]);
          const i = at % bytes.length;
          if (how === "cut") return bytes.subarray(0, i);
          if (how === "append") return Buffer.concat([bytes, Buffer.from([byte, 0xff, 0xff, 0xff, 0x0f])]);
          const copy = Buffer.from(bytes);
          copy[i] = byte;
          return copy;
        }),
      ),
    )
    .map(([method, bytes]) => ({ kind: "bytes" as const, method, bytes, what: `${method} bytes ${bytes.subarray(0, 40).toString("hex")}` }));
}
