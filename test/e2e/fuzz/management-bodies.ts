/**
 * Bodies of the management routes, from the schemas of src/management/schemas.ts, and the rules that keep
 * them harmless: never touching the deployed model, never starting a replica or building an environment.
 */
import fc from "fast-check";
import { anyName, bodyFor, freshName, isTraversal, MARK, wrongValue } from "./arbitraries.ts";
import { type Loose, Raw, render, replaceStrings } from "./loose-json.ts";

/** The deployed model and app: mutating routes never name it, so the final check can trust it. */
export const PROTECTED = "hr";
/** An artifact hash nobody uploaded: add_model bodies that pass validation stop at "no such artifact". */
export const MISSING_SHA256 = "deadbeef".repeat(8);

export const versionValue: fc.Arbitrary<Loose> = fc.oneof(fc.constantFrom("1", "2", "v1"), fc.nat({ max: 5 }), fc.stringMatching(/^[A-Za-z0-9]{1,6}$/));
const inputType = fc.constantFrom("integers", "floats", "doubles", "strings", "bytes");
const slo = fc.integer({ min: 1000, max: 60_000_000 });
const readName = fc.oneof(freshName, fc.constant(PROTECTED));
const names = fc.array(freshName, { minLength: 1, maxLength: 3 });

/** The valid shape of each management route's body, from src/management/schemas.ts. */
const MGMT_FIELDS: Record<string, Record<string, fc.Arbitrary<Loose>>> = {
  "POST /admin/add_app": { name: freshName, input_type: inputType, default_output: fc.string(), latency_slo_micros: slo },
  "POST /admin/add_model": {
    model_name: freshName,
    model_version: versionValue,
    input_type: inputType,
    artifact_sha256: fc.constant(MISSING_SHA256),
    artifact_name: fc.constantFrom("model.pkl", "m.py", "m.js", "..", `../${MARK}.pkl`),
    runtime: fc.constantFrom("python", "node"),
    predict_method: fc.constantFrom("predict", "predict_proba", "__init__"),
    replicas: fc.integer({ min: 1, max: 3 }),
    app: fc.record({ name: freshName, default_output: fc.string(), latency_slo_micros: slo }),
  },
  "POST /admin/add_model_links": { app_name: freshName, model_names: names },
  "POST /admin/get_all_applications": { verbose: fc.boolean() },
  "POST /admin/get_application": { name: readName },
  "POST /admin/get_all_models": { verbose: fc.boolean() },
  "POST /admin/get_model": { model_name: readName, model_version: versionValue },
  "POST /admin/get_linked_models": { app_name: readName },
  "POST /admin/get_all_containers": {},
  "POST /admin/get_model_versions": { model_name: readName },
  "POST /admin/set_model_version": { model_name: freshName, model_version: versionValue },
  "POST /admin/set_num_replicas": { model_name: freshName, num_replicas: fc.integer({ min: 1, max: 3 }) },
  // Limits that change nothing the final check trusts: no budget or a large one, a long idle timeout.
  "POST /admin/set_server_limits": { memory_budget_mb: fc.constantFrom(0, 100_000), idle_timeout_ms: fc.constantFrom(300_000, 600_000) },
  "POST /admin/set_policy": {
    app_name: freshName,
    policy: fc.constantFrom("single", "split", "exp3", "shadow"),
    weights: fc.dictionary(freshName, fc.nat({ max: 100 }), { maxKeys: 3 }),
    primary: freshName,
    shadow: freshName,
  },
  "POST /admin/delete_model_links": { app_name: freshName, model_names: names },
  "POST /admin/delete_app": { name: freshName },
  "POST /admin/delete_versioned_model": { model_name: freshName, model_version: versionValue },
  "POST /admin/stop_models": { model_names: names },
  "POST /admin/stop_inactive_model_versions": { model_names: names },
  "POST /admin/environments": { pkgs: fc.array(fc.constantFrom("numpy==1.0", "scikit-learn==1.7.2", "x"), { minLength: 1, maxLength: 3 }) },
};
const NAME_FIELDS = new Set(["name", "app_name", "model_name", "model_names", "model_version", "primary", "shadow", "weights", "app"]);
/** Routes that only read: they may name the deployed model. */
const READ_ONLY = new Set([
  "POST /admin/get_all_applications",
  "POST /admin/get_application",
  "POST /admin/get_all_models",
  "POST /admin/get_model",
  "POST /admin/get_linked_models",
  "POST /admin/get_all_containers",
  "POST /admin/get_model_versions",
]);

