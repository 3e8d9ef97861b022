/** The management API (:1338): Clipper's admin paths and bodies, plus the artifact upload. */
import { Hono } from "hono";
import { z } from "zod";
import { NotFoundError } from "../errors.ts";
import type { EnvironmentBuilder } from "../runtime/environments.ts";
import {
  AddApp,
  AddModel,
  AddModelLinks,
  BuildEnvironment,
  AppNameBody,
  ContainerBody,
  ContainersBody,
  GcBody,
  ModelBody,
  ModelNameBody,
  ModelNames,
  NameBody,
  parseBody,
  Replay,
  SetCapture,
  SetModelVersion,
  SetReference,
  SetNumReplicas,
  SetServerLimits,
  SetPolicy,
  VerboseBody,
} from "../management/schemas.ts";
import type { ManagementService } from "../management/service.ts";
import { mountDashboard } from "../dashboard/routes.ts";
import { requireToken } from "./auth.ts";
import { mountDocs, type ServerUrls } from "./docs-routes.ts";
import { readJson } from "./body.ts";
import { errorResponse } from "./error-response.ts";
import type { Logger } from "../log.ts";

const LogsQuery = ModelNameBody.extend({
  model_version: SetModelVersion.shape.model_version.optional(),
  bytes: z.coerce
    .number()
    .int()
    .min(1)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
});

export interface ManagementRouteDeps {
  readonly service: ManagementService;
  readonly envs: EnvironmentBuilder;
  readonly maxBodyBytes: number;
  readonly token: string;
  /** The query side's metrics, for dashboards on the management port: JSON summary and Prometheus text. */
  metrics(): Promise<{ summary: unknown; prometheus: string }>;
  readonly urls: ServerUrls;
  readonly logger: Logger;
}

/** What `read` returns, or Clipper's `{}` for a name that is not there (its getters' answer to an unknown name). */
function orEmpty<T>(read: () => T): T | Record<string, never> {
  try {
    return read();
  } catch (err) {
    if (err instanceof NotFoundError) return {};
    throw err;
  }
}

