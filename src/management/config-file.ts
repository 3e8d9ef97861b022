/** The declarative config of `clipper apply -f FILE`: apps, models (artifacts on the local file system) and links. */
import { POLICIES } from "../policy/select.ts";
import { parse } from "yaml";
import { z } from "zod";
import { INPUT_TYPES } from "../query/input.ts";
import { NAME_PATTERN, VERSION_PATTERN } from "./schemas.ts";
import { durationMs } from "../config.ts";

const name = z.string().regex(NAME_PATTERN, "must be 1-63 lowercase letters, digits, '-' or '.'");
const inputType = z.enum(INPUT_TYPES as [string, ...string[]]);

/** A duration as `clipper serve` takes it: 300 (seconds), 300s, 5m, 1500ms. */
const duration = z
  .union([z.number().positive(), z.string()])
  .transform((v, ctx) => {
    try {
      return durationMs(String(v), "idle-timeout")!;
    } catch {
      ctx.addIssue({ code: "custom", message: `must be a duration such as 300s, 5m or 1500ms, got '${v}'` });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .number()
      .int()
      .min(100, "must be at least 100ms")
      .max(7 * 24 * 3_600_000, "must be at most 7 days"),
  );

export const ConfigFile = z
  .object({
    /** The server's own limits, set live by `clipper apply` (a restart goes back to the serve flags). */
    server: z
      .object({
        /** The most resident memory all replicas may hold together (MiB; 0: none), as `--memory-budget-mb`. */
        memory_budget_mb: z.number().int().min(0).max(1_048_576).optional(),
        /** How long a version with min_replicas 0 keeps its replicas without a query, as `--idle-timeout`. */
        idle_timeout: duration.optional(),
      })
      .strict()
      .optional(),
    apps: z
      .array(
        z
          .object({
            name,
            input_type: inputType,
            default_output: z.string().default("-1.0"),
            latency_slo_micros: z.number().int().min(1000).default(100_000),
            policy: z.enum(POLICIES).optional(),
            weights: z.record(name, z.number().nonnegative()).optional(),
            primary: name.optional(),
            shadow: name.optional(),
            /** shadow: the share of queries copied; ensemble: the confidence below which the default answers; exp3, ensemble: contexts kept. */
            sample: z.number().gt(0).max(1).optional(),
            min_confidence: z.number().min(0).max(1).optional(),
            max_contexts: z.number().int().min(1).optional(),
            /** Payload capture: the share of queries kept, the bound of its files and its statistics' window (seconds). */
            capture: z
              .object({
                sample: z.number().min(0).max(1),
                max_mb: z.number().gt(0).optional(),
                stats_window_seconds: z.number().int().min(1).optional(),
              })
              .strict()
              .optional(),
          })
          .strict(),
      )
      .default([]),
    models: z
      .array(
        z
          .object({
            name,
            version: z.union([z.string(), z.number()]).transform(String).pipe(z.string().regex(VERSION_PATTERN, "must be letters, digits, '.', '_' or '-'")),
            /** Path relative to the config file, or a file:// URL. */
            artifact: z.string().min(1),
            input_type: inputType.default("doubles"),
            replicas: z.number().int().min(1).max(64).default(1),
            /** A replica range instead of a fixed count (0: scale to zero when idle). */
            min_replicas: z.number().int().min(0).max(64).optional(),
            max_replicas: z.number().int().min(1).max(64).optional(),
            predict_method: z.string().optional(),
            runtime: z.enum(["python", "node"]).optional(),
            pkgs: z.array(z.string()).optional(),
            links: z.array(name).default([]),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

export type ConfigFile = z.output<typeof ConfigFile>;

/** Parses and validates the YAML text; errors name the path of the offending field. */
export function parseConfigFile(text: string): ConfigFile {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new Error(`the file is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const result = ConfigFile.safeParse(raw ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`${issue.path.join(".") || "the file"}: ${issue.message}`);
  }
  return result.data;
}
