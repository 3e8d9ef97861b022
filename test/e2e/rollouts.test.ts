/**
 * Rollouts that check themselves, through the compiled binary with real Node replicas: payload capture
 * (sampled, every field, bounded, a blocked writer drops and counts), replay against a version that differs
 * on a known 10% of inputs, canaries rolled back on their own (no query lost) or promoted.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { cleanup, type Server, settledInvariants, shutdown, startServer, tempDir, waitFor } from "./harness.ts";

/** A Node model whose output for row [i, x] is `body` (a JS expression of i and x); raises when `raises` (of i) holds for a row of the batch. */
function model(dir: string, file: string, body: string, raises = "false"): string {
  const path = join(dir, `${file}.mjs`);
  writeFileSync(
    path,
    `export async function predict(inputs) {
  for (const [i] of inputs) if (${raises}) throw new Error("row " + i + " is refused");
  return inputs.map(([i, x]) => String(${body}));
}
`,
  );
  return path;
}

/** Sends rows [i, x] for i in [from, to) as single queries, `concurrency` at a time; answers each row's JSON answer. */
async function send(
  s: Server,
  app: string,
  from: number,
  to: number,
  concurrency = 16,
  x = (i: number) => i % 7,
): Promise<{ i: number; output: string; default: boolean }[]> {
  const answers: { i: number; output: string; default: boolean }[] = [];
  let next = from;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < to) {
        const i = next++;
        const res = await s.predict(app, { input: [i, x(i)] });
        expect(res.status).toBe(200);
        answers.push({ i, output: res.json.output, default: res.json.default });
      }
    }),
  );
  return answers;
}

