/** A V2 gRPC client for the tests: @grpc/grpc-js with its defaults, from the proto the server embeds. */
import { credentials, loadPackageDefinition, Metadata, type Client, type GrpcObject, type ServiceClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { join } from "node:path";
import { ROOT } from "../harness.ts";

const definition = loadSync(join(ROOT, "src/grpc/grpc_predict_v2.proto"), { keepCase: true, longs: Number, defaults: false, oneofs: true });
const Service = (loadPackageDefinition(definition).inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor;

export type GrpcResult = { ok: true; value: any } | { ok: false; error: ServiceError };

export interface V2GrpcClient {
  readonly client: Client;
  /** Calls METHOD; resolves with the answer or the status (never rejects). */
  call(method: string, request: unknown, token?: string): Promise<GrpcResult>;
  /** Calls METHOD with `bytes` as the request message, whatever they are; the answer stays undecoded. */
  callRaw(method: string, bytes: Buffer, deadlineMs: number): Promise<GrpcResult>;
  close(): void;
}

export function v2Grpc(address: string): V2GrpcClient {
  const client = new Service(address, credentials.createInsecure());
  return {
    client,
    call(method, request, token) {
      const md = new Metadata();
      if (token !== undefined) md.set("authorization", `Bearer ${token}`);
      return new Promise((resolve) => {
        (client as any)[method](request, md, (error: ServiceError | null, value: unknown) => resolve(error ? { ok: false, error } : { ok: true, value }));
      });
    },
    callRaw(method, bytes, deadlineMs) {
      const same = (b: Buffer) => b;
      return new Promise((resolve) => {
        client.makeUnaryRequest(
          `/inference.GRPCInferenceService/${method}`,
          same,
          same,
          bytes,
          new Metadata(),
          { deadline: Date.now() + deadlineMs },
          (error, value) => resolve(error ? { ok: false, error } : { ok: true, value }),
        );
      });
    },
    close: () => client.close(),
  };
}

/** A request message of METHOD as protobuf bytes. */
export function encodeRequest(method: string, message: unknown): Buffer {
  return Service.service[method]!.requestSerialize(message);
}

/** A response message of METHOD from protobuf bytes. */
export function decodeResponse(method: string, bytes: Buffer): any {
  return Service.service[method]!.responseDeserialize(bytes);
}

/** Rows as a ModelInfer request with FP64 raw_input_contents. */
export function fp64Infer(model: string, rows: number[][]) {
  const flat = new Float64Array(rows.flat());
  return {
    model_name: model,
    inputs: [{ name: "input", datatype: "FP64", shape: [rows.length, rows[0]!.length] }],
    raw_input_contents: [Buffer.from(flat.buffer)],
  };
}

/** The strings of a BYTES raw output. */
export function bytesOutput(raw: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < raw.length; ) {
    const n = raw.readUInt32LE(at);
    out.push(raw.subarray(at + 4, at + 4 + n).toString("utf8"));
    at += 4 + n;
  }
  return out;
}

const READ: Record<string, (b: Buffer, at: number) => number> = {
  FP64: (b, at) => b.readDoubleLE(at),
  FP32: (b, at) => b.readFloatLE(at),
  INT64: (b, at) => Number(b.readBigInt64LE(at)),
  INT32: (b, at) => b.readInt32LE(at),
  INT16: (b, at) => b.readInt16LE(at),
  INT8: (b, at) => b.readInt8(at),
  UINT64: (b, at) => Number(b.readBigUInt64LE(at)),
  UINT32: (b, at) => b.readUInt32LE(at),
  UINT16: (b, at) => b.readUInt16LE(at),
  UINT8: (b, at) => b.readUInt8(at),
};
const SIZE: Record<string, number> = { FP64: 8, FP32: 4, INT64: 8, INT32: 4, INT16: 2, INT8: 1, UINT64: 8, UINT32: 4, UINT16: 2, UINT8: 1 };

/** A binary output's values as its datatype says: strings for BYTES, numbers (a list a row for [N, K]) for a numeric tensor. */
export function binaryValues(datatype: string, shape: number[], raw: Buffer): (string | number | number[])[] {
  if (datatype === "BYTES") return bytesOutput(raw);
  const read = READ[datatype]!;
  const size = SIZE[datatype]!;
  const flat = Array.from({ length: raw.length / size }, (_, i) => read(raw, i * size));
  if (shape.length === 1) return flat;
  const k = shape[1]!;
  return Array.from({ length: shape[0]! }, (_, r) => flat.slice(r * k, r * k + k));
}

/** The one output of a ModelInfer response: its values by its datatype (binaryValues). */
export function inferOutput(res: { outputs: { datatype: string; shape: (number | string)[] }[]; raw_output_contents: Buffer[] }) {
  const o = res.outputs[0]!;
  return binaryValues(o.datatype, o.shape.map(Number), res.raw_output_contents[0]!);
}
