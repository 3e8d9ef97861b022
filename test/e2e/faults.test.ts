/** End to end: what the server does on its worst day, with every answer counted. Traffic to 127.0.0.1 only, bounded. */
import { describe, expect, it } from "bun:test";
import { join } from "node:path";
import { cleanup, FIXTURES, makeFixtures, PYTHON, type Server, settledInvariants, startServer, waitUntil, alive, replicaPids } from "./harness.ts";
import { steadyLoad } from "./load.ts";

const fx = makeFixtures();

/** `clipper deploy ARGS` against `s` (the harness's cliOk: throws with the CLI's stderr when it fails). */
const deploy = (s: Server, ...args: string[]) => s.cliOk("deploy", ...args);

const hrInput = () => ({ input: [Math.random() * 10, 2, 70 + Math.random() * 20, 3, 1] });

describe("replica faults", () => {
  it("predicts every query of 64 clients while a replica is killed with SIGKILL (in-flight ones retried on the other), and replaces it quickly", async () => {
    const s = await startServer();
    try {
      // A generous SLO: a default here can only come from the kill, not from a busy machine.
      await deploy(s, join(fx.dir, "hr.pkl"), "--name", "hr", "--replicas", "2", "--slo-micros", "5000000");
      const load = steadyLoad(`${s.queryUrl}/hr/predict`, hrInput, 64);
      const answered = () => load.counts.ok + load.counts.defaults;
      expect(await waitUntil(() => answered() >= 200, 20_000)).toBeLessThan(Infinity);
      const [victim] = await replicaPids(s, "hr");
      process.kill(victim!, "SIGKILL");
      const backMs = await waitUntil(async () => {
        const now = await replicaPids(s, "hr");
        return (
          now.length === 2 && !now.includes(victim!) && (await s.admin("get_all_containers", {})).json.every((c: { state: string }) => c.state === "ready")
        );
      }, 10_000);
      const afterBack = answered();
      expect(await waitUntil(() => answered() >= afterBack + 200, 20_000)).toBeLessThan(Infinity);
      const c = await load.stop();
      console.log(
        `SIGKILL under 64 clients: sent ${c.sent}, answered ${c.ok + c.defaults} (${c.defaults} defaults: ${JSON.stringify(Object.fromEntries(c.reasons))}), ` +
          `5xx ${c.errors5xx}, failed ${c.failed}; replica back in ${backMs.toFixed(0)} ms`,
      );
      expect(c.errors5xx + c.errors4xx + c.failed).toBe(0);
      expect(c.ok + c.defaults).toBe(c.sent);
      // The README's promise: the killed replica's in-flight queries are retried on the other one, so
      // (almost) every query is predicted; a default for every query would pass the line above.
      expect(c.defaults).toBeLessThanOrEqual(Math.max(2, Math.floor(c.sent * 0.005)));
      // Replaced at all (the time is reported above, not asserted: this machine is shared and noisy).
      expect(backMs).toBeLessThan(10_000);
    } finally {
      await s.stop();
      cleanup(s.dataDir);
    }
  });

  it("kills and replaces a replica whose memory passes the limit, then marks a steady leak failed", async () => {
    const s = await startServer({ env: { CLIPPER_REPLICA_MEMORY_MB: "300" } });
    try {
      await deploy(s, join(fx.dir, "leak.pkl"), "--name", "leaky", "--default-output", "none");
      const first = (await replicaPids(s, "leaky"))[0]!;
      let status = "";
      await waitUntil(async () => {
        await s.predict("leaky", { input: [Math.random()] });
        const m = (await s.admin("status")).json.models.find((x: { model_name: string }) => x.model_name === "leaky");
        status = `${m.state}: ${m.last_error}`;
        return m.state === "failed";
      }, 30_000);
      expect(status).toMatch(/^failed: the replica used \d+ MiB of memory, over the limit of 300 MiB/);
      expect(alive(first)).toBe(false);
      // The failed model's app still answers, with its default output and the reason.
      expect((await s.predict("leaky", { input: [1] })).json).toMatchObject({ output: "none", default: true });
      expect((await fetch(`${s.queryUrl}/health`)).status).toBe(200);
    } finally {
      await s.stop();
      cleanup(s.dataDir);
    }
  });

  it("refuses a runtime that writes garbage instead of frames, with the reason, and stays up", async () => {
    const s = await startServer();
    try {
      const res = await s.cli("deploy", "--command", `${PYTHON} ${join(FIXTURES, "garbage_runtime.py")}`, "--name", "garbage", "--url", "$MGMT");
      expect(res.code).toBe(0); // the hello is well-formed
      const { json } = await s.predict("garbage", { input: [1] });
      expect(json.default).toBe(true);
      const m = await waitUntil(
        async () =>
          /not a msgpack map \(garbage on stdout\?\)/.test(
            (await s.admin("status")).json.models.find((x: { model_name: string }) => x.model_name === "garbage").last_error ?? "",
          ),
        5000,
      );
      expect(m).toBeLessThan(5000);
      expect((await fetch(`${s.queryUrl}/health`)).status).toBe(200);
    } finally {
      await s.stop();
      cleanup(s.dataDir);
    }
  });

  it("refuses a runtime that exits at start-up with its exit code and stderr", async () => {
    const s = await startServer();
    try {
      const res = await s.cli("deploy", "--command", "sh -c exit_3_is_not_a_command", "--name", "exits", "--url", "$MGMT");
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(/the runtime exited with code 127.*not found/);
      expect((await s.admin("get_all_models", {})).json).toEqual([]);
    } finally {
      await s.stop();
      cleanup(s.dataDir);
    }
  });
});

