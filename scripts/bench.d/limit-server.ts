/** The limit: a bare Bun.serve handler that parses a predict body like clipper's and answers a constant, no model. */
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error("usage: limit-server.ts PORT");

const HEADERS = { "content-type": "application/json" };
let queryId = 0;

Bun.serve({
  hostname: "127.0.0.1",
  port,
  async fetch(req) {
    if (req.method !== "POST") return new Response("ok");
    const body = (await req.json()) as { input?: unknown; input_batch?: unknown[] };
    if (Array.isArray(body.input_batch)) {
      return new Response(JSON.stringify({ batch_predictions: body.input_batch.map(() => ({ output: "1", default: false })) }), { headers: HEADERS });
    }
    if (!Array.isArray(body.input)) return new Response('{"error":"no input"}', { status: 400, headers: HEADERS });
    return new Response(JSON.stringify({ query_id: queryId++, output: "1", default: false }), { headers: HEADERS });
  },
});
console.error(`limit server on 127.0.0.1:${port}`);
