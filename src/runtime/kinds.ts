/**
 * Runtime kinds: how a model version's replica process is started. Each speaks protocol version 1 or 2
 * (docs/runtime-protocol.md) on stdin/stdout; only the command line differs.
 */
import type { ModelRecord } from "../registry/registry.ts";
import { LABEL_DATA_DIR, LABEL_MODEL, LABEL_REPLICA, LABEL_VERSION } from "./docker.ts";
import { packageName } from "./environments.ts";
import type { LoadFields } from "./protocol.ts";

export const RUNTIME_KINDS = ["python", "node", "docker", "command"] as const;
export type RuntimeKindName = (typeof RUNTIME_KINDS)[number];

export interface LaunchContext {
  /** Python interpreter of this model (its own environment, or the server's default). */
  readonly python: string;
  /** Path of the extracted Python worker script. */
  readonly pythonWorker: string;
  /** How to run this binary again (`clipper runtime node …`). */
  readonly self: readonly string[];
  /** The artifact on disk (with its original extension where the runtime needs one), or undefined. */
  readonly artifactPath: string | undefined;
  /** Docker: the container's name and what its labels say (see docker.ts). */
  readonly container?: { readonly name: string; readonly dataDir: string; readonly replicaId: string };
  /** Docker: start the runtime as a warm spare (`--standby`, the artifact mounted; a `load` frame names it later). */
  readonly standby?: boolean;
}

/** The argv that starts one replica of `model`. */
export function launchCommand(model: ModelRecord, ctx: LaunchContext): string[] {
  switch (model.runtime as RuntimeKindName) {
    case "python": {
      const module = !model.options.format && model.artifactName.endsWith(".py") ? ["--module"] : [];
      return [ctx.python, ctx.pythonWorker, "--artifact", ctx.artifactPath!, "--predict-method", model.predictMethod, ...module, ...formatArgs(model)];
    }
    case "node":
      return [...ctx.self, "runtime", "node", "--artifact", ctx.artifactPath!];
    case "docker":
      return dockerCommand(model, ctx.artifactPath, ctx.container, ctx.standby);
    case "command":
      // A runtime of the user's own (docs/custom-runtime.md), given the artifact's path when there is one.
      return [...model.options.command!, ...(ctx.artifactPath ? ["--artifact", ctx.artifactPath] : [])];
  }
}

/** The module the Python runtime imports to load each model format (a warm spare for the format imports it ahead). */
export const FORMAT_MODULES: Readonly<Record<string, string>> = {
  torchscript: "torch",
  "torch-export": "torch",
  savedmodel: "tensorflow",
  keras: "keras",
  xgboost: "xgboost",
  lightgbm: "lightgbm",
  onnx: "onnxruntime",
  mlflow: "mlflow",
};

/**
 * The `load` frame that hands `model` to a warm spare (docs/runtime-protocol.md, warm start): what the
 * command line of a cold start would have said.
 */
export function loadFrame(model: ModelRecord, artifactPath: string): LoadFields {
  const o = model.options;
  return {
    artifact: artifactPath,
    predict_method: model.predictMethod,
    module: !o.format && model.artifactName.endsWith(".py"),
    ...(o.format
      ? { format: o.format, threads: o.threads ?? 1, ...(o.inputShape ? { input_shape: o.inputShape } : {}), ...(o.output ? { output: o.output } : {}) }
      : {}),
    ...(o.pkgs ? { report_packages: o.pkgs.map(packageName) } : {}),
  };
}

/** The Python worker's flags for a model format (docs/runtime-protocol.md). */
function formatArgs(model: ModelRecord): string[] {
  const o = model.options;
  if (!o.format) return [];
  return [
    "--format",
    o.format,
    "--threads",
    String(o.threads ?? 1),
    ...(o.inputShape ? ["--input-shape", o.inputShape.join(",")] : []),
    ...(o.output ? ["--output", o.output] : []),
  ];
}

/**
 * `docker run -i --rm` with resource flags, named and labelled per replica; a given artifact is mounted
 * read-only at /model/artifact. `--pull never`: a missing image fails at once instead of waiting on a registry.
 * `standby`: the runtime waits for a `load` frame naming /model/artifact (a warm spare, version-spares.ts).
 */
export function dockerCommand(model: ModelRecord, artifactPath: string | undefined, container?: LaunchContext["container"], standby = false): string[] {
  const o = model.options;
  const args = ["docker", "run", "-i", "--rm", "--init", "--pull", "never", "--log-driver", "none"];
  if (o.cpus) args.push("--cpus", o.cpus);
  if (o.memory) args.push("--memory", o.memory);
  if (container) {
    args.push("--name", container.name, "--label", `${LABEL_DATA_DIR}=${container.dataDir}`, "--label", `${LABEL_REPLICA}=${container.replicaId}`);
  }
  args.push("--label", `${LABEL_MODEL}=${model.name}`, "--label", `${LABEL_VERSION}=${model.version}`);
  if (artifactPath) args.push("-v", `${artifactPath}:${DOCKER_ARTIFACT}:ro`);
  args.push(o.image!);
  if (artifactPath) args.push(...(standby ? ["--standby"] : ["--artifact", DOCKER_ARTIFACT, "--predict-method", model.predictMethod]));
  return args;
}

/** Where a Docker replica's container sees the artifact. */
export const DOCKER_ARTIFACT = "/model/artifact";

/** The command that runs this very program: the compiled binary, or bun with the entry script in development. */
export function selfCommand(): string[] {
  return Bun.main.endsWith(".ts") ? [process.execPath, Bun.main] : [process.execPath];
}

/** Runtimes that import the artifact by file name need its extension. */
export function needsExtension(model: ModelRecord): boolean {
  if (model.runtime === "python" && model.options.format) return !["savedmodel", "mlflow"].includes(model.options.format);
  return model.runtime === "node" || (model.runtime === "python" && model.artifactName.endsWith(".py"));
}
