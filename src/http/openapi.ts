/**
 * The OpenAPI 3.1 document of both APIs, served at /openapi.json on each port. Request bodies come from
 * the same zod schemas the routes validate with; test/http/openapi.test.ts keeps the list in step with
 * the routes actually registered.
 */
import { z } from "zod";
import pkg from "../../package.json" with { type: "json" };
import {
  AddApp,
  AddModel,
  AddModelLinks,
  AppNameBody,
  BuildEnvironment,
  ContainerBody,
  ContainersBody,
  GcBody,
  ModelBody,
  ModelNameBody,
  ModelNames,
  NameBody,
  Replay,
  SetCapture,
  SetReference,
  SetModelVersion,
  SetNumReplicas,
  SetServerLimits,
  SetPolicy,
  VerboseBody,
} from "../management/schemas.ts";

type Api = "query" | "management" | "both";
interface RouteDoc {
  readonly api: Api;
  readonly method: "get" | "post" | "put";
  /** OpenAPI path syntax: /{app}/predict */
  readonly path: string;
  readonly summary: string;
  readonly body?: z.ZodType | Record<string, unknown>;
  /** Media type of a non-JSON body (the artifact upload). */
  readonly bodyType?: string;
  readonly open?: boolean;
  /** A predict route: takes the client's timeout header and may answer 429 (an app with overload 'reject'). */
  readonly predicts?: boolean;
}

/** The REST header a client names its own deadline with (its value in milliseconds); the query core takes the earlier of it and the SLO. */
const TIMEOUT_HEADER = {
  name: "Clipper-Timeout-Ms",
  in: "header",
  required: false,
  description:
    "The client's timeout in milliseconds, when shorter than the app's SLO: rows with no prediction by then get the default, and rows that cannot make it are never sent to the model",
  schema: { type: "number", exclusiveMinimum: 0 },
};
const OVERLOADED = {
  description: "The app was registered with overload 'reject' and its model cannot answer this query in time",
  headers: { "Retry-After": { description: "seconds after which the queue is expected to have room", schema: { type: "integer" } } },
  content: {
    "application/json": { schema: { type: "object", properties: { error: { type: "string" }, cause: { type: "string" }, code: { const: "overloaded" } } } },
  },
};

const PREDICT_BODY = {
  type: "object",
  description: "One input, or a batch of inputs of the app's input type (integers, floats, doubles: arrays of numbers; strings: a string; bytes: base64)",
  properties: {
    input: {},
    input_batch: { type: "array", minItems: 1 },
    context: { type: "string", minLength: 1, maxLength: 128, description: "the user or session whose weights exp3 and ensemble use" },
  },
  examples: [{ input: [5.0, 3.0, 85.0, 4.5, 2.0] }],
};
const FEEDBACK_BODY = {
  type: "object",
  required: ["input", "label"],
  properties: { input: {}, label: { type: ["string", "number"] }, context: { type: "string", minLength: 1, maxLength: 128 } },
};
const V2_INFER_BODY = {
  type: "object",
  required: ["inputs"],
  properties: {
    id: { type: "string" },
    inputs: {
      type: "array",
      minItems: 1,
      maxItems: 1,
      items: {
        type: "object",
        required: ["name", "shape", "datatype", "data"],
        properties: { name: { type: "string" }, shape: { type: "array", items: { type: "integer" } }, datatype: { type: "string" }, data: { type: "array" } },
      },
    },
  },
};