describe("server faults", () => {
  it("comes back intact after SIGKILL in the middle of writes and traffic, with no orphan replicas", async () => {
    const s = await startServer();
    const dataDir = s.dataDir;
    await deploy(s, join(fx.dir, "hr.pkl"), "--name", "hr", "--replicas", "2");
    await s.cli("policy", "hr", "single", "--url", "$MGMT");
    const before = await replicaPids(s);
    const load = steadyLoad(`${s.queryUrl}/hr/predict`, hrInput, 16, 5000);
    // Management writes in flight when the server dies: the kill comes once some are acknowledged and others are not.
    const acknowledged: string[] = [];
    const writes = Array.from({ length: 40 }, (_, i) =>
      s
        .admin("add_app", { name: `app-${i}`, input_type: "doubles" })
        .then((r) => {
          if (r.status === 200) acknowledged.push(`app-${i}`);
        })
        .catch(() => undefined),
    );
    expect(await waitUntil(() => acknowledged.length >= 1, 10_000)).toBeLessThan(Infinity);
    await s.stop("SIGKILL");
    await Promise.all(writes);
    await load.stop();
    const orphansGoneMs = await waitUntil(() => before.every((p) => !alive(p)), 5000);
    const s2 = await startServer({ dataDir });
    try {
      console.log(`after SIGKILL: old replicas gone in ${orphansGoneMs.toFixed(0)} ms`);
      expect(orphansGoneMs).toBeLessThan(5000);
      const apps = (await s2.admin("get_all_applications", {})).json as string[];
      expect(apps).toContain("hr");
      // Every write acknowledged before the kill survived it (there was at least one), and none is half-written.
      expect(acknowledged.length).toBeGreaterThan(0);
      const created = apps.filter((a) => a.startsWith("app-"));
      expect(created).toEqual(expect.arrayContaining(acknowledged));
      for (const a of created) expect((await s2.admin("get_application", { name: a })).json.input_type).toBe("doubles");
      expect((await settledInvariants(s2)).violations).toEqual([]);
      expect((await s2.predict("hr", { input: fx.rows[0] })).json).toMatchObject({ output: fx.hrExpected[0], default: false });
      expect(await replicaPids(s2, "hr")).toHaveLength(2);
      const integrity = Bun.spawnSync([
        "python3",
        "-c",
        `import sqlite3; print(sqlite3.connect("${join(dataDir, "registry.db")}").execute("PRAGMA integrity_check").fetchone()[0])`,
      ]);
      expect(integrity.stdout.toString().trim()).toBe("ok");
    } finally {
      await s2.stop();
      cleanup(dataDir);
    }
  });

  it("answers in-flight queries on SIGTERM under load, refuses new connections, and exits 0 within the grace period", async () => {
    const s = await startServer({ args: ["--shutdown-grace-ms", "3000"] });
    await deploy(s, join(fx.dir, "slow.pkl"), "--name", "slow", "--slo-micros", "5000000");
    const inflight = Array.from({ length: 64 }, () => s.predict("slow", { input: [1, 2] }).catch((e: Error) => ({ status: 0, json: { error: e.message } })));
    await Bun.sleep(150);
    const t0 = performance.now();
    s.proc.kill("SIGTERM");
    await Bun.sleep(50);
    const refused = await fetch(`${s.queryUrl}/health`).then(
      () => false,
      () => true,
    );
    const answers = await Promise.all(inflight);
    const code = await s.proc.exited;
    const exitMs = performance.now() - t0;
    const ok = answers.filter((a) => a.status === 200).length;
    console.log(`SIGTERM under 64 in-flight queries: ${ok} answered 200, exit ${code} after ${exitMs.toFixed(0)} ms`);
    expect(refused).toBe(true);
    expect(ok).toBe(64);
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(3000 + 2500);
    cleanup(s.dataDir);
  });
});
