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