/** True when a name field of an object body holds a path-like string. */
export function nameFieldTraversal(body: Loose | string | Uint8Array): boolean {
  if (body === null || typeof body !== "object" || body instanceof Raw || body instanceof Uint8Array || Array.isArray(body)) return false;
  const obj = body as Record<string, Loose>;
  const bad = (v: Loose | undefined): boolean => typeof v === "string" && isTraversal(v);
  return (
    ["name", "app_name", "model_name", "model_version", "primary", "shadow"].some((k) => bad(obj[k])) ||
    (Array.isArray(obj.model_names) && obj.model_names.some(bad)) ||
    (obj.weights !== null &&
      typeof obj.weights === "object" &&
      !Array.isArray(obj.weights) &&
      !(obj.weights instanceof Raw) &&
      Object.keys(obj.weights).some(isTraversal)) ||
    (obj.app !== null && typeof obj.app === "object" && !Array.isArray(obj.app) && bad((obj.app as Record<string, Loose>).name))
  );
}

/**
 * Makes a body harmless: never names the deployed model on a mutating route; add_model always references a
 * missing (or malformed) artifact so that no replica starts; package lists always hold a requirement the
 * server refuses, so no environment is ever built.
 */
function defuse(route: string, body: Loose): Loose {
  const out = READ_ONLY.has(route) ? body : replaceStrings(body, new Set([PROTECTED]), `${PROTECTED}0`);
  if (out === null || typeof out !== "object" || out instanceof Raw || Array.isArray(out)) return out;
  const obj: Record<string, Loose> = Object.assign(Object.create(null), out);
  if (Array.isArray(obj.pkgs)) obj.pkgs = [...obj.pkgs, `../${MARK}`];
  if (route === "POST /admin/add_model") {
    const sha = obj.artifact_sha256;
    if (sha === undefined || (typeof sha === "string" && /^[0-9a-f]{64}$/.test(sha))) obj.artifact_sha256 = MISSING_SHA256;
  }
  return obj;
}

/** A body for a management route: from its field table, or (a route added after this table) only bodies no schema accepts. */
export function mgmtBody(route: string): fc.Arbitrary<Loose | string | Uint8Array> {
  const fields = MGMT_FIELDS[route];
  return fields
    ? bodyFor(fields, NAME_FIELDS, (b) => defuse(route, b))
    : fc.oneof(fc.constantFrom("[]", "1", '"x"', "{", "null"), fc.array(wrongValue, { maxLength: 3 }).map(render));
}

const logsParam = fc.oneof(
  fc.constantFrom("1", "4096", "16777216", "16777217", "0", "-1", "1e400", "abc", "NaN", "0x10", " 5", "", "1.5", "99999999999999999999"),
  fc.integer().map(String),
);
const rawQueryJunk = [
  "",
  "%zz",
  "model_name",
  "model_name=",
  "model_name=%E0%A4%A",
  "model_name=hr&model_name=../x",
  "model_name[]=hr",
  "&&&",
  "=",
  "model_name=hr&bytes=1&bytes=-1",
];

/** The query string of GET /admin/logs, and whether its model name is path-like. */
export const logsQuery = fc.oneof(
  {
    arbitrary: fc
      .record({ model_name: fc.oneof(anyName, fc.constant(PROTECTED)), model_version: versionValue.map(String), bytes: logsParam }, { requiredKeys: [] })
      .map((q) => ({
        qs: Object.entries(q)
          .map(([k, v]) => `${k}=${encodeURIComponent(v as string)}`)
          .join("&"),
        traversal: typeof q.model_name === "string" && isTraversal(q.model_name),
      })),
    weight: 5,
  },
  { arbitrary: fc.constantFrom(...rawQueryJunk).map((qs) => ({ qs, traversal: false })), weight: 1 },
);
