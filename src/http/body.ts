/** Reads a request body as text within a byte limit (413 past it), whatever the client claims. */
import { BadRequestError, PayloadTooLargeError } from "../errors.ts";

export async function readBodyText(req: Request, limitBytes: number): Promise<string> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limitBytes) throw new PayloadTooLargeError(limitBytes);
  try {
    // With a declared length within the limit, read it whole (the common, fast case); without one
    // (chunked), stop reading as soon as the limit is passed.
    return declared !== null ? await req.text() : (await readChunked(req, limitBytes)).toString("utf8");
  } catch (err) {
    throw bodyError(err);
  }
}

/** What a failed body read means to the client: 413 past the limit, else a body cut short (400). */
function bodyError(err: unknown): Error {
  if (err instanceof PayloadTooLargeError) return err;
  return new BadRequestError("the request body was cut short", "the client closed the connection before sending the whole body");
}

/** Reads a request body as bytes within a byte limit (413 past it). */
export async function readBodyBytes(req: Request, limitBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limitBytes) throw new PayloadTooLargeError(limitBytes);
  try {
    return declared !== null ? new Uint8Array(await req.arrayBuffer()) : await readChunked(req, limitBytes);
  } catch (err) {
    throw bodyError(err);
  }
}

async function readChunked(req: Request, limitBytes: number): Promise<Buffer> {
  if (!req.body) return Buffer.alloc(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.length;
    if (size > limitBytes) throw new PayloadTooLargeError(limitBytes);
    parts.push(chunk);
  }
  return Buffer.concat(parts, size);
}

/** Parses a JSON body (empty body → {}) for the management routes. */
export async function readJson(req: Request, limitBytes: number): Promise<unknown> {
  return parseJsonText(await readBodyText(req, limitBytes));
}

/** A body's JSON value (empty body → {}); 400 when it is not JSON. */
export function parseJsonText(text: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError("request body is not valid JSON", (err as Error).message);
  }
}
