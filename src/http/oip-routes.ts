/** Open Inference Protocol (KServe V2) REST routes on the query port: each parses, calls the query core's entry for it, and serializes. */
import { bearerToken } from "../auth.ts";
import { Hono } from "hono";
import { parseV2Request, V2_SERVER, type V2Request, v2Answer, v2Json } from "../query/oip.ts";
import type { QueryCall, QueryParser, QueryProcessor } from "../query/processor.ts";
import { clientDeadline, parseTimeoutHeader, TIMEOUT_HEADER } from "../query/client-timeout.ts";
import { parseJsonText, readBodyBytes, readBodyText } from "./body.ts";
import { binaryResponse, HEADER_LENGTH, splitBinaryBody } from "./oip-binary.ts";

export interface OipDeps {
  readonly processor: QueryProcessor;
  readonly maxBodyBytes: number;
}

/** The body of an infer call: JSON text, or under the binary data extension its bytes and the JSON header's length. */
type InferBody = { readonly text: string } | { readonly bytes: Uint8Array; readonly headerLength: string };

const parseInfer: QueryParser<InferBody, V2Request> = (body, route, _expect, withKeys) => {
  const { json, binary } = "text" in body ? { json: parseJsonText(body.text), binary: undefined } : splitBinaryBody(body.bytes, body.headerLength);
  return parseV2Request(json, route.app.inputType, withKeys, binary);
};

/** Reads an infer body within the byte limit. */
async function readInferBody(req: Request, limitBytes: number): Promise<InferBody> {
  const headerLength = req.headers.get(HEADER_LENGTH);
  return headerLength === null ? { text: await readBodyText(req, limitBytes) } : { bytes: await readBodyBytes(req, limitBytes), headerLength };
}

export function oipRoutes(d: OipDeps): Hono {
  const app = new Hono();
  const call = (req: Request, app: string, version?: string): QueryCall => ({ app, version, token: bearerToken(req.headers.get("authorization")) });

  app.get("/v2", (c) => c.json(V2_SERVER));
  app.get("/v2/health/live", (c) => c.json({ live: true }));
  app.get("/v2/health/ready", (c) => {
    const ready = d.processor.notReadyApps().length === 0;
    return c.json({ ready }, ready ? 200 : 503);
  });

  app.get("/v2/models/:m", (c) => c.json(d.processor.metadata(call(c.req.raw, c.req.param("m")))));
  app.get("/v2/models/:m/versions/:v", (c) => c.json(d.processor.metadata(call(c.req.raw, c.req.param("m"), c.req.param("v")))));
  const ready = (req: Request, name: string, version?: string) => {
    const ok = d.processor.modelReady(call(req, name, version));
    return Response.json({ name, ready: ok }, { status: ok ? 200 : 503 });
  };
  app.get("/v2/models/:m/ready", (c) => ready(c.req.raw, c.req.param("m")));
  app.get("/v2/models/:m/versions/:v/ready", (c) => ready(c.req.raw, c.req.param("m"), c.req.param("v")));

  const infer = async (req: Request, name: string, version?: string) => {
    const arrivalMs = performance.now();
    const body = await readInferBody(req, d.maxBodyBytes);
    const predicted = d.processor.predict({
      ...call(req, name, version),
      body,
      parse: parseInfer,
      arrivalMs,
      field: "each row of inputs[0]",
      signal: req.signal,
      // The body's `parameters.timeout` is read by the core; the REST header works here too.
      deadlineMs: clientDeadline(arrivalMs, parseTimeoutHeader(req.headers.get(TIMEOUT_HEADER))),
    });
    const { route, query, outcomes, choice } = "outcomes" in predicted ? predicted : await predicted;
    const answer = v2Answer(name, choice?.version, query.id, outcomes, route.app.defaultOutput, query.binaryOutput);
    return query.binaryOutput ? binaryResponse(answer) : Response.json(v2Json(answer));
  };
  app.post("/v2/models/:m/infer", (c) => infer(c.req.raw, c.req.param("m")));
  app.post("/v2/models/:m/versions/:v/infer", (c) => infer(c.req.raw, c.req.param("m"), c.req.param("v")));
  return app;
}
