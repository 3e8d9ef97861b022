/** The CLI commands: each declares its flags and help, parses with node:util parseArgs, and talks to the server. */
import { basename } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { buildConfig } from "../config.ts";
import { startServer } from "../server.ts";
import { CliError, request, resolveToken } from "./client.ts";
import { table } from "./table.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | undefined>;

export interface Command {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly options: Options;
  readonly help: Record<string, string>;
  readonly positionals: number;
  run(values: Values, positionals: string[]): Promise<number>;
}

const MGMT_URL = {
  url: { type: "string", default: "http://127.0.0.1:1338" }, token: { type: "string" }, "data-dir": { type: "string" },
} as const;
const URL_HELP = {
  url: "management API of the running server (default http://127.0.0.1:1338)",
  token: "management token (default: CLIPPER_TOKEN, else the token file in --data-dir)",
  "data-dir": "the server's data directory, to read its token file (CLIPPER_DATA_DIR, default ./.clipper)",
};

/** Calls the management API named by the command's --url with the resolved token. */
function mgmt(v: Values) {
  const token = resolveToken(str(v, "token"), str(v, "data-dir"), process.env);
  return (method: string, path: string, body?: unknown): Promise<unknown> => request(str(v, "url")!, method, path, body, token);
}
const JSON_OPT = { json: { type: "boolean", default: false } } as const;

const str = (v: Values, k: string) => v[k] as string | undefined;
const int = (v: Values, k: string): number | undefined => {
  const raw = str(v, k);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new CliError(`--${k} must be a whole number, got '${raw}'`);
  return n;
};
const out = (line: string) => process.stdout.write(line + "\n");

