/** The V2 ModelInfer method as @grpc/proto-loader's generic decoder reads it: what the hand-written codecs are checked against. */
import { loadSync } from "@grpc/proto-loader";
import { join } from "node:path";

const definition = loadSync(join(import.meta.dir, "../../src/grpc/grpc_predict_v2.proto"), {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
});
export const modelInfer = (definition["inference.GRPCInferenceService"] as any).ModelInfer;
