/**
 * The interactive API documentation at /docs: a self-contained page (no external scripts) that reads
 * /openapi.json and lets a person send each request, with the management token when one is given.
 */

export const DOCS_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' http://127.0.0.1:* http://localhost:*; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clipper API</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 20px}header input{width:28em}
main{max-width:1100px;margin:0 auto;padding:12px 20px}
details{background:#fff;border:1px solid #d9dde4;border-radius:6px;margin:6px 0;padding:6px 10px}
summary{cursor:pointer}.m{display:inline-block;width:3.5em;font-weight:600}.get{color:#1a7f37}.post{color:#0b5cad}.put{color:#9a6700}
textarea{width:100%;height:7em;font:12px monospace}pre{background:#f0f2f5;padding:8px;overflow:auto;max-height:20em}
.tag{color:#6b7280;font-size:12px;margin-left:8px}
</style></head>
<body><header><b>clipper API</b> — token for management routes: <input id="token" type="password" placeholder="contents of <data-dir>/token"></header>
<main id="routes">loading /openapi.json…</main>
<script>
const main = document.getElementById("routes");
const token = document.getElementById("token");
function el(tag, attrs, text) { const e = document.createElement(tag); Object.assign(e, attrs || {}); if (text !== undefined) e.textContent = text; return e; }
function example(schema) {
  if (!schema) return "";
  if (schema.examples) return JSON.stringify(schema.examples[0], null, 2);
  const out = {};
  for (const [k, v] of Object.entries(schema.properties || {})) if ((schema.required || []).includes(k)) out[k] = v.default ?? (v.type === "array" ? [] : v.type === "integer" || v.type === "number" ? 0 : "");
  return JSON.stringify(out, null, 2);
}
async function send(server, method, path, params, body, isBinary, pre) {
  let url = server + path.replace(/\\{(\\w+)\\}/g, (_, p) => encodeURIComponent(params[p].value));
  const headers = {};
  if (token.value) headers.authorization = "Bearer " + token.value;
  const init = { method: method.toUpperCase(), headers };
  if (body) init.body = isBinary ? body.files[0] : body.value;
  pre.textContent = "…";
  try {
    const res = await fetch(url, init);
    const text = await res.text();
    let shown = text; try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch {}
    pre.textContent = res.status + " " + res.statusText + "\\n\\n" + shown;
  } catch (err) { pre.textContent = String(err); }
}
fetch("/openapi.json").then((r) => r.json()).then((doc) => {
  main.textContent = "";
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    const d = el("details"); const s = el("summary");
    s.append(el("span", { className: "m " + method }, method.toUpperCase()), el("code", {}, path), el("span", { className: "tag" }, op.tags[0] + " — " + op.summary));
    d.append(s);
    const params = {};
    for (const p of op.parameters || []) { const i = el("input", { placeholder: p.name }); params[p.name] = i; d.append(el("label", {}, p.name + " "), i, el("br")); }
    let body, isBinary = false;
    const content = op.requestBody && op.requestBody.content;
    if (content && content["application/octet-stream"]) { body = el("input", { type: "file" }); isBinary = true; d.append(body); }
    else if (content) { body = el("textarea"); body.value = example(content["application/json"].schema); d.append(body); }
    const pre = el("pre");
    const go = el("button", {}, "Send to " + op.servers[0].url);
    go.onclick = () => send(op.servers[0].url, method, path, params, body, isBinary, pre);
    d.append(el("br"), go, pre);
    main.append(d);
  }
}).catch((err) => { main.textContent = "could not load /openapi.json: " + err; });
</script></body></html>`;