export function managementRoutes(d: ManagementRouteDeps): Hono {
  const app = new Hono();
  const s = d.service;
  const body = (req: Request) => readJson(req, d.maxBodyBytes);

  app.use("*", requireToken(d.token, ["/admin/ping", "/dashboard", "/", "/openapi.json", "/docs"]));
  mountDashboard(app);
  mountDocs(app, d.urls);
  app.get("/admin/ping", (c) => c.text("pong"));
  app.get("/admin/status", (c) => c.json(s.status()));
  app.get("/admin/metrics", async (c) => c.json(await d.metrics()));
  app.put("/admin/artifacts", async (c) => c.json(await s.uploadArtifact(c.req.raw.body), 201));

  // Clipper answered 200 to add_app and add_model, and its client checks for exactly 200.
  app.post("/admin/add_app", async (c) => c.json(await s.addApp(parseBody(AddApp, await body(c.req.raw)))));
  app.post("/admin/add_model", async (c) => c.json(await s.addModel(parseBody(AddModel, await body(c.req.raw)))));
  app.post("/admin/add_model_links", async (c) => {
    const b = parseBody(AddModelLinks, await body(c.req.raw));
    return c.json({ app_name: b.app_name, linked_models: await s.addModelLinks(b) });
  });
  app.post("/admin/get_all_applications", async (c) => c.json(s.getAllApplications(parseBody(VerboseBody, await body(c.req.raw)).verbose)));
  // Clipper's getters answered an unknown name with 200 and `{}`, which its client returns as None.
  app.post("/admin/get_application", async (c) => {
    const b = parseBody(NameBody, await body(c.req.raw));
    return c.json(orEmpty(() => s.getApplication(b.name)));
  });
  app.post("/admin/get_all_models", async (c) => c.json(s.getAllModels(parseBody(VerboseBody, await body(c.req.raw)).verbose)));
  app.post("/admin/get_model", async (c) => {
    const b = parseBody(ModelBody, await body(c.req.raw));
    return c.json(orEmpty(() => s.getModel(b.model_name, b.model_version)));
  });
  app.post("/admin/get_linked_models", async (c) => c.json(s.getLinkedModels(parseBody(AppNameBody, await body(c.req.raw)).app_name)));
  app.post("/admin/get_all_containers", async (c) =>
    c.json(parseBody(ContainersBody, await body(c.req.raw)).verbose ? s.getAllContainers() : s.getAllContainerNames()),
  );
  app.post("/admin/get_container", async (c) => {
    const b = parseBody(ContainerBody, await body(c.req.raw));
    return c.json(orEmpty(() => s.getContainer(b.model_name, b.model_version, b.replica_id)));
  });
  app.post("/admin/get_model_versions", async (c) => c.json(s.versions(parseBody(ModelNameBody, await body(c.req.raw)).model_name)));

  app.post("/admin/set_model_version", async (c) => {
    const b = parseBody(SetModelVersion, await body(c.req.raw));
    return c.json(await s.setModelVersion(b.model_name, b.model_version));
  });
  app.post("/admin/set_num_replicas", async (c) => {
    const b = parseBody(SetNumReplicas, await body(c.req.raw));
    return c.json(await s.setReplicaRange(b));
  });
  app.post("/admin/set_server_limits", async (c) => c.json(await s.setServerLimits(parseBody(SetServerLimits, await body(c.req.raw)))));
  app.post("/admin/set_policy", async (c) => c.json(await s.setPolicy(parseBody(SetPolicy, await body(c.req.raw)))));
  app.post("/admin/delete_model_links", async (c) => {
    const b = parseBody(AddModelLinks, await body(c.req.raw));
    return c.json({ app_name: b.app_name, linked_models: await s.deleteModelLinks(b.app_name, b.model_names) });
  });
  app.post("/admin/delete_app", async (c) => {
    await s.deleteApp(parseBody(NameBody, await body(c.req.raw)).name);
    return c.json({ deleted: true });
  });
  app.post("/admin/delete_versioned_model", async (c) => {
    const b = parseBody(ModelBody, await body(c.req.raw));
    await s.deleteVersionedModel(b.model_name, b.model_version);
    return c.json({ deleted: `${b.model_name}:${b.model_version}` });
  });
  app.post("/admin/stop_models", async (c) => {
    const b = parseBody(ModelNames, await body(c.req.raw));
    await s.stopModels(b.model_names);
    return c.json({ stopped: b.model_names });
  });
  app.post("/admin/stop_inactive_model_versions", async (c) =>
    c.json({ stopped: await s.stopInactiveVersions(parseBody(ModelNames, await body(c.req.raw)).model_names) }),
  );
  app.post("/admin/environments", async (c) => c.json(d.envs.status(d.envs.start(parseBody(BuildEnvironment, await body(c.req.raw)).pkgs)), 202));
  app.get("/admin/environments/:id", (c) => c.json(d.envs.status(c.req.param("id"))));
  app.post("/admin/gc", async (c) => c.json(s.collectGarbage(parseBody(GcBody, await body(c.req.raw)).grace_seconds * 1000)));
  app.get("/admin/invariants", (c) => c.json(s.checkInvariants()));
  app.get("/admin/logs", (c) => {
    const b = parseBody(LogsQuery, c.req.query());
    return c.text(s.logs(b.model_name, b.model_version, b.bytes));
  });

  // Payload capture, replay and canaries.
  app.post("/admin/capture", async (c) => c.json(await s.setCapture(parseBody(SetCapture, await body(c.req.raw)))));
  app.get("/admin/capture", (c) => c.json(s.captureStatus(parseBody(AppNameBody, c.req.query()).app_name)));
  app.get("/admin/capture/export", async (c) => {
    const bytes = await s.captureExport(parseBody(AppNameBody, c.req.query()).app_name);
    return new Response(bytes, { headers: { "content-type": "application/gzip" } });
  });
  app.post("/admin/capture/reference", async (c) => c.json(s.setReference(parseBody(SetReference, await body(c.req.raw)))));
  app.post("/admin/replay", async (c) => c.json(await s.replay(parseBody(Replay, await body(c.req.raw)))));
  app.get("/admin/replay", (c) => {
    const app = c.req.query("app_name");
    return c.json(app === undefined ? s.lastReplays() : s.lastReplay(parseBody(AppNameBody, c.req.query()).app_name));
  });
  app.get("/admin/canary", (c) => {
    const model = c.req.query("model_name");
    return c.json(model === undefined ? s.canaries.views() : s.canaries.view(parseBody(ModelNameBody, c.req.query()).model_name));
  });
  app.post("/admin/canary/promote", async (c) => c.json(await s.canaries.promote(parseBody(ModelNameBody, await body(c.req.raw)).model_name)));
  app.post("/admin/canary/abort", async (c) => c.json(await s.canaries.abort(parseBody(ModelNameBody, await body(c.req.raw)).model_name)));

  app.notFound((c) =>
    errorResponse(new NotFoundError(`no route ${c.req.method} ${c.req.path}`, "the management routes are listed at GET /docs (OpenAPI: GET /openapi.json)")),
  );
  app.onError((err) => errorResponse(err, d.logger));
  return app;
}
