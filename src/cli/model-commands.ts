/** Model commands: deploy, rollback, versions, scale, logs, stop, stop-inactive, models. */
import { basename } from "node:path";
import { FORMATS } from "../management/formats.ts";
import { FORMAT_MODULES } from "../runtime/kinds.ts";
import { artifactBody } from "./artifact-body.ts";
import { CliError } from "./client.ts";
import { type Call, type Command, int, JSON_OPT, mgmt, MGMT_URL, out, str, URL_HELP, type Values } from "./command.ts";
import { durationFlag, numberFlag } from "./rollout-commands.ts";
import { table } from "./table.ts";

/** An application as the management API describes it. */
export type AppInfo = {
  name: string;
  input_type: string;
  default_output: string;
  latency_slo_micros: number;
  policy: string;
  policy_config: Record<string, unknown>;
  linked_models: string[];
  ready?: boolean;
  overload?: string;
  /** exp3, ensemble: contexts kept. */
  contexts?: number;
  /** ensemble: how its answers went. */
  ensemble?: { mean_confidence: number | null; last_confidence: number | null; low_confidence_defaults: number; no_vote_defaults: number } | null;
};
/** A model version as the management API describes it. */
export type ModelInfo = {
  model_name: string;
  model_version: string;
  input_type: string;
  runtime: string;
  is_current: boolean;
  state: string;
  replicas: number;
  ready_replicas: number;
  min_replicas?: number;
  max_replicas?: number;
  running_replicas?: number;
  wanted_replicas?: number;
  idle_seconds?: number | null;
  last_cold_start?: { at: string; ms: number } | null;
  replica_memory_mb?: Record<string, number>;
  last_error: string | null;
  /** The hang watchdog, for a running version. */
  hangs?: number;
  quarantined?: { reason: string; seconds_left: number }[];
  artifact_sha256: string;
  created_at: string;
  runtime_info: {
    kind?: string;
    python?: string;
    bun?: string;
    packages?: Record<string, string>;
    format?: string;
    packages_source?: string;
    input_shape?: number[];
    threads?: number;
  };
};

/** Derives a valid model name from a file name: hr.pkl → hr. */
function nameFromFile(path: string): string {
  const stem = basename(path)
    .replace(/\.[^.]*$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "");
  return stem.slice(0, 63) || "model";
}

/** The runtime an artifact needs, from its extension: JS/TS modules run in the Node runtime, the rest in Python. */
function runtimeFor(artifact: string | undefined, image: string | undefined): string {
  if (image) return "docker";
  return /\.(js|mjs|cjs|ts)$/.test(artifact ?? "") ? "node" : "python";
}