describe("rollouts", () => {
  let s: Server;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir("clipper-rollouts-");
    s = await startServer();
    await s.cliOk("deploy", model(dir, "v1", "i % 3"), "--name", "m", "--app", "a", "--version", "1", "--slo-micros", "5000000");
  }, 60_000);
  afterAll(async () => {
    await shutdown(s);
    cleanup(dir);
  });

  it("captures about the sampled share of queries with every field, and exports them", async () => {
    const status = JSON.parse(await s.cliOk("capture", "a", "--sample", "10%", "--max-mb", "5", "--json"));
    expect(status.sample).toBeCloseTo(0.1);
    await send(s, "a", 0, 3000, 32);
    const file = join(dir, "capture.jsonl");
    await s.cliOk("capture", "a", "--export", file);
    const rows = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    // 3000 queries at 10%: 300 expected; 5 standard deviations (16.4 each) either side.
    expect(rows.length).toBeGreaterThan(218);
    expect(rows.length).toBeLessThan(382);
    for (const r of rows.slice(0, 20)) {
      expect(Object.keys(r).sort()).toEqual(["app", "default", "input", "latency_micros", "model", "output", "request_id", "time", "version"]);
      expect(r).toMatchObject({ app: "a", model: "m", version: "1", default: false, output: String(r.input[0] % 3) });
      expect(r.latency_micros).toBeGreaterThan(0);
      expect(Date.parse(r.time)).toBeGreaterThan(Date.now() - 600_000);
    }
    // A gzip export is the same rows.
    await s.cliOk("capture", "a", "--export", `${file}.gz`);
    expect(
      gunzipSync(readFileSync(`${file}.gz`))
        .toString("utf8")
        .trim()
        .split("\n").length,
    ).toBe(rows.length);
    const metrics = (await fetch(`${s.queryUrl}/metrics.json`).then((r) => r.json())) as { capture: Record<string, { captured_rows: number }> };
    expect(metrics.capture.a!.captured_rows).toBeGreaterThanOrEqual(rows.length);
  }, 120_000);

  it("replays the capture against a version that differs on a known 10% of inputs: 90% agreement, the differing inputs listed", async () => {
    await s.cliOk("capture", "a", "--sample", "1");
    const before = JSON.parse(await s.cliOk("capture", "a", "--json")).captured_rows;
    await send(s, "a", 10_000, 11_000, 32);
    await waitFor(async () => JSON.parse(await s.cliOk("capture", "a", "--json")).captured_rows >= before + 1000 || undefined, 20_000);
    // Version 2 is registered but never current: the replay starts it and stops it again.
    await s.cliOk("deploy", model(dir, "v2", "i % 10 === 0 ? 'other' : i % 3"), "--name", "m", "--app", "a", "--version", "2");
    await s.cliOk("rollback", "m", "1");
    expect((await settledInvariants(s)).violations).toEqual([]);
    const exported = join(dir, "replay-from.jsonl");
    await s.cliOk("capture", "a", "--export", exported);
    // Only the 1,000 queries of this test: a file with them, as --from takes it.
    const mine = readFileSync(exported, "utf8")
      .trim()
      .split("\n")
      .filter((l) => JSON.parse(l).input[0] >= 10_000);
    expect(mine.length).toBe(1000);
    writeFileSync(exported, `${mine.join("\n")}\n`);
    const report = JSON.parse(await s.cliOk("replay", "a", "--version", "2", "--from", exported, "--json"));
    expect(report.rows).toBe(1000);
    expect(report.errors).toBe(0);
    expect(report.agreement).toBeCloseTo(0.9, 5);
    expect(report.differing_total).toBe(100);
    expect(report.differing.every((d: { input: number[]; replayed: string }) => d.input[0]! % 10 === 0 && d.replayed === "other")).toBe(true);
    expect(report.latency_micros.version.p99).toBeGreaterThan(0);
    expect(report.latency_micros.current.p99).toBeGreaterThan(0);
    // The table names the agreement and lists differing inputs; the dashboard's route has the last report.
    const text = await s.cliOk("replay", "a", "--version", "2", "--from", exported, "--rate", "2000");
    expect(text).toContain("90.0% of 1000");
    expect(text).toContain("100 differing inputs");
    expect((await s.admin("replay?app_name=a")).json.agreement).toBeCloseTo(0.9, 5);
    // Version 2 was started for the replay only: it is not current and no longer runs (the invariants say a non-current version that runs).
    expect((await settledInvariants(s)).violations).toEqual([]);
    expect((await s.admin("get_all_containers", { verbose: false })).json.some((c: string) => c.startsWith("m:2:"))).toBe(false);
    await s.cliOk("capture", "a", "--sample", "0");
  }, 180_000);

  // Version 3 raises on 30% of the rows sent while it is on trial (not on the input its first prediction replays).
  it("rolls a canary that raises on 30% of rows back by itself, within its window, losing no query", async () => {
    await s.cliOk(
      "deploy",
      model(dir, "v3", "i % 3", "i >= 20000 && i % 10 < 3"),
      "--name",
      "m",
      "--app",
      "a",
      "--version",
      "3",
      "--canary",
      "20%",
      "--for",
      "120s",
      "--max-error-rate",
      "0.05",
    );
    expect(JSON.parse(await s.cliOk("canary", "m", "--json")).state).toBe("running");
    const answers: { i: number; output: string; default: boolean }[] = [];
    let i = 20_000;
    const verdict = await waitFor(async () => {
      answers.push(...(await send(s, "a", i, i + 100, 8)));
      i += 100;
      const c = JSON.parse(await s.cliOk("canary", "m", "--json"));
      return c.state === "running" ? undefined : c;
    }, 100_000);
    expect(verdict.state).toBe("rolled_back");
    expect(verdict.reason).toContain("--max-error-rate");
    expect(verdict.comparison.canary_error_rate).toBeGreaterThan(0.05);
    // Every row was answered by a model: the canary's failed rows got version 1's answer.
    expect(answers.filter((a) => a.default)).toEqual([]);
    expect(answers.filter((a) => a.output !== String(a.i % 3))).toEqual([]);
    expect(s.log()).toContain('"event":"canary_rolled_back"');
    const prom = await fetch(`${s.queryUrl}/metrics`, { headers: { accept: "text/plain" } }).then((r) => r.text());
    expect(prom).toContain('clipper_canary_state{model="m",version="3",state="rolled_back"} 1');
    const status = (await s.admin("status")).json;
    expect(status.canaries.find((c: { model: string }) => c.model === "m")).toMatchObject({ state: "rolled_back", version: "3" });
    expect(await s.cliOk("status")).toContain("canary m:3 (20.0% against version 1) rolled back: error rate");
    expect((await settledInvariants(s)).violations).toEqual([]);
    // Version 1 is still current.
    expect((await s.predict("a", { input: [5, 0] })).json.output).toBe("2");
  }, 180_000);

  it("promotes a good canary when its window passes, and refuses a deploy while it is on trial", async () => {
    await s.cliOk(
      "deploy",
      model(dir, "v4", "i % 3"),
      "--name",
      "m",
      "--app",
      "a",
      "--version",
      "4",
      "--canary",
      "50%",
      "--for",
      "4s",
      "--max-error-rate",
      "0.05",
      "--min-agreement",
      "99%",
    );
    const busy = await s.cli("deploy", model(dir, "v5", "i % 3"), "--name", "m", "--app", "a", "--version", "5", "--url", "$MGMT");
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain("canary of version 4 on trial");
    let i = 30_000;
    const verdict = await waitFor(async () => {
      await send(s, "a", i, i + 50, 8);
      i += 50;
      const c = JSON.parse(await s.cliOk("canary", "m", "--json"));
      return c.state === "running" ? undefined : c;
    }, 60_000);
    expect(verdict.state).toBe("promoted");
    expect(verdict.comparison.agreement).toBe(1);
    const versions = JSON.parse(await s.cliOk("versions", "m", "--json"));
    expect(versions.find((v: { is_current: boolean }) => v.is_current).model_version).toBe("4");
    expect((await settledInvariants(s)).violations).toEqual([]);
  }, 120_000);

  it("drops and counts rows when the writer is blocked, while every query is answered", async () => {
    await s.cliOk("register-app", "b", "--input-type", "doubles", "--slo-micros", "5000000");
    await s.cliOk("link", "b", "m");
    // The app's first capture file is a FIFO nobody reads: the writer's first append blocks (a disk that hangs).
    const capDir = join(s.dataDir, "capture", "b");
    mkdirSync(capDir, { recursive: true });
    const fifo = join(capDir, "00000001.jsonl.gz");
    execFileSync("mkfifo", [fifo]);
    await s.cliOk("capture", "b", "--sample", "1", "--max-mb", "1");
    const rows = Array.from({ length: 200 }, (_, k) => [k, k % 7]);
    // Queries until the writer, stuck on its first batch, has 20,000 rows waiting and drops the next ones.
    let offered = 0;
    const st = await waitFor(async () => {
      const res = await s.predict("b", { input_batch: rows });
      expect(res.status).toBe(200);
      expect(res.json.batch_predictions.every((p: { default: boolean }) => !p.default)).toBe(true);
      offered += rows.length;
      const c = (await s.admin("capture?app_name=b")).json;
      return c.dropped_rows > 0 ? c : undefined;
    }, 120_000);
    expect(st.pending_rows).toBeLessThanOrEqual(20_000);
    // Every row offered is captured (taken by a write), dropped or waiting: counted, never lost unseen.
    expect(st.captured_rows + st.dropped_rows + st.pending_rows).toBe(offered);
    expect(offered).toBeLessThan(100_000);
    const prom = await fetch(`${s.queryUrl}/metrics`, { headers: { accept: "text/plain" } }).then((r) => r.text());
    expect(prom).toContain(`clipper_capture_rows{app="b",kind="dropped"} ${st.dropped_rows}`);
    // The disk comes back (a reader drains the FIFO): what waited is written.
    await s.cliOk("capture", "b", "--sample", "0");
    const reader = Bun.spawn(["sh", "-c", `while true; do cat '${fifo}' > /dev/null; done`], { stdout: "ignore", stderr: "ignore" });
    try {
      await waitFor(async () => (JSON.parse(await s.cliOk("capture", "b", "--json")).pending_rows === 0 ? true : undefined), 60_000);
    } finally {
      reader.kill();
    }
  }, 180_000);

  it("keeps an app's capture files under its bound, oldest dropped first", async () => {
    await s.cliOk("register-app", "c", "--input-type", "doubles", "--slo-micros", "5000000");
    await s.cliOk("link", "c", "m");
    await s.cliOk("capture", "c", "--sample", "1", "--max-mb", "0.25");
    const drained = () => waitFor(async () => (JSON.parse(await s.cliOk("capture", "c", "--json")).pending_rows === 0 ? true : undefined), 30_000);
    for (let q = 0; q < 120; q++) {
      const res = await s.predict("c", { input_batch: Array.from({ length: 200 }, (_, k) => [q * 1000 + k, Math.random()]) });
      expect(res.status).toBe(200);
      // Offered in steps the writer takes before the next (this test is about the files' bound, not about the
      // writer falling behind, which drops rows by design and has its own test above).
      if (q % 20 === 19) await drained();
    }
    await waitFor(async () => (JSON.parse(await s.cliOk("capture", "c", "--json")).pending_rows === 0 ? true : undefined), 30_000);
    const after = JSON.parse(await s.cliOk("capture", "c", "--json"));
    expect(after).toMatchObject({ captured_rows: 24_000, dropped_rows: 0 });
    expect(after.written_bytes).toBeGreaterThan(0.25 * 1024 * 1024);
    expect(after.bytes).toBeLessThanOrEqual(0.25 * 1024 * 1024);
    // What is kept is the newest: the last query's rows are there, the first's are not.
    const exported = join(dir, "c.jsonl");
    await s.cliOk("capture", "c", "--export", exported);
    const inputs = readFileSync(exported, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).input[0] as number);
    expect(inputs).toContain(119_199);
    expect(inputs).not.toContain(0);
    // Deleting the app removes its capture files.
    await s.cliOk("delete-app", "c");
    expect(existsSync(join(s.dataDir, "capture", "c"))).toBe(false);
  }, 120_000);
});

