/**
 * The V2 gRPC service (inference.GRPCInferenceService): parses calls into the same V2 core the REST
 * routes use and answers through the same policy, cache, batcher and SLO. Query tokens come as
 * `authorization: Bearer ...` metadata. Transport-free: server.ts carries the calls.
 */
import { bearerToken } from "../auth.ts";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ManagementService } from "../management/service.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { parseV2Tensor, pinnedVersion, V2_SERVER, v2Answer, v2Metadata } from "../query/oip.ts";
import { encodeBytesTensor } from "../query/oip-tensor.ts";
import type { QueryProcessor } from "../query/processor.ts";
import type { AppRoute } from "../query/snapshot.ts";
import { contentsData, hasContents, type TensorContents } from "./contents.ts";

export interface GrpcDeps {
  readonly processor: QueryProcessor;
  readonly management: ManagementService;
  readonly cache: PredictionCache;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** One method: the decoded request and the caller's `authorization` metadata in, the response out (or a thrown error). */
export type UnaryHandler = (request: unknown, authorization: string | null) => unknown;

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
}

export function grpcService(d: GrpcDeps): Record<string, UnaryHandler> {
  const allReady = () => [...d.management.snapshot.apps.keys()].every((a) => d.management.isAppReady(a));
  return {
    ServerLive: () => ({ live: true }),
    ServerReady: () => ({ ready: allReady() }),
    ServerMetadata: () => ({ ...V2_SERVER, extensions: [...V2_SERVER.extensions] }),
    ModelReady: (request, auth) => {
      const req = request as ModelRef;
      const route = d.processor.route(req.name ?? "", bearerToken(auth));
      if (req.version) pinnedVersion(route, req.version, (k) => d.management.isRunning(k));
      return { ready: d.management.isAppReady(route.app.name) };
    },
    ModelMetadata: (request, auth) => {
      const req = request as ModelRef;
      const meta = v2Metadata(d.processor.route(req.name ?? "", bearerToken(auth)));
      if (!req.version) return meta;
      if (!meta.versions.includes(req.version)) throw new NotFoundError(`model '${meta.name}' has no version ${req.version} being served`);
      return { ...meta, versions: [req.version] };
    },
    ModelInfer: (request, auth) => infer(d, request as InferRequest, auth),
  };
}

async function infer(d: GrpcDeps, req: InferRequest, authorization: string | null) {
  const arrivalMs = performance.now();
  const name = req.model_name ?? "";
  const route = d.processor.route(name, bearerToken(authorization));
  try {
    return await answer(d, req, route, arrivalMs);
  } catch (err) {
    if (err instanceof BadRequestError) d.metrics.onRejected(name, "grpc");
    throw err;
  }
}

async function answer(d: GrpcDeps, req: InferRequest, route: AppRoute, arrivalMs: number) {
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
  const parsed = parseV2Tensor(
    raws.length === 1 ? { ...tensor, raw: raws[0] } : { ...tensor, data: contentsData(t.contents, datatype, route.app.inputType, "inputs[0].contents") },
    route.app.inputType,
    d.cache.enabled,
  );
  const pinned = req.model_version ? pinnedVersion(route, req.model_version, (k) => d.management.isRunning(k)) : undefined;
  const answered = d.processor.answerRows(route, parsed, arrivalMs, pinned, { protocol: "grpc", field: "each row of inputs[0]" });
  const { outcomes, choice } = "outcomes" in answered ? answered : await answered;
  const a = v2Answer(route.app.name, choice?.version, req.id || undefined, outcomes, route.app.defaultOutput);
  return {
    model_name: a.modelName,
    model_version: a.version ?? "",
    id: a.id ?? "",
    parameters: a.defaultRows === undefined ? {} : { default_rows: { string_param: a.defaultRows } },
    outputs: [{ name: "output", datatype: "BYTES", shape: [a.data.length] }],
    raw_output_contents: [encodeBytesTensor(a.data)],
  };
}
