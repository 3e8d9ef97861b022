/** The CLI's HTTP client for a running server: one clear error line for every failure. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export class CliError extends Error {}

/** Where the CLI finds the management token: --token, CLIPPER_TOKEN, then `<data-dir>/token`. */
export function resolveToken(flag: string | undefined, dataDir: string | undefined, env: Record<string, string | undefined>): string | undefined {
  if (flag) return flag;
  if (env.CLIPPER_TOKEN) return env.CLIPPER_TOKEN;
  const path = join(dataDir ?? env.CLIPPER_DATA_DIR ?? ".clipper", "token");
  return existsSync(path) ? readFileSync(path, "utf8").trim() : undefined;
}

export async function request(base: string, method: string, path: string, body?: unknown | Blob, token?: string): Promise<unknown> {
  let res: Response;
  const isBlob = body instanceof Blob;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers["content-type"] = isBlob ? "application/octet-stream" : "application/json";
  try {
    res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : isBlob ? body : JSON.stringify(body),
    });
  } catch {
    throw new CliError(`cannot reach a clipper server at ${base} (is \`clipper serve\` running? set --url otherwise)`);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Plain-text answers (ping) stay text.
  }
  if (res.status === 401 && path.startsWith("/admin")) {
    throw new CliError(
      `the server at ${base} refused the management token: pass --token, set CLIPPER_TOKEN, ` +
        "or point --data-dir at the server's data directory (its token file is read from there)",
    );
  }
  if (!res.ok) {
    const e = parsed as { error?: string; cause?: string | null };
    const msg = typeof e === "object" && e?.error ? e.error + (e.cause ? ` (${e.cause})` : "") : `HTTP ${res.status}: ${text}`;
    throw new CliError(msg);
  }
  return parsed;
}