describe("input statistics", () => {
  it("scores a shifted input distribution as drift, and a stable one not", async () => {
    const dir = tempDir("clipper-drift-");
    const s = await startServer();
    try {
      await s.cliOk("deploy", model(dir, "d1", "i > 0 ? 1 : 0"), "--name", "dm", "--app", "d", "--slo-micros", "5000000");
      await s.cliOk("capture", "d", "--sample", "1", "--stats-window", "1s");
      const normal = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
      const stats = async () => ((await fetch(`${s.queryUrl}/metrics.json`).then((r) => r.json())) as { input_stats: Record<string, any> }).input_stats.d;
      const sendUntil = async (shift: number, done: (st: any) => boolean) =>
        waitFor(async () => {
          const res = await s.predict("d", { input_batch: Array.from({ length: 200 }, () => [normal() + shift, normal()]) });
          expect(res.status).toBe(200);
          const st = await stats();
          return done(st) ? st : undefined;
        }, 60_000);
      // The first complete window is the reference; the next stable one scores no drift.
      const stable = await sendUntil(0, (st) => st?.drift !== undefined);
      expect(stable.reference.source).toBe("first window");
      expect(stable.window.features[0].count).toBeGreaterThanOrEqual(100);
      expect(stable.drift.score).toBeLessThan(0.1);
      // Inputs shifted by 1.5 standard deviations: a later window scores above 0.25 (the first feature only).
      const shifted = await sendUntil(1.5, (st) => st.drift.score > 0.25);
      expect(shifted.drift.by_feature[1]).toBeLessThan(0.1);
      const prom = await fetch(`${s.queryUrl}/metrics`, { headers: { accept: "text/plain" } }).then((r) => r.text());
      expect(prom).toMatch(/clipper_input_drift_score\{app="d"\} [0-9.]+/);
    } finally {
      await shutdown(s);
      cleanup(dir);
    }
  }, 120_000);
});

