/** The error mappings (HTTP and gRPC): each typed error answers its status, code and gRPC code, and docs/errors.md lists exactly those. */
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BadRequestError,
  ConflictError,
  ModelRaisedError,
  NotFoundError,
  OverloadedError,
  PayloadTooLargeError,
  ReplicaExitError,
  RuntimeFailure,
  UnauthorizedError,
  UnavailableError,
  UpstreamFailure,
  InsufficientStorageError,
  ResourceExhaustedError,
} from "../../src/errors.ts";
import { GrpcStatus, grpcError } from "../../src/grpc/status.ts";
import { errorResponse } from "../../src/http/error-response.ts";
import type { Logger } from "../../src/log.ts";

const CASES: [Error, number, string][] = [
  [new BadRequestError("input has 3 values; model hr version 1 expects 5"), 400, "bad_request"],
  [new UnauthorizedError(), 401, "unauthorized"],
  [new NotFoundError("no application named 'x'"), 404, "not_found"],
  [new ConflictError("model m:1 is already running"), 409, "conflict"],
  [new PayloadTooLargeError(1024), 413, "payload_too_large"],
  [new RuntimeFailure("could not load the model"), 422, "runtime_error"],
  [new ReplicaExitError("the runtime exited with code 1"), 422, "runtime_error"],
  [new ModelRaisedError("the model raised: ValueError"), 422, "runtime_error"],
  [new OverloadedError("model m:1 cannot answer in time: expected wait 300 ms, 100 ms left", 3), 429, "overloaded"],
  [new UpstreamFailure("environment_build_failed", "building the environment failed"), 502, "environment_build_failed"],
  [new UnavailableError("shutting down"), 503, "unavailable"],
  [new InsufficientStorageError("the data directory /d is out of space"), 507, "insufficient_storage"],
  [new ResourceExhaustedError("the server has too many open files"), 503, "resource_exhausted"],
  [new TypeError("a bug"), 500, "internal"],
];

/** `| code | status | gRPC | when |` rows of docs/errors.md: code → [status, gRPC code name]. */
function documented(): Map<string, [number, string]> {
  const text = readFileSync(join(import.meta.dir, "../../docs/errors.md"), "utf8");
  const rows = [...text.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| `([A-Z_]+)` \|/gm)];
  return new Map(rows.map((m) => [m[1]!, [Number(m[2]), m[3]!]]));
}

const quiet = { error() {} } as unknown as Logger;
const grpcName = (code: number) => Object.entries(GrpcStatus).find(([, c]) => c === code)![0];

describe("errorResponse", () => {
  it.each(CASES)("answers %p with its status and code", async (err, status, code) => {
    const res = errorResponse(err, quiet);
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: string; code: string; cause: unknown };
    expect(body.code).toBe(code);
    expect(body.error).toBe(status === 500 ? "internal server error" : err.message);
  });

  it("tells a refused client when to come back (Retry-After)", () => {
    expect(errorResponse(new OverloadedError("overloaded", 3), quiet).headers.get("retry-after")).toBe("3");
  });

  it("is documented in docs/errors.md, code for code, status for status and gRPC code for gRPC code", () => {
    const fromCode = new Map<string, [number, string]>(CASES.map(([err, status, code]) => [code, [status, grpcName(grpcError(err, quiet).code)]]));
    expect(Object.fromEntries(documented())).toEqual(Object.fromEntries(fromCode));
  });

  it("answers a full disk no layer named as 507 and too many open files as 503, never 500", async () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    const full = Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    const emfile = Object.assign(new Error("EMFILE: too many open files, open"), { code: "EMFILE" });
    expect(errorResponse(enospc, quiet).status).toBe(507);
    expect(errorResponse(full, quiet).status).toBe(507);
    expect(errorResponse(emfile, quiet).status).toBe(503);
    expect(((await errorResponse(enospc, quiet).json()) as { code: string }).code).toBe("insufficient_storage");
  });
});
