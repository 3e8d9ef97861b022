/**
 * The V2 gRPC server on its own port: unary gRPC over HTTP/2 (node:http2) carrying the service of
 * service.ts. The proto is embedded in the binary and loaded from the data directory; a message over
 * --max-body-bytes is RESOURCE_EXHAUSTED before it is read whole; bytes that are not the method's message
 * are INVALID_ARGUMENT; drain() refuses new calls and resolves once those in flight are answered.
 * (@grpc/grpc-js's server cost about four times the CPU per call of this one under Bun, measured.)
 */
import { createServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { loadSync, type MethodDefinition } from "@grpc/proto-loader";
import { extract } from "../runtime/embedded.ts";
import { decodeInferRequest, MalformedMessage } from "./infer-request.ts";
import { EncodedResponse } from "./infer-response.ts";
import { MessageReader } from "./message-reader.ts";
import protoSource from "./grpc_predict_v2.proto" with { type: "text" };
import { type CallInfo, type GrpcDeps, grpcService, type UnaryHandler } from "./service.ts";
import { type GrpcCode, GrpcFailure, grpcError, GrpcStatus } from "./status.ts";

export interface GrpcServer {
  /** host:port it listens on. */
  readonly address: string;
  /** Stops accepting calls; resolves when those in flight have been answered. */
  drain(): Promise<void>;
  /** Closes every connection, whatever is still in flight. */
  forceStop(): void;
}

const SERVICE = "inference.GRPCInferenceService";
const INFER_PATH = `/${SERVICE}/ModelInfer`;
type Method = MethodDefinition<unknown, unknown> & { readonly handler: UnaryHandler };

export async function startGrpc(deps: GrpcDeps, opts: { host: string; port: number; dataDir: string; maxMessageBytes: number }): Promise<GrpcServer> {
  const definition = loadSync(extract(opts.dataDir, "grpc_predict_v2", ".proto", protoSource), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const handlers = grpcService(deps);
  const methods = new Map<string, Method>();
  for (const [name, def] of Object.entries(definition[SERVICE] as Record<string, MethodDefinition<unknown, unknown>>)) {
    methods.set(def.path, { ...def, handler: handlers[name]! });
  }
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const sessions = new Set<Http2Session>();
  const server = createServer();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => undefined);
  });
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    if (draining) return fail(stream, new GrpcFailure(GrpcStatus.UNAVAILABLE, "the server is shutting down"));
    inFlight++;
    stream.on("close", () => {
      if (--inFlight === 0 && draining) idle?.();
    });
    stream.on("error", () => undefined);
    serve(stream, headers, methods, opts.maxMessageBytes, deps);
  });
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", (err: Error & { code?: string }) =>
      reject(Object.assign(new Error(`cannot listen for gRPC on ${host}:${opts.port}: ${err.message}`), { code: err.code })),
    );
    server.listen(opts.port, opts.host, () => resolve((server.address() as { port: number }).port));
  });
  return {
    address: `${host}:${port}`,
    drain: () =>
      new Promise<void>((resolve) => {
        draining = true;
        server.close();
        idle = resolve;
        if (inFlight === 0) resolve();
      }),
    forceStop: () => {
      for (const s of sessions) s.destroy();
    },
  };
}

/** Reads one length-prefixed message within the limit, runs the method, answers. */
function serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, methods: Map<string, Method>, maxMessageBytes: number, d: GrpcDeps): void {
  const method = methods.get(headers[":path"] ?? "");
  if (headers[":method"] !== "POST" || !String(headers["content-type"] ?? "").startsWith("application/grpc")) {
    stream.respond({ ":status": 415 }, { endStream: true });
    return;
  }
  if (!method) {
    fail(stream, new GrpcFailure(GrpcStatus.UNIMPLEMENTED, `no method ${headers[":path"]} (the service is ${SERVICE})`));
    return;
  }
  const reader = new MessageReader(maxMessageBytes);
  let refused = false;
  stream.on("data", (chunk: Buffer) => {
    if (refused || reader.push(chunk).kind === "more") return;
    refused = true;
    fail(stream, new GrpcFailure(GrpcStatus.RESOURCE_EXHAUSTED, `the request message is larger than the limit of ${maxMessageBytes} bytes (--max-body-bytes)`));
  });
  stream.on("end", () => {
    if (refused) return;
    const auth = headers.authorization;
    const read = reader.finish();
    if ("error" in read) return fail(stream, new GrpcFailure(GrpcStatus.INVALID_ARGUMENT, read.error));
    // A call the client cancels (or whose deadline its side enforced) closes the stream: its query is dropped.
    // Once answered, the close that follows aborts nothing (an abort dispatches an event: ~3% of a call's CPU).
    const gone = new AbortController();
    let answered = false;
    stream.once("close", () => answered || gone.abort());
    const timeout = headers["grpc-timeout"];
    const call = { authorization: typeof auth === "string" ? auth : null, signal: gone.signal, timeout: typeof timeout === "string" ? timeout : undefined };
    void answer(stream, read.frame, method, call, d).finally(() => {
      answered = true;
    });
  });
}

async function answer(stream: ServerHttp2Stream, body: Buffer, method: Method, call: CallInfo, d: GrpcDeps): Promise<void> {
  let frame: Buffer;
  try {
    const request = decode(body, method);
    const response = await method.handler(request, call.authorization, call);
    frame = response instanceof EncodedResponse ? response.frame : messageFrame(method.responseSerialize(response));
  } catch (err) {
    return fail(stream, grpcError(err, d.logger));
  }
  if (stream.closed || stream.destroyed) return;
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(frame);
}

/** A serialized message in its gRPC frame: the uncompressed flag and its big-endian length first. */
function messageFrame(reply: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + reply.length);
  frame[0] = 0;
  frame.writeUInt32BE(reply.length, 1);
  reply.copy(frame, 5);
  return frame;
}

/** The one message of a unary call (its length checked by the reader); INVALID_ARGUMENT when the protobuf is wrong. */
function decode(body: Buffer, method: Method): unknown {
  if (body[0] !== 0) throw new GrpcFailure(GrpcStatus.UNIMPLEMENTED, "compressed messages are not supported (send with grpc-encoding identity)");
  if (method.path === INFER_PATH) {
    // Typed contents as typed arrays, without a generic object per element; anything odd gets the generic decoder's say.
    try {
      return decodeInferRequest(body.subarray(5));
    } catch (err) {
      if (!(err instanceof MalformedMessage)) throw err;
    }
  }
  try {
    return method.requestDeserialize(body.subarray(5));
  } catch (err) {
    throw new GrpcFailure(
      GrpcStatus.INVALID_ARGUMENT,
      `the ${method.originalName ?? method.path} request is not a valid protobuf message: ${(err as Error).message}`,
    );
  }
}

/** A trailers-only answer with `failure`'s status. */
function fail(stream: ServerHttp2Stream, failure: GrpcFailure): void {
  if (stream.closed || stream.destroyed || stream.headersSent) return;
  stream.respond(
    {
      ":status": 200,
      "content-type": "application/grpc",
      "grpc-status": String(failure.code as GrpcCode),
      "grpc-message": percentEncode(failure.message),
    },
    { endStream: true },
  );
}

/** grpc-message's encoding: UTF-8 bytes outside printable ASCII, and '%', as %XX; the rest as it is. Cut at 2 KiB (it echoes names). */
function percentEncode(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message.length > 2048 ? `${message.slice(0, 2048)}…` : message, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
