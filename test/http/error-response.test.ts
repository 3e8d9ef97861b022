/** The one error mapping: each typed error answers its status and code, and docs/errors.md lists exactly those. */
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BadRequestError,
  ConflictError,
  ModelRaisedError,
  NotFoundError,
  PayloadTooLargeError,
  ReplicaExitError,
  RuntimeFailure,
  UnauthorizedError,
  UnavailableError,
  UpstreamFailure,
} from "../../src/errors.ts";
import { errorResponse } from "../../src/http/error-response.ts";

const CASES: [Error, number, string][] = [
  [new BadRequestError("input has 3 values; model hr version 1 expects 5"), 400, "bad_request"],
  [new UnauthorizedError(), 401, "unauthorized"],
  [new NotFoundError("no application named 'x'"), 404, "not_found"],
  [new ConflictError("model m:1 is already running"), 409, "conflict"],
  [new PayloadTooLargeError(1024), 413, "payload_too_large"],
  [new RuntimeFailure("could not load the model"), 422, "runtime_error"],
  [new ReplicaExitError("the runtime exited with code 1"), 422, "runtime_error"],
  [new ModelRaisedError("the model raised: ValueError"), 422, "runtime_error"],
  [new UpstreamFailure("environment_build_failed", "building the environment failed"), 502, "environment_build_failed"],
  [new UnavailableError("shutting down"), 503, "unavailable"],
  [new TypeError("a bug"), 500, "internal"],
];

/** `| code | status | when |` rows of docs/errors.md. */
function documented(): Map<string, number> {
  const text = readFileSync(join(import.meta.dir, "../../docs/errors.md"), "utf8");
  const rows = [...text.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)];
  return new Map(rows.map((m) => [m[1]!, Number(m[2])]));
}

describe("errorResponse", () => {
  it.each(CASES)("answers %p with its status and code", async (err, status, code) => {
    const quiet = { error() {} } as unknown as Parameters<typeof errorResponse>[1];
    const res = errorResponse(err, quiet);
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: string; code: string; cause: unknown };
    expect(body.code).toBe(code);
    expect(body.error).toBe(status === 500 ? "internal server error" : err.message);
  });

  it("is documented in docs/errors.md, code for code and status for status", () => {
    const docs = documented();
    const fromCode = new Map(CASES.map(([, status, code]) => [code, status]));
    expect(Object.fromEntries(docs)).toEqual(Object.fromEntries(fromCode));
  });
});
