/**
 * Structured logs on stderr: one JSON object per line (`ts`, `level`, `event`, `msg`, fields such as
 * `request_id`), or an aligned line for people with `--log-format pretty`.
 */

export type LogFormat = "json" | "pretty";
export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export class Logger {
  readonly #format: LogFormat;
  readonly #min: number;
  readonly #write: (line: string) => void;

  constructor(format: LogFormat, level: Level = "info", write: (line: string) => void = (l) => process.stderr.write(l)) {
    this.#format = format;
    this.#min = RANK[level];
    this.#write = write;
  }

  enabled(level: Level): boolean {
    return RANK[level] >= this.#min;
  }

  debug(event: string, msg: string, fields?: Fields): void {
    this.#log("debug", event, msg, fields);
  }
  info(event: string, msg: string, fields?: Fields): void {
    this.#log("info", event, msg, fields);
  }
  warn(event: string, msg: string, fields?: Fields): void {
    this.#log("warn", event, msg, fields);
  }
  error(event: string, msg: string, fields?: Fields): void {
    this.#log("error", event, msg, fields);
  }

  #log(level: Level, event: string, msg: string, fields?: Fields): void {
    if (RANK[level] < this.#min) return;
    const ts = new Date().toISOString();
    if (this.#format === "json") {
      this.#write(`${JSON.stringify({ ts, level, event, msg, ...fields })}\n`);
      return;
    }
    const extra = fields
      ? Object.entries(fields)
          .map(([k, v]) => ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join("")
      : "";
    this.#write(`${ts.slice(11, 23)} ${level.toUpperCase().padEnd(5)} [clipper] ${msg}${extra}\n`);
  }
}

/**
 * At most one line of a kind per window: under a storm of defaults (thousands a second, each for the same
 * reason) a line per answer costs the server more than the answer, and says nothing new. The first line
 * of a window goes out; the others are counted, and at the window's end `held` is called with the count
 * (the caller writes one summary line). Kinds are the caller's keys (an app and what its reason says).
 */
export class LogThrottle {
  readonly #kinds = new Map<string, { untilMs: number; held: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly held: (kind: string, count: number) => void,
  ) {}

  /** True when a line of `kind` may be written now; false when it is held back (and counted). */
  pass(kind: string, nowMs: number): boolean {
    const k = this.#kinds.get(kind);
    if (k === undefined || nowMs >= k.untilMs) {
      // Kinds are few (apps × reasons); a flood of new ones only resets the memory.
      if (k === undefined && this.#kinds.size >= 1024) this.#kinds.clear();
      this.#kinds.set(kind, { untilMs: nowMs + this.windowMs, held: 0 });
      return true;
    }
    if (k.held++ === 0) {
      const timer = setTimeout(() => {
        if (this.#kinds.get(kind) === k) this.#kinds.delete(kind);
        this.held(kind, k.held);
      }, k.untilMs - nowMs);
      timer.unref?.();
    }
    return false;
  }
}
