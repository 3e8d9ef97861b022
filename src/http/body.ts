/** Reads a request body as text within a byte limit (413 past it), whatever the client claims. */
import { BadRequestError, PayloadTooLargeError } from "../errors.ts";

export async function readBodyText(req: Request, limitBytes: number): Promise<string> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limitBytes) throw new PayloadTooLargeError(limitBytes);
  const text = await req.text();
  // Bun.serve's maxRequestBodySize bounds the bytes read; this check covers bodies without a length.
  if (text.length > limitBytes) throw new PayloadTooLargeError(limitBytes);
  return text;
}

/** Parses a JSON body (empty body → {}) for the management routes. */
export async function readJson(req: Request, limitBytes: number): Promise<unknown> {
  const text = await readBodyText(req, limitBytes);
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError("request body is not valid JSON", (err as Error).message);
  }
}
