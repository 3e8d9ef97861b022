/**
 * The V2 gRPC service (inference.GRPCInferenceService): parses calls into the same V2 core the REST
 * routes use and answers through the same policy, cache, batcher and SLO. Query tokens come as
 * `authorization: Bearer ...` metadata. Transport-free: server.ts carries the calls.
 */
import { bearerToken } from "../auth.ts";
import { BadRequestError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ParsedQuery } from "../query/input.ts";
import { parseV2Tensor, V2_SERVER, v2Answer, v2OutputBytes, v2Parameters } from "../query/oip.ts";
import { parseContext } from "../query/input.ts";
import { EncodedResponse, encodeInferResponseFrame, type ResponseParameter } from "./infer-response.ts";
import type { QueryCall, QueryParser, QueryProcessor } from "../query/processor.ts";
import { clientDeadline, parseGrpcTimeout, parseV2Timeout } from "../query/client-timeout.ts";
import { contentsData, hasContents, ownTypedBytes, type TensorContents } from "./contents.ts";

export interface GrpcDeps {
  readonly processor: QueryProcessor;
  readonly logger: Logger;
}

/** What the transport knows of a call besides its message: the caller's token, its cancellation, its `grpc-timeout`. */
export interface CallInfo {
  readonly authorization: string | null;
  /** Aborts when the client cancelled the call or its stream closed. */
  readonly signal?: AbortSignal;
  /** The `grpc-timeout` header as sent (`20m`). */
  readonly timeout?: string;
}

/** One method: the decoded request and the caller's `authorization` metadata in, the response out (or a thrown error). */
export type UnaryHandler = (request: unknown, authorization: string | null, call?: CallInfo) => unknown;

interface ModelRef {
  name?: string;
  version?: string;
}

interface InferInput {
  name?: string;
  datatype?: string;
  shape?: number[];
  contents?: TensorContents;
}
interface InferRequest {
  model_name?: string;
  model_version?: string;
  id?: string;
  inputs?: InferInput[];
  outputs?: { name?: string }[];
  raw_input_contents?: Uint8Array[];
  parameters?: Record<string, { int64_param?: number; string_param?: string }>;
}

/** The query core's call for a gRPC request: the model, the caller's token (from `authorization` metadata), a pinned version. */
function callOf(name: string | undefined, version: string | undefined, authorization: string | null): QueryCall {
  return { app: name ?? "", version: version || undefined, token: bearerToken(authorization), protocol: "grpc" };
}

export function grpcService(d: GrpcDeps): Record<string, UnaryHandler> {
  return {
    ServerLive: () => ({ live: true }),
    ServerReady: () => ({ ready: d.processor.notReadyApps().length === 0 }),
    ServerMetadata: () => ({ ...V2_SERVER, extensions: [...V2_SERVER.extensions] }),
    ModelReady: (request, auth) => {
      const req = request as ModelRef;
      return { ready: d.processor.modelReady(callOf(req.name, req.version, auth)) };
    },
    ModelMetadata: (request, auth) => {
      const req = request as ModelRef;
      return d.processor.metadata(callOf(req.name, req.version, auth));
    },
    ModelInfer: (request, auth, call) => infer(d, request as InferRequest, auth, call),
  };
}

/** An infer request's one input tensor as rows of the app's input type. */
const parseInfer: QueryParser<InferRequest, ParsedQuery> = (req, route, _expect, withKeys) => {
  const inputs = req.inputs ?? [];
  if (inputs.length !== 1) throw new BadRequestError(`'inputs' must hold exactly one tensor, got ${inputs.length}`);
  const raws = req.raw_input_contents ?? [];
  const t = inputs[0]!;
  if (raws.length > 1) throw new BadRequestError(`raw_input_contents has ${raws.length} entries but there is one input`);
  if (raws.length === 1 && hasContents(t.contents)) {
    throw new BadRequestError("inputs[0] has both contents and raw_input_contents", "give one of them");
  }
  for (const [i, o] of (req.outputs ?? []).entries()) {
    if (o.name !== "output") throw new BadRequestError(`outputs[${i}] names no output of this model`, "its one output is named 'output'");
  }
  const datatype = t.datatype ?? "";
  const tensor = { name: t.name ?? "", shape: t.shape ?? [], datatype };
  const inputType = route.app.inputType;
  // Typed contents of the app's own datatype pass through as their bytes, like raw_input_contents.
  const raw = raws.length === 1 ? raws[0] : ownTypedBytes(t.contents, datatype, inputType);
  const parsed = parseV2Tensor(
    raw !== undefined ? { ...tensor, raw } : { ...tensor, data: contentsData(t.contents, datatype, inputType, "inputs[0].contents") },
    inputType,
    withKeys,
  );
  // The V2 `timeout` parameter (µs) as Triton's gRPC clients send it; grpc-timeout comes with the call.
  const timeoutMs = parseV2Timeout(req.parameters?.timeout?.int64_param);
  const context = req.parameters?.context;
  return {
    ...parsed,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(context === undefined ? {} : { context: parseContext(context.string_param, "parameters.context (a string_param)") }),
  };
};

async function infer(d: GrpcDeps, req: InferRequest, authorization: string | null, info: CallInfo | undefined) {
  const arrivalMs = performance.now();
  const call = callOf(req.model_name, req.model_version, authorization);
  const predicted = d.processor.predict({
    ...call,
    body: req,
    parse: parseInfer,
    arrivalMs,
    field: "each row of inputs[0]",
    signal: info?.signal,
    deadlineMs: clientDeadline(arrivalMs, parseGrpcTimeout(info?.timeout)),
  });
  const { route, outcomes, choice } = "outcomes" in predicted ? predicted : await predicted;
  // raw_output_contents is binary: the model's packed numbers when the runtime sent them, else BYTES.
  const a = v2Answer(route.app.name, choice?.version, req.id || undefined, outcomes, route.app.defaultOutput, true);
  const out = v2OutputBytes(a);
  return new EncodedResponse(
    encodeInferResponseFrame({
      model_name: a.modelName,
      model_version: a.version ?? "",
      id: a.id ?? "",
      parameters: grpcParameters(v2Parameters(a)),
      output: { name: "output", datatype: out.datatype, shape: out.shape },
      raw: out.raw,
    }),
  );
}

/** V2 parameters as InferParameters: a confidence as double_param, counts as int64_param, text as string_param. */
function grpcParameters(p: Record<string, string | number> | undefined): Record<string, ResponseParameter> {
  const out: Record<string, ResponseParameter> = {};
  for (const [k, v] of Object.entries(p ?? {})) {
    out[k] = typeof v === "string" ? { string_param: v } : k === "confidence" ? { double_param: v } : { int64_param: v };
  }
  return out;
}