export const ROUTES: readonly RouteDoc[] = [
  { api: "query", method: "post", path: "/{app}/predict", summary: "Predict one input or a batch (Clipper's query API)", body: PREDICT_BODY, predicts: true },
  { api: "query", method: "post", path: "/{app}/update", summary: "Feedback: a labelled input; exp3 learns from it", body: FEEDBACK_BODY },
  { api: "query", method: "get", path: "/health", summary: "Liveness" },
  { api: "query", method: "get", path: "/ready", summary: "Readiness: every linked model has a ready replica (503 otherwise)" },
  {
    api: "query",
    method: "get",
    path: "/metrics",
    summary: "Prometheus text to a scraper (Accept: text/plain or OpenMetrics); Clipper's JSON metrics to any other client",
  },
  { api: "query", method: "get", path: "/metrics.json", summary: "JSON summary of queries, batches and cache" },
  { api: "query", method: "get", path: "/v2", summary: "Open Inference Protocol: server metadata" },
  { api: "query", method: "get", path: "/v2/health/live", summary: "Open Inference Protocol: liveness" },
  { api: "query", method: "get", path: "/v2/health/ready", summary: "Open Inference Protocol: readiness" },
  { api: "query", method: "get", path: "/v2/models/{m}", summary: "Open Inference Protocol: model (app) metadata" },
  { api: "query", method: "get", path: "/v2/models/{m}/versions/{v}", summary: "Open Inference Protocol: metadata of one version" },
  { api: "query", method: "get", path: "/v2/models/{m}/ready", summary: "Open Inference Protocol: model readiness" },
  { api: "query", method: "get", path: "/v2/models/{m}/versions/{v}/ready", summary: "Open Inference Protocol: version readiness" },
  { api: "query", method: "post", path: "/v2/models/{m}/infer", summary: "Open Inference Protocol: inference", body: V2_INFER_BODY, predicts: true },
  {
    api: "query",
    method: "post",
    path: "/v2/models/{m}/versions/{v}/infer",
    summary: "Open Inference Protocol: inference on one version",
    body: V2_INFER_BODY,
    predicts: true,
  },
  { api: "both", method: "get", path: "/openapi.json", summary: "This document (on both ports)", open: true },
  { api: "both", method: "get", path: "/docs", summary: "Interactive API documentation (on both ports)", open: true },

  { api: "management", method: "get", path: "/", summary: "Redirects to the dashboard", open: true },
  { api: "management", method: "get", path: "/dashboard", summary: "The web dashboard (asks for the token)", open: true },
  { api: "management", method: "get", path: "/admin/ping", summary: "Answers pong (no token needed)", open: true },
  { api: "management", method: "get", path: "/admin/status", summary: "Apps, models, replicas, errors, cache" },
  { api: "management", method: "get", path: "/admin/metrics", summary: "The query side's metrics (JSON summary and Prometheus text)" },
  { api: "management", method: "put", path: "/admin/artifacts", summary: "Upload an artifact; answers its sha256", bodyType: "application/octet-stream" },
  { api: "management", method: "post", path: "/admin/add_app", summary: "Register an application", body: AddApp },
  { api: "management", method: "post", path: "/admin/add_model", summary: "Deploy a model version (answers once its replicas are ready)", body: AddModel },
  { api: "management", method: "post", path: "/admin/add_model_links", summary: "Link models to an application", body: AddModelLinks },
  { api: "management", method: "post", path: "/admin/get_all_applications", summary: "List applications", body: VerboseBody },
  {
    api: "management",
    method: "post",
    path: "/admin/get_application",
    summary: "One application ({} when there is none, as Clipper answered)",
    body: NameBody,
  },
  { api: "management", method: "post", path: "/admin/get_all_models", summary: "List model versions", body: VerboseBody },
  { api: "management", method: "post", path: "/admin/get_model", summary: "One model version ({} when there is none, as Clipper answered)", body: ModelBody },
  { api: "management", method: "post", path: "/admin/get_linked_models", summary: "Models linked to an application", body: AppNameBody },
  {
    api: "management",
    method: "post",
    path: "/admin/get_all_containers",
    summary: 'Every replica process (verbose: false gives Clipper\'s "name:version:replica" strings)',
    body: ContainersBody,
  },
  {
    api: "management",
    method: "post",
    path: "/admin/get_container",
    summary: "One replica (Clipper's get_container; {} when there is none)",
    body: ContainerBody,
  },
  { api: "management", method: "post", path: "/admin/get_model_versions", summary: "Versions of a model", body: ModelNameBody },
  { api: "management", method: "post", path: "/admin/set_model_version", summary: "Make a version current (rollback)", body: SetModelVersion },
  { api: "management", method: "post", path: "/admin/set_num_replicas", summary: "Scale the current version", body: SetNumReplicas },
  {
    api: "management",
    method: "post",
    path: "/admin/set_server_limits",
    summary: "Change the memory budget and the idle timeout live (until a restart)",
    body: SetServerLimits,
  },
  { api: "management", method: "post", path: "/admin/set_policy", summary: "Choose an application's selection policy", body: SetPolicy },
  { api: "management", method: "post", path: "/admin/delete_model_links", summary: "Unlink models from an application", body: AddModelLinks },
  { api: "management", method: "post", path: "/admin/delete_app", summary: "Delete an application", body: NameBody },
  { api: "management", method: "post", path: "/admin/delete_versioned_model", summary: "Stop and remove one version", body: ModelBody },
  { api: "management", method: "post", path: "/admin/stop_models", summary: "Stop and remove every version of models", body: ModelNames },
  { api: "management", method: "post", path: "/admin/stop_inactive_model_versions", summary: "Remove all but the current versions", body: ModelNames },
  { api: "management", method: "post", path: "/admin/environments", summary: "Build (or find) a Python environment for a package set", body: BuildEnvironment },
  { api: "management", method: "get", path: "/admin/environments/{id}", summary: "An environment build's state and log" },
  {
    api: "management",
    method: "post",
    path: "/admin/gc",
    summary: "Remove artifacts and environments nothing uses, older than grace_seconds; answers what was freed",
    body: GcBody,
  },
  {
    api: "management",
    method: "get",
    path: "/admin/invariants",
    summary: "Check that the registry, the running replicas, the stored artifacts and the query snapshot agree",
  },
  { api: "management", method: "get", path: "/admin/logs", summary: "The end of a model version's captured stderr (query: model_name, model_version, bytes)" },
  {
    api: "management",
    method: "post",
    path: "/admin/capture",
    summary: "Turn an app's payload capture on (sample share, size bound) or off (sample 0)",
    body: SetCapture,
  },
  { api: "management", method: "get", path: "/admin/capture", summary: "An app's capture: rows captured and dropped, files, bytes (query: app_name)" },
  { api: "management", method: "get", path: "/admin/capture/export", summary: "An app's captured rows as one gzip JSON Lines stream (query: app_name)" },
  {
    api: "management",
    method: "post",
    path: "/admin/capture/reference",
    summary: "Set the reference of an app's input statistics from inputs",
    body: SetReference,
  },
  { api: "management", method: "post", path: "/admin/replay", summary: "Replay captured queries against a version; answers the report", body: Replay },
  { api: "management", method: "get", path: "/admin/replay", summary: "The last replay report of an app (query: app_name), or of every app" },
  { api: "management", method: "get", path: "/admin/canary", summary: "A model's canary and its live comparison (query: model_name), or every model's" },
  { api: "management", method: "post", path: "/admin/canary/promote", summary: "Promote a model's canary by hand", body: ModelNameBody },
  { api: "management", method: "post", path: "/admin/canary/abort", summary: "Abort a model's canary by hand", body: ModelNameBody },
];

