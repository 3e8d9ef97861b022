/**
 * The dashboard's browser script, kept as plain JavaScript text (String.raw keeps regex backslashes; it uses
 * no backticks or `${`). Every server-provided string reaches the DOM through textContent or setAttribute.
 */
export const DASHBOARD_SCRIPT = String.raw`
"use strict";
const POLL_MS = 1500, HISTORY = 60, TOKEN_KEY = "clipper-token", SVG_NS = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#ea580c", "#16a34a", "#c026d3", "#7c3aed", "#0891b2"];
const $ = (id) => document.getElementById(id);
let token = null, timer = null, last = null, polling = false;
const busy = new Set(), rendered = {};
const hist = { qps: new Map(), p50: [], p99: [], hit: [], buckets: [] };

// ---- token: from #token=… (then removed from the URL), else this tab's sessionStorage, else the prompt
function readToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}
function signIn(t) {
  token = t;
  $("login").hidden = true; $("main").hidden = false; $("signout").hidden = false;
  poll();
}
function signOut(reason) {
  token = null; sessionStorage.removeItem(TOKEN_KEY); clearTimeout(timer);
  $("login").hidden = false; $("main").hidden = true; $("signout").hidden = true;
  $("login-error").textContent = reason || ""; setConn("signed out", false);
}

// ---- the management API
async function api(method, path, body) {
  const headers = { authorization: "Bearer " + token };
  let payload;
  if (body instanceof Blob) payload = body;
  else if (body !== undefined) { payload = JSON.stringify(body); headers["content-type"] = "application/json"; }
  const res = await fetch(path, { method, headers, body: payload, cache: "no-store" });
  if (res.status === 401) { signOut("The server refused that token."); throw new Error("unauthorized"); }
  const text = await res.text();
  let json = text;
  try { json = JSON.parse(text); } catch (e) { /* plain text answer */ }
  if (!res.ok) throw new Error(json && json.error ? json.error + (json.cause ? " (" + json.cause + ")" : "") : "HTTP " + res.status);
  return json;
}
/** One poll at a time; an action calls it to refresh at once, and each poll schedules the next. */
async function poll() {
  if (polling || !token) return;
  polling = true; clearTimeout(timer);
  try {
    const [status, containers, metrics, replays] = await Promise.all([
      api("GET", "/admin/status"), api("POST", "/admin/get_all_containers"), api("GET", "/admin/metrics"), api("GET", "/admin/replay")]);
    update(status, containers, metrics);
    renderOnce("rollouts", [status.canaries, metrics.summary.capture, metrics.summary.input_stats, replays],
      () => renderRollouts(status.canaries || [], metrics.summary.capture || {}, metrics.summary.input_stats || {}, replays || []));
    setConn("live, updated " + new Date().toLocaleTimeString(), false);
  } catch (e) {
    if (token) setConn("cannot reach the server: " + e.message, true);
  }
  polling = false;
  if (token) timer = setTimeout(poll, POLL_MS);
}
function setConn(text, bad) { $("conn").textContent = text; $("conn").className = bad ? "conn bad" : "conn"; }

// ---- metrics: counter deltas and histogram quantiles (Prometheus' histogram_quantile interpolation)
function parseBuckets(text) {
  const byApp = new Map();
  for (const line of text.split("\n")) {
    if (!line.startsWith("clipper_query_duration_seconds_bucket{")) continue;
    const m = /^[^{]+\{(.*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of m[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    if (!byApp.has(labels.app)) byApp.set(labels.app, new Map());
    byApp.get(labels.app).set(labels.le === "+Inf" ? Infinity : Number(labels.le), Number(m[2]));
  }
  return byApp;
}
function minus(now, before) {
  const d = new Map();
  for (const [le, c] of now) d.set(le, c - ((before && before.get(le)) || 0));
  return d;
}
function addInto(acc, b) { for (const [le, c] of b) acc.set(le, (acc.get(le) || 0) + c); return acc; }
function quantile(q, buckets) {
  const total = buckets.get(Infinity) || 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let lo = 0, below = 0;
  for (const le of [...buckets.keys()].sort((a, b) => a - b)) {
    const c = buckets.get(le);
    if (c >= rank) return le === Infinity ? lo : lo + (le - lo) * ((rank - below) / ((c - below) || 1));
    lo = le; below = c;
  }
  return NaN;
}
function push(arr, v) { arr.push({ t: Date.now(), v }); if (arr.length > HISTORY) arr.shift(); }

function update(status, containers, metrics) {
  const now = Date.now(), apps = metrics.summary.apps || {}, cache = metrics.summary.cache || { hits: 0, misses: 0 };
  const buckets = parseBuckets(metrics.prometheus || "");
  const cur = { t: now, apps, cache, buckets };
  const rates = {};
  if (last) {
    const dt = (now - last.t) / 1000;
    for (const name of Object.keys(apps)) {
      const before = last.apps[name] ? last.apps[name].queries : 0;
      rates[name] = Math.max(0, apps[name].queries - before) / dt;
      if (!hist.qps.has(name)) hist.qps.set(name, []);
    }
    for (const [name, arr] of hist.qps) push(arr, rates[name] || 0);
    const all = new Map();
    for (const [app, b] of buckets) addInto(all, minus(b, last.buckets.get(app)));
    push(hist.p50, quantile(0.5, all) * 1000); push(hist.p99, quantile(0.99, all) * 1000);
    const dh = cache.hits - last.cache.hits, dm = cache.misses - last.cache.misses;
    push(hist.hit, dh + dm > 0 ? (100 * dh) / (dh + dm) : NaN);
  }
  hist.buckets.push(buckets); if (hist.buckets.length > 40) hist.buckets.shift();
  last = cur;
  const totalQps = Object.values(rates).reduce((a, b) => a + b, 0);
  const totalQueries = Object.values(apps).reduce((a, x) => a + x.queries, 0);
  const lookups = cache.hits + cache.misses;
  $("stat-qps").textContent = totalQps.toFixed(1);
  $("stat-queries").textContent = String(totalQueries);
  $("stat-p50").textContent = fmtMs(lastFinite(hist.p50));
  $("stat-p99").textContent = fmtMs(lastFinite(hist.p99));
  $("stat-hit").textContent = lookups ? ((100 * cache.hits) / lookups).toFixed(1) + " %" : "–";
  const qpsLines = [...hist.qps].map(([name, points], i) => ({ name, points, color: COLORS[i % COLORS.length] }));
  drawChart($("chart-qps"), qpsLines, (v) => String(+v.toFixed(1)), null);
  drawChart($("chart-latency"), [{ name: "p50", points: hist.p50, color: COLORS[0] }, { name: "p99", points: hist.p99, color: COLORS[1] }],
    (v) => +v.toFixed(2) + " ms", null);
  drawChart($("chart-cache"), [{ name: "hit rate %", points: hist.hit, color: COLORS[2] }], (v) => v.toFixed(0) + "%", 100);
  $("chart-qps").dataset.total = String(totalQueries);
  $("chart-qps").dataset.qps = totalQps.toFixed(2);
  renderOnce("apps", [status.applications, apps, rates], () => renderApps(status.applications, apps, rates, buckets));
  renderOnce("models", [status.models, [...busy]], () => renderModels(status.models));
  renderOnce("replicas", containers, () => renderReplicas(containers));
  renderOnce("scaling", [status.memory, status.scaling_events], () => renderScaling(status.memory, status.scaling_events || []));
}
function lastFinite(arr) { for (let i = arr.length - 1; i >= 0; i--) if (Number.isFinite(arr[i].v)) return arr[i].v; return NaN; }
function fmtMs(v) { return Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(0)) + " ms" : "–"; }
/** Rebuilds a section only when its data changed, so a button being clicked is not replaced under the pointer. */
function renderOnce(key, data, fn) { const s = JSON.stringify(data); if (rendered[key] !== s) { rendered[key] = s; fn(); } }

// ---- SVG line charts
function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVG_NS, name);
  for (const k of Object.keys(attrs)) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = text;
  return e;
}
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
function drawChart(svg, lines, fmt, fixedMax) {
  const W = 360, H = 150, L = 46, R = 8, T = 8, B = 8, now = Date.now(), span = HISTORY * POLL_MS;
  svg.replaceChildren();
  const values = lines.flatMap((l) => l.points.map((p) => p.v)).filter(Number.isFinite);
  const max = fixedMax || niceMax(Math.max(0, ...values));
  const x = (t) => L + (W - L - R) * (1 - (now - t) / span), y = (v) => T + (H - T - B) * (1 - v / max);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(svgEl("text", { x: L - 5, y: y(v) + 3.5, "text-anchor": "end", class: "axis" }, fmt(v)));
  }
  for (const line of lines) {
    let d = "", pen = false;
    for (const p of line.points) {
      if (!Number.isFinite(p.v)) { pen = false; continue; }
      d += (pen ? " L" : " M") + x(p.t).toFixed(1) + " " + y(Math.min(p.v, max)).toFixed(1);
      pen = true;
    }
    if (d) svg.append(svgEl("path", { d, stroke: line.color, class: "series" }));
  }
  if (!values.length) svg.append(svgEl("text", { x: (W + L) / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no traffic yet"));
  const legend = svg.parentElement.querySelector(".legend");
  legend.replaceChildren(...lines.map((l) => {
    const item = document.createElement("span"), sw = document.createElement("i");
    sw.style.background = l.color; item.append(sw, document.createTextNode(l.name));
    return item;
  }));
}

// ---- tables (cells are strings, set as textContent, or ready-made nodes)
function tr(cells, tag) {
  const row = document.createElement("tr");
  for (const c of cells) {
    const cell = document.createElement(tag || "td");
    if (c instanceof Node) cell.append(c); else cell.textContent = c === null || c === undefined ? "" : String(c);
    row.append(cell);
  }
  return row;
}
function badge(text, kind) { const b = document.createElement("span"); b.className = "badge " + kind; b.textContent = text; return b; }
function stateBadge(s) { return badge(s, s === "ready" || s === "running" ? "ok" : s === "failed" ? "bad" : "idle"); }
function fill(id, head, rows, empty) {
  const t = $(id);
  t.replaceChildren(tr(head, "th"), ...rows);
  if (!rows.length) { const r = tr([empty]); r.firstChild.colSpan = head.length; r.className = "empty"; t.append(r); }
}
function renderApps(list, counters, rates, buckets) {
  const old = hist.buckets[0] || new Map();
  fill("apps", ["application", "policy", "linked models", "ready", "queries", "defaults", "errors", "q/s", "p50 (1 min)", "p99 (1 min)"],
    list.map((a) => {
      const c = counters[a.name] || { queries: 0, defaults: 0, errors: 0 };
      const recent = buckets.has(a.name) ? minus(buckets.get(a.name), old.get(a.name)) : new Map();
      return tr([a.name, policyText(a), a.linked_models.join(", ") || "none", a.ready ? badge("ready", "ok") : badge("not ready", "bad"),
        c.queries, c.defaults, c.errors, (rates[a.name] || 0).toFixed(1),
        fmtMs(quantile(0.5, recent) * 1000), fmtMs(quantile(0.99, recent) * 1000)]);
    }), "No applications yet: deploy a model below.");
}
// exp3 and ensemble: the learned weights, an ensemble's mean confidence and low-confidence defaults, the contexts kept.
function policyText(a) {
  if (a.policy !== "exp3" && a.policy !== "ensemble") return a.policy;
  const w = (a.policy_config && a.policy_config.weights) || {};
  const parts = [a.policy, "weights " + Object.entries(w).map(([m, x]) => m + " " + Number(x).toPrecision(2)).join(", ")];
  const e = a.ensemble;
  if (e && e.mean_confidence !== null) parts.push("confidence " + e.mean_confidence.toFixed(2) + " (last " + Number(e.last_confidence).toFixed(2) + ")");
  if (e) parts.push(e.low_confidence_defaults + " low-confidence defaults");
  if (a.contexts) parts.push(a.contexts + " contexts");
  return parts.join(" · ");
}
function renderModels(models) {
  const rows = [...models].sort((a, b) => a.model_name.localeCompare(b.model_name) || b.created_at.localeCompare(a.created_at));
  fill("models", ["model", "version", "", "state", "replicas", "runtime", "deployed", "last error", ""], rows.map((m) => {
    const current = models.find((x) => x.model_name === m.model_name && x.is_current);
    const info = m.runtime_info || {};
    const runtime = [info.kind || m.runtime, info.python ? "python " + info.python : "", info.bun ? "bun " + info.bun : ""].filter(Boolean).join(", ");
    return tr([m.model_name, m.model_version, m.is_current ? badge("current", "ok") : "", stateBadge(m.state),
      m.ready_replicas + "/" + m.replicas + " ready", runtime, new Date(m.created_at).toLocaleString(), m.last_error || "",
      m.is_current ? "" : versionButton(m, current)]);
  }), "No models yet.");
}
function versionButton(m, current) {
  const b = document.createElement("button"), key = m.model_name + ":" + m.model_version;
  const older = current && m.created_at < current.created_at;
  b.textContent = busy.has(key) ? "switching…" : older ? "Roll back" : "Make current";
  b.disabled = busy.has(key);
  b.dataset.action = "set-version"; b.dataset.model = m.model_name; b.dataset.version = m.model_version;
  b.addEventListener("click", () => setVersion(m.model_name, m.model_version));
  return b;
}
function pct(x) { return Number.isFinite(x) ? (100 * x).toFixed(1) + " %" : "–"; }
function renderRollouts(canaries, capture, stats, replays) {
  fill("canaries", ["model", "canary", "against", "share", "state", "rows", "errors canary / current", "p99 ratio", "agreement", "reason / time left"],
    canaries.map((c) => {
      const k = c.comparison || {};
      return tr([c.model, c.version, c.compared_with, pct(c.share), badge(c.state.replace("_", " "), c.state === "running" || c.state === "promoted" ? "ok" : c.state === "rolled_back" ? "bad" : "idle"),
        k.rows ?? "–", pct(k.canary_error_rate) + " / " + pct(k.current_error_rate), Number.isFinite(k.p99_ratio) ? k.p99_ratio.toFixed(2) : "–",
        pct(k.agreement), c.state === "running" ? Math.ceil(c.remaining_ms / 1000) + " s left" : c.reason]);
    }), "No canaries: deploy with --canary 10% to start one.");
  fill("captures", ["application", "sample", "captured", "dropped", "bytes", "input drift (PSI)", "reference", "window rows"],
    Object.values(capture).map((c) => {
      const st = stats[c.app] || {};
      const drift = st.drift ? st.drift.score : NaN;
      return tr([c.app, pct(c.sample), c.captured_rows, c.dropped_rows, c.bytes,
        Number.isFinite(drift) ? badge(drift.toFixed(3), drift > 0.25 ? "bad" : drift > 0.1 ? "idle" : "ok") : "–",
        st.reference ? st.reference.source + " (" + st.reference.rows + " rows)" : "–", st.window ? st.window.rows : "–"]);
    }), "No capture: clipper capture APP --sample 0.1 turns it on.");
  fill("replays", ["application", "version", "rows", "agreement", "differing", "errors", "p50 / p99 µs", "current p50 / p99 µs", "output shift (KS)", "finished"],
    replays.map((r) => tr([r.app, r.model + ":" + r.version, r.rows, pct(r.agreement), r.differing_total, r.errors,
      r.latency_micros.version.p50 + " / " + r.latency_micros.version.p99,
      r.latency_micros.current ? r.latency_micros.current.p50 + " / " + r.latency_micros.current.p99 : "–",
      r.shift ? r.shift.ks_distance.toFixed(3) : "–", new Date(r.finished_at).toLocaleString()])),
    "No replay yet: clipper replay APP --version V.");
}
function renderReplicas(list) {
  fill("replicas", ["model", "version", "replica", "state", "pid", "rows in flight"],
    list.map((r) => tr([r.model_name, r.model_version, r.model_replica_id, stateBadge(r.state), r.pid === null ? "–" : r.pid, r.outstanding_rows])),
    "No replicas running.");
}

function renderScaling(memory, events) {
  if (memory) {
    const per = memory.replicas.map((r) => r.replica_id + " " + r.memory_mb + " MiB" + (r.leaving ? " (stopping)" : "")).join(", ");
    const spares = memory.spares || [];
    $("memory-summary").textContent = "memory " + memory.used_mb + " MiB" + (memory.budget_mb ? " of a " + memory.budget_mb + " MiB budget" : " (no budget)") +
      " (replicas " + memory.replicas_mb + " MiB, " + spares.length + " warm spare(s) " + memory.spares_mb + " MiB)" +
      ", " + memory.evictions + " eviction(s), " + memory.spares_shed + " spare(s) killed for room" + (per ? ": " + per : "");
  }
  fill("scaling", ["time", "model", "action", "replicas", "reason"],
    events.slice(-20).reverse().map((e) => tr([new Date(e.at).toLocaleTimeString(), e.model, e.action, e.from + " → " + e.to, e.reason])),
    "No scaling decisions yet.");
}

// ---- actions
function say(id, text, bad) { $(id).textContent = text; $(id).className = bad ? "msg bad" : "msg"; }
async function setVersion(name, version) {
  if (!confirm("Make version " + version + " of " + name + " current? New queries switch once it is ready; the old version drains and stops.")) return;
  const key = name + ":" + version;
  busy.add(key); say("action-msg", "switching " + name + " to version " + version + "…"); poll();
  try {
    await api("POST", "/admin/set_model_version", { model_name: name, model_version: version });
    say("action-msg", name + " version " + version + " is current");
  } catch (e) { say("action-msg", "could not switch " + name + " to version " + version + ": " + e.message, true); }
  busy.delete(key); poll();
}
async function deploy(ev) {
  ev.preventDefault();
  const file = $("deploy-file").files[0], name = $("deploy-name").value.trim();
  if (!file || !name) { say("deploy-msg", "choose an artifact and a model name", true); return; }
  const btn = $("deploy-btn"); btn.disabled = true;
  try {
    say("deploy-msg", "uploading " + file.name + " (" + file.size + " bytes)…");
    const art = await api("PUT", "/admin/artifacts", file);
    say("deploy-msg", "starting replicas and loading the model…");
    const body = {
      model_name: name, input_type: $("deploy-type").value, artifact_sha256: art.sha256, artifact_name: file.name,
      runtime: /\.(m?js|cjs|ts)$/.test(file.name) ? "node" : "python", replicas: Number($("deploy-replicas").value) || 1,
      app: { name: $("deploy-app").value.trim() || name },
    };
    if ($("deploy-version").value.trim()) body.model_version = $("deploy-version").value.trim();
    const m = await api("POST", "/admin/add_model", body);
    say("deploy-msg", "deployed " + m.model_name + " version " + m.model_version);
  } catch (e) { say("deploy-msg", "deploy failed: " + e.message, true); }
  btn.disabled = false; poll();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = $("token-input").value.trim();
  if (!t) return;
  sessionStorage.setItem(TOKEN_KEY, t); $("token-input").value = ""; $("login-error").textContent = ""; signIn(t);
});
$("signout").addEventListener("click", () => signOut(""));
$("deploy-form").addEventListener("submit", deploy);
const initial = readToken();
if (initial) signIn(initial); else signOut("");
`;
