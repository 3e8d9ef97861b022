/** The dashboard page runs only its own inline script and style: the CSP names their exact hashes. */
import { createHash } from "node:crypto";
import { describe, expect, it } from "bun:test";
import { DASHBOARD_CSP, DASHBOARD_HTML } from "../../src/dashboard/page.ts";

const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
const inline = (tag: string) => [...DASHBOARD_HTML.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1]!);

describe("the dashboard page", () => {
  it("allows by hash exactly its one inline script and its one style block", () => {
    const [script] = inline("script");
    const [style] = inline("style");
    expect(inline("script")).toHaveLength(1);
    expect(DASHBOARD_CSP).toContain(`script-src ${hash(script!)}`);
    expect(DASHBOARD_CSP).toContain(`style-src ${hash(style!)}`);
  });

  it("loads nothing from elsewhere and cannot be framed", () => {
    // (the SVG namespace URI in the script is a name, not a fetch)
    expect(DASHBOARD_HTML).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)|(?:src|href)="https?:/);
    expect(DASHBOARD_CSP).toContain("default-src 'none'");
    expect(DASHBOARD_CSP).toContain("frame-ancestors 'none'");
  });
});
