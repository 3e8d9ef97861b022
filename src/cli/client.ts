/** The CLI's HTTP client for a running server: one clear error line for every failure. */

export class CliError extends Error {}

export async function request(base: string, method: string, path: string, body?: unknown | Blob): Promise<unknown> {
  let res: Response;
  const isBlob = body instanceof Blob;
  try {
    res = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { "content-type": isBlob ? "application/octet-stream" : "application/json" },
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
  if (!res.ok) {
    const e = parsed as { error?: string; cause?: string | null };
    const msg = typeof e === "object" && e?.error ? e.error + (e.cause ? ` (${e.cause})` : "") : `HTTP ${res.status}: ${text}`;
    throw new CliError(msg);
  }
  return parsed;
}
