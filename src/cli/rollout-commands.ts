/** Rollout commands: `clipper capture` (payload capture), `clipper replay` (captured queries against a version), `clipper canary`. */
import { writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { parseCapture } from "../capture/writer.ts";
import { CliError, resolveToken } from "./client.ts";
import { type Command, JSON_OPT, mgmt, MGMT_URL, out, str, URL_HELP, type Values } from "./command.ts";
import { table } from "./table.ts";

/** A number flag: `0.1`, or a percentage `10%` when `percent` (→ 0.1). */
export function numberFlag(v: Values, k: string, percent = false): number | undefined {
  const raw = str(v, k);
  if (raw === undefined) return undefined;
  const isPct = percent && raw.endsWith("%");
  const n = Number(isPct ? raw.slice(0, -1) : raw);
  if (raw.trim() === "" || !Number.isFinite(n)) throw new CliError(`--${k} must be a number${percent ? " or a percentage like 10%" : ""}, got '${raw}'`);
  return isPct ? n / 100 : n;
}

/** A duration flag: `90s`, `10m`, `2h` or milliseconds (`5000`). */
export function durationFlag(v: Values, k: string): number | undefined {
  const raw = str(v, k);
  if (raw === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) throw new CliError(`--${k} must be a duration like 90s, 10m or 2h, got '${raw}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "ms") as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * unit);
}

interface CaptureStatus {
  app: string;
  sample: number;
  max_bytes: number;
  captured_rows: number;
  dropped_rows: number;
  pending_rows: number;
  files: number;
  bytes: number;
}

export const capture: Command = {
  name: "capture",
  usage: "clipper capture APP [--sample F] [--max-mb N] [--stats-window D] | clipper capture APP --export FILE | --reference FILE",
  summary: "sample an app's queries and answers to compressed JSON Lines files (bounded), show the capture, export it, or set its input statistics' reference",
  positionals: 1,
  options: {
    ...MGMT_URL,
    ...JSON_OPT,
    sample: { type: "string" },
    "max-mb": { type: "string" },
    "stats-window": { type: "string" },
    export: { type: "string" },
    reference: { type: "string" },
  },
  help: {
    ...URL_HELP,
    sample: "share of queries captured, 0 to 1 or a percentage (0 turns capture off)",
    "max-mb": "bound of the app's capture files in MB; the oldest go first (default 100)",
    "stats-window": "window of the app's input statistics (30s, 10m, 1h; default 10m); drift is scored window against reference",
    export: "write the capture to FILE: gzip JSON Lines when FILE ends in .gz, plain JSON Lines otherwise",
    reference: "a capture file (as --export writes it) whose inputs are the drift reference, instead of the first window",
    json: "print JSON for scripts",
  },
  async run(v, [app]) {
    const call = mgmt(v);
    const file = str(v, "export");
    if (file) {
      const bytes = await exportCapture(v, app!);
      writeFileSync(file, file.endsWith(".gz") ? bytes : gunzipSync(bytes));
      out(`wrote ${parseCapture(bytes).length} captured rows of app ${app} to ${file}`);
      return 0;
    }
    const reference = str(v, "reference");
    if (reference) {
      const file = Bun.file(reference);
      if (!(await file.exists())) throw new CliError(`--reference: no file ${reference}`);
      const inputs = parseCapture(new Uint8Array(await file.arrayBuffer())).map((r) => r.input);
      const res = (await call("POST", "/admin/capture/reference", { app_name: app, inputs })) as { reference_rows: number };
      out(`the drift reference of app ${app} is now ${res.reference_rows} rows of ${reference}`);
      return 0;
    }
    const sample = numberFlag(v, "sample", true);
    const maxMb = numberFlag(v, "max-mb");
    const statsWindow = durationFlag(v, "stats-window");
    if (sample === undefined && (maxMb !== undefined || statsWindow !== undefined)) throw new CliError("--max-mb and --stats-window go with --sample F");
    const status = (
      sample === undefined
        ? await call("GET", `/admin/capture?app_name=${encodeURIComponent(app!)}`)
        : await call("POST", "/admin/capture", { app_name: app, sample, max_mb: maxMb, stats_window_ms: statsWindow })
    ) as CaptureStatus;
    if (v.json) return (out(JSON.stringify(status, null, 2)), 0);
    out(
      status.sample > 0
        ? `capturing ${(status.sample * 100).toFixed(1)}% of app ${app}'s queries, at most ${(status.max_bytes / 1048576).toFixed(1)} MB`
        : `capture of app ${app} is off`,
    );
    out(`${status.captured_rows} rows captured, ${status.dropped_rows} dropped (writer behind), ${status.files} files, ${status.bytes} bytes`);
    return 0;
  },
};

