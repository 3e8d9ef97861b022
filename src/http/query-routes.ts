/**
 * The query API (:1337): routes only parse and serialize; the processor does the work.
 * The two hot routes are Bun.serve native routes (measured: hono's URL parsing and context cost about a
 * quarter of a cache hit's time); everything else goes through hono.
 */
import type { BunRequest } from "bun";
import { Hono } from "hono";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import type { ManagementService } from "../management/service.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { clipperMetricsJson, type MetricsSummary, wantsPrometheusText } from "../metrics/clipper-json.ts";
import type { QueryProcessor } from "../query/processor.ts";
import { clientDeadline, parseTimeoutHeader, TIMEOUT_HEADER } from "../query/client-timeout.ts";
import { RestJson } from "./rest-json.ts";
import { readBodyText } from "./body.ts";
import { mountDocs, type ServerUrls } from "./docs-routes.ts";
import { oipRoutes } from "./oip-routes.ts";
import { errorResponse } from "./error-response.ts";
import type { Logger } from "../log.ts";
import { NotFoundError } from "../errors.ts";

export interface QueryRouteDeps {
  readonly processor: QueryProcessor;
  readonly management: ManagementService;
  readonly metrics: Metrics;
  readonly cache: PredictionCache;
  readonly maxBodyBytes: number;
  readonly urls: ServerUrls;
  readonly logger: Logger;
}

let requestSeq = 0;
const REQUEST_PREFIX = `${process.pid.toString(36)}-`;

/** The client's X-Request-Id when it sent a sane one, else a new one (cheap: pid and a counter). */
function requestIdOf(req: Request): string {
  const given = req.headers.get("x-request-id");
  return given && given.length <= 128 && /^[\w.:-]+$/.test(given) ? given : REQUEST_PREFIX + (requestSeq++).toString(36);
}

/** Runs one hot route, mapping any error to its response in the one place that does it. */
function hot<P extends string>(d: QueryRouteDeps, run: (req: BunRequest<P>, body: string, arrivalMs: number, requestId: string) => string | Promise<string>) {
  return async (req: BunRequest<P>): Promise<Response> => {
    const arrivalMs = performance.now();
    const requestId = requestIdOf(req);
    try {
      const answer = run(req, await readBodyText(req, d.maxBodyBytes), arrivalMs, requestId);
      return new Response(typeof answer === "string" ? answer : await answer, { headers: { "content-type": "application/json", "x-request-id": requestId } });
    } catch (err) {
      return errorResponse(err, d.logger, requestId);
    }
  };
}

/** Native Bun.serve routes for predict and feedback. */
export function hotQueryRoutes(d: QueryRouteDeps) {
  const rest = new RestJson(d.processor);
  return {
    "/:app/predict": {
      POST: hot<"/:app/predict">(d, (req, body, arrivalMs, id) =>
        rest.predict(
          req.params.app,
          body,
          arrivalMs,
          id,
          req.headers.get("authorization"),
          req.signal,
          clientDeadline(arrivalMs, parseTimeoutHeader(req.headers.get(TIMEOUT_HEADER))),
        ),
      ),
    },
    "/:app/update": {
      POST: hot<"/:app/update">(d, (req, body, arrivalMs) => rest.update(req.params.app, body, arrivalMs, req.headers.get("authorization"))),
    },
  };
}

export function queryRoutes(d: QueryRouteDeps): Hono {
  const app = new Hono();
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", (c) => {
    const notReady = d.processor.notReadyApps();
    return c.json({ ready: notReady.length === 0, not_ready: notReady }, notReady.length === 0 ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    if (!wantsPrometheusText(c.req.header("accept") ?? null)) {
      return c.json(clipperMetricsJson(d.metrics.toJSON(d.cache) as MetricsSummary));
    }
    return new Response(await d.metrics.prometheus.text(), { headers: { "content-type": d.metrics.prometheus.contentType } });
  });
  app.get("/metrics.json", (c) => c.json(d.metrics.toJSON(d.cache)));
  app.route("/", oipRoutes(d));
  mountDocs(app, d.urls);
  app.notFound((c) => errorResponse(new NotFoundError(`no route ${c.req.method} ${c.req.path}`, "predict with POST /{app}/predict")));
  app.onError((err) => errorResponse(err, d.logger));
  return app;
}
