/**
 * A client's own deadline, as each transport states it: REST's `Clipper-Timeout-Ms` header (milliseconds),
 * the V2 `timeout` request parameter (microseconds, Triton's), gRPC's `grpc-timeout` header (digits and a
 * unit). Each parser returns the timeout in ms, or undefined when none was given; a malformed one is a 400
 * naming the field. The query core takes the earlier of the client's deadline and the app's SLO.
 */
import { BadRequestError } from "../errors.ts";

/** The REST header a client names its timeout with. */
export const TIMEOUT_HEADER = "clipper-timeout-ms";

/** `Clipper-Timeout-Ms: 20` (a positive number of milliseconds; fractions allowed). */
export function parseTimeoutHeader(value: string | null): number | undefined {
  if (value === null) return undefined;
  const ms = Number(value);
  if (value.trim() === "" || !Number.isFinite(ms) || ms <= 0) {
    throw new BadRequestError(`the Clipper-Timeout-Ms header must be a positive number of milliseconds, got '${value.slice(0, 64)}'`);
  }
  return ms;
}

/** V2's `parameters.timeout` (µs, a positive integer); gRPC carries it as int64_param. */
export function parseV2Timeout(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new BadRequestError(`parameters.timeout must be a positive whole number of microseconds, got ${JSON.stringify(value).slice(0, 64)}`);
  }
  return value / 1000;
}

const GRPC_UNITS_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** gRPC's `grpc-timeout: 20m` (1 to 8 digits, then H, M, S, m, u or n). */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) throw new BadRequestError(`the grpc-timeout header must be 1 to 8 digits and a unit (H, M, S, m, u, n), got '${value.slice(0, 64)}'`);
  return Number(m[1]) * GRPC_UNITS_MS[m[2]!]!;
}

/** The absolute deadline (performance.now() ms) of a query that arrived at `arrivalMs` with `timeoutMs`. */
export function clientDeadline(arrivalMs: number, timeoutMs: number | undefined): number | undefined {
  return timeoutMs === undefined ? undefined : arrivalMs + timeoutMs;
}
