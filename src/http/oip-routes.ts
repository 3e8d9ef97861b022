/** Open Inference Protocol (KServe V2) REST routes on the query port, through the same request path. */
import { bearerToken } from "../auth.ts";
import { Hono } from "hono";
import type { ManagementService } from "../management/service.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { parseV2Request, pinnedVersion, V2_SERVER, v2Answer, v2Json, v2Metadata } from "../query/oip.ts";
import type { QueryProcessor } from "../query/processor.ts";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import { readBodyBytes, readJson } from "./body.ts";
import { binaryResponse, HEADER_LENGTH, splitBinaryBody } from "./oip-binary.ts";

export interface OipDeps {
  readonly processor: QueryProcessor;
  readonly management: ManagementService;
  readonly cache: PredictionCache;
  readonly metrics: Metrics;
  readonly maxBodyBytes: number;
}

export function oipRoutes(d: OipDeps): Hono {
  const app = new Hono();

  app.get("/v2", (c) => c.json(V2_SERVER));
  app.get("/v2/health/live", (c) => c.json({ live: true }));
  app.get("/v2/health/ready", (c) => {
    const ready = [...d.management.snapshot.apps.keys()].every((a) => d.management.isAppReady(a));
    return c.json({ ready }, ready ? 200 : 503);
  });

  const metadata = (name: string) => v2Metadata(d.processor.route(name));
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
    const route = d.processor.route(name, bearerToken(req.headers.get("authorization")));
    // With the binary data extension the body is a JSON header of the declared length, then raw tensors.
    const headerLength = req.headers.get(HEADER_LENGTH);
    let request;
    let answered;
    try {
      const { json, binary } =
        headerLength === null
          ? { json: await readJson(req, d.maxBodyBytes), binary: undefined }
          : splitBinaryBody(await readBodyBytes(req, d.maxBodyBytes), headerLength);
      request = parseV2Request(json, route.app.inputType, d.cache.enabled, binary);
      const pinned = version === undefined ? undefined : pinnedVersion(route, version, (k) => d.management.isRunning(k));
      answered = d.processor.answerRows(route, request.parsed, arrivalMs, pinned, { field: "each row of inputs[0]", signal: req.signal });
    } catch (err) {
      if (err instanceof BadRequestError) d.metrics.onRejected(name);
      throw err;
    }
    const { id, binaryOutput } = request;
    const { outcomes, choice } = "outcomes" in answered ? answered : await answered;
    const answer = v2Answer(name, choice?.version, id, outcomes, route.app.defaultOutput);
    return binaryOutput ? binaryResponse(answer) : Response.json(v2Json(answer));
  };
  app.post("/v2/models/:m/infer", (c) => infer(c.req.raw, c.req.param("m")));
  app.post("/v2/models/:m/versions/:v/infer", (c) => infer(c.req.raw, c.req.param("m"), c.req.param("v")));
  return app;
}