const serve: Command = {
  name: "serve", usage: "clipper serve [flags]", summary: "run the query and management APIs",
  positionals: 0,
  options: {
    "data-dir": { type: "string" }, host: { type: "string" }, "query-port": { type: "string" }, "mgmt-port": { type: "string" },
    python: { type: "string" }, "cache-entries": { type: "string" }, "max-batch-size": { type: "string" },
    "max-body-bytes": { type: "string" }, "shutdown-grace-ms": { type: "string" },
  },
  help: {
    "data-dir": "registry, artifacts and logs (CLIPPER_DATA_DIR, default ./.clipper)",
    host: "address both APIs bind to (CLIPPER_HOST, default 127.0.0.1)",
    "query-port": "query API port (CLIPPER_QUERY_PORT, default 1337)",
    "mgmt-port": "management API port (CLIPPER_MGMT_PORT, default 1338)",
    python: "Python interpreter for the Python runtime (CLIPPER_PYTHON, default ./.venv/bin/python or python3)",
    "cache-entries": "predictions kept in the LRU cache, 0 turns it off (CLIPPER_CACHE_ENTRIES, default 65536)",
    "max-batch-size": "ceiling of the adaptive batch size in rows (CLIPPER_MAX_BATCH_SIZE, default 256)",
    "max-body-bytes": "largest request body (CLIPPER_MAX_BODY_BYTES, default 10485760)",
    "shutdown-grace-ms": "time in-flight queries get on SIGTERM (CLIPPER_SHUTDOWN_GRACE_MS, default 10000)",
  },
  async run(v) {
    const config = (() => {
      try {
        return buildConfig({
          dataDir: str(v, "data-dir"), host: str(v, "host"), queryPort: str(v, "query-port"), mgmtPort: str(v, "mgmt-port"),
          python: str(v, "python"), cacheEntries: str(v, "cache-entries"), maxBatchSize: str(v, "max-batch-size"),
          maxBodyBytes: str(v, "max-body-bytes"), shutdownGraceMs: str(v, "shutdown-grace-ms"),
        }, process.env);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
    })();
    const log = (line: string) => process.stderr.write(`[clipper] ${line}\n`);
    let server;
    try {
      server = await startServer(config, log);
    } catch (err) {
      const e = err as { code?: string; message: string };
      if (e.code === "EADDRINUSE") throw new CliError(`a port is already in use (${e.message}); pick others with --query-port/--mgmt-port`);
      throw err;
    }
    const running = server;
    await new Promise<void>((resolve) => {
      const onSignal = (sig: string) => {
        log(`${sig}: finishing in-flight queries and stopping runtimes`);
        void running.stop().then(resolve);
      };
      process.once("SIGINT", () => onSignal("SIGINT"));
      process.once("SIGTERM", () => onSignal("SIGTERM"));
    });
    log("stopped");
    return 0;
  },
};

/** Derives a valid model name from a file name: hr.pkl → hr. */
function nameFromFile(path: string): string {
  const stem = basename(path).replace(/\.[^.]*$/, "").toLowerCase().replace(/[^a-z0-9.-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "");
  return stem.slice(0, 63) || "model";
}

const deploy: Command = {
  name: "deploy", usage: "clipper deploy ARTIFACT [flags]", summary: "upload a model, start its replicas, link it to an app",
  positionals: 1,
  options: {
    ...MGMT_URL, name: { type: "string" }, version: { type: "string" }, app: { type: "string" },
    "input-type": { type: "string" }, replicas: { type: "string" }, "predict-method": { type: "string" },
    "default-output": { type: "string" }, "slo-micros": { type: "string" },
  },
  help: {
    ...URL_HELP,
    name: "model name (default: the file name without extension)",
    version: "model version (default: one more than the highest numeric version, else 1)",
    app: "app to link, created when missing (default: the model name)",
    "input-type": "integers | floats | doubles | strings | bytes (default doubles)",
    replicas: "replicas to run (default 1)",
    "predict-method": "method called on the loaded object (default predict)",
    "default-output": "default output of an app this creates (default -1.0)",
    "slo-micros": "latency SLO of an app this creates (default 100000)",
  },
  async run(v, [artifact]) {
    const file = Bun.file(artifact!);
    if (!(await file.exists())) throw new CliError(`no such file: ${artifact}`);
    const call = mgmt(v);
    const name = str(v, "name") ?? nameFromFile(artifact!);
    const appName = str(v, "app") ?? name;
    const started = performance.now();
    out(`uploading ${basename(artifact!)} (${formatBytes(file.size)})`);
    const { sha256 } = (await call("PUT", "/admin/artifacts", file)) as { sha256: string };
    const replicas = int(v, "replicas") ?? 1;
    out(`starting ${replicas} replica${replicas === 1 ? "" : "s"} of model ${name} (artifact ${sha256.slice(0, 12)})`);
    const model = (await call("POST", "/admin/add_model", {
      model_name: name, model_version: str(v, "version"), input_type: str(v, "input-type") ?? "doubles",
      artifact_sha256: sha256, artifact_name: basename(artifact!), replicas, predict_method: str(v, "predict-method"),
      app: { name: appName, default_output: str(v, "default-output"), latency_slo_micros: int(v, "slo-micros") },
    })) as { model_version: string; runtime_info: { python?: string; packages?: Record<string, string> } };
    const secs = ((performance.now() - started) / 1000).toFixed(2);
    const pkgs = model.runtime_info.packages ?? {};
    out(`ready: model ${name} version ${model.model_version} serves app ${appName} in ${secs} s` +
      ` (python ${model.runtime_info.python ?? "?"}, scikit-learn ${pkgs["scikit-learn"] ?? "?"})`);
    return 0;
  },
};

const registerApp: Command = {
  name: "register-app", usage: "clipper register-app NAME --input-type TYPE [flags]", summary: "create an application (a REST endpoint)",
  positionals: 1,
  options: { ...MGMT_URL, "input-type": { type: "string" }, "default-output": { type: "string" }, "slo-micros": { type: "string" } },
  help: {
    ...URL_HELP, "input-type": "integers | floats | doubles | strings | bytes (required)",
    "default-output": "answer when no prediction is ready in time (default -1.0)",
    "slo-micros": "latency SLO in microseconds (default 100000)",
  },
  async run(v, [name]) {
    if (!str(v, "input-type")) throw new CliError("--input-type is required (integers, floats, doubles, strings or bytes)");
    await mgmt(v)("POST", "/admin/add_app", {
      name, input_type: str(v, "input-type"), default_output: str(v, "default-output"), latency_slo_micros: int(v, "slo-micros"),
    });
    out(`registered application ${name}`);
    return 0;
  },
};

const link: Command = {
  name: "link", usage: "clipper link APP MODEL", summary: "route an application's queries to a model",
  positionals: 2, options: { ...MGMT_URL }, help: { ...URL_HELP },
  async run(v, [app, model]) {
    await mgmt(v)("POST", "/admin/add_model_links", { app_name: app, model_names: [model] });
    out(`linked model ${model} to application ${app}`);
    return 0;
  },
};

const predict: Command = {
  name: "predict", usage: "clipper predict APP INPUT_JSON", summary: "send one query and print the answer",
  positionals: 2, options: { "query-url": { type: "string", default: "http://127.0.0.1:1337" } },
  help: { "query-url": "query API of the running server (default http://127.0.0.1:1337)" },
  async run(v, [app, input]) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(input!);
    } catch {
      throw new CliError(`INPUT_JSON is not valid JSON: ${input}`);
    }
    const answer = await request(str(v, "query-url")!, "POST", `/${encodeURIComponent(app!)}/predict`,
      Array.isArray(parsed) && Array.isArray(parsed[0]) ? { input_batch: parsed } : { input: parsed });
    out(JSON.stringify(answer));
    return 0;
  },
};

