/** Typed errors: each carries a stable code, an HTTP status and a message a user can act on. */

export class ServeError extends Error {
  readonly code: string;
  readonly status: number;
  /** Optional detail shown as `cause` in the HTTP body (what was expected, what was seen). */
  readonly detail: string | undefined;

  constructor(code: string, status: number, message: string, detail?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.detail = detail;
  }
}

/** The request itself is malformed: wrong JSON, wrong type, missing field. */
export class BadRequestError extends ServeError {
  constructor(message: string, detail?: string) {
    super("bad_request", 400, message, detail);
  }
}

export class NotFoundError extends ServeError {
  constructor(message: string, detail?: string) {
    super("not_found", 404, message, detail);
  }
}

/** The thing being created exists already, or the change conflicts with current state. */
export class ConflictError extends ServeError {
  constructor(message: string, detail?: string) {
    super("conflict", 409, message, detail);
  }
}

export class PayloadTooLargeError extends ServeError {
  constructor(limitBytes: number) {
    super("payload_too_large", 413, `request body is larger than the limit of ${limitBytes} bytes`, "send a smaller body or raise --max-body-bytes");
  }
}

export class UnauthorizedError extends ServeError {
  constructor(message = "missing or wrong management token", detail = "send 'Authorization: Bearer <token>' (the token is in <data-dir>/token)") {
    super("unauthorized", 401, message, detail);
  }
}

/**
 * A model runtime could not load the artifact or failed to answer: the artifact the client sent is the
 * cause (it does not load, or fails its first prediction), so 422. On the query path these never reach
 * a client: a failed query gets the app's default output with the message.
 */
export class RuntimeFailure extends ServeError {
  constructor(message: string, detail?: string) {
    super("runtime_error", 422, message, detail);
  }
}

/** A replica exited with requests in flight: they may be retried on another replica. */
export class ReplicaExitError extends RuntimeFailure {}

/** The model raised on a batch (the runtime answered an error frame): the batch is split to find the rows that raise. */
export class ModelRaisedError extends RuntimeFailure {}

/** Something outside the request failed: a package index during an environment build, a container engine. */
export class UpstreamFailure extends ServeError {
  constructor(code: string, message: string, detail?: string) {
    super(code, 502, message, detail);
  }
}

/** The server is shutting down or a dependency is not ready. */
export class UnavailableError extends ServeError {
  constructor(message: string) {
    super("unavailable", 503, message);
  }
}
