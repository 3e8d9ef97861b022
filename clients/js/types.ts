/** The shapes the client sends and receives: options in camelCase, server answers in snake_case as on the wire. */

/** What an application or model takes: arrays of numbers, a string, or bytes (sent base64-encoded). */
export type InputType = "integers" | "floats" | "doubles" | "strings" | "bytes";

/** How an application picks among its linked models. */
export type PolicyName = "single" | "split" | "exp3" | "shadow" | "ensemble";

/** How a model version's replicas are started. */
export type RuntimeKind = "python" | "node" | "docker" | "command";

/** One query input: numbers (integers, floats, doubles), a string, or bytes (base64-encoded for the `bytes` type). */
export type QueryInput = readonly number[] | string | Uint8Array;

/** Options of {@link ClipperConnection}'s constructor. */
export interface ConnectionOptions {
  /** The management API; default `http://127.0.0.1:1338`. */
  readonly url?: string;
  /** The management token; default `CLIPPER_TOKEN`, else the file `<dataDir>/token` (read when first needed). */
  readonly token?: string;
  /** The query API; default the management URL's scheme and host with port 1337. */
  readonly queryUrl?: string;
  /** The server's data directory, for the token file; default `CLIPPER_DATA_DIR`, else `.clipper`. */
  readonly dataDir?: string;
  /** How long to wait for any one answer, in milliseconds; deploys wait for replicas to load. Default 120000. */
  readonly timeoutMs?: number;
}

/** A selection policy's settings, as stored in the registry. */
export interface PolicyConfig {
  /** split: model name → weight; exp3: model name → learned weight. */
  readonly weights?: Readonly<Record<string, number>>;
  /** shadow: the model that answers. */
  readonly primary?: string;
  /** shadow: the model that gets a copy of each query. */
  readonly shadow?: string;
  /** shadow: the share of queries copied. */
  readonly sample?: number;
  /** ensemble: an answer whose confidence is below this is the default. */
  readonly min_confidence?: number;
  /** exp3, ensemble: contexts whose weights are kept. */
  readonly max_contexts?: number;
  /** exp3, ensemble: each context's learned weights, least recently used first. */
  readonly contexts?: readonly (readonly [string, Readonly<Record<string, number>>])[];
}

/** An application as `get_application` (and verbose `get_all_applications`) answers it. */
export interface AppInfo {
  readonly name: string;
  readonly input_type: InputType;
  readonly default_output: string;
  readonly latency_slo_micros: number;
  readonly policy: PolicyName;
  readonly policy_config: PolicyConfig;
  readonly linked_models: readonly string[];
}

/** What a replica reported when it loaded the model (Python: python, packages, model_class; node: bun). */
export interface RuntimeInfo {
  readonly kind?: string;
  readonly protocol?: number;
  readonly python?: string;
  readonly packages?: Readonly<Record<string, string>>;
  readonly model_class?: string;
  readonly bun?: string;
  readonly pid?: number;
  readonly [key: string]: unknown;
}

/** A model version's state: its replicas' (`starting`, `ready`, `degraded`, `failed`), or `stopped` / `inactive` when none run. */
export type ModelState = "starting" | "ready" | "degraded" | "failed" | "stopped" | "inactive";

/** A model version as `get_model`, `add_model`, `set_model_version` and `set_num_replicas` answer it. */
export interface ModelInfo {
  readonly model_name: string;
  readonly model_version: string;
  readonly input_type: InputType;
  readonly runtime: RuntimeKind;
  readonly is_current: boolean;
  readonly replicas: number;
  readonly state: ModelState;
  readonly ready_replicas: number;
  readonly last_error: string | null;
  readonly artifact_sha256: string;
  readonly artifact_name: string;
  readonly predict_method: string;
  readonly runtime_info: RuntimeInfo;
  /** ISO 8601. */
  readonly created_at: string;
}

/** One running replica, as `get_all_containers` answers it. */
export interface ReplicaInfo {
  readonly model_name: string;
  readonly model_version: string;
  /** `"<name>:<version>#<n>"`. */
  readonly model_replica_id: string;
  readonly state: "starting" | "ready" | "stopping" | "exited";
  readonly pid: number | null;
  /** Docker runtime: the replica's container name; null for process runtimes. */
  readonly container: string | null;
  readonly outstanding_rows: number;
}

/** The answer to one query. */
export interface Prediction {
  readonly query_id: number;
  /** The model's output as a string (lists and objects nested as JSON), or the app's default output. */
  readonly output: string;
  /** True when no prediction was ready within the SLO and `output` is the app's default. */
  readonly default: boolean;
  /** Why the default was answered (only when `default` is true). */
  readonly default_explanation?: string;
  /** The model version that answered (absent for a default answer and under the ensemble policy). */
  readonly model?: { readonly name: string; readonly version: string } | null;
  /** ensemble: the share of the ensemble's weight that voted for the output. */
  readonly confidence?: number;
  /** ensemble: how many models answered in time, of how many. */
  readonly models_answered?: number;
  readonly models_total?: number;
  /** ensemble: the models (`name:version`) that answered in time. */
  readonly answered_by?: readonly string[];
}

/** What `POST /{app}/update` answers: each linked model's reward (1 when its output equals the label). */
export interface FeedbackResult {
  readonly app_name: string;
  readonly rewards: Readonly<Record<string, number>>;
  /** exp3's or the ensemble's weights after the update (the context's, when one was named); null under other policies. */
  readonly weights: Readonly<Record<string, number>> | null;
}

/** What {@link ClipperConnection.deployModel} uploads and starts. Give `modelPath` or `bytes`, or neither for docker/command models. */
export interface DeployModelOptions {
  /** The model's name: 1-63 lowercase letters, digits, '-' and '.'. */
  readonly name: string;
  /** A version new for this model, such as `1` or `"2024-05"`; default: one above the highest numeric version. */
  readonly version?: string | number;
  /** Default `doubles`. */
  readonly inputType?: InputType;
  /** A local file to upload (read with node:fs). */
  readonly modelPath?: string;
  /** The artifact's bytes, instead of `modelPath`. */
  readonly bytes?: Uint8Array | ArrayBuffer | Blob;
  /** The artifact's file name (its extension matters: `.py`, `.mjs`…); default `modelPath`'s base name, else `model.pkl`. */
  readonly artifactName?: string;
  /** How many processes serve it; default 1. */
  readonly replicas?: number;
  /** The method the Python runtime calls with a batch; default `predict`. */
  readonly predictMethod?: string;
  /** Also link the model to this application, created with defaults when missing. */
  readonly appName?: string;
  /** Default: `node` for .js/.mjs/.cjs/.ts artifacts, `docker` with `image`, `command` with `command`, else `python`. */
  readonly runtime?: RuntimeKind;
  /** python runtime: run in its own environment with exactly these packages (built once, cached by the server). */
  readonly pkgs?: readonly string[];
  /** docker runtime: the image speaking the runtime protocol. */
  readonly image?: string;
  /** command runtime: the program and its arguments. */
  readonly command?: readonly string[];
}

/** Settings of {@link ClipperConnection.setPolicy}: `weights` for split, `primary`, `shadow` and `sample` for shadow, `minConfidence` for ensemble, `maxContexts` for exp3 and ensemble. */
export interface SetPolicyOptions {
  readonly weights?: Readonly<Record<string, number>>;
  readonly primary?: string;
  readonly shadow?: string;
  readonly sample?: number;
  readonly minConfidence?: number;
  readonly maxContexts?: number;
}
