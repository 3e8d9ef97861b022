/** gRPC status codes, and the one place where errors become them: typed errors map by their HTTP status, anything else to a logged INTERNAL. */
import { ServeError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** The codes of grpc/status.proto that clipper answers. */
export const GrpcStatus = {
  OK: 0,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** A call's failure as it goes on the wire (grpc-status, grpc-message). */
export class GrpcFailure extends Error {
  constructor(
    readonly code: GrpcCode,
    message: string,
  ) {
    super(message);
  }
}

const BY_HTTP_STATUS: Readonly<Record<number, GrpcCode>> = {
  400: GrpcStatus.INVALID_ARGUMENT,
  401: GrpcStatus.UNAUTHENTICATED,
  404: GrpcStatus.NOT_FOUND,
  409: GrpcStatus.FAILED_PRECONDITION,
  413: GrpcStatus.RESOURCE_EXHAUSTED,
  422: GrpcStatus.FAILED_PRECONDITION,
  429: GrpcStatus.RESOURCE_EXHAUSTED,
  502: GrpcStatus.UNAVAILABLE,
  503: GrpcStatus.UNAVAILABLE,
  507: GrpcStatus.RESOURCE_EXHAUSTED,
};

export function grpcError(err: unknown, logger: Logger): GrpcFailure {
  if (err instanceof GrpcFailure) return err;
  if (err instanceof ServeError) {
    return new GrpcFailure(BY_HTTP_STATUS[err.status] ?? GrpcStatus.UNKNOWN, err.detail ? `${err.message} (${err.detail})` : err.message);
  }
  logger.error("internal_error", "internal error in a gRPC call", { stack: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  return new GrpcFailure(GrpcStatus.INTERNAL, "internal server error (see the server log)");
}
