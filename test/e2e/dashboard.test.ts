/** End to end: the dashboard page in a real headless Chromium against a real server: shows, updates, rolls back. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { missingRequirement } from "../provisioned.ts";
import { cleanup, makeFixtures, type Server, startServer, waitUntil } from "./harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = missingRequirement(existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}`) === undefined;
if (!HAVE_CHROMIUM) console.warn(`dashboard tests skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);

let server: Server;
let browser: BrowserContext;
let profileDir: string;
const SCREENSHOT = join(tmpdir(), "clipper-dashboard.png");

/** Sends `n` queries to app `ab`; inputs repeat every 15 from `offset`, so the cache answers some. */
async function traffic(n: number, offset = 0): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => server.predict("ab", { input: [offset + (i % 15), 1, 2, 3, 4] })));
}

/** Waits for `check` (the page's CSP forbids the string evaluation waitForFunction would need for typed DOM access). */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  if ((await waitUntil(check, timeoutMs)) === Infinity) throw new Error(`timed out waiting for ${what}`);
}

async function openDashboard(withToken: boolean): Promise<Page> {
  const page = await browser.newPage();
  page.on("dialog", (d) => void d.accept());
  await page.goto(`${server.mgmtUrl}/dashboard${withToken ? `#token=${server.token}` : ""}`);
  return page;
}

describe.skipIf(!HAVE_CHROMIUM)("the dashboard", () => {
  beforeAll(async () => {
    const fx = makeFixtures();
    server = await startServer();
    for (const [file, version] of [
      ["const-a.pkl", "1"],
      ["const-b.pkl", "2"],
    ] as const) {
      const dep = await server.cli("deploy", join(fx.dir, file), "--name", "ab", "--version", version, "--url", "$MGMT");
      if (dep.code !== 0) throw new Error(dep.stderr);
    }
    await traffic(20);
    profileDir = mkdtempSync(join(tmpdir(), "clipper-chromium-"));
    // A fresh profile directory each run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      viewport: { width: 1280, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
    await server?.stop();
    if (server) cleanup(server.dataDir);
  });

  it("serves a self-contained page under a strict CSP and keeps the data behind the token", async () => {
    const res = await fetch(`${server.mgmtUrl}/dashboard`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain("unsafe");
    expect(await res.text()).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect((await fetch(`${server.mgmtUrl}/`, { redirect: "manual" })).headers.get("location")).toBe("/dashboard");
    expect((await fetch(`${server.mgmtUrl}/admin/status`)).status).toBe(401);
    expect((await fetch(`${server.mgmtUrl}/admin/metrics`)).status).toBe(401);
  });

  it("asks for the token when opened without one, and signs in with it", async () => {
    const page = await openDashboard(false);
    await page.locator("#token-input").waitFor({ state: "visible" });
    expect(await page.locator("#main").isVisible()).toBe(false);
    await page.fill("#token-input", "wrong-token");
    await page.click("#login-form button");
    await page.locator("#login-error", { hasText: "refused" }).waitFor();
    await page.fill("#token-input", server.token);
    await page.click("#login-form button");
    await page.locator("#models td", { hasText: "ab" }).first().waitFor();
    await page.close();
  });

  it("shows the app, the model's versions and replicas, live charts, and rolls back to version 1", async () => {
    const page = await openDashboard(true);
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    expect(page.url()).not.toContain("token="); // the fragment is dropped once read

    const appRow = page.locator("#apps tr", { hasText: "ab" });
    await appRow.locator(".badge.ok", { hasText: "ready" }).waitFor();
    const v2 = page.locator("#models tr").filter({ has: page.locator("td:nth-child(2)", { hasText: /^2$/ }) });
    await v2.locator(".badge", { hasText: "current" }).waitFor();
    await v2.getByText("1/1 ready").waitFor();
    await page
      .locator("#replicas tr")
      .filter({ hasText: "ready" })
      .filter({ has: page.locator("td:nth-child(2)", { hasText: /^2$/ }) })
      .waitFor();

    // Traffic while the page polls: the throughput chart and counters move off zero.
    const sending = (async () => {
      for (let i = 0; i < 16; i++) {
        await traffic(10 + 5 * (i % 4), 1000 + i * 10);
        await Bun.sleep(400);
      }
    })();
    await until(async () => Number(await page.getAttribute("#chart-qps", "data-qps")) > 0, 20_000, "the throughput chart to show traffic");
    await sending;
    await until(async () => Number(await page.textContent("#stat-queries")) >= 260, 10_000, "the page to count every query");
    expect(await page.locator("#chart-qps path.series").count()).toBeGreaterThan(0);
    expect(await page.locator("#stat-p99").textContent()).toMatch(/ms$/);
    expect(await page.locator("#stat-hit").textContent()).toMatch(/^[1-9][\d.]* %$/);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.click('button[data-action="set-version"][data-model="ab"][data-version="1"]');
    await page.locator("#action-msg", { hasText: "ab version 1 is current" }).waitFor({ timeout: 60_000 });
    const versions = await server.admin("get_model_versions", { model_name: "ab" });
    expect(versions.json.find((m: { model_version: string; is_current: boolean }) => m.is_current).model_version).toBe("1");
    expect((await server.predict("ab", { input: [9, 9, 9, 9, 9] })).json.output).toBe("a");
    const v1 = page.locator("#models tr").filter({ has: page.locator("td:nth-child(2)", { hasText: /^1$/ }) });
    await v1.locator(".badge", { hasText: "current" }).waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows an app's capture with its drift, and the last replay report", async () => {
    const on = await server.cli("capture", "ab", "--sample", "1", "--url", "$MGMT");
    if (on.code !== 0) throw new Error(on.stderr);
    await traffic(30, 100);
    const versions = (await server.admin("get_model_versions", { model_name: "ab" })).json as { model_version: string; is_current: boolean }[];
    const other = versions.find((v) => !v.is_current)!.model_version;
    const replayed = await server.cli("replay", "ab", "--version", other, "--url", "$MGMT");
    if (replayed.code !== 0) throw new Error(replayed.stderr);
    const page = await openDashboard(true);
    await page.locator("#captures td", { hasText: "ab" }).first().waitFor();
    await page
      .locator("#replays td", { hasText: `ab:${other}` })
      .first()
      .waitFor();
    await page.locator("#canaries td", { hasText: "No canaries" }).waitFor();
    await page.close();
  });

  it("deploys an uploaded artifact as a new model linked to a new app", async () => {
    const page = await openDashboard(true);
    await page.setInputFiles("#deploy-file", join(makeFixtures().dir, "const-b.pkl"));
    await page.fill("#deploy-name", "fromui");
    await page.fill("#deploy-app", "uiapp");
    await page.click("#deploy-btn");
    await page.locator("#deploy-msg", { hasText: "deployed fromui version 1" }).waitFor({ timeout: 60_000 });
    await page.locator("#apps tr", { hasText: "uiapp" }).locator(".badge.ok").waitFor();
    expect((await server.predict("uiapp", { input: [1, 2, 3, 4, 5] })).json.output).toBe("b");
    await page.close();
  });

  it("shows an ensemble app's weights and confidence", async () => {
    await server.cliOk("register-app", "vote", "--input-type", "doubles");
    await server.cliOk("link", "vote", "ab");
    await server.cliOk("policy", "vote", "ensemble");
    await server.cliOk("link", "vote", "fromui");
    // ab answers "a", fromui "b": each vote holds half of the weight.
    expect((await server.predict("vote", { input: [1, 2, 3, 4, 5] })).json).toMatchObject({ confidence: 0.5, models_total: 2 });
    const page = await openDashboard(true);
    const row = page.locator("#apps tr", { hasText: "vote" });
    await row.waitFor();
    const text = async () => (await row.locator("td:nth-child(2)").textContent()) ?? "";
    await until(async () => (await text()).includes("confidence"), 10_000, "the confidence to show");
    expect(await text()).toBe("ensemble · weights ab 1.0, fromui 1.0 · confidence 0.50 (last 0.50) · 0 low-confidence defaults");
    await page.close();
  });
});
