/** Open Inference Protocol (KServe V2) REST routes on the query port, through the same request path. */
import { Hono } from "hono";
import type { ManagementService } from "../management/service.ts";
import type { ModelChoice } from "../policy/select.ts";
import { parseV2Request, V2_DATATYPE, v2Response } from "../query/oip.ts";
import type { QueryProcessor } from "../query/processor.ts";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import type { AppRoute } from "../query/snapshot.ts";
import { modelKey } from "../runtime/manager.ts";
import { NotFoundError } from "../errors.ts";
import { readJson } from "./body.ts";
import pkg from "../../package.json" with { type: "json" };

export interface OipDeps {
  readonly processor: QueryProcessor;
  readonly management: ManagementService;
  readonly cache: PredictionCache;
  readonly maxBodyBytes: number;
}

/** The linked model's version `version`, which must be running, as the pinned choice. */
function pinnedVersion(route: AppRoute, version: string, running: (key: string) => boolean): ModelChoice {
  const model = route.linked[0];
  if (!model) throw new NotFoundError(`application '${route.app.name}' has no linked model`);
  const key = modelKey(model.name, version);
  if (!running(key)) throw new NotFoundError(`version ${version} of model '${model.name}' is not being served`, `current: ${model.version}`);
  return { name: model.name, version, key, json: JSON.stringify({ name: model.name, version }), cachePrefix: `${key}\u0000` };
}

export function oipRoutes(d: OipDeps): Hono {
  const app = new Hono();
  const versionsOf = (route: AppRoute) => route.linked.map((c) => c.version);

  app.get("/v2", (c) => c.json({ name: "clipper", version: pkg.version, extensions: [] }));
  app.get("/v2/health/live", (c) => c.json({ live: true }));
  app.get("/v2/health/ready", (c) => {
    const ready = [...d.management.snapshot.apps.keys()].every((a) => d.management.isAppReady(a));
    return c.json({ ready }, ready ? 200 : 503);
  });

  const metadata = (name: string) => {
    const route = d.processor.route(name);
    return {
      name, versions: versionsOf(route), platform: `clipper-${route.app.policy}`,
      inputs: [{ name: "input", datatype: V2_DATATYPE[route.app.inputType], shape: V2_DATATYPE[route.app.inputType] === "BYTES" ? [-1] : [-1, -1] }],
      outputs: [{ name: "output", datatype: "BYTES", shape: [-1] }],
    };
  };
  const ready = (name: string, version?: string) => {
    const route = d.processor.route(name);
    if (version !== undefined) pinnedVersion(route, version, (k) => d.management.isRunning(k));
    return d.management.isAppReady(name);
  };

  app.get("/v2/models/:m", (c) => c.json(metadata(c.req.param("m"))));
  app.get("/v2/models/:m/versions/:v", (c) => {
    const m = metadata(c.req.param("m"));
    if (!m.versions.includes(c.req.param("v"))) throw new NotFoundError(`model '${m.name}' has no version ${c.req.param("v")} being served`);
    return c.json({ ...m, versions: [c.req.param("v")] });
  });
  app.get("/v2/models/:m/ready", (c) => {
    const ok = ready(c.req.param("m"));
    return c.json({ name: c.req.param("m"), ready: ok }, ok ? 200 : 503);
  });
  app.get("/v2/models/:m/versions/:v/ready", (c) => {
    const ok = ready(c.req.param("m"), c.req.param("v"));
    return c.json({ name: c.req.param("m"), ready: ok }, ok ? 200 : 503);
  });

  const infer = async (req: Request, name: string, version?: string) => {
    const arrivalMs = performance.now();
    const route = d.processor.route(name, req.headers.get("authorization"));
    const body = await readJson(req, d.maxBodyBytes);
    const { id, parsed } = parseV2Request(body, route.app.inputType, d.cache.enabled);
    const pinned = version === undefined ? undefined : pinnedVersion(route, version, (k) => d.management.isRunning(k));
    const answered = d.processor.answerRows(route, parsed, arrivalMs, pinned, "each row of inputs[0]", req.signal);
    const { outcomes, choice } = "outcomes" in answered ? answered : await answered;
    return Response.json(v2Response(name, choice?.version, id, outcomes, route.app.defaultOutput));
  };
  app.post("/v2/models/:m/infer", (c) => infer(c.req.raw, c.req.param("m")));
  app.post("/v2/models/:m/versions/:v/infer", (c) => infer(c.req.raw, c.req.param("m"), c.req.param("v")));
  return app;
}
