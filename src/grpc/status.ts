/** The one place where errors become gRPC statuses: typed errors map by their HTTP status, anything else to a logged INTERNAL. */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { ServeError } from "../errors.ts";
import type { Logger } from "../log.ts";

const BY_HTTP_STATUS: Readonly<Record<number, status>> = {
  400: status.INVALID_ARGUMENT,
  401: status.UNAUTHENTICATED,
  404: status.NOT_FOUND,
  409: status.FAILED_PRECONDITION,
  413: status.RESOURCE_EXHAUSTED,
  503: status.UNAVAILABLE,
};

export function grpcError(err: unknown, logger: Logger): Partial<ServiceError> {
  if (err instanceof ServeError) {
    const details = err.detail ? `${err.message} (${err.detail})` : err.message;
    return { code: BY_HTTP_STATUS[err.status] ?? status.UNKNOWN, details, metadata: new Metadata() };
  }
  logger.error("internal_error", "internal error in a gRPC call", { stack: err instanceof Error ? err.stack ?? err.message : String(err) });
  return { code: status.INTERNAL, details: "internal server error (see the server log)", metadata: new Metadata() };
}
