/**
 * `clipper apply -f FILE`: makes a running server match a declarative file of apps, models and links.
 * Idempotent: what already matches is left alone, so N servers given the same file converge to the same state.
 */
import { createHash } from "node:crypto";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type ConfigFile, parseConfigFile } from "../management/config-file.ts";
import { replicaRange } from "../management/schemas.ts";
import { artifactBody } from "./artifact-body.ts";
import { CliError } from "./client.ts";
import { type Call, type Command, mgmt, MGMT_URL, out, str, URL_HELP } from "./command.ts";
import type { AppInfo, ModelInfo } from "./model-commands.ts";

function artifactPath(ref: string, configDir: string): string {
  if (ref.startsWith("file://")) return fileURLToPath(ref);
  if (/^[a-z]+:\/\//i.test(ref)) throw new CliError(`artifact ${ref}: only local paths and file:// URLs are supported`);
  return isAbsolute(ref) ? ref : resolve(configDir, ref);
}

/** The server's limits as the file's `server:` says (what it leaves out stays as it is). */
async function applyServer(call: Call, config: ConfigFile, changes: string[]): Promise<void> {
  const want = config.server;
  if (!want || (want.memory_budget_mb === undefined && want.idle_timeout === undefined)) return;
  const have = ((await call("GET", "/admin/status")) as { limits: { memory_budget_mb: number; idle_timeout_ms: number } }).limits;
  const budget = want.memory_budget_mb !== undefined && want.memory_budget_mb !== have.memory_budget_mb ? want.memory_budget_mb : undefined;
  const idle = want.idle_timeout !== undefined && want.idle_timeout !== have.idle_timeout_ms ? want.idle_timeout : undefined;
  if (budget === undefined && idle === undefined) return;
  await call("POST", "/admin/set_server_limits", { memory_budget_mb: budget, idle_timeout_ms: idle });
  if (budget !== undefined) changes.push(`server: memory budget ${budget === 0 ? "off" : `${budget} MiB`}`);
  if (idle !== undefined) changes.push(`server: idle timeout ${idle} ms`);
}

async function applyApps(call: Call, config: ConfigFile, apps: Map<string, AppInfo>, changes: string[]): Promise<void> {
  for (const a of config.apps) {
    const have = apps.get(a.name);
    if (!have) {
      await call("POST", "/admin/add_app", {
        name: a.name,
        input_type: a.input_type,
        default_output: a.default_output,
        latency_slo_micros: a.latency_slo_micros,
      });
      changes.push(`app ${a.name}: created`);
    } else if (have.input_type !== a.input_type || have.default_output !== a.default_output || have.latency_slo_micros !== a.latency_slo_micros) {
      throw new CliError(`app ${a.name} exists with other settings (input type, default output or SLO); delete it first to change them`);
    }
  }
}

async function applyModels(call: Call, config: ConfigFile, configDir: string, changes: string[]): Promise<void> {
  const all = (await call("POST", "/admin/get_all_models", { verbose: true })) as ModelInfo[];
  for (const m of config.models) {
    const path = artifactPath(m.artifact, configDir);
    // A directory artifact (a SavedModel, an MLflow model) is packed as `clipper deploy DIR` packs it.
    const { body } = await artifactBody(path).catch(() => {
      throw new CliError(`model ${m.name}: no artifact at ${path}`);
    });
    const sha256 = createHash("sha256")
      .update(new Uint8Array(await body.arrayBuffer()))
      .digest("hex");
    const have = all.find((x) => x.model_name === m.name && x.model_version === m.version);
    if (have && have.artifact_sha256 !== sha256) {
      throw new CliError(`model ${m.name} version ${m.version} exists with another artifact; versions are immutable, give it a new version`);
    }
    if (!have) {
      await call("PUT", "/admin/artifacts", body);
      await call("POST", "/admin/add_model", {
        model_name: m.name,
        model_version: m.version,
        input_type: m.input_type,
        artifact_sha256: sha256,
        artifact_name: basename(path),
        replicas: m.replicas,
        min_replicas: m.min_replicas,
        max_replicas: m.max_replicas,
        predict_method: m.predict_method,
        runtime: m.runtime,
        pkgs: m.pkgs,
      });
      changes.push(`model ${m.name}:${m.version}: deployed (${m.replicas} replica${m.replicas === 1 ? "" : "s"})`);
      continue;
    }
    if (!have.is_current) {
      await call("POST", "/admin/set_model_version", { model_name: m.name, model_version: m.version });
      changes.push(`model ${m.name}: version ${m.version} made current`);
    }
    const range = replicaRange(m, { min: m.replicas, max: m.replicas });
    if ((have.min_replicas ?? have.replicas) !== range.min || (have.max_replicas ?? have.replicas) !== range.max) {
      await call("POST", "/admin/set_num_replicas", { model_name: m.name, min_replicas: range.min, max_replicas: range.max });
      changes.push(`model ${m.name}:${m.version}: scaled to ${range.min === range.max ? range.min : `${range.min}..${range.max}`} replicas`);
    }
  }
}

async function applyLinksAndPolicies(call: Call, config: ConfigFile, changes: string[]): Promise<void> {
  const apps = new Map(((await call("POST", "/admin/get_all_applications", { verbose: true })) as AppInfo[]).map((a) => [a.name, a]));
  for (const m of config.models) {
    for (const app of m.links) {
      if (apps.get(app)?.linked_models.includes(m.name)) continue;
      await call("POST", "/admin/add_model_links", { app_name: app, model_names: [m.name] });
      changes.push(`link ${app} → ${m.name}: created`);
    }
  }
  for (const a of config.apps) {
    if (!a.policy) continue;
    const want =
      a.policy === "split"
        ? { weights: a.weights }
        : a.policy === "shadow"
          ? { primary: a.primary, shadow: a.shadow, ...(a.sample === undefined ? {} : { sample: a.sample }) }
          : undefined;
    // exp3 and ensemble learn: their options are compared one by one (the learned weights are not the file's).
    const options = a.policy === "exp3" || a.policy === "ensemble" ? { min_confidence: a.min_confidence, max_contexts: a.max_contexts } : {};
    const have = apps.get(a.name)!;
    const same =
      have.policy === a.policy &&
      (want === undefined || JSON.stringify(have.policy_config) === JSON.stringify(want)) &&
      Object.entries(options).every(([k, v]) => v === undefined || have.policy_config[k] === v);
    if (same) continue;
    await call("POST", "/admin/set_policy", { app_name: a.name, policy: a.policy, ...want, ...options });
    changes.push(`app ${a.name}: policy ${a.policy}`);
  }
  await applyCaptures(call, config, changes);
}

/** Each app's capture as the file says (an app without `capture` keeps what it has). */
async function applyCaptures(call: Call, config: ConfigFile, changes: string[]): Promise<void> {
  for (const a of config.apps) {
    if (!a.capture) continue;
    const want = {
      sample: a.capture.sample,
      max_bytes: Math.round((a.capture.max_mb ?? 100) * 1024 * 1024),
    };
    const have = (await call("GET", `/admin/capture?app_name=${encodeURIComponent(a.name)}`)) as { sample: number; max_bytes: number; stats_window_ms: number };
    const window = (a.capture.stats_window_seconds ?? 600) * 1000;
    if (have.sample === want.sample && (want.sample === 0 || (have.max_bytes === want.max_bytes && have.stats_window_ms === window))) continue;
    await call("POST", "/admin/capture", {
      app_name: a.name,
      sample: a.capture.sample,
      max_mb: a.capture.max_mb,
      stats_window_ms: window,
    });
    changes.push(`app ${a.name}: capture ${(a.capture.sample * 100).toFixed(1)}%`);
  }
}

export const apply: Command = {
  name: "apply",
  usage: "clipper apply -f FILE",
  summary: "make the server match a file of apps, models and links (idempotent)",
  positionals: 0,
  options: { ...MGMT_URL, file: { type: "string", short: "f" } },
  help: { ...URL_HELP, file: "YAML file of apps, models (artifact paths relative to it) and links; see examples/hr/clipper.yaml" },
  async run(v) {
    const file = str(v, "file");
    if (!file) throw new CliError("-f FILE is required");
    const text = await Bun.file(file)
      .text()
      .catch(() => {
        throw new CliError(`cannot read ${file}`);
      });
    let config: ConfigFile;
    try {
      config = parseConfigFile(text);
    } catch (err) {
      throw new CliError(`${file}: ${(err as Error).message}`);
    }
    const call = mgmt(v);
    const changes: string[] = [];
    const apps = new Map(((await call("POST", "/admin/get_all_applications", { verbose: true })) as AppInfo[]).map((a) => [a.name, a]));
    // Limits first: the models deployed next start within the file's budget.
    await applyServer(call, config, changes);
    await applyApps(call, config, apps, changes);
    await applyModels(call, config, dirname(resolve(file)), changes);
    await applyLinksAndPolicies(call, config, changes);
    for (const c of changes) out(c);
    out(changes.length ? `applied ${file}: ${changes.length} change${changes.length === 1 ? "" : "s"}` : `applied ${file}: nothing to change`);
    return 0;
  },
};
