/**
 * Mounts the dashboard on the management app: GET /dashboard serves the page, GET / redirects to it. The page
 * carries no data (so these two paths are open); everything it shows comes from the token-protected /admin/* routes.
 */
import type { Hono } from "hono";
import { DASHBOARD_CSP, DASHBOARD_HTML } from "./page.ts";

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": DASHBOARD_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export function mountDashboard(app: Hono): void {
  app.get("/", (c) => c.redirect("/dashboard", 302));
  app.get("/dashboard", (c) => c.body(DASHBOARD_HTML, 200, PAGE_HEADERS));
}