export const deploy: Command = {
  name: "deploy",
  usage: "clipper deploy ARTIFACT [flags] | clipper deploy --image NAME[:TAG] [ARTIFACT] [flags]",
  summary: "upload a model, start its replicas, link it to an app",
  positionals: [0, 1],
  options: {
    ...MGMT_URL,
    name: { type: "string" },
    version: { type: "string" },
    app: { type: "string" },
    "input-type": { type: "string" },
    replicas: { type: "string" },
    "min-replicas": { type: "string" },
    "max-replicas": { type: "string" },
    "predict-method": { type: "string" },
    "default-output": { type: "string" },
    "slo-micros": { type: "string" },
    runtime: { type: "string" },
    image: { type: "string" },
    cpus: { type: "string" },
    memory: { type: "string" },
    command: { type: "string" },
    pkgs: { type: "string", multiple: true },
    format: { type: "string" },
    "input-shape": { type: "string" },
    output: { type: "string" },
    threads: { type: "string" },
    "predict-timeout-ms": { type: "string" },
    canary: { type: "string" },
    for: { type: "string" },
    "max-error-rate": { type: "string" },
    "max-p99-ratio": { type: "string" },
    "min-agreement": { type: "string" },
  },
  help: {
    ...URL_HELP,
    canary: "deploy as a canary with this share of the traffic (10% or 0.1), judged against the current version",
    for: "canary: its window (90s, 10m, 2h; default 10m); promoted at its end when within the thresholds",
    "max-error-rate": "canary: rolled back as soon as more of its rows fail (raise or miss the SLO) than this share (default 0.05)",
    "max-p99-ratio": "canary: rolled back when its p99 exceeds the current version's times this",
    "min-agreement": "canary: rolled back when fewer of its answers equal the current version's than this share",
    name: "model name (default: the file name without extension)",
    version: "model version (default: one more than the highest numeric version, else 1)",
    app: "app to link, created when missing (default: the model name)",
    "input-type": "integers | floats | doubles | strings | bytes (default doubles)",
    replicas: "replicas to run, a fixed count (default 1; the same as --min-replicas N --max-replicas N)",
    "min-replicas": "fewest replicas: the autoscaler never goes below; 0 stops them after the server's --idle-timeout without a query",
    "max-replicas": "most replicas: the autoscaler adds one while queries wait near their SLO, up to this",
    "predict-method": "method called on the loaded object (default predict)",
    "default-output": "default output of an app this creates (default -1.0)",
    "slo-micros": "latency SLO of an app this creates (default 100000)",
    runtime: "python | node | docker | command (default: node for .js/.mjs/.cjs/.ts, docker with --image, command with --command, else python)",
    image: "docker image speaking the runtime protocol (runs `docker run -i --rm`)",
    cpus: "docker --cpus for each replica",
    memory: "docker --memory for each replica (e.g. 512m)",
    pkgs: "python runtime: exact packages for the model's own environment, built once and cached (put this flag last)",
    command: "command runtime: the program speaking the runtime protocol, split on spaces (docs/custom-runtime.md)",
    format:
      `model format, recognised from the artifact when absent: ${FORMATS.join(" | ")} ` +
      "(.pt/.pth TorchScript, .pt2 torch.export, a directory with saved_model.pb, .keras, XGBoost .json/.ubj, " +
      "LightGBM .txt, .onnx, a directory with MLmodel); anything else is a pickle, joblib file or module",
    "input-shape": "per-row input shape of a format model, e.g. 1,8,8 (TorchScript records none; others report theirs)",
    output: "raw (default: a scalar per row as a string, a vector as a JSON list) | argmax (the class of a score vector)",
    threads: "the framework's intra-op threads per replica (default 1)",
    "predict-timeout-ms":
      "a batch running this long means the model hangs (its replica is killed and replaced); default: 20 × its p99 batch time, at least 300 ms",
  },
  async run(v, [artifact]) {
    const image = str(v, "image");
    const command = str(v, "command")?.trim().split(/\s+/);
    if (!artifact && !image && !command) throw new CliError("deploy needs an ARTIFACT, or --image for a docker runtime, or --command");
    const call = mgmt(v);
    const name =
      str(v, "name") ??
      nameFromFile(
        artifact ??
          (image
            ? image
                .replace(/[:@].*$/, "")
                .split("/")
                .pop()!
            : command!.at(-1)!),
      );
    const appName = str(v, "app") ?? name;
    const started = performance.now();
    let sha256: string | undefined;
    if (artifact) {
      // A directory (SavedModel, MLflow model) travels as a tar archive, unpacked by the server.
      const { body, directory } = await artifactBody(artifact);
      out(`uploading ${basename(artifact)}${directory ? "/ as a tar archive" : ""} (${formatBytes(body.size)})`);
      sha256 = ((await call("PUT", "/admin/artifacts", body)) as { sha256: string }).sha256;
    }
    const pkgs = v.pkgs as string[] | undefined;
    const canary = canaryOf(v);
    if (pkgs?.length) await buildEnvironment(call, pkgs);
    const replicas = int(v, "replicas") ?? 1;
    const minReplicas = int(v, "min-replicas");
    const maxReplicas = int(v, "max-replicas");
    const runtime = str(v, "runtime") ?? (command ? "command" : runtimeFor(artifact, image));
    const range = minReplicas === undefined && maxReplicas === undefined ? "" : ` (range ${minReplicas ?? "…"}..${maxReplicas ?? "…"})`;
    out(
      `starting ${Math.max(1, minReplicas ?? replicas)} ${runtime} replica${Math.max(1, minReplicas ?? replicas) === 1 ? "" : "s"}${range} of model ${name}` +
        (sha256 ? ` (artifact ${sha256.slice(0, 12)})` : image ? ` (image ${image})` : ""),
    );
    const model = (await call("POST", "/admin/add_model", {
      model_name: name,
      model_version: str(v, "version"),
      input_type: str(v, "input-type") ?? "doubles",
      artifact_sha256: sha256,
      artifact_name: artifact ? basename(artifact) : undefined,
      replicas,
      min_replicas: minReplicas,
      max_replicas: maxReplicas,
      predict_method: str(v, "predict-method"),
      runtime,
      image,
      format: str(v, "format"),
      input_shape: shapeOf(str(v, "input-shape")),
      output: str(v, "output"),
      threads: int(v, "threads"),
      predict_timeout_ms: int(v, "predict-timeout-ms"),
      cpus: str(v, "cpus"),
      memory: str(v, "memory"),
      command,
      pkgs,
      app: { name: appName, default_output: str(v, "default-output"), latency_slo_micros: int(v, "slo-micros") },
      canary,
    })) as ModelInfo;
    const secs = ((performance.now() - started) / 1000).toFixed(2);
    if (canary) {
      out(
        `canary: model ${name} version ${model.model_version} takes ${(canary.share * 100).toFixed(1)}% of app ${appName}'s queries for ${canary.window_ms / 1000} s ` +
          `(started in ${secs} s); watch it with \`clipper canary ${name}\``,
      );
      return 0;
    }
    out(`ready: model ${name} version ${model.model_version} serves app ${appName} in ${secs} s (${describeRuntime(model.runtime_info)})`);
    return 0;
  },
};

