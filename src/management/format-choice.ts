/**
 * At deploy: which format a Python model is (given, or recognised from the artifact), its loader options, and
 * which packages it runs with: the server's Python when it has the format's module, else an environment of
 * the user's `pkgs`, the MLflow model's own requirements, or the format's pinned defaults. One format's
 * packages go only into the environment of the models of that format.
 */
import type { z } from "zod";
import { BadRequestError } from "../errors.ts";
import type { RuntimeOptions } from "../registry/registry.ts";
import type { ArtifactStore } from "./artifacts.ts";
import { detectFormat, DIRECTORY_FORMATS, FORMAT_PACKAGES, type FormatName, mlflowRequirements, pythonHas } from "./formats.ts";
import type { AddModel } from "./schemas.ts";

export interface FormatChoice {
  readonly options: Pick<RuntimeOptions, "format" | "inputShape" | "output" | "threads">;
  readonly pkgs: readonly string[] | undefined;
  /** Shown in the model's runtime_info: the format and where its packages came from. */
  readonly info: Record<string, unknown>;
}

const FILE_EXTENSION: Record<string, string> = {
  torchscript: ".pt",
  "torch-export": ".pt2",
  keras: ".keras",
  xgboost: ".json",
  lightgbm: ".txt",
  onnx: ".onnx",
};

/** The extension a format's loader needs: the uploaded one when it is one the loader reads, else the format's own. */
export function formatExtension(format: string | undefined, uploaded: string): string {
  if (!format) return uploaded;
  if (format === "xgboost" && (uploaded === ".json" || uploaded === ".ubj")) return uploaded;
  if (format === "torchscript" && uploaded === ".pth") return uploaded;
  return FILE_EXTENSION[format] ?? uploaded;
}

export function resolveFormat(body: z.output<typeof AddModel>, artifacts: ArtifactStore, serverPython: string): FormatChoice {
  const sha = body.artifact_sha256;
  const dir = sha ? artifacts.directory(sha) : undefined;
  const format: FormatName | undefined =
    body.runtime !== "python" || !sha ? undefined : (body.format ?? detectFormat(body.artifact_name, artifacts.existing(sha), dir));
  if (!format) {
    for (const field of ["input_shape", "output", "threads"] as const) {
      if (body[field] !== undefined) {
        throw new BadRequestError(`${field}: only a model format (torchscript, onnx, …) takes it, and this artifact is not one`, "give --format NAME");
      }
    }
    if (dir)
      throw new BadRequestError(
        "artifact_sha256: the archive is not a model directory clipper knows (no MLmodel, no saved_model.pb)",
        "give --format savedmodel or --format mlflow",
      );
    return { options: {}, pkgs: body.pkgs, info: {} };
  }
  if (DIRECTORY_FORMATS.has(format) !== Boolean(dir)) {
    throw new BadRequestError(
      `format: a ${format} model is ${dir ? "a single file" : "a directory, uploaded as a tar archive"}, and this artifact is ${dir ? "an archive" : "a single file"}`,
      "`clipper deploy DIRECTORY` packs a directory for you",
    );
  }
  const options = { format, inputShape: body.input_shape, output: body.output, threads: body.threads ?? 1 };
  if (body.pkgs) return { options, pkgs: body.pkgs, info: { format, packages_source: "pkgs" } };
  if (pythonHas(serverPython, FORMAT_PACKAGES[format].module)) return { options, pkgs: undefined, info: { format, packages_source: "server" } };
  const recorded = format === "mlflow" && dir ? mlflowRequirements(dir) : undefined;
  const pkgs = recorded ?? FORMAT_PACKAGES[format].pkgs;
  return { options, pkgs, info: { format, packages_source: recorded ? "model requirements.txt" : "format default" } };
}
