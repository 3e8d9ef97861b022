/** End to end: the management API needs the token the server created; the query API does not. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { runCli, type Server, shutdown, startServer } from "./harness.ts";

let server: Server;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => shutdown(server));

describe("management token", () => {
  it("creates a random token file readable only by its owner", () => {
    expect(server.token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(server.dataDir, "token")).mode & 0o777).toBe(0o600);
  });

  it("answers 401 without the token or with a wrong one, and lets ping through", async () => {
    const url = `${server.mgmtUrl}/admin/get_all_applications`;
    expect((await fetch(url, { method: "POST" })).status).toBe(401);
    const wrong = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${"0".repeat(64)}` } });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: string }).error).toBe("missing or wrong management token");
    expect((await fetch(`${server.mgmtUrl}/admin/artifacts`, { method: "PUT", body: "x" })).status).toBe(401);
    expect((await fetch(`${server.mgmtUrl}/admin/ping`)).status).toBe(200);
    expect((await server.admin("get_all_applications", {})).status).toBe(200);
  });

  it("has the CLI read the token from the data directory, and say so when it is wrong", async () => {
    expect((await server.cli("apps", "--url", "$MGMT")).code).toBe(0);
    const wrong = await runCli(["apps", "--url", server.mgmtUrl, "--token", "nope"]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("refused the management token");
  });

  it("never writes the token to the log", () => {
    expect(server.log()).not.toContain(server.token);
  });
});

describe("per-app query tokens", () => {
  it("answers 401 to queries without the app's token, and predicts with it", async () => {
    const token = "app-token-0123456789";
    const reg = await server.cli("register-app", "guarded", "--input-type", "doubles", "--query-token", token, "--url", "$MGMT");
    expect(reg.code).toBe(0);
    expect((await server.admin("get_application", { name: "guarded" })).json).toMatchObject({ query_token_required: true });
    const post = (headers: Record<string, string>) => fetch(`${server.queryUrl}/guarded/predict`, { method: "POST", body: '{"input": [1]}', headers });
    const none = await post({});
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: string }).error).toBe("application 'guarded' needs its query token");
    expect((await post({ authorization: "Bearer wrong-token-0123456789" })).status).toBe(401);
    const ok = await post({ authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { default: boolean }).default).toBe(true); // no model linked: the default, but authorized
    const v2 = await fetch(`${server.queryUrl}/v2/models/guarded/infer`, { method: "POST", body: "{}" });
    expect(v2.status).toBe(401);
    const cli = await server.cli("predict", "guarded", "[1]", "--query-url", "$QUERY", "--query-token", token);
    expect(cli.code).toBe(0);
    expect(
      JSON.stringify(await (await fetch(`${server.mgmtUrl}/admin/status`, { headers: { authorization: `Bearer ${server.token}` } })).json()),
    ).not.toContain(token);
  });
});
