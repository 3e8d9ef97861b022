/** Bodies of the management API (Clipper's field names), validated with zod; names use a strict character set. */
import { z } from "zod";
import { BadRequestError } from "../errors.ts";
import { POLICIES } from "../policy/select.ts";
import { RUNTIME_KINDS } from "../runtime/kinds.ts";
import { FORMATS } from "./formats.ts";
import { INPUT_TYPES } from "../query/input.ts";
import { OVERLOAD_MODES, type Overload } from "../registry/registry.ts";

/** Lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 63 characters. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;
export const VERSION_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

const name = z.string().regex(NAME_PATTERN, "must be 1-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit");
const version = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform(String)
  .pipe(z.string().regex(VERSION_PATTERN, "must be 1-63 letters, digits, '.', '_' or '-'"));
const inputType = z.enum(INPUT_TYPES as [string, ...string[]]);
const sloMicros = z.number().int().min(1000).max(60_000_000);
const defaultOutput = z.string().max(10_000);

export const AddApp = z.object({
  name,
  input_type: inputType,
  default_output: defaultOutput.default("-1.0"),
  latency_slo_micros: sloMicros.default(100_000),
  /** Whether this app's answers go through the prediction cache (Clipper's register_application(cache=...)). */
  cache: z.boolean().default(true),
  /** When given, queries to this app must send `Authorization: Bearer <query_token>`. Only its hash is kept. */
  query_token: z.string().min(16, "must be at least 16 characters").max(256).optional(),
  /** A query the model cannot answer in time: `default` answers the default at once, `reject` answers 429 with Retry-After. */
  overload: z.enum(OVERLOAD_MODES as [Overload, ...Overload[]]).default("default"),
});

/** Clipper's image name for a model registered without containers (register_model with no image). */
export const CONTAINERLESS_IMAGE = "NO_CONTAINER";
const IMAGE_PATTERN = /^[a-z0-9][a-z0-9._/-]{0,200}(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-f]{64})?$/;

export const AddModel = z
  .object({
    model_name: name,
    model_version: version.optional(),
    input_type: inputType.default("doubles"),
    artifact_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "must be the 64 hex characters returned by PUT /admin/artifacts")
      .optional(),
    artifact_name: z
      .string()
      .regex(/^[^/\\\0]{1,255}$/, "must be a file name without a directory")
      .default("model.pkl"),
    /** Default: python; docker when Clipper's `container_name` names an image; none for Clipper's NO_CONTAINER. */
    runtime: z.enum(RUNTIME_KINDS).optional(),
    /** docker: the image speaking the runtime protocol, and resource flags passed to `docker run`. */
    image: z.string().regex(IMAGE_PATTERN, "must be an image reference like name:tag").optional(),
    /** Clipper's body: the model's Docker image, or NO_CONTAINER to register the model without replicas. */
    container_name: z
      .union([z.literal(CONTAINERLESS_IMAGE), z.string().regex(IMAGE_PATTERN, "must be an image reference like name:tag or NO_CONTAINER")])
      .optional(),
    /** Clipper's body: annotations kept with the model version. */
    labels: z.array(z.string().max(200)).max(64).default([]),
    /** Clipper's body: the most rows a batch may hold (-1: adaptive, up to --max-batch-size). */
    batch_size: z
      .number()
      .int()
      .min(-1)
      .max(1_000_000)
      .refine((n) => n !== 0, "must be -1 (adaptive) or at least 1")
      .default(-1),
    /** Clipper's body sends "DEPRECATED" here; accepted and ignored (no file is read from it). */
    model_data_path: z.string().max(4096).optional(),
    cpus: z
      .string()
      .regex(/^\d+(\.\d+)?$/, "must be a number of CPUs like 1.5")
      .optional(),
    memory: z
      .string()
      .regex(/^\d+[bkmg]?$/i, "must be a size like 512m")
      .optional(),
    /** python runtime: run in its own environment with exactly these packages (built once, cached). */
    pkgs: z.array(z.string().max(200)).min(1).max(100).optional(),
    /** command runtime: the program (and its arguments) that speaks the runtime protocol. */
    command: z.array(z.string().min(1).max(4096)).min(1).max(64).optional(),
    /** python runtime: the model format (detected from the artifact when absent), and how to call it. */
    format: z.enum(FORMATS).optional(),
    input_shape: z.array(z.number().int().min(1).max(1_000_000)).min(1).max(8).optional(),
    output: z.enum(["raw", "argmax"]).optional(),
    threads: z.number().int().min(1).max(256).optional(),
    /** The hang watchdog's threshold for this model (ms), instead of 20 × its p99 batch time. */
    predict_timeout_ms: z.number().int().min(10).max(3_600_000).optional(),
    predict_method: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "must be a Python identifier")
      .default("predict"),
    replicas: z.number().int().min(1).max(64).default(1),
    /** Deploy as a canary: the version takes this share of the traffic, compared with the current one, and is judged. */
    canary: z
      .object({
        share: z.number().gt(0, "must be above 0").max(1, "must be at most 1 (100%)"),
        window_ms: z
          .number()
          .int()
          .min(1000)
          .max(7 * 24 * 3600 * 1000),
        max_error_rate: z.number().min(0).max(1),
        max_p99_ratio: z.number().gt(0).max(1000).optional(),
        min_agreement: z.number().min(0).max(1).optional(),
      })
      .optional(),
    /** The replica range (autoscaled within it; 0: scale to zero when idle); absent: `replicas`, a fixed count. */
    min_replicas: z.number().int().min(0).max(64).optional(),
    max_replicas: z.number().int().min(1).max(64).optional(),
    /** Link the model to this app, creating the app when missing, in the same transaction. */
    app: z
      .object({
        name,
        default_output: defaultOutput.default("-1.0"),
        latency_slo_micros: sloMicros.default(100_000),
      })
      .optional(),
  })
  .transform((b) => {
    // Clipper's register_model names the image in container_name and sends no artifact.
    const fromContainer = b.container_name && !b.artifact_sha256 && !b.runtime && !b.image;
    if (!fromContainer) return { ...b, runtime: b.runtime ?? ("python" as const) };
    if (b.container_name === CONTAINERLESS_IMAGE) return { ...b, runtime: "none" as const };
    return { ...b, runtime: "docker" as const, image: b.container_name };
  })
  .superRefine((b, ctx) => {
    if (b.runtime === "docker" && !b.image) ctx.addIssue({ code: "custom", path: ["image"], message: "the docker runtime needs an image" });
    if (b.pkgs && b.runtime !== "python") ctx.addIssue({ code: "custom", path: ["pkgs"], message: "only the python runtime builds environments" });
    if (b.format && b.runtime !== "python") ctx.addIssue({ code: "custom", path: ["format"], message: "model formats are loaded by the python runtime" });
    if (b.input_shape && b.input_shape.reduce((a, d) => a * d, 1) > 1_000_000) {
      ctx.addIssue({ code: "custom", path: ["input_shape"], message: "must have at most 1000000 values per row" });
    }
    rangeIssue(b, ctx);
    if (b.runtime === "command" && !b.command) ctx.addIssue({ code: "custom", path: ["command"], message: "the command runtime needs a command" });
    if ((b.runtime === "python" || b.runtime === "node") && !b.artifact_sha256) {
      ctx.addIssue({ code: "custom", path: ["artifact_sha256"], message: "required: PUT the artifact to /admin/artifacts first" });
    }
  });