describe("a canary across a restart", () => {
  it("is on trial again after a SIGKILL (its version running, its window started over) and can be aborted by hand", async () => {
    const dir = tempDir("clipper-canary-restart-");
    const dataDir = tempDir("clipper-canary-data-");
    let s: Server | undefined = await startServer({ dataDir });
    try {
      await s.cliOk("deploy", model(dir, "k1", "i % 3"), "--name", "k", "--app", "ka", "--version", "1", "--slo-micros", "5000000");
      await s.predict("ka", { input: [1, 1] });
      await s.cliOk("deploy", model(dir, "k2", "i % 3"), "--name", "k", "--app", "ka", "--version", "2", "--canary", "30%", "--for", "1h");
      await s.stop("SIGKILL");
      s = await startServer({ dataDir });
      const c = JSON.parse(await s.cliOk("canary", "k", "--json"));
      expect(c).toMatchObject({ state: "running", version: "2", compared_with: "1" });
      expect(c.comparison.rows).toBe(0);
      expect((await settledInvariants(s)).violations).toEqual([]);
      await send(s, "ka", 0, 60, 4);
      expect(JSON.parse(await s.cliOk("canary", "k", "--json")).comparison.rows).toBeGreaterThan(0);
      const aborted = JSON.parse(await s.cliOk("canary", "k", "--abort", "--json"));
      expect(aborted).toMatchObject({ state: "aborted", reason: "aborted by hand" });
      expect((await settledInvariants(s)).violations).toEqual([]);
      expect((await s.admin("get_all_containers", { verbose: false })).json.some((n: string) => n.startsWith("k:2:"))).toBe(false);
      const again = await s.cli("canary", "k", "--promote", "--url", "$MGMT");
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain("no canary on trial");
    } finally {
      await shutdown(s);
      cleanup(dir);
      cleanup(dataDir);
    }
  }, 120_000);
});
