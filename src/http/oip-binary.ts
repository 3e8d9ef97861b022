/**
 * The V2 binary tensor data extension over REST: a JSON header of `Inference-Header-Content-Length`
 * bytes, then the tensors' raw bytes; answers asking for binary output use the same framing.
 */
import { BadRequestError } from "../errors.ts";
import { type V2Answer, v2Json, v2OutputBytes } from "../query/oip.ts";

export const HEADER_LENGTH = "inference-header-content-length";

/** Splits a body at the header length the client declared; 400 when the length does not fit the body. */
export function splitBinaryBody(body: Uint8Array, declared: string): { json: unknown; binary: Uint8Array } {
  const length = /^\d{1,15}$/.test(declared.trim()) ? Number(declared.trim()) : NaN;
  if (!Number.isSafeInteger(length)) {
    throw new BadRequestError(`the Inference-Header-Content-Length header must be a whole number of bytes, got '${declared.slice(0, 40)}'`);
  }
  if (length > body.length) {
    throw new BadRequestError(
      `Inference-Header-Content-Length is ${length} but the body has only ${body.length} bytes`,
      "it gives the length of the JSON header at the start of the body",
    );
  }
  const text = Buffer.from(body.buffer, body.byteOffset, length).toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`the first ${length} bytes of the body (Inference-Header-Content-Length) are not valid JSON`, (err as Error).message);
  }
  return { json, binary: body.subarray(length) };
}

/** A V2 answer with its output as binary data after the JSON header: the model's numbers as they came, or BYTES. */
export function binaryResponse(a: V2Answer): Response {
  const out = v2OutputBytes(a);
  const text = JSON.stringify(v2Json(a, out));
  const headerLength = Buffer.byteLength(text, "utf8");
  const body = Buffer.allocUnsafe(headerLength + out.raw.length);
  body.write(text, 0, "utf8");
  body.set(out.raw, headerLength);
  return new Response(body, {
    headers: { "content-type": "application/octet-stream", [HEADER_LENGTH]: String(headerLength) },
  });
}