export const SetPolicy = z
  .object({
    app_name: name,
    policy: z.enum(POLICIES),
    /** split: model name → weight. */
    weights: z.record(name, z.number().nonnegative().finite()).optional(),
    primary: name.optional(),
    shadow: name.optional(),
    /** shadow: the share of queries copied to the shadow model. */
    sample: z.number().gt(0).max(1).optional(),
    /** ensemble: an answer whose confidence is below this gets the default. */
    min_confidence: z.number().min(0).max(1).optional(),
    /** exp3, ensemble: contexts whose weights are kept (least recently used dropped beyond it). */
    max_contexts: z.number().int().min(1).max(1_000_000).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.policy === "split" && (!b.weights || Object.keys(b.weights).length < 1 || Object.values(b.weights).every((w) => w === 0))) {
      ctx.addIssue({ code: "custom", path: ["weights"], message: 'split needs weights such as {"hr-dt": 90, "hr-rf": 10}, not all zero' });
    }
    if (b.policy === "shadow" && (!b.primary || !b.shadow || b.primary === b.shadow)) {
      ctx.addIssue({ code: "custom", path: ["shadow"], message: "shadow needs two different models: primary and shadow" });
    }
    if (b.sample !== undefined && b.policy !== "shadow")
      ctx.addIssue({ code: "custom", path: ["sample"], message: "sample applies to the shadow policy only" });
    if (b.min_confidence !== undefined && b.policy !== "ensemble") {
      ctx.addIssue({ code: "custom", path: ["min_confidence"], message: "min_confidence applies to the ensemble policy only" });
    }
    if (b.max_contexts !== undefined && b.policy !== "exp3" && b.policy !== "ensemble") {
      ctx.addIssue({ code: "custom", path: ["max_contexts"], message: "max_contexts applies to the exp3 and ensemble policies only" });
    }
  });
