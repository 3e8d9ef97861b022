/** The query API (:1337): routes only parse and serialize; the processor does the work. */
import { Hono } from "hono";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import type { ManagementService } from "../management/service.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { QueryProcessor } from "../query/processor.ts";
import { readBodyText } from "./body.ts";
import { errorResponse } from "./error-response.ts";
import { NotFoundError } from "../errors.ts";

export interface QueryRouteDeps {
  readonly processor: QueryProcessor;
  readonly management: ManagementService;
  readonly metrics: Metrics;
  readonly cache: PredictionCache;
  readonly maxBodyBytes: number;
}

const JSON_HEADERS = { "content-type": "application/json" };

export function queryRoutes(d: QueryRouteDeps): Hono {
  const app = new Hono();
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", (c) => {
    const apps = [...d.management.snapshot.apps.keys()];
    const notReady = apps.filter((a) => !d.management.isAppReady(a));
    return c.json({ ready: notReady.length === 0, not_ready: notReady }, notReady.length === 0 ? 200 : 503);
  });
  app.get("/metrics", (c) => c.json(d.metrics.toJSON(d.cache)));
  app.post("/:app/predict", async (c) => {
    const arrivalMs = performance.now();
    const text = await readBodyText(c.req.raw, d.maxBodyBytes);
    const body = await d.processor.predict(c.req.param("app"), text, arrivalMs);
    return new Response(body, { headers: JSON_HEADERS });
  });
  app.post("/:app/update", async (c) => {
    const arrivalMs = performance.now();
    const text = await readBodyText(c.req.raw, d.maxBodyBytes);
    return new Response(await d.processor.update(c.req.param("app"), text, arrivalMs), { headers: JSON_HEADERS });
  });
  app.notFound((c) => errorResponse(new NotFoundError(`no route ${c.req.method} ${c.req.path}`, "predict with POST /{app}/predict")));
  app.onError((err) => errorResponse(err));
  return app;
}
