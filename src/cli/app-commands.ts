/** Application commands: register-app, link, unlink, delete-app, policy, predict, apps, status. */
import { CliError, request } from "./client.ts";
import { type Command, int, JSON_OPT, mgmt, MGMT_URL, out, str, URL_HELP } from "./command.ts";
import { type AppInfo, type ModelInfo, modelTable } from "./model-commands.ts";
import { table } from "./table.ts";

export const registerApp: Command = {
  name: "register-app",
  usage: "clipper register-app NAME --input-type TYPE [flags]",
  summary: "create an application (a REST endpoint)",
  positionals: 1,
  options: {
    ...MGMT_URL,
    "input-type": { type: "string" },
    "default-output": { type: "string" },
    "slo-micros": { type: "string" },
    "query-token": { type: "string" },
    overload: { type: "string" },
  },
  help: {
    ...URL_HELP,
    "input-type": "integers | floats | doubles | strings | bytes (required)",
    "default-output": "answer when no prediction is ready in time (default -1.0)",
    "slo-micros": "latency SLO in microseconds (default 100000)",
    "query-token": "make queries to this app send 'Authorization: Bearer <token>' (16+ characters; only its hash is stored)",
    overload: "default | reject: what a query the model cannot answer in time gets: the default output at once (default), or 429 with Retry-After",
  },
  async run(v, [name]) {
    if (!str(v, "input-type")) throw new CliError("--input-type is required (integers, floats, doubles, strings or bytes)");
    await mgmt(v)("POST", "/admin/add_app", {
      name,
      input_type: str(v, "input-type"),
      default_output: str(v, "default-output"),
      latency_slo_micros: int(v, "slo-micros"),
      query_token: str(v, "query-token"),
      overload: str(v, "overload"),
    });
    out(`registered application ${name}`);
    return 0;
  },
};

export const link: Command = {
  name: "link",
  usage: "clipper link APP MODEL",
  summary: "route an application's queries to a model",
  positionals: 2,
  options: { ...MGMT_URL },
  help: { ...URL_HELP },
  async run(v, [app, model]) {
    await mgmt(v)("POST", "/admin/add_model_links", { app_name: app, model_names: [model] });
    out(`linked model ${model} to application ${app}`);
    return 0;
  },
};

export const predict: Command = {
  name: "predict",
  usage: "clipper predict APP INPUT_JSON",
  summary: "send one query and print the answer",
  positionals: 2,
  options: { "query-url": { type: "string", default: "http://127.0.0.1:1337" }, "query-token": { type: "string" } },
  help: {
    "query-url": "query API of the running server (default http://127.0.0.1:1337)",
    "query-token": "the app's query token, when it has one",
  },
  async run(v, [app, input]) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(input!);
    } catch {
      throw new CliError(`INPUT_JSON is not valid JSON: ${input}`);
    }
    const answer = await request(
      str(v, "query-url")!,
      "POST",
      `/${encodeURIComponent(app!)}/predict`,
      Array.isArray(parsed) && Array.isArray(parsed[0]) ? { input_batch: parsed } : { input: parsed },
      str(v, "query-token"),
    );
    out(JSON.stringify(answer));
    return 0;
  },
};

export const apps: Command = {
  name: "apps",
  usage: "clipper apps [--json]",
  summary: "list applications",
  positionals: 0,
  options: { ...MGMT_URL, ...JSON_OPT },
  help: { ...URL_HELP, json: "print JSON for scripts" },
  async run(v) {
    const list = (await mgmt(v)("POST", "/admin/get_all_applications", { verbose: true })) as AppInfo[];
    if (v.json) return (out(JSON.stringify(list, null, 2)), 0);
    out(
      table(
        ["name", "input type", "default", "slo µs", "overload", "policy", "models"],
        list.map((a) => [a.name, a.input_type, a.default_output, a.latency_slo_micros, a.overload ?? "default", a.policy, a.linked_models.join(",")]),
      ),
    );
    return 0;
  },
};

export const status: Command = {
  name: "status",
  usage: "clipper status [--json]",
  summary: "show apps, models, replicas and errors",
  positionals: 0,
  options: { ...MGMT_URL, ...JSON_OPT },
  help: { ...URL_HELP, json: "print JSON for scripts" },
  async run(v) {
    const s = (await mgmt(v)("GET", "/admin/status")) as {
      applications: AppInfo[];
      models: ModelInfo[];
      cache: Record<string, unknown>;
      canaries?: { model: string; version: string; compared_with: string; share: number; state: string; reason: string; remaining_ms: number }[];
      memory?: { budget_mb: number; used_mb: number; replicas_mb?: number; spares_mb?: number; spares?: unknown[]; evictions: number; spares_shed?: number };
      limits?: { memory_budget_mb: number; idle_timeout_ms: number };
      scaling_events?: { at: string; model: string; action: string; from: number; to: number; reason: string }[];
    };
    if (v.json) return (out(JSON.stringify(s, null, 2)), 0);
    out(
      table(
        ["app", "ready", "overload", "policy", "models"],
        s.applications.map((a) => [a.name, a.ready ? "yes" : "no", a.overload ?? "default", a.policy, a.linked_models.join(",")]),
      ),
    );
    for (const a of s.applications) {
      const line = learnedLine(a);
      if (line) out(`${a.name}: ${line}`);
    }
    out("");
    out(modelTable(s.models));
    for (const m of s.models) if (m.last_error) out(`\n${m.model_name}:${m.model_version} last error: ${m.last_error}`);
    for (const m of s.models) {
      if (m.hangs) out(`\n${m.model_name}:${m.model_version} hangs: ${m.hangs}`);
      for (const q of m.quarantined ?? []) out(`${m.model_name}:${m.model_version} ${q.reason} (${q.seconds_left} s left)`);
    }
    for (const c of s.canaries ?? []) {
      const what = c.state === "running" ? `on trial, ${Math.ceil(c.remaining_ms / 1000)} s left` : `${c.state.replace("_", " ")}: ${c.reason}`;
      out(`\ncanary ${c.model}:${c.version} (${(c.share * 100).toFixed(1)}% against version ${c.compared_with}) ${what}`);
    }
    if (s.memory) {
      const budget = s.memory.budget_mb ? `${s.memory.budget_mb} MiB budget` : "no budget";
      const idle = s.limits ? `; idle timeout ${s.limits.idle_timeout_ms / 1000} s` : "";
      const m = s.memory;
      out(`\nreplica memory: ${m.replicas_mb ?? m.used_mb} MiB (${budget}), ${m.evictions} eviction(s)${idle}`);
      if (m.spares_mb !== undefined) {
        out(`warm spares: ${m.spares?.length ?? 0} holding ${m.spares_mb} MiB, ${m.spares_shed ?? 0} killed for room; the budget counts ${m.used_mb} MiB`);
      }
    }
    const events = s.scaling_events ?? [];
    if (events.length) {
      out("\nscaling (last 10):");
      for (const e of events.slice(-10)) out(`  ${e.at} ${e.model} ${e.action} ${e.from} -> ${e.to}: ${e.reason}`);
    }
    out(`\ncache: ${JSON.stringify(s.cache)}`);
    return 0;
  },
};