async function exportCapture(v: Values, app: string): Promise<Uint8Array> {
  const token = resolveToken(str(v, "token"), str(v, "data-dir"), process.env);
  const res = await fetch(`${str(v, "url")}/admin/capture/export?app_name=${encodeURIComponent(app)}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  }).catch(() => {
    throw new CliError(`cannot reach a clipper server at ${str(v, "url")}`);
  });
  if (!res.ok) {
    const e = (await res.json().catch(() => ({}))) as { error?: string };
    throw new CliError(e.error ?? `HTTP ${res.status}`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

interface ReplayReport {
  app: string;
  model: string;
  version: string;
  current?: string;
  rows: number;
  compared: number;
  agreement: number;
  differing: { input: unknown; captured: unknown; replayed: unknown }[];
  differing_total: number;
  errors: number;
  captured_defaults: number;
  latency_micros: { version: { p50: number; p99: number }; current?: { p50: number; p99: number } };
  shift?: { captured_mean: number; replayed_mean: number; mean_difference: number; ks_distance: number };
}

export const replay: Command = {
  name: "replay",
  usage: "clipper replay APP --version V [--from FILE] [--rate R] [--json]",
  summary: "send an app's captured queries to a version of its model and report agreement, latency, errors and output shift",
  positionals: 1,
  options: { ...MGMT_URL, ...JSON_OPT, version: { type: "string" }, from: { type: "string" }, rate: { type: "string" }, show: { type: "string" } },
  help: {
    ...URL_HELP,
    version: "the version to replay against (started for the replay when not running; it does not become current)",
    from: "a capture file (JSON Lines, gzip or not, as `clipper capture --export` writes) instead of the app's capture",
    rate: "rows per second (default: as fast as the version answers, 16 in flight)",
    show: "differing inputs to list (default 10)",
    json: "print the whole report as JSON",
  },
  async run(v, [app]) {
    const version = str(v, "version");
    if (!version) throw new CliError("replay needs --version V");
    const from = str(v, "from");
    let rows: unknown[] | undefined;
    if (from) {
      const file = Bun.file(from);
      if (!(await file.exists())) throw new CliError(`--from: no file ${from}`);
      rows = parseCapture(new Uint8Array(await file.arrayBuffer()));
    }
    const r = (await mgmt(v)("POST", "/admin/replay", { app_name: app, version, rows, rate: numberFlag(v, "rate") })) as ReplayReport;
    if (v.json) return (out(JSON.stringify(r, null, 2)), 0);
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    out(`replayed ${r.rows} captured queries of app ${r.app} on model ${r.model} version ${r.version}`);
    const lat = r.latency_micros;
    out(
      table(
        ["measure", `version ${r.version}`, r.current ? `current (${r.current})` : "captured"],
        [
          ["agreement with captured answers", `${pct(r.agreement)} of ${r.compared}`, ""],
          ["errors (raised or too late)", r.errors, `${r.captured_defaults} captured defaults`],
          ["latency p50 µs", lat.version.p50, lat.current?.p50],
          ["latency p99 µs", lat.version.p99, lat.current?.p99],
          ...(r.shift
            ? [
                ["output mean", r.shift.replayed_mean.toFixed(4), r.shift.captured_mean.toFixed(4)],
                ["output shift (KS distance)", r.shift.ks_distance.toFixed(3), ""],
              ]
            : []),
        ],
      ),
    );
    const show = Number(str(v, "show") ?? 10);
    if (r.differing_total > 0) {
      out(`\n${r.differing_total} differing inputs${r.differing_total > show ? ` (first ${show})` : ""}:`);
      out(
        table(
          ["input", "captured", "replayed"],
          r.differing.slice(0, show).map((d) => [JSON.stringify(d.input), JSON.stringify(d.captured), JSON.stringify(d.replayed)]),
        ),
      );
    }
    return 0;
  },
};

interface CanaryView {
  model: string;
  version: string;
  compared_with: string;
  share: number;
  state: string;
  reason: string;
  remaining_ms: number;
  thresholds: { maxErrorRate: number; maxP99Ratio?: number; minAgreement?: number };
  comparison?: {
    rows: number;
    canary_error_rate: number;
    current_error_rate: number;
    canary_p99_micros: number;
    current_p99_micros: number;
    p99_ratio: number;
    compared: number;
    agreement: number;
  };
}

export const canary: Command = {
  name: "canary",
  usage: "clipper canary MODEL [--promote | --abort] [--json]",
  summary: "show a model's canary against the current version (live), or promote or abort it by hand",
  positionals: 1,
  options: { ...MGMT_URL, ...JSON_OPT, promote: { type: "boolean", default: false }, abort: { type: "boolean", default: false } },
  help: {
    ...URL_HELP,
    promote: "make the canary's version current now",
    abort: "stop the canary now; the current version keeps all traffic",
    json: "print JSON for scripts",
  },
  async run(v, [model]) {
    const call = mgmt(v);
    if (v.promote && v.abort) throw new CliError("--promote and --abort exclude each other");
    const c = (
      v.promote || v.abort
        ? await call("POST", `/admin/canary/${v.promote ? "promote" : "abort"}`, { model_name: model })
        : await call("GET", `/admin/canary?model_name=${encodeURIComponent(model!)}`)
    ) as CanaryView;
    if (v.json) return (out(JSON.stringify(c, null, 2)), 0);
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const head = `canary ${c.model}:${c.version} (${pct(c.share)} of traffic) against version ${c.compared_with}: ${c.state.replace("_", " ")}`;
    out(c.state === "running" ? `${head}, ${Math.ceil(c.remaining_ms / 1000)} s left` : `${head}: ${c.reason}`);
    const k = c.comparison;
    if (k) {
      const t = c.thresholds;
      out(
        table(
          ["measure", `canary ${c.version}`, `current ${c.compared_with}`, "threshold"],
          [
            ["rows", k.rows, k.rows, ""],
            ["error rate", pct(k.canary_error_rate), pct(k.current_error_rate), `≤ ${pct(t.maxErrorRate)}`],
            [
              "p99 µs",
              Math.round(k.canary_p99_micros),
              Math.round(k.current_p99_micros),
              t.maxP99Ratio ? `ratio ≤ ${t.maxP99Ratio} (now ${k.p99_ratio.toFixed(2)})` : "",
            ],
            ["agreement", `${pct(k.agreement)} of ${k.compared}`, "", t.minAgreement !== undefined ? `≥ ${pct(t.minAgreement)}` : ""],
          ],
        ),
      );
    }
    return 0;
  },
};
