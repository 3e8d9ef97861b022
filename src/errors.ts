/** Typed errors: each carries a stable code, an HTTP status and a message a user can act on. */
import { statfsSync } from "node:fs";

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

/** Why a query was answered without reaching the model: the scheduler or admission control shed it. */
export type ShedReason = "deadline" | "overload" | "queue_full" | "quarantined";

/**
 * A query the queue did not send to the model (it could not make its deadline, the queue was over its
 * bound, its input is quarantined): answered the app's default with the message, at once. `admission`
 * says it was refused on arrival, where an app with `overload: reject` answers 429 instead.
 */
export class ShedError extends RuntimeFailure {
  constructor(
    readonly reason: ShedReason,
    message: string,
    readonly admission = false,
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
  }
}

/** An app with `overload: reject` refused a query its model could not answer in time: 429 with Retry-After. */
export class OverloadedError extends ServeError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super("overloaded", 429, message, `retry after ${retryAfterSeconds} s (the Retry-After header), or register the app with overload 'default'`);
  }
}

/**
 * The model broke the output contract (fewer or more outputs than inputs, a string or a map for a batch, None,
 * NaN): the model's fault whatever the rows, so the batch is answered the default with it, never split.
 */
export class ModelContractError extends RuntimeFailure {}

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

/** The data directory's disk is full (ENOSPC, SQLITE_FULL): nothing was kept of what the request began. */
export class InsufficientStorageError extends ServeError {
  constructor(message: string, detail?: string) {
    super("insufficient_storage", 507, message, detail);
  }
}

/** The server ran out of a process resource (open files, processes, memory) for this request; queries go on. */
export class ResourceExhaustedError extends ServeError {
  constructor(message: string, detail?: string) {
    super("resource_exhausted", 503, message, detail);
  }
}

const DISK_FULL = /SQLITE_FULL|database or disk is full|No space left on device|ENOSPC|EDQUOT|Disk quota exceeded|Errno 28\b|os error 28\b/i;
const OUT_OF_FILES = /EMFILE|ENFILE|Too many open files/i;
const OUT_OF_PROCESSES = /EAGAIN|ENOMEM|Resource temporarily unavailable|Cannot allocate memory/i;

/** What a system error says about the machine's resources, from its code or message: undefined when it is no such error. */
export function resourceKind(err: unknown): "disk" | "files" | "processes" | undefined {
  if (err instanceof ServeError || !(err instanceof Error)) return undefined;
  const text = `${(err as { code?: unknown }).code ?? ""} ${err.message}`;
  if (DISK_FULL.test(text)) return "disk";
  if (OUT_OF_FILES.test(text)) return "files";
  if (OUT_OF_PROCESSES.test(text)) return "processes";
  return undefined;
}

/**
 * The typed error of a resource failure while `doing` something in `dataDir` (507 for a full disk naming the
 * directory, its free space and what was needed; 503 for files or processes), or `err` itself when it is none.
 */
export function asResourceError(err: unknown, dataDir: string, doing: string, neededBytes?: number): unknown {
  const kind = resourceKind(err);
  if (kind === "disk") {
    const left = freeBytes(dataDir);
    const free = left === undefined ? "" : `, ${formatBytes(left)} free`;
    const needed = neededBytes === undefined ? "" : ` (${formatBytes(neededBytes)} needed)`;
    return new InsufficientStorageError(
      `the data directory ${dataDir} is out of space${free}: ${doing} could not be written${needed}`,
      "free space on its disk (`clipper gc` removes unused artifacts and environments), then try again; nothing of this request was kept",
    );
  }
  if (kind === "files") {
    return new ResourceExhaustedError(
      `the server has too many open files: ${doing} needed another`,
      "raise the open-file limit (ulimit -n) or stop unused model versions, then try again",
    );
  }
  if (kind === "processes") {
    return new ResourceExhaustedError(
      `the machine could not start another process or allocate memory: ${doing} failed`,
      "stop unused model versions or free memory, then try again",
    );
  }
  return err;
}

/** Free bytes on the disk of `dir` (undefined when it cannot be read). */
export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}