/** A learning policy's weights, an ensemble's confidence and the contexts kept, in one line (undefined for other policies). */
function learnedLine(a: AppInfo): string | undefined {
  if (a.policy !== "exp3" && a.policy !== "ensemble") return undefined;
  const weights = (a.policy_config.weights ?? {}) as Record<string, number>;
  const parts = [
    `weights ${Object.entries(weights)
      .map(([m, w]) => `${m}=${w.toPrecision(3)}`)
      .join(" ")}`,
  ];
  const e = a.ensemble;
  if (e) {
    if (e.mean_confidence !== null) parts.push(`mean confidence ${e.mean_confidence.toFixed(2)} (last ${e.last_confidence?.toFixed(2)})`);
    if (a.policy_config.min_confidence !== undefined) parts.push(`min confidence ${a.policy_config.min_confidence}`);
    parts.push(`${e.low_confidence_defaults} low-confidence defaults`, `${e.no_vote_defaults} without a vote`);
  }
  parts.push(`${a.contexts ?? 0} contexts`);
  return parts.join("; ");
}

export const unlink: Command = {
  name: "unlink",
  usage: "clipper unlink APP MODEL",
  summary: "stop routing an application's queries to a model",
  positionals: 2,
  options: { ...MGMT_URL },
  help: URL_HELP,
  async run(v, [app, model]) {
    await mgmt(v)("POST", "/admin/delete_model_links", { app_name: app, model_names: [model] });
    out(`unlinked model ${model} from application ${app}`);
    return 0;
  },
};

export const deleteApp: Command = {
  name: "delete-app",
  usage: "clipper delete-app APP",
  summary: "remove an application and its links",
  positionals: 1,
  options: { ...MGMT_URL },
  help: URL_HELP,
  async run(v, [app]) {
    await mgmt(v)("POST", "/admin/delete_app", { name: app });
    out(`deleted application ${app}`);
    return 0;
  },
};

export const policy: Command = {
  name: "policy",
  usage:
    "clipper policy APP single | split MODEL=WEIGHT... | exp3 [--max-contexts N] | shadow PRIMARY SHADOW [--sample F] | ensemble [--min-confidence C] [--max-contexts N]",
  summary: "choose how an application picks among (or combines) its linked models",
  positionals: [2, 66],
  options: { ...MGMT_URL, "min-confidence": { type: "string" }, sample: { type: "string" }, "max-contexts": { type: "string" } },
  help: {
    ...URL_HELP,
    "min-confidence": "ensemble: answer the default (with the reason) when less than this share of the weight agrees, 0 to 1",
    sample: "shadow: the share of queries copied to the shadow model, above 0 up to 1 (default 1)",
    "max-contexts": "exp3, ensemble: contexts whose weights are kept, least recently used dropped first (default 1000)",
  },
  async run(v, [app, name, ...args]) {
    const body: Record<string, unknown> = { app_name: app, policy: name };
    const number = (flag: string) => {
      const text = str(v, flag);
      if (text === undefined) return undefined;
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n)) throw new CliError(`--${flag} must be a number, got '${text}'`);
      return n;
    };
    body.min_confidence = number("min-confidence");
    body.sample = number("sample");
    body.max_contexts = number("max-contexts");
    if (name === "split") {
      body.weights = Object.fromEntries(
        args.map((a) => {
          const [model, weight] = a.split("=");
          if (!model || weight === undefined || Number.isNaN(Number(weight))) throw new CliError(`split weights look like hr-dt=90, got '${a}'`);
          return [model, Number(weight)];
        }),
      );
    } else if (name === "shadow") {
      if (args.length !== 2) throw new CliError("shadow takes two models: PRIMARY SHADOW");
      [body.primary, body.shadow] = args;
    } else if (args.length) {
      throw new CliError(`policy ${name} takes no further arguments`);
    }
    const res = (await mgmt(v)("POST", "/admin/set_policy", body)) as AppInfo;
    out(`application ${app} uses policy ${res.policy} over ${res.linked_models.join(", ")} ${JSON.stringify(res.policy_config)}`);
    return 0;
  },
};
