/**
 * The dashboard page: one self-contained HTML document (inline CSS and script, no external resources) and the
 * Content-Security-Policy that allows exactly that inline CSS and script, by hash, and fetches to this origin only.
 */
import { createHash } from "node:crypto";
import { DASHBOARD_SCRIPT } from "./page-script.ts";

const STYLE = `
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f6f7f9; --card: #fff; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 16px; padding: 12px 24px; background: #111827; color: #f9fafb; }
header h1 { font-size: 17px; margin: 0; font-weight: 600; }
header .conn { margin-left: auto; font-size: 12px; color: #a7f3d0; }
header .conn.bad { color: #fca5a5; }
main, #login { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-bottom: 16px; }
h2 { font-size: 15px; margin: 0 0 10px; }
.stats { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin-bottom: 16px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.stat b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
.stat span { color: var(--muted); font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; margin-bottom: 16px; }
.charts section { margin: 0; }
svg { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { fill: var(--muted); font-size: 10px; }
svg .empty { fill: var(--muted); font-size: 12px; }
svg .series { fill: none; stroke-width: 2; stroke-linejoin: round; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: 12px; color: var(--muted); margin-top: 4px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 500; }
tr.empty td { color: var(--muted); font-style: italic; }
td:nth-child(8) { max-width: 260px; overflow-wrap: anywhere; color: #b91c1c; font-size: 12px; }
#apps td:nth-child(8) { color: inherit; font-size: inherit; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 500; }
.badge.ok { background: #dcfce7; color: #166534; }
.badge.bad { background: #fee2e2; color: #991b1b; }
.badge.idle { background: #f3f4f6; color: #4b5563; }
button { font: inherit; padding: 4px 12px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
header button { background: transparent; border-color: #6b7280; color: #e5e7eb; }
form.deploy { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-end; }
label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 3px; }
input, select { font: inherit; padding: 4px 6px; border: 1px solid #d1d5db; border-radius: 6px; }
.msg { font-size: 13px; margin: 8px 0 0; min-height: 1.2em; }
.msg.bad { color: #b91c1c; }
#login section { max-width: 480px; margin: 60px auto; }
#login form { display: flex; gap: 8px; margin-top: 8px; }
#login input { flex: 1; }
#login .hint { color: var(--muted); font-size: 12px; }
@media (max-width: 900px) { .charts, .stats { grid-template-columns: 1fr 1fr; } }
`;

const BODY = `
<header>
  <h1>clipper</h1><span>management dashboard</span>
  <span id="conn" class="conn"></span>
  <button id="signout" type="button" hidden>Sign out</button>
</header>
<div id="login" hidden>
  <section>
    <h2>Management token</h2>
    <p>Enter the management token to see and control this server. It is kept in this browser tab only.</p>
    <form id="login-form" autocomplete="off">
      <input id="token-input" type="password" placeholder="token" aria-label="management token">
      <button type="submit">Sign in</button>
    </form>
    <p class="hint">The token is in &lt;data-dir&gt;/token (CLIPPER_TOKEN when set). Scripts can open /dashboard#token=… directly.</p>
    <p id="login-error" class="msg bad"></p>
  </section>
</div>
<main id="main" hidden>
  <div class="stats">
    <div class="stat"><b id="stat-qps">–</b><span>queries / s</span></div>
    <div class="stat"><b id="stat-queries">–</b><span>queries answered</span></div>
    <div class="stat"><b id="stat-p50">–</b><span>latency p50 (last poll)</span></div>
    <div class="stat"><b id="stat-p99">–</b><span>latency p99 (last poll)</span></div>
    <div class="stat"><b id="stat-hit">–</b><span>cache hit rate (since start)</span></div>
  </div>
  <div class="charts">
    <section><h2>Throughput (queries / s per app)</h2><svg id="chart-qps" viewBox="0 0 360 150" role="img" aria-label="throughput"></svg><div class="legend"></div></section>
    <section><h2>Latency (ms, all apps)</h2><svg id="chart-latency" viewBox="0 0 360 150" role="img" aria-label="latency"></svg><div class="legend"></div></section>
    <section><h2>Cache hit rate</h2><svg id="chart-cache" viewBox="0 0 360 150" role="img" aria-label="cache hit rate"></svg><div class="legend"></div></section>
  </div>
  <section><h2>Applications</h2><table id="apps"></table></section>
  <section><h2>Models and versions</h2><table id="models"></table><p id="action-msg" class="msg"></p></section>
  <section><h2>Replicas</h2><table id="replicas"></table></section>
  <section><h2>Canaries</h2><table id="canaries"></table></section>
  <section><h2>Payload capture and input drift</h2><table id="captures"></table></section>
  <section><h2>Last replays</h2><table id="replays"></table></section>
  <section><h2>Memory and scaling</h2><p id="memory-summary"></p><table id="scaling"></table></section>
  <section>
    <h2>Deploy a model</h2>
    <form id="deploy-form" class="deploy">
      <label>artifact<input id="deploy-file" type="file"></label>
      <label>model name<input id="deploy-name" placeholder="hr" pattern="[a-z0-9][a-z0-9.\\-]{0,62}"></label>
      <label>version<input id="deploy-version" placeholder="next" size="6"></label>
      <label>app<input id="deploy-app" placeholder="same as model" size="12"></label>
      <label>input type<select id="deploy-type">
        <option>doubles</option><option>floats</option><option>integers</option><option>strings</option><option>bytes</option>
      </select></label>
      <label>replicas<input id="deploy-replicas" type="number" min="1" max="64" value="1" size="3"></label>
      <button id="deploy-btn" type="submit">Deploy</button>
    </form>
    <p id="deploy-msg" class="msg"></p>
  </section>
</main>
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/** The page: everything inline, so it needs no route but its own. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>clipper dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${DASHBOARD_SCRIPT}</script></body>
</html>
`;

/** Only this page's own script and style (by hash) run; data comes from same-origin fetches; nothing may frame it. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
