/** GET /openapi.json and GET /docs, mounted on both ports. */
import type { Hono } from "hono";
import { DOCS_CSP, DOCS_PAGE } from "./docs-page.ts";
import { openApiDocument } from "./openapi.ts";

/** Where each API is reached, for the document's `servers`. */
export type ServerUrls = () => { query: string; management: string };

export function mountDocs(app: Hono, urls: ServerUrls): void {
  app.get("/openapi.json", (c) => c.json(openApiDocument(urls())));
  app.get("/docs", () => new Response(DOCS_PAGE, { headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": DOCS_CSP } }));
}
