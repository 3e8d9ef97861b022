/**
 * Requests fetch() cannot send: raw request lines (dot segments, NUL, spaces, unknown methods), lying or
 * conflicting Content-Length, broken chunked framing, truncated bodies, junk headers; over a plain TCP socket.
 */
import { connect } from "node:net";
import fc from "fast-check";
import { brokenText, MARK } from "./arbitraries.ts";
import type { Loose } from "./loose-json.ts";

export interface RawRequest {
  readonly api: "query" | "mgmt";
  /** Request line, headers and body; "{TOKEN}" in a header is replaced by the management token. */
  readonly head: string;
  readonly body: Uint8Array;
  /** Whether the request is valid HTTP/1.1 (only its content is malformed): then every property applies. */
  readonly wellFormed: boolean;
  readonly withToken: boolean;
  /** A name in the target is path-like: with the token only 400 or 404 may answer. */
  readonly traversal: boolean;
  readonly method: string;
  readonly target: string;
}

export interface RawAnswer {
  /** The final status (after any 100 Continue), or undefined when the server closed without answering. */
  readonly status: number | undefined;
  readonly headers: string;
  readonly body: string;
  readonly timedOut: boolean;
}

const enc = new TextEncoder();

/** Sends `bytes`, half-closes, and reads until the server closes or `timeoutMs` passes. */
export function sendRaw(port: number, bytes: Uint8Array, timeoutMs: number): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let timedOut = false;
    const socket = connect({ host: "127.0.0.1", port }, () => socket.end(bytes));
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, timeoutMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ ...parseAnswer(Buffer.concat(chunks)), timedOut });
    });
  });
}

/** The last non-1xx response in `raw` (Connection: close, so the body runs to the end or to Content-Length). */
export function parseAnswer(raw: Buffer): { status: number | undefined; headers: string; body: string } {
  let rest = raw;
  for (;;) {
    const text = rest.toString("latin1");
    const m = /^HTTP\/\d\.\d (\d{3})[^\r\n]*\r\n/.exec(text);
    if (!m) return { status: undefined, headers: "", body: "" };
    const end = text.indexOf("\r\n\r\n");
    const headers = end === -1 ? text : text.slice(0, end);
    const status = Number(m[1]);
    let body = end === -1 ? Buffer.alloc(0) : rest.subarray(end + 4);
    if (status >= 100 && status < 200 && end !== -1) {
      rest = body;
      continue;
    }
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
    if (length) body = body.subarray(0, Number(length[1]));
    else if (/\r\ntransfer-encoding:\s*chunked/i.test(headers)) body = dechunk(body);
    return { status, headers, body: body.toString("utf8") };
  }
}

function dechunk(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  while (i < b.length) {
    const eol = b.indexOf("\r\n", i);
    if (eol === -1) break;
    const size = parseInt(b.subarray(i, eol).toString("latin1"), 16);
    if (!(size > 0)) break;
    parts.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Targets that are valid request-targets: dot segments and encoded traversal inside names. */
const TARGETS: readonly { target: string; api: "query" | "mgmt"; traversal: boolean }[] = [
  ...["/health", "/ready", "/metrics", "/metrics.json", "/hr/predict", "/hr/update", "/fz-doubles/predict"].map((t) => ({
    target: t,
    api: "query" as const,
    traversal: false,
  })),
  ...["/../../etc/passwd", "/./health", "/hr/../health", "/hr/./predict", "//hr/predict", "/health/..", `/../${MARK}/predict`, "/hr%2fpredict"].map((t) => ({
    target: t,
    api: "query" as const,
    traversal: false,
  })),
  ...["/..%2f..%2fetc%2fpasswd/predict", `/%2e%2e%2f${MARK}/predict`, "/..%5c..%5c/update", "/a%00b/predict", `/${"x".repeat(64)}/predict`].map((t) => ({
    target: t,
    api: "query" as const,
    traversal: true,
  })),
  ...["/admin/ping", "/admin/status", "/admin/get_all_applications", "/admin/artifacts", "/admin/logs?model_name=hr", "/admin/add_app"].map((t) => ({
    target: t,
    api: "mgmt" as const,
    traversal: false,
  })),
  ...[
    "/admin/ping/../status",
    "/admin/./status",
    "/admin/ping/%2e%2e/status",
    "/admin/ping%2f..%2fstatus",
    "//admin/status",
    "/admin//status",
    "/admin/status/.",
    "/admin/status;x",
    "/admin/ping?/../status",
    `/admin/ping/../../${MARK}`,
    "http://127.0.0.1/admin/status",
    "/admin/environments/../../../etc/passwd",
  ].map((t) => ({ target: t, api: "mgmt" as const, traversal: false })),
  ...[
    "/admin/environments/..%2f..%2fetc%2fpasswd",
    `/admin/environments/%2e%2e%2f${MARK}`,
    "/admin/logs?model_name=../../etc/passwd",
    "/admin/logs?model_name=..%2f..%2fetc%2fpasswd",
    `/admin/logs?model_name=hr&model_version=..%2f..%2f${MARK}`,
    "/admin/logs?model_name=%00",
  ].map((t) => ({ target: t, api: "mgmt" as const, traversal: true })),
];
// "*" is only a valid target of OPTIONS; Bun answers 400 to it with an empty body, before any route.
const BAD_TARGETS = ["*", "/a b", "/a\u0000b", "/h\u00e9alth", `/${"a".repeat(10_000)}`, `/${"a".repeat(100_000)}`, "", "health", "/\r/x", "/%", "/\t"];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];
const BAD_METHODS = ["FOO", "get", "G ET", "CONNECT", "TRACE", "PRI", "", "GET\u0000", "P\u00f6ST", "POST/"];
const BAD_VERSIONS = ["HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/9.9", "HTTP/1.1 x", "", "http/1.1", "HTTP/1.1\u0000"];
const JUNK_HEADERS = [
  "X-Bad\u0000: v",
  "NoColon",
  " leading: space",
  `X-Long: ${"v".repeat(20_000)}`,
  `X-Huge: ${"v".repeat(200_000)}`,
  Array.from({ length: 150 }, (_, i) => `X-${i}: ${i}`).join("\r\n"),
  "Content-Type: \u00e9\u00ff",
  "X-Split: a\nb",
  "Host: second",
];

type Framing = "none" | "exact" | "truncated" | "short" | "bad-length" | "two-lengths" | "chunked" | "bad-chunk" | "chunked-truncated" | "chunked+length";
const WELL_FORMED_FRAMING: readonly Framing[] = ["none", "exact", "chunked"];

function frame(framing: Framing, body: Uint8Array, badLength: string): { headers: string[]; body: Uint8Array } {
  const n = body.length;
  const cat = (...parts: (string | Uint8Array)[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? enc.encode(p) : p)));
  switch (framing) {
    case "none":
      return { headers: [], body: new Uint8Array() };
    case "exact":
      return { headers: [`Content-Length: ${n}`], body };
    case "truncated":
      return { headers: [`Content-Length: ${n + 100}`], body };
    case "short":
      return { headers: [`Content-Length: ${Math.floor(n / 2)}`], body };
    case "bad-length":
      return { headers: [`Content-Length: ${badLength}`], body };
    case "two-lengths":
      return { headers: [`Content-Length: ${n}`, `Content-Length: ${n + 1}`], body };
    case "chunked":
      return { headers: ["Transfer-Encoding: chunked"], body: n === 0 ? cat("0\r\n\r\n") : cat(n.toString(16), "\r\n", body, "\r\n0\r\n\r\n") };
    case "bad-chunk":
      return { headers: ["Transfer-Encoding: chunked"], body: cat("zz\r\n", body, "\r\n0\r\n\r\n") };
    case "chunked-truncated":
      return { headers: ["Transfer-Encoding: chunked"], body: cat((n + 50).toString(16), "\r\n", body) };
    case "chunked+length":
      return { headers: ["Transfer-Encoding: chunked", `Content-Length: ${n}`], body: cat(n.toString(16), "\r\n", body, "\r\n0\r\n\r\n") };
  }
}

