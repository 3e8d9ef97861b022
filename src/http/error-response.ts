/** The one place where errors become HTTP responses: typed errors map to their status, anything else to a logged 500. */
import { ServeError } from "../errors.ts";

export function errorResponse(err: unknown, log: (line: string) => void = console.error): Response {
  if (err instanceof ServeError) {
    return Response.json({ error: err.message, cause: err.detail ?? null, code: err.code }, { status: err.status });
  }
  log(`internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  return Response.json({ error: "internal server error", cause: "see the server log", code: "internal" }, { status: 500 });
}
