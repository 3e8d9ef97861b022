/** The properties every fuzzed answer must keep, the tally printed at the end, and file-system snapshots. */
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { MARK } from "./arbitraries.ts";

/** Written beside the data directory; no answer may ever contain it. */
export const CANARY = "clipper-fuzz-canary-6f1d2c";

export interface Sent {
  readonly api: "query" | "mgmt";
  readonly method: string;
  /** The path (no query string) the server should see; for raw requests the target as written. */
  readonly path: string;
  readonly withToken: boolean;
  /** The path is one the management API serves without the token (its GET; other methods find no route). */
  readonly open: boolean;
  readonly traversal: boolean;
  /** Valid HTTP: every property applies (else only "no 500-504, no internal error"). */
  readonly wellFormed: boolean;
  /** The body is over --max-body-bytes and the route reads a body: 413 is the answer. */
  readonly overLimit: boolean;
}

export interface Answer {
  readonly status: number | undefined;
  readonly body: string;
  readonly timedOut: boolean;
}

/** The property a violation breaks: each has its own test. */
export type Property = "5xx" | "json-error" | "auth" | "traversal" | "limit" | "leak";

export interface Violation {
  readonly property: Property;
  readonly message: string;
}

/** What is wrong with `answer` to `sent`: an empty list when every property holds. */
export function violations(sent: Sent, answer: Answer): Violation[] {
  const out: Violation[] = [];
  const push = (property: Property, message: string) => out.push({ property, message });
  const { status, body } = answer;
  if (answer.timedOut) return [{ property: "5xx", message: "no answer before the client's timeout (hang)" }];
  if (status === undefined) return sent.wellFormed ? [{ property: "5xx", message: "connection closed without an answer" }] : [];
  if (status >= 500 && (sent.wellFormed || status !== 505)) push("5xx", `status ${status}`);
  if (/"code":"internal"/.test(body)) push("5xx", "internal error answered");
  if (body.includes(CANARY) || body.includes("root:x:0:0")) push("leak", "answer contains a file from outside the data directory");
  if (!sent.wellFormed) return out;
  if (status >= 400 && status < 500 && sent.method !== "HEAD") {
    let error: unknown;
    try {
      error = (JSON.parse(body) as { error?: unknown }).error;
    } catch {
      error = undefined;
    }
    if (typeof error !== "string" || error === "")
      push(status === 413 ? "limit" : "json-error", `${status} without a JSON body with a non-empty 'error' (body: ${JSON.stringify(body.slice(0, 80))})`);
  }
  if (sent.api === "mgmt" && !sent.withToken && status !== 401) {
    // Without the token only the open paths answer: their page to GET and HEAD, "no route" to other methods.
    const openAnswer = sent.open && (sent.method === "GET" || sent.method === "HEAD" ? status < 400 : status === 404 && /no route/.test(body));
    // Bun resolves dot segments of a raw target ("/admin/./ping" is ping): judged by the answer, pong.
    const pong = status === 200 && body === "pong";
    if (!openAnswer && !pong) push("auth", `no token but status ${status}, not 401`);
  }
  if (sent.api === "mgmt" && sent.path === "/admin/ping" && sent.method === "GET" && status !== 200) push("auth", `GET /admin/ping answered ${status}`);
  if (sent.traversal && (sent.api === "query" || sent.withToken) && status !== 400 && status !== 404) {
    push("traversal", `path-like name answered ${status}, not 400 or 404`);
  }
  if (sent.overLimit && (sent.api === "query" || sent.withToken) && status !== 413) push("limit", `body over the limit answered ${status}, not 413`);
  return out;
}

export class Tally {
  readonly byClass = new Map<string, number>();
  readonly byRoute = new Map<string, number>();
  readonly failures: { what: string; problems: Violation[] }[] = [];
  sent = 0;
  /** Requests whose answer had to be 401, 400/404 (a path-like name) or 413: each property was really exercised. */
  withoutToken = 0;
  pathLike = 0;
  overLimit = 0;

  record(route: string, sent: Sent, answer: Answer, what: () => string): void {
    const problems = violations(sent, answer);
    this.sent++;
    if (sent.api === "mgmt" && !sent.withToken && !sent.open && sent.wellFormed) this.withoutToken++;
    if (sent.traversal && sent.wellFormed && (sent.api === "query" || sent.withToken)) this.pathLike++;
    if (sent.overLimit) this.overLimit++;
    // 5xx are counted by exact status: a 505 is Bun's parser refusing a request line, anything else a bug.
    const status = answer.status;
    const cls = answer.timedOut ? "hang" : status === undefined ? "no answer" : status >= 500 ? String(status) : `${Math.floor(status / 100)}xx`;
    this.byClass.set(cls, (this.byClass.get(cls) ?? 0) + 1);
    this.byRoute.set(route, (this.byRoute.get(route) ?? 0) + 1);
    if (problems.length) this.failures.push({ what: what(), problems });
  }

  /** The violations of `property`, one line each: the property's message and the request that broke it. */
  of(property: Property): string[] {
    return this.failures.flatMap((f) => f.problems.filter((p) => p.property === property).map((p) => `${p.message} ← ${f.what}`));
  }

  summary(): string {
    const classes = [...this.byClass]
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    return (
      `${this.sent} requests: ${classes}; checked ${this.withoutToken} without the token, ${this.pathLike} with a path-like name, ` +
      `${this.overLimit} over the body limit; ${this.failures.length} violating`
    );
  }
}

/** Every entry under `dir` (recursively, not following links) with its size, except below `skip`. */
export function listTree(dir: string, skip: readonly string[] = []): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip.includes(p)) continue;
      const st = lstatSync(p);
      out.set(p, st.isDirectory() ? -1 : st.size);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Paths holding the fuzzer's mark under `dirs`, looking `depth` levels down. */
export function markedPaths(dirs: readonly string[], depth: number): string[] {
  const found: string[] = [];
  const walk = (d: string, left: number) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      if (name.includes(MARK)) found.push(p);
      if (left > 0) {
        try {
          if (lstatSync(p).isDirectory()) walk(p, left - 1);
        } catch {
          /* vanished meanwhile */
        }
      }
    }
  };
  for (const d of dirs) if (existsSync(d)) walk(d, depth);
  return found;
}