/** Payload capture of one app: the share of queries kept (0: off) and the bound of its files. */
export const SetCapture = z.object({
  app_name: name,
  sample: z.number().min(0).max(1),
  max_mb: z.number().gt(0).max(1_000_000).default(100),
  /** The window of the app's input statistics (drift is scored window against reference). */
  stats_window_ms: z
    .number()
    .int()
    .min(1000)
    .max(30 * 24 * 3600 * 1000)
    .default(600_000),
});
/** The reference of an app's input statistics: inputs (a capture file's), instead of its first window. */
export const SetReference = z.object({ app_name: name, inputs: z.array(z.unknown()).min(1).max(1_000_000) });
/** Replay of captured queries (the app's capture, or the rows given) against a version of the app's model. */
export const Replay = z.object({
  app_name: name,
  version,
  rows: z
    .array(z.object({ input: z.unknown(), output: z.unknown().optional(), default: z.boolean().optional() }).passthrough())
    .max(1_000_000)
    .optional(),
  rate: z.number().gt(0).max(1_000_000).optional(),
});
export const BuildEnvironment = z.object({ pkgs: z.array(z.string().max(200)).min(1).max(100) });
export const SetModelVersion = z.object({ model_name: name, model_version: version });
/** set_server_limits: the memory budget and the idle timeout, changed live (clipper.yaml's `server:` section). */
export const SetServerLimits = z
  .object({
    memory_budget_mb: z.number().int().min(0).max(1_048_576).optional(),
    idle_timeout_ms: z
      .number()
      .int()
      .min(100)
      .max(7 * 24 * 3_600_000)
      .optional(),
  })
  .strict()
  .refine((b) => b.memory_budget_mb !== undefined || b.idle_timeout_ms !== undefined, {
    path: ["memory_budget_mb"],
    message: "required: memory_budget_mb and/or idle_timeout_ms",
  });

export const SetNumReplicas = z
  .object({
    model_name: name,
    /** A fixed count (Clipper's); or a range with min_replicas / max_replicas. */
    num_replicas: z.number().int().min(1).max(64).optional(),
    min_replicas: z.number().int().min(0).max(64).optional(),
    max_replicas: z.number().int().min(1).max(64).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.num_replicas === undefined && b.min_replicas === undefined && b.max_replicas === undefined) {
      ctx.addIssue({ code: "custom", path: ["num_replicas"], message: "required: a count, or min_replicas and/or max_replicas" });
    }
    rangeIssue(b, ctx);
  });

interface RangeFields {
  readonly min_replicas?: number | undefined;
  readonly max_replicas?: number | undefined;
}

function rangeIssue(b: RangeFields, ctx: z.RefinementCtx): void {
  if (b.min_replicas !== undefined && b.max_replicas !== undefined && b.min_replicas > b.max_replicas) {
    ctx.addIssue({ code: "custom", path: ["max_replicas"], message: `must be at least min_replicas (${b.min_replicas}), got ${b.max_replicas}` });
  }
}

/**
 * The replica range a body asks for: `replicas`/`num_replicas` N alone means N..N; a missing bound is taken from
 * the other one (at least 1 at the top). `fallback` fills in what the body leaves out (the version's range now).
 */
export function replicaRange(
  b: RangeFields & { readonly replicas?: number | undefined; readonly num_replicas?: number | undefined },
  fallback: { min: number; max: number } = { min: 1, max: 1 },
): { min: number; max: number } {
  const fixed = b.num_replicas ?? b.replicas;
  if (b.min_replicas === undefined && b.max_replicas === undefined) return fixed === undefined ? fallback : { min: fixed, max: fixed };
  const min = b.min_replicas ?? Math.min(fallback.min, b.max_replicas!);
  const max = b.max_replicas ?? Math.max(min, fallback.max, 1);
  return { min, max };
}
export const ModelNames = z.object({ model_names: z.array(name).min(1).max(64) });
export const ModelNameBody = z.object({ model_name: name });

export const AddModelLinks = z.object({ app_name: name, model_names: z.array(name).min(1).max(64) });
export const NameBody = z.object({ name });
export const AppNameBody = z.object({ app_name: name });
export const ModelBody = z.object({ model_name: name, model_version: version });
export const VerboseBody = z.object({ verbose: z.boolean().default(false) });
/** get_all_containers: Clipper's clients send verbose; without it the answer is the verbose list (clipper's own clients). */
export const ContainersBody = z.object({ verbose: z.boolean().default(true) });
export const ContainerBody = z.object({
  model_name: name,
  model_version: version,
  replica_id: z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,9}$/, "must be a replica number")]).transform(Number),
});

/** Parses `body` with `schema`, turning the first problem into a 400 that names the field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length ? issue.path.join(".") : "body";
  throw new BadRequestError(`${field}: ${issue.message}`, `see the management API reference for the fields of this route`);
}

/** `clipper gc`: what is unreferenced and older than this many seconds goes (default ten minutes). */
export const GcBody = z.object({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 3600)
    .default(600),
});
