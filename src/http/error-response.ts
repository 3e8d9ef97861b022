/** The one place where errors become HTTP responses: typed errors map to their status, anything else to a logged 500. */
import { asResourceError, OverloadedError, ServeError } from "../errors.ts";
import type { Logger } from "../log.ts";

export function errorResponse(raw: unknown, logger?: Logger, requestId?: string): Response {
  // A full disk or too many open files that no layer named yet is still the machine's, not a bug.
  const err = asResourceError(raw, "the server's data directory", "this request");
  if (err instanceof ServeError) {
    const headers = err instanceof OverloadedError ? { "retry-after": String(err.retryAfterSeconds) } : undefined;
    return Response.json({ error: err.message, cause: err.detail ?? null, code: err.code }, { status: err.status, headers });
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (logger) logger.error("internal_error", "internal error", { request_id: requestId, stack: detail });
  else console.error(`internal error: ${detail}`);
  return Response.json({ error: "internal server error", cause: "see the server log", code: "internal" }, { status: 500 });
}
