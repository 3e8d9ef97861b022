/**
 * The V2 gRPC server on its own port: the proto is embedded in the binary and loaded from the data
 * directory; messages over --max-body-bytes get RESOURCE_EXHAUSTED; stop() lets calls in flight finish.
 */
import { Server, ServerCredentials, loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { extract } from "../runtime/embedded.ts";
import protoSource from "./grpc_predict_v2.proto" with { type: "text" };
import { type GrpcDeps, grpcService, MalformedMessage } from "./service.ts";

export interface GrpcServer {
  /** host:port it listens on. */
  readonly address: string;
  /** Stops accepting calls; resolves when those in flight have finished. */
  drain(): Promise<void>;
  /** Cancels whatever is still in flight. */
  forceStop(): void;
}

export async function startGrpc(deps: Omit<GrpcDeps, "draining">, opts: { host: string; port: number; dataDir: string; maxMessageBytes: number }): Promise<GrpcServer> {
  const definition = loadSync(extract(opts.dataDir, "grpc_predict_v2", ".proto", protoSource), {
    keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true,
  });
  const inference = loadPackageDefinition(definition).inference as GrpcObject;
  const service = guardDecoding((inference.GRPCInferenceService as ServiceClientConstructor).service);
  let draining = false;
  const server = new Server({
    "grpc.max_receive_message_length": opts.maxMessageBytes,
    "grpc.max_send_message_length": -1,
    // Per-call bookkeeping for a debugging service clipper does not serve.
    "grpc.enable_channelz": 0,
  });
  server.addService(service, grpcService({ ...deps, draining: () => draining }));
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port}`, ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(Object.assign(new Error(`cannot listen for gRPC on ${host}:${opts.port}: ${err.message}`), { code: "EADDRINUSE" }));
      else resolve(bound);
    });
  });
  return {
    address: `${host}:${port}`,
    drain: () => new Promise<void>((resolve) => {
      draining = true;
      server.tryShutdown(() => resolve());
    }),
    forceStop: () => server.forceShutdown(),
  };
}

/**
 * grpc-js answers INTERNAL when a request does not decode; the client sent it, so a message that is not
 * valid protobuf becomes a MalformedMessage, which the handler answers with INVALID_ARGUMENT.
 */
function guardDecoding(service: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(Object.entries(service).map(([method, def]) => [method, {
    ...def,
    requestDeserialize: (bytes: Buffer) => {
      try {
        return def.requestDeserialize(bytes);
      } catch (err) {
        return new MalformedMessage(def.originalName ?? method, (err as Error).message);
      }
    },
  }]));
}