/** One raw request: mostly well-formed with a malformed body, sometimes broken at the HTTP level. */
export const rawRequest: fc.Arbitrary<RawRequest> = fc
  .record({
    t: fc.oneof(
      { arbitrary: fc.constantFrom(...TARGETS), weight: 6 },
      {
        arbitrary: fc.record({
          target: fc.constantFrom(...BAD_TARGETS),
          api: fc.constantFrom("query" as const, "mgmt" as const),
          traversal: fc.constant(false),
        }),
        weight: 1,
      },
    ),
    method: fc.oneof({ arbitrary: fc.constantFrom(...METHODS), weight: 8 }, { arbitrary: fc.constantFrom(...BAD_METHODS), weight: 1 }),
    version: fc.oneof({ arbitrary: fc.constant("HTTP/1.1"), weight: 10 }, { arbitrary: fc.constantFrom(...BAD_VERSIONS), weight: 1 }),
    host: fc.oneof({ arbitrary: fc.constant(true), weight: 10 }, { arbitrary: fc.constant(false), weight: 1 }),
    token: fc.boolean(),
    framing: fc.oneof(
      { arbitrary: fc.constantFrom(...WELL_FORMED_FRAMING), weight: 6 },
      { arbitrary: fc.constantFrom<Framing>("truncated", "short", "bad-length", "two-lengths", "bad-chunk", "chunked-truncated", "chunked+length"), weight: 3 },
    ),
    badLength: fc.constantFrom("-1", "abc", "1e3", "99999999999999999999", " 5", "0x10", "", "5, 5"),
    body: brokenText(fc.jsonValue({ maxDepth: 2 }).map((v): Loose => ({ input: v as Loose, name: v as Loose }))).map((b) =>
      typeof b === "string" ? enc.encode(b) : b,
    ),
    junk: fc.oneof({ arbitrary: fc.constant(undefined), weight: 8 }, { arbitrary: fc.constantFrom(...JUNK_HEADERS), weight: 1 }),
  })
  .map(({ t, method, version, host, token, framing, badLength, body, junk }) => {
    const f = frame(framing, body, badLength);
    const headers = [
      ...(host ? ["Host: 127.0.0.1"] : []),
      "Connection: close",
      ...(token ? ["Authorization: Bearer {TOKEN}"] : []),
      ...f.headers,
      ...(junk ? [junk] : []),
    ];
    const wellFormed =
      METHODS.includes(method) && TARGETS.includes(t) && version === "HTTP/1.1" && host && junk === undefined && WELL_FORMED_FRAMING.includes(framing);
    return {
      api: t.api,
      head: `${method} ${t.target} ${version}\r\n${headers.join("\r\n")}\r\n\r\n`,
      body: f.body,
      wellFormed,
      withToken: token,
      traversal: t.traversal,
      method,
      target: t.target,
    };
  });
