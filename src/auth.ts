/**
 * Bearer tokens, for every transport: the HTTP routes read `Authorization`, gRPC its `authorization`
 * metadata, and both check the token here, in constant time (hashes first, so lengths leak nothing either).
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** The token of an `Authorization: Bearer <token>` value; "" when there is none. */
export function bearerToken(authorization: string | null | undefined): string {
  return authorization?.startsWith("Bearer ") ? authorization.slice(7).trim() : "";
}

/** True when `given` equals `expected`, compared in constant time. */
export function tokensMatch(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

/** True when `given` is non-empty and its SHA-256 is `expectedSha256` (a query token is stored hashed). */
export function tokenMatchesHash(given: string, expectedSha256: Buffer): boolean {
  return given !== "" && timingSafeEqual(sha256(given), expectedSha256);
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