/** The canary of a deploy from its flags (undefined without --canary); the server checks the numbers. */
function canaryOf(v: Values) {
  const share = numberFlag(v, "canary", true);
  const rest = ["for", "max-error-rate", "max-p99-ratio", "min-agreement"].filter((k) => str(v, k) !== undefined);
  if (share === undefined) {
    if (rest.length) throw new CliError(`--${rest[0]} needs --canary SHARE`);
    return undefined;
  }
  return {
    share,
    window_ms: durationFlag(v, "for") ?? 600_000,
    max_error_rate: numberFlag(v, "max-error-rate", true) ?? 0.05,
    max_p99_ratio: numberFlag(v, "max-p99-ratio"),
    min_agreement: numberFlag(v, "min-agreement", true),
  };
}

/** `1,8,8` → [1, 8, 8]; the server checks the numbers. */
function shapeOf(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const dims = text
    .split(/[,x ]+/)
    .filter(Boolean)
    .map(Number);
  if (!dims.length || dims.some((d) => !Number.isInteger(d) || d < 1)) throw new CliError(`--input-shape must be whole numbers like 1,8,8, got '${text}'`);
  return dims;
}

type EnvStatus = { id: string; state: string; log: string[]; log_total: number; error: string | null };

/** Asks the server for the environment of `pkgs` and shows its build log until it is ready. */
async function buildEnvironment(call: Call, pkgs: string[]): Promise<void> {
  let env = (await call("POST", "/admin/environments", { pkgs })) as EnvStatus;
  if (env.state === "ready") {
    out(`environment for ${pkgs.join(" ")}: cached`);
    return;
  }
  out(`building the environment for ${pkgs.join(" ")} (once; later deploys reuse it)`);
  let shown = 0;
  const started = performance.now();
  while (env.state === "building") {
    await Bun.sleep(300);
    env = (await call("GET", `/admin/environments/${env.id}`)) as EnvStatus;
    // The server sends its last lines and how many there were in all: show the new ones.
    const fresh = Math.min(env.log_total - shown, env.log.length);
    for (const line of env.log.slice(env.log.length - fresh)) out(`  | ${line}`);
    shown = env.log_total;
  }
  if (env.state === "failed") throw new CliError(env.error ?? "building the environment failed");
  out(`environment ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

function describeRuntime(info: ModelInfo["runtime_info"]): string {
  if (info.kind === "node") return `node runtime, bun ${info.bun ?? "?"}`;
  if (info.kind !== "python") return `${info.kind} runtime`;
  const pkgs = info.packages ?? {};
  if (info.format) {
    const lib = FORMAT_MODULES[info.format] ?? info.format;
    return (
      `${info.format}, python ${info.python ?? "?"}, ${lib} ${pkgs[lib] ?? "?"} from ${info.packages_source === "server" ? "the server's Python" : `an environment (${info.packages_source})`}` +
      (info.input_shape ? `, input shape [${info.input_shape.join(", ")}]` : "") +
      `, ${info.threads ?? 1} thread${info.threads === 1 ? "" : "s"}`
    );
  }
  return `python ${info.python ?? "?"}${pkgs["scikit-learn"] ? `, scikit-learn ${pkgs["scikit-learn"]}` : ""}`;
}

export const models: Command = {
  name: "models",
  usage: "clipper models [--json]",
  summary: "list model versions",
  positionals: 0,
  options: { ...MGMT_URL, ...JSON_OPT },
  help: { ...URL_HELP, json: "print JSON for scripts" },
  async run(v) {
    const list = (await mgmt(v)("POST", "/admin/get_all_models", { verbose: true })) as ModelInfo[];
    if (v.json) return (out(JSON.stringify(list, null, 2)), 0);
    out(modelTable(list));
    return 0;
  },
};

export function modelTable(list: ModelInfo[]): string {
  return table(
    [
      "model",
      "version",
      "current",
      "input type",
      "state",
      "replicas",
      "range",
      "idle",
      "last cold start",
      "memory",
      "python",
      "scikit-learn",
      "format",
      "threads",
    ],
    list.map((m) => [
      m.model_name,
      m.model_version,
      m.is_current ? "*" : "",
      m.input_type,
      m.state,
      `${m.running_replicas ?? m.ready_replicas}/${m.wanted_replicas ?? m.replicas}`,
      `${m.min_replicas ?? m.replicas}..${m.max_replicas ?? m.replicas}`,
      m.idle_seconds === null || m.idle_seconds === undefined ? undefined : `${m.idle_seconds} s`,
      m.last_cold_start ? `${m.last_cold_start.at} (${m.last_cold_start.ms} ms)` : undefined,
      m.replica_memory_mb && Object.keys(m.replica_memory_mb).length ? `${Object.values(m.replica_memory_mb).reduce((a, b) => a + b, 0)} MiB` : undefined,
      m.runtime_info.python,
      m.runtime_info.packages?.["scikit-learn"],
      m.runtime_info.format,
      m.runtime_info.threads === undefined ? undefined : String(m.runtime_info.threads),
    ]),
  );
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 ** 2).toFixed(1)} MB`;
}

const MODEL_OPTS = { ...MGMT_URL };

export const rollback: Command = {
  name: "rollback",
  usage: "clipper rollback MODEL VERSION",
  summary: "make an earlier version current again, without dropping queries",
  positionals: 2,
  options: MODEL_OPTS,
  help: URL_HELP,
  async run(v, [model, version]) {
    const started = performance.now();
    await mgmt(v)("POST", "/admin/set_model_version", { model_name: model, model_version: version });
    out(`model ${model} now serves version ${version} (switched in ${((performance.now() - started) / 1000).toFixed(2)} s)`);
    return 0;
  },
};

export const versions: Command = {
  name: "versions",
  usage: "clipper versions MODEL [--json]",
  summary: "list a model's versions and which is current",
  positionals: 1,
  options: { ...MODEL_OPTS, ...JSON_OPT },
  help: { ...URL_HELP, json: "print JSON for scripts" },
  async run(v, [model]) {
    const list = (await mgmt(v)("POST", "/admin/get_model_versions", { model_name: model })) as ModelInfo[];
    if (v.json) return (out(JSON.stringify(list, null, 2)), 0);
    out(
      table(
        ["version", "current", "deployed", "state", "artifact sha256", "python", "scikit-learn"],
        list.map((m) => [
          m.model_version,
          m.is_current ? "*" : "",
          m.created_at,
          m.state,
          m.artifact_sha256.slice(0, 12),
          m.runtime_info.python,
          m.runtime_info.packages?.["scikit-learn"],
        ]),
      ),
    );
    return 0;
  },
};

export const scale: Command = {
  name: "scale",
  usage: "clipper scale MODEL [REPLICAS] [--min A] [--max B]",
  summary: "change the replicas of a model's current version live: a fixed count, or a range the autoscaler keeps to",
  positionals: [1, 2],
  options: { ...MODEL_OPTS, min: { type: "string" }, max: { type: "string" } },
  help: {
    ...URL_HELP,
    min: "fewest replicas (0: stop them after the server's --idle-timeout without a query)",
    max: "most replicas the autoscaler may add while queries wait near their SLO",
  },
  async run(v, [model, n]) {
    const min = int(v, "min");
    const max = int(v, "max");
    let body: Record<string, unknown>;
    if (n !== undefined) {
      const replicas = Number(n);
      if (!Number.isInteger(replicas) || replicas < 1) throw new CliError(`REPLICAS must be a whole number of at least 1, got '${n}'`);
      if (min !== undefined || max !== undefined) throw new CliError("give REPLICAS (a fixed count) or --min/--max (a range), not both");
      body = { model_name: model, num_replicas: replicas };
    } else {
      if (min === undefined && max === undefined) throw new CliError("give REPLICAS, or a range with --min and/or --max");
      body = { model_name: model, min_replicas: min, max_replicas: max };
    }
    const m = (await mgmt(v)("POST", "/admin/set_num_replicas", body)) as ModelInfo;
    out(`model ${model} version ${m.model_version} runs ${m.running_replicas ?? m.ready_replicas} replica(s), range ${m.min_replicas}..${m.max_replicas}`);
    return 0;
  },
};

export const logs: Command = {
  name: "logs",
  usage: "clipper logs MODEL [--version V] [--bytes N]",
  summary: "show the captured stderr of a model's replicas",
  positionals: 1,
  options: { ...MODEL_OPTS, version: { type: "string" }, bytes: { type: "string" } },
  help: { ...URL_HELP, version: "model version (default: the current one)", bytes: "how much of the end of the log (default 65536)" },
  async run(v, [model]) {
    const q = new URLSearchParams({ model_name: model! });
    if (str(v, "version")) q.set("model_version", str(v, "version")!);
    if (str(v, "bytes")) q.set("bytes", String(int(v, "bytes")));
    process.stdout.write(String(await mgmt(v)("GET", `/admin/logs?${q}`)));
    return 0;
  },
};

export const stop: Command = {
  name: "stop",
  usage: "clipper stop MODEL [VERSION]",
  summary: "stop and remove a model (all versions) or one version",
  positionals: [1, 2],
  options: MODEL_OPTS,
  help: URL_HELP,
  async run(v, [model, version]) {
    if (version) await mgmt(v)("POST", "/admin/delete_versioned_model", { model_name: model, model_version: version });
    else await mgmt(v)("POST", "/admin/stop_models", { model_names: [model] });
    out(version ? `stopped and removed model ${model} version ${version}` : `stopped and removed every version of model ${model}`);
    return 0;
  },
};

export const stopInactive: Command = {
  name: "stop-inactive",
  usage: "clipper stop-inactive MODEL",
  summary: "remove every version of a model but the current one",
  positionals: 1,
  options: MODEL_OPTS,
  help: URL_HELP,
  async run(v, [model]) {
    const { stopped } = (await mgmt(v)("POST", "/admin/stop_inactive_model_versions", { model_names: [model] })) as { stopped: string[] };
    out(stopped.length ? `removed ${stopped.join(", ")}` : `model ${model} has no inactive versions`);
    return 0;
  },
};
