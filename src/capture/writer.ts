/**
 * Payload capture: a sampled, bounded log of queries and answers per app, written off the request path.
 * The query core hands a sampled query's rows and outcomes to `offer` (an array push, nothing else); a
 * timer takes what is pending, serializes it to JSON Lines, gzips it on the thread pool and appends it to
 * the app's current file in `<data>/capture/<app>/` (a multi-member gzip file every gzip reader reads).
 * Invariants: at most `maxPendingRows` rows wait per app (a writer that falls behind drops and counts, never
 * queues without bound); one write per app at a time; a file rotates at an eighth of the app's bound and
 * the oldest files go first, so the app's files never hold more than its bound.
 */
import { appendFile, mkdir, readdir, rm, stat } from "node:fs/promises";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { RowOutcome } from "../domain.ts";
import { promisify } from "node:util";
import { gunzipSync, gzip } from "node:zlib";
import { InputStats } from "./input-stats.ts";

const gzipAsync = promisify(gzip);

/** One captured row, as a line of the capture file. */
export interface CapturedRow {
  /** ISO time of the query's arrival. */
  readonly time: string;
  readonly request_id: string;
  readonly app: string;
  readonly model: string | null;
  readonly version: string | null;
  readonly input: unknown;
  readonly output: unknown;
  /** True when the row got the app's default output (`reason` says why). */
  readonly default: boolean;
  readonly reason?: string;
  readonly latency_micros: number;
}

/** What the query core hands over for one sampled query (serialized later, on the timer). */
export interface CaptureEntry {
  readonly app: string;
  readonly model: string | undefined;
  readonly version: string | undefined;
  readonly rows: readonly unknown[];
  readonly outcomes: readonly RowOutcome[];
  readonly defaultOutput: string;
  readonly latencyMicros: number;
  readonly timeMs: number;
  readonly requestId: string;
}

/** Where the bytes go: the file system, or a test's slow sink. */
export interface CaptureSink {
  append(path: string, bytes: Uint8Array): Promise<void>;
}

const fileSink: CaptureSink = { append: (path, bytes) => appendFile(path, bytes, { mode: 0o600 }) };

/** Per-app counts since the server started, and what its files hold now. */
export interface CaptureStatus {
  readonly app: string;
  readonly sample: number;
  readonly max_bytes: number;
  readonly stats_window_ms: number;
  readonly captured_rows: number;
  readonly dropped_rows: number;
  readonly pending_rows: number;
  readonly written_bytes: number;
  readonly files: number;
  readonly bytes: number;
}

interface AppState {
  sample: number;
  maxBytes: number;
  pending: CaptureEntry[];
  pendingRows: number;
  captured: number;
  dropped: number;
  written: number;
  writing: Promise<void> | undefined;
}

const FILE_PATTERN = /^\d{8}\.jsonl\.gz$/;

export class CaptureWriter {
  readonly #apps = new Map<string, AppState>();
  readonly #timer: Timer;
  /** Input statistics of each app with capture on, from the rows it writes. */
  readonly stats = new InputStats();

  constructor(
    private readonly dir: string,
    private readonly sink: CaptureSink = fileSink,
    private readonly maxPendingRows = 20_000,
    flushMs = 200,
  ) {
    this.#timer = setInterval(() => this.#flushAll(), flushMs);
    this.#timer.unref?.();
  }

