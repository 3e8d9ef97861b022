/** The management API (:1338): Clipper's admin paths and bodies, plus the artifact upload. */
import { Hono } from "hono";
import { NotFoundError } from "../errors.ts";
import type { ArtifactStore } from "../management/artifacts.ts";
import {
  AddApp, AddModel, AddModelLinks, AppNameBody, ModelBody, NameBody, parseBody, VerboseBody,
} from "../management/schemas.ts";
import type { ManagementService } from "../management/service.ts";
import { requireToken } from "./auth.ts";
import { readJson } from "./body.ts";
import { errorResponse } from "./error-response.ts";

export interface ManagementRouteDeps {
  readonly service: ManagementService;
  readonly artifacts: ArtifactStore;
  readonly maxBodyBytes: number;
  readonly token: string;
}

export function managementRoutes(d: ManagementRouteDeps): Hono {
  const app = new Hono();
  const s = d.service;
  const body = (req: Request) => readJson(req, d.maxBodyBytes);

  app.use("*", requireToken(d.token, ["/admin/ping"]));
  app.get("/admin/ping", (c) => c.text("pong"));
  app.get("/admin/status", (c) => c.json(s.status()));
  app.put("/admin/artifacts", async (c) => c.json(await d.artifacts.put(c.req.raw.body), 201));

  app.post("/admin/add_app", async (c) => c.json(s.addApp(parseBody(AddApp, await body(c.req.raw))), 201));
  app.post("/admin/add_model", async (c) => c.json(await s.addModel(parseBody(AddModel, await body(c.req.raw))), 201));
  app.post("/admin/add_model_links", async (c) => {
    const b = parseBody(AddModelLinks, await body(c.req.raw));
    return c.json({ app_name: b.app_name, linked_models: s.addModelLinks(b) });
  });
  app.post("/admin/get_all_applications", async (c) =>
    c.json(s.getAllApplications(parseBody(VerboseBody, await body(c.req.raw)).verbose)));
  app.post("/admin/get_application", async (c) => c.json(s.getApplication(parseBody(NameBody, await body(c.req.raw)).name)));
  app.post("/admin/get_all_models", async (c) => c.json(s.getAllModels(parseBody(VerboseBody, await body(c.req.raw)).verbose)));
  app.post("/admin/get_model", async (c) => {
    const b = parseBody(ModelBody, await body(c.req.raw));
    return c.json(s.getModel(b.model_name, b.model_version));
  });
  app.post("/admin/get_linked_models", async (c) =>
    c.json(s.getLinkedModels(parseBody(AppNameBody, await body(c.req.raw)).app_name)));
  app.post("/admin/get_all_containers", (c) => c.json(s.getAllContainers()));

  app.notFound((c) => errorResponse(new NotFoundError(`no route ${c.req.method} ${c.req.path}`, "see docs/api.md for the management routes")));
  app.onError((err) => errorResponse(err));
  return app;
}