type AppInfo = { name: string; input_type: string; default_output: string; latency_slo_micros: number; policy: string; linked_models: string[]; ready?: boolean };
type ModelInfo = {
  model_name: string; model_version: string; input_type: string; runtime: string; is_current: boolean; state: string;
  replicas: number; ready_replicas: number; last_error: string | null; runtime_info: { python?: string; packages?: Record<string, string> };
};

const apps: Command = {
  name: "apps", usage: "clipper apps [--json]", summary: "list applications",
  positionals: 0, options: { ...MGMT_URL, ...JSON_OPT }, help: { ...URL_HELP, json: "print JSON for scripts" },
  async run(v) {
    const list = (await mgmt(v)("POST", "/admin/get_all_applications", { verbose: true })) as AppInfo[];
    if (v.json) return out(JSON.stringify(list, null, 2)), 0;
    out(table(["name", "input type", "default", "slo µs", "policy", "models"],
      list.map((a) => [a.name, a.input_type, a.default_output, a.latency_slo_micros, a.policy, a.linked_models.join(",")])));
    return 0;
  },
};

const models: Command = {
  name: "models", usage: "clipper models [--json]", summary: "list model versions",
  positionals: 0, options: { ...MGMT_URL, ...JSON_OPT }, help: { ...URL_HELP, json: "print JSON for scripts" },
  async run(v) {
    const list = (await mgmt(v)("POST", "/admin/get_all_models", { verbose: true })) as ModelInfo[];
    if (v.json) return out(JSON.stringify(list, null, 2)), 0;
    out(modelTable(list));
    return 0;
  },
};

function modelTable(list: ModelInfo[]): string {
  return table(["model", "version", "current", "input type", "state", "replicas", "python", "scikit-learn"],
    list.map((m) => [m.model_name, m.model_version, m.is_current ? "*" : "", m.input_type, m.state,
      `${m.ready_replicas}/${m.replicas}`, m.runtime_info.python, m.runtime_info.packages?.["scikit-learn"]]));
}

const status: Command = {
  name: "status", usage: "clipper status [--json]", summary: "show apps, models, replicas and errors",
  positionals: 0, options: { ...MGMT_URL, ...JSON_OPT }, help: { ...URL_HELP, json: "print JSON for scripts" },
  async run(v) {
    const s = (await mgmt(v)("GET", "/admin/status")) as { applications: AppInfo[]; models: ModelInfo[]; cache: Record<string, unknown> };
    if (v.json) return out(JSON.stringify(s, null, 2)), 0;
    out(table(["app", "ready", "policy", "models"], s.applications.map((a) => [a.name, a.ready ? "yes" : "no", a.policy, a.linked_models.join(",")])));
    out("");
    out(modelTable(s.models));
    for (const m of s.models) if (m.last_error) out(`\n${m.model_name}:${m.model_version} last error: ${m.last_error}`);
    out(`\ncache: ${JSON.stringify(s.cache)}`);
    return 0;
  },
};

export const COMMANDS: readonly Command[] = [serve, deploy, registerApp, link, predict, apps, models, status];

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 ** 2).toFixed(1)} MB`;
}

export function commandHelp(c: Command): string {
  const flags = Object.entries(c.options).map(([k, o]) => `  --${k}${o.type === "string" ? " VALUE" : ""}`.padEnd(26) + (c.help[k] ?? ""));
  return [`usage: ${c.usage}`, "", c.summary, "", "flags:", ...flags, "  --help".padEnd(26) + "show this help"].join("\n");
}

/**
 * Joins `--flag value` into `--flag=value` for string flags, so that values starting with '-'
 * (`--default-output -1.0`) are taken as values; parseArgs alone calls them ambiguous.
 */
function joinStringFlags(c: Command, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const opt = arg.startsWith("--") && !arg.includes("=") ? c.options[arg.slice(2)] : undefined;
    if (opt?.type === "string" && i + 1 < argv.length) out.push(`${arg}=${argv[++i]}`);
    else out.push(arg);
  }
  return out;
}

export function parseCommand(c: Command, argv: string[]): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: joinStringFlags(c, argv), options: { ...c.options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${(err as Error).message.split(/\. To specify|\n/)[0]} (see \`clipper ${c.name} --help\`)`);
  }
  const values = parsed.values as Values;
  if (!values.help && parsed.positionals.length !== c.positionals) {
    throw new CliError(`expected ${c.positionals} argument${c.positionals === 1 ? "" : "s"}, got ${parsed.positionals.length}: usage: ${c.usage}`);
  }
  return { values, positionals: parsed.positionals };
}