const ERROR = {
  description: "Error",
  content: {
    "application/json": {
      schema: {
        type: "object",
        properties: { error: { type: "string" }, cause: { type: ["string", "null"] }, code: { type: "string" } },
        required: ["error"],
      },
    },
  },
};

function bodySchema(body: RouteDoc["body"]): unknown {
  return body instanceof z.ZodType ? z.toJSONSchema(body, { io: "input", unrepresentable: "any" }) : body;
}

/** The document; `servers` name where each API listens. */
export function openApiDocument(servers: { query: string; management: string }): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const params: unknown[] = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    if (r.predicts) params.push(TIMEOUT_HEADER);
    const urls = r.api === "both" ? [servers.query, servers.management] : [r.api === "query" ? servers.query : servers.management];
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      tags: [r.api === "management" ? "management API" : "query API"],
      servers: urls.map((url) => ({ url })),
      ...(params.length ? { parameters: params } : {}),
      ...(r.api === "management" && !r.open ? { security: [{ bearer: [] }] } : {}),
      ...(r.body || r.bodyType
        ? {
            requestBody: {
              required: true,
              content: { [r.bodyType ?? "application/json"]: { schema: r.bodyType ? { type: "string", format: "binary" } : bodySchema(r.body) } },
            },
          }
        : {}),
      responses: { "200": { description: "OK" }, "400": ERROR, "401": ERROR, "404": ERROR, "413": ERROR, ...(r.predicts ? { "429": OVERLOADED } : {}) },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "clipper", version: pkg.version, description: "Query API (default port 1337) and management API (default port 1338)" },
    servers: [
      { url: servers.query, description: "query API" },
      { url: servers.management, description: "management API" },
    ],
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "the token in <data-dir>/token or CLIPPER_TOKEN" } } },
    paths,
  };
}
