/** The one error type of the JavaScript client, carrying the server's `error`, `cause` and `code` fields when it sent them. */

/** What a {@link ClipperError} is built from; every field but `message` is optional. */
export interface ClipperErrorFields {
  /** The server's `error` field; defaults to the message. */
  readonly error?: string | undefined;
  /** The server's `cause` field (what to do about it), or the underlying exception for a network failure. */
  readonly cause?: unknown;
  /** The server's `code` field, such as `"not_found"` or `"unauthorized"`. */
  readonly code?: string | null | undefined;
  /** The HTTP status, when the server answered at all. */
  readonly status?: number | null | undefined;
}

/**
 * A failed call to clipper: an unreachable server, a refused token, or an error answer from the server.
 *
 * `message` is the full sentence for people; `error`, `cause`, `code` and `status` are for code.
 * `cause` is the server's advice (a string) for error answers, or the platform's exception when the
 * server could not be reached.
 */
export class ClipperError extends Error {
  /** The server's `error` field, or the message when the server sent none. */
  readonly error: string;
  /** The server's `code` field, such as `"not_found"` or `"unauthorized"`; null when none was sent. */
  readonly code: string | null;
  /** The HTTP status; null when the server did not answer (unreachable, timed out) or the client refused first. */
  readonly status: number | null;

  /** Builds an error; see {@link ClipperErrorFields} for the optional fields. */
  constructor(message: string, fields: ClipperErrorFields = {}) {
    super(message);
    this.name = "ClipperError";
    this.error = fields.error ?? message;
    this.cause = fields.cause ?? null;
    this.code = fields.code ?? null;
    this.status = fields.status ?? null;
  }
}
