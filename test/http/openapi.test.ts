/** The OpenAPI document lists exactly the routes the two APIs register, no more and no fewer. */
import { describe, expect, it } from "bun:test";
import type { Hono } from "hono";
import { managementRoutes, type ManagementRouteDeps } from "../../src/http/management-routes.ts";
import { openApiDocument, ROUTES } from "../../src/http/openapi.ts";
import { hotQueryRoutes, queryRoutes, type QueryRouteDeps } from "../../src/http/query-routes.ts";

// Building the routers only registers handlers; none is called here.
const queryDeps = {} as QueryRouteDeps;
const mgmtDeps = {} as ManagementRouteDeps;

const registered = (app: Hono) => app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
const documented = (api: "query" | "management") => ROUTES.filter((r) => r.api === api || r.api === "both").map((r) => `${r.method.toUpperCase()} ${r.path}`);

describe("the OpenAPI document", () => {
  it("documents every query route, native and hono, and nothing else", () => {
    const native = Object.keys(hotQueryRoutes(queryDeps)).map((p) => `POST ${p.replace(/:(\w+)/g, "{$1}")}`);
    expect(documented("query").sort()).toEqual([...native, ...registered(queryRoutes(queryDeps))].sort());
  });

  it("documents every management route and nothing else", () => {
    expect(documented("management").sort()).toEqual(registered(managementRoutes(mgmtDeps)).sort());
  });

  it("is an OpenAPI 3.1 document whose request bodies come from the validation schemas", () => {
    const doc = openApiDocument({ query: "http://q", management: "http://m" }) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> }; security?: unknown }>
      >;
    };
    expect(doc.openapi).toBe("3.1.0");
    const addApp = doc.paths["/admin/add_app"]!.post!;
    expect(Object.keys(addApp.requestBody!.content["application/json"]!.schema.properties!)).toEqual([
      "name",
      "input_type",
      "default_output",
      "latency_slo_micros",
      "cache",
      "query_token",
      "overload",
    ]);
    expect(addApp.security).toEqual([{ bearer: [] }]);
    expect(doc.paths["/admin/ping"]!.get!.security).toBeUndefined();
  });
});
