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