  /** Sets each app's capture from the registry (apps not listed are off; what they had pending still goes out). */
  configure(captures: readonly { app: string; sample: number; maxBytes: number; statsWindowMs: number }[]): void {
    const on = new Set<string>();
    for (const c of captures) {
      on.add(c.app);
      const s = this.#state(c.app);
      s.sample = c.sample;
      s.maxBytes = c.maxBytes;
      this.stats.configure(c.app, c.statsWindowMs);
    }
    this.stats.keepOnly(on);
    for (const [app, s] of this.#apps) if (!on.has(app)) s.sample = 0;
  }

  /** A sampled query (called by the query core): kept if the app's pending rows are under the bound, else counted as dropped. */
  offer(entry: CaptureEntry): void {
    const s = this.#apps.get(entry.app);
    if (!s || s.sample === 0) return;
    const n = entry.rows.length;
    if (s.pendingRows + n > this.maxPendingRows) {
      s.dropped += n;
      return;
    }
    s.pending.push(entry);
    s.pendingRows += n;
  }

  /** The app's directory of capture files. */
  directory(app: string): string {
    return join(this.dir, app);
  }

  status(app: string): CaptureStatus {
    const s = this.#apps.get(app);
    const files = this.files(app);
    return {
      app,
      sample: s?.sample ?? 0,
      max_bytes: s?.maxBytes ?? 0,
      stats_window_ms: this.stats.windowMs(app),
      captured_rows: s?.captured ?? 0,
      dropped_rows: s?.dropped ?? 0,
      pending_rows: s?.pendingRows ?? 0,
      written_bytes: s?.written ?? 0,
      files: files.length,
      bytes: files.reduce((sum, f) => sum + f.bytes, 0),
    };
  }

  statuses(): CaptureStatus[] {
    return [...this.#apps.keys()].map((app) => this.status(app));
  }

  /** The app's files, oldest first. */
  files(app: string): { path: string; bytes: number }[] {
    let names: string[];
    try {
      names = readdirSync(this.directory(app)).filter((n) => FILE_PATTERN.test(n));
    } catch {
      return [];
    }
    return names.sort().flatMap((n) => {
      const path = join(this.directory(app), n);
      try {
        return [{ path, bytes: statSync(path).size }];
      } catch {
        return [];
      }
    });
  }

  /** Every row the app's files hold now, oldest first (what was pending is written first). */
  async read(app: string): Promise<CapturedRow[]> {
    await this.flush(app);
    return parseCapture(this.export(app));
  }

  /** The app's files as one gzip stream (members concatenated, oldest first). */
  export(app: string): Uint8Array {
    const parts = this.files(app).map((f) => readFileSync(f.path));
    return Buffer.concat(parts);
  }

  /** Writes what the app has pending now, after any write in progress. */
  async flush(app: string): Promise<void> {
    const s = this.#apps.get(app);
    if (!s) return;
    while (s.writing) await s.writing;
    if (s.pending.length) await this.#write(app, s);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #state(app: string): AppState {
    let s = this.#apps.get(app);
    if (!s) this.#apps.set(app, (s = { sample: 0, maxBytes: 0, pending: [], pendingRows: 0, captured: 0, dropped: 0, written: 0, writing: undefined }));
    return s;
  }

  #flushAll(): void {
    for (const [app, s] of this.#apps) if (!s.writing && s.pending.length) void this.#write(app, s);
  }

  /** One batch: serialize, gzip (thread pool), append, rotate and trim. Rows still pending while it runs count against the bound. */
  #write(app: string, s: AppState): Promise<void> {
    const batch = s.pending;
    const rows = s.pendingRows;
    s.pending = [];
    s.pendingRows = 0;
    const captured = batch.flatMap(toRows);
    s.captured += rows;
    this.stats.add(
      app,
      captured.map((r) => r.input),
    );
    const done = (async () => {
      const dir = this.directory(app);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const segmentBytes = Math.max(4096, Math.floor(s.maxBytes / 8));
      // Chunks of at most a segment's size of text (gzip only shrinks it): no file outgrows two segments.
      for (const text of chunks(captured, segmentBytes)) {
        const bytes = await gzipAsync(text);
        await this.sink.append(await this.#currentFile(dir, segmentBytes), bytes);
        s.written += bytes.length;
        await this.#trim(dir, s.maxBytes);
      }
    })()
      .catch(() => {
        // A write that failed (a full disk) loses its rows: they count as dropped, the request path never sees it.
        s.dropped += rows;
        s.captured -= rows;
      })
      .finally(() => {
        s.writing = undefined;
      });
    s.writing = done;
    return done;
  }

  /** The newest file, or the next one when the newest has reached a segment's size. */
  async #currentFile(dir: string, segmentBytes: number): Promise<string> {
    const names = (await readdir(dir)).filter((n) => FILE_PATTERN.test(n)).sort();
    const last = names.at(-1);
    if (last) {
      const size = await stat(join(dir, last)).then(
        (st) => st.size,
        () => 0,
      );
      if (size < segmentBytes) return join(dir, last);
    }
    const next = last ? Number(last.slice(0, 8)) + 1 : 1;
    return join(dir, `${String(next).padStart(8, "0")}.jsonl.gz`);
  }

  /** Removes the oldest files while the app's files hold more than its bound. */
  async #trim(dir: string, maxBytes: number): Promise<void> {
    const names = (await readdir(dir)).filter((n) => FILE_PATTERN.test(n)).sort();
    const sizes = await Promise.all(names.map((n) => stat(join(dir, n)).then((st) => st.size)));
    let total = sizes.reduce((a, b) => a + b, 0);
    for (let i = 0; i < names.length - 1 && total > maxBytes; i++) {
      await rm(join(dir, names[i]!), { force: true });
      total -= sizes[i]!;
    }
  }
}

/** The rows as JSON Lines texts of at most `maxChars` characters each (a longer row goes alone). */
function chunks(rows: readonly CapturedRow[], maxChars: number): string[] {
  const out: string[] = [];
  let current = "";
  for (const r of rows) {
    const line = `${JSON.stringify(r)}\n`;
    if (current && current.length + line.length > maxChars) {
      out.push(current);
      current = "";
    }
    current += line;
  }
  if (current) out.push(current);
  return out;
}

/** Rows of a capture file's bytes (gzip, or plain JSON Lines); a cut-short last line is left out. */
export function parseCapture(bytes: Uint8Array): CapturedRow[] {
  if (bytes.length === 0) return [];
  const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const text = gz ? gunzipSync(bytes, { finishFlush: 2 }).toString("utf8") : Buffer.from(bytes).toString("utf8");
  const rows: CapturedRow[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as CapturedRow);
    } catch {
      // The last line of a file cut short by a crash.
    }
  }
  return rows;
}

function toRows(e: CaptureEntry): CapturedRow[] {
  const time = new Date(e.timeMs).toISOString();
  return e.rows.map((input, i) => {
    const o = e.outcomes[i]!;
    return {
      time,
      request_id: e.requestId,
      app: e.app,
      model: e.model ?? null,
      version: e.version ?? null,
      input: input instanceof Uint8Array ? { b64: Buffer.from(input).toString("base64") } : input,
      output: o.ok ? o.output : parseDefault(e.defaultOutput),
      default: !o.ok,
      ...(o.ok ? {} : { reason: o.reason }),
      latency_micros: e.latencyMicros,
    };
  });
}

function parseDefault(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
