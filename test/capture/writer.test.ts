/** The capture writer alone: a sink that blocks makes it drop and count, never queue past its bound; files stay under the app's bound. */
import { afterEach, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CaptureEntry, type CaptureSink, CaptureWriter, parseCapture } from "../../src/capture/writer.ts";

const entry = (app: string, rows: unknown[], ok = true): CaptureEntry => ({
  app,
  model: "m",
  version: "1",
  rows,
  outcomes: rows.map((r) => (ok ? { ok: true as const, output: String(r) } : { ok: false as const, reason: "too late" })),
  defaultOutput: '"-1"',
  latencyMicros: 123,
  timeMs: Date.now(),
  requestId: "req-1",
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await Bun.sleep(10);
  expect(check()).toBe(true);
}

describe("CaptureWriter", () => {
  const dirs: string[] = [];
  const writers: CaptureWriter[] = [];
  const make = (sink?: CaptureSink, maxPending = 100) => {
    const dir = mkdtempSync(join(tmpdir(), "capture-"));
    dirs.push(dir);
    const w = new CaptureWriter(dir, sink, maxPending, 5);
    writers.push(w);
    return w;
  };
  afterEach(() => {
    for (const w of writers.splice(0)) w.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("drops and counts rows past its bound while the sink blocks, and writes what waited once it answers", async () => {
    let release: () => void = () => undefined;
    const appended: Uint8Array[] = [];
    const blocked = new Promise<void>((r) => (release = r));
    const w = make({
      append: async (_path, bytes) => {
        await blocked;
        appended.push(bytes);
      },
    });
    w.configure([{ app: "a", sample: 1, maxBytes: 1 << 20, statsWindowMs: 60_000 }]);
    w.offer(entry("a", [1, 2, 3]));
    await until(() => w.status("a").pending_rows === 0); // taken by the first (blocked) write
    for (let i = 0; i < 50; i++) w.offer(entry("a", [i, i]));
    const st = w.status("a");
    expect(st.pending_rows).toBe(100);
    expect(st.dropped_rows).toBe(0);
    w.offer(entry("a", [7]));
    expect(w.status("a").dropped_rows).toBe(1);
    expect(w.status("a").pending_rows).toBe(100);
    release();
    await until(() => w.status("a").pending_rows === 0 && appended.length >= 2);
    await w.flush("a");
    const rows = appended.flatMap((b) => parseCapture(b));
    expect(rows.length).toBe(103);
    expect(w.status("a")).toMatchObject({ captured_rows: 103, dropped_rows: 1 });
  });

  it("writes every field, the default and its reason, and bytes inputs as base64", async () => {
    const w = make();
    w.configure([{ app: "a", sample: 1, maxBytes: 1 << 20, statsWindowMs: 60_000 }]);
    w.offer(entry("a", [[1.5, 2]]));
    w.offer(entry("a", [new Uint8Array([1, 2, 3])], false));
    const rows = await w.read("a");
    expect(rows[0]).toMatchObject({
      app: "a",
      model: "m",
      version: "1",
      input: [1.5, 2],
      output: "1.5,2",
      default: false,
      latency_micros: 123,
      request_id: "req-1",
    });
    expect(rows[1]).toMatchObject({ input: { b64: "AQID" }, output: "-1", default: true, reason: "too late" });
  });

  it("keeps an app's files under its bound, dropping the oldest", async () => {
    const w = make(undefined, 100_000);
    const maxBytes = 64 * 1024;
    w.configure([{ app: "a", sample: 1, maxBytes, statsWindowMs: 60_000 }]);
    for (let round = 0; round < 20; round++) {
      w.offer(
        entry(
          "a",
          Array.from({ length: 500 }, (_, k) => [round * 1000 + k, Math.random()]),
        ),
      );
      await w.flush("a");
      expect(w.status("a").bytes).toBeLessThanOrEqual(maxBytes);
    }
    const rows = await w.read("a");
    expect(rows.at(-1)!.input).toEqual([19_499, expect.any(Number)]);
    expect(rows.some((r) => (r.input as number[])[0] === 0)).toBe(false);
    expect(w.status("a").written_bytes).toBeGreaterThan(maxBytes);
  });

  it("takes nothing from an app whose capture is off", () => {
    const w = make();
    w.configure([]);
    w.offer(entry("a", [1]));
    expect(w.status("a")).toMatchObject({ captured_rows: 0, dropped_rows: 0, pending_rows: 0 });
  });
});
