/**
 * The transports' own cost, for scripts/bench --tensors: Bun.serve and node:http2 (the stacks clipper's REST and
 * gRPC ports run on) answering every infer call with one fixed answer of 64 rows, doing nothing else: no parse,
 * no queue, no model. What a point costs here is the floor under clipper's same point.
 *
 * usage: bun transport-floor.ts REST_PORT GRPC_PORT
 */
import { createServer, type ServerHttp2Stream } from "node:http2";
import { encodeInferResponseFrame } from "../../src/grpc/infer-response.ts";

const [restPort, grpcPort] = process.argv.slice(2).map(Number) as [number, number];
const ROWS = 64;
const raw = Buffer.alloc(ROWS * 8);
const header = Buffer.from(
  JSON.stringify({ model_name: "hr", outputs: [{ name: "output", shape: [ROWS], datatype: "FP64", parameters: { binary_data_size: raw.length } }] }),
);
const restBody = Buffer.concat([header, raw]);

Bun.serve({
  hostname: "127.0.0.1",
  port: restPort,
  async fetch(req) {
    await req.arrayBuffer();
    return new Response(restBody, { headers: { "content-type": "application/octet-stream", "inference-header-content-length": String(header.length) } });
  },
});

const frame = encodeInferResponseFrame({
  model_name: "hr",
  model_version: "",
  id: "",
  parameters: {},
  output: { name: "output", datatype: "FP64", shape: [ROWS] },
  raw,
});
const server = createServer();
server.on("stream", (stream: ServerHttp2Stream) => {
  stream.on("data", () => undefined);
  stream.on("error", () => undefined);
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(frame);
  });
});
server.listen(grpcPort, "127.0.0.1", () => process.stdout.write("ready\n"));
