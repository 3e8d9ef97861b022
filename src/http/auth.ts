/**
 * The management token: created on first start (mode 0600 in the data directory) unless CLIPPER_TOKEN
 * gives one; every management route but ping needs `Authorization: Bearer <token>`.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MiddlewareHandler } from "hono";
import { bearerToken, tokensMatch } from "../auth.ts";
import { UnauthorizedError } from "../errors.ts";

export const TOKEN_FILE = "token";

/** The token in force: `fromEnv` when given, else the data directory's token file, created when missing. */
export function loadOrCreateToken(dataDir: string, fromEnv: string | undefined): string {
  if (fromEnv) return fromEnv;
  const path = join(dataDir, TOKEN_FILE);
  if (!existsSync(path)) {
    writeFileSync(path, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  }
  chmodSync(path, 0o600);
  return readFileSync(path, "utf8").trim();
}

/** Hono middleware: 401 unless the bearer token matches. Routes in `open` pass without it. */
export function requireToken(token: string, open: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (!open.includes(c.req.path)) {
      const given = bearerToken(c.req.header("authorization"));
      if (!given || !tokensMatch(given, token)) throw new UnauthorizedError();
    }
    await next();
  };
}
