/** ClipperConnection: Clipper's admin client in TypeScript, speaking to clipper's management API (:1338) and query API (:1337). */
import { ClipperError } from "./errors.ts";
import type {
  AppInfo,
  ConnectionOptions,
  DeployModelOptions,
  FeedbackResult,
  InputType,
  ModelInfo,
  PolicyName,
  Prediction,
  QueryInput,
  ReplicaInfo,
  RuntimeKind,
  SetPolicyOptions,
} from "./types.ts";

/** The management API's default address. */
export const DEFAULT_URL = "http://127.0.0.1:1338";
/** The query API's default port, used with the management URL's host when no `queryUrl` is given. */
export const DEFAULT_QUERY_PORT = 1337;
/** Deploys wait for replicas to load a model, so the default is generous. */
export const DEFAULT_TIMEOUT_MS = 120_000;

type Names = string | readonly string[];
interface SendOptions {
  readonly json?: unknown;
  readonly bytes?: Uint8Array | ArrayBuffer | Blob;
  readonly auth?: boolean;
}

/** The environment when the platform has one (Bun, Node), else nothing: the client also runs where there is no `process`. */
function env(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name]?.trim() || undefined;
}

/** The part of `node:fs/promises` the client uses, typed here so that the client needs no Node type definitions. */
interface FileSystem {
  readFile(path: string, encoding: "utf8"): Promise<string>;
  readFile(path: string): Promise<Uint8Array>;
  stat(path: string): Promise<{ isFile(): boolean }>;
}

/** `node:fs/promises` where the platform has it (Bun, Node, Deno); undefined elsewhere, such as in browsers. */
async function fs(): Promise<FileSystem | undefined> {
  // A specifier in a variable keeps bundlers for the browser from trying to bundle node:fs.
  const specifier = "node:fs/promises";
  try {
    return (await import(specifier)) as FileSystem;
  } catch {
    return undefined;
  }
}

/** One query input as JSON: bytes become base64 (the `bytes` input type). */
function jsonableInput(input: QueryInput): unknown {
  if (!(input instanceof Uint8Array)) return input;
  let binary = "";
  for (let i = 0; i < input.length; i += 0x8000) binary += String.fromCharCode(...input.subarray(i, i + 0x8000));
  return btoa(binary);
}

function names(value: Names): string[] {
  return typeof value === "string" ? [value] : [...value];
}

/** The runtime the CLI would pick for an artifact: JS/TS modules run in the Node runtime, the rest in Python. */
function runtimeFor(o: DeployModelOptions, artifactName: string): RuntimeKind {
  if (o.runtime) return o.runtime;
  if (o.command) return "command";
  if (o.image) return "docker";
  return /\.(m|c)?js$|\.ts$/.test(artifactName) ? "node" : "python";
}

/**
 * A connection to a running `clipper serve`: Clipper's admin methods plus query helpers.
 * Nothing is sent until a method is called. Every method rejects with a {@link ClipperError} on failure.
 */
export class ClipperConnection {
  /** The management API, without a trailing slash. */
  readonly url: string;
  /** The query API, without a trailing slash. */
  readonly queryUrl: string;
  /** Where the token file is looked for when neither `token` nor `CLIPPER_TOKEN` gives one. */
  readonly dataDir: string;
  /** How long any one call may take, in milliseconds. */
  readonly timeoutMs: number;
  /** True once {@link connect} succeeded. */
  connected = false;
  #token: string | undefined;
  #tokenSource = "the token option";

  /** Describes the connection; see {@link ConnectionOptions} for the defaults. */
  constructor(options: ConnectionOptions = {}) {
    const url = options.url ?? DEFAULT_URL;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ClipperError(`url '${url}' must be an http(s) URL such as ${DEFAULT_URL}`);
    }
    if (!["http:", "https:"].includes(parsed.protocol)) throw new ClipperError(`url '${url}' must be an http(s) URL such as ${DEFAULT_URL}`);
    this.url = url.replace(/\/+$/, "");
    this.queryUrl = (options.queryUrl ?? `${parsed.protocol}//${parsed.hostname}:${DEFAULT_QUERY_PORT}`).replace(/\/+$/, "");
    this.dataDir = options.dataDir ?? env("CLIPPER_DATA_DIR") ?? ".clipper";
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#token = options.token || undefined;
  }

  // ---- token and HTTP ----------------------------------------------------------------------------------------

  /** The token and where it came from: the option, CLIPPER_TOKEN, or the token file (read when first needed). */
  async #resolveToken(): Promise<{ token: string | undefined; source: string }> {
    if (this.#token) return { token: this.#token, source: this.#tokenSource };
    const fromEnv = env("CLIPPER_TOKEN");
    if (fromEnv) return { token: fromEnv, source: "CLIPPER_TOKEN" };
    const path = `${this.dataDir.replace(/[\\/]+$/, "")}/token`;
    const token = await (await fs())?.readFile(path, "utf8").then(
      (t) => t.trim() || undefined,
      () => undefined,
    );
    if (token) [this.#token, this.#tokenSource] = [token, path];
    return { token, source: path };
  }

  async #authHeader(): Promise<Record<string, string>> {
    const { token, source } = await this.#resolveToken();
    if (!token) {
      throw new ClipperError(`no management token: ${source} cannot be read and neither the token option nor CLIPPER_TOKEN is set`, {
        cause: "pass new ClipperConnection({ token }), set CLIPPER_TOKEN, or dataDir: the server's --data-dir",
        code: "unauthorized",
      });
    }
    return { authorization: `Bearer ${token}` };
  }

  /** One HTTP call; network failures, timeouts and error statuses become ClipperError. */
  async #send(method: string, base: string, path: string, o: SendOptions = {}): Promise<Response> {
    const headers: Record<string, string> = o.auth === false ? {} : await this.#authHeader();
    if (o.json !== undefined) headers["content-type"] = "application/json";
    if (o.bytes !== undefined) headers["content-type"] = "application/octet-stream";
    const target = `${method} ${base}${path}`;
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers,
        signal: AbortSignal.timeout(this.timeoutMs),
        // Any Uint8Array (a Node Buffer too) is a valid body; DOM typings accept only those backed by an ArrayBuffer.
        body: (o.bytes ?? (o.json === undefined ? null : JSON.stringify(o.json))) as NonNullable<RequestInit["body"]> | null,
      });
    } catch (err) {
      if ((err as Error)?.name === "TimeoutError" || (err as Error)?.name === "AbortError") {
        throw new ClipperError(`${target}: no answer within ${this.timeoutMs} ms`, {
          cause: "raise ClipperConnection's timeoutMs or look at the server's log",
        });
      }
      throw new ClipperError(`could not reach clipper at ${base} (${target}): is \`clipper serve\` running there?`, { cause: err });
    }
    if (res.status >= 400) throw await this.#error(res, target);
    return res;
  }

  /** The server's JSON error ({error, cause, code}) as a ClipperError; other bodies are quoted. */
  async #error(res: Response, target: string): Promise<ClipperError> {
    const text = await res.text().catch(() => "");
    let body: { error?: unknown; cause?: unknown; code?: unknown } | undefined;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = undefined;
    }
    const fromServer = typeof body === "object" && body !== null && "error" in body;
    let error = fromServer ? String(body!.error) : text.trim().slice(0, 300) || res.statusText || "no body";
    let cause = fromServer && typeof body!.cause === "string" ? body!.cause : undefined;
    const code = fromServer && typeof body!.code === "string" ? body!.code : undefined;
    if (res.status === 401) {
      error = `${error}: the server refused the token from ${(await this.#resolveToken()).source}`;
      cause ??= "use the token in the server's <data-dir>/token, or the CLIPPER_TOKEN it was started with";
    }
    const message = `${target} failed with ${res.status}: ${error}${cause ? ` (${cause})` : ""}`;
    return new ClipperError(message, { error, cause, code, status: res.status });
  }

  async #json<T>(res: Response, target: string): Promise<T> {
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ClipperError(`${target} answered ${res.status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
    }
  }

  /** An authenticated management call (POST with a JSON body); returns the parsed answer. */
  async #admin<T>(path: string, body: unknown = {}): Promise<T> {
    return this.#json<T>(await this.#send("POST", this.url, `/admin/${path}`, { json: body }), `/admin/${path}`);
  }

  /** Like #admin, but null for a 404 (Clipper's getters answer None for unknown names). */
  /** A getter's answer, or null for an unknown name (the server answers Clipper's `{}`; older servers 404). */
  async #adminOrNull<T>(path: string, body: unknown): Promise<T | null> {
    try {
      const found = await this.#admin<T>(path, body);
      return found !== null && typeof found === "object" && Object.keys(found).length === 0 ? null : found;
    } catch (err) {
      if (err instanceof ClipperError && err.status === 404) return null;
      throw err;
    }
  }

  async #query<T>(app: string, route: "predict" | "update", body: unknown): Promise<T> {
    const path = `/${encodeURIComponent(app)}/${route}`;
    return this.#json<T>(await this.#send("POST", this.queryUrl, path, { json: body, auth: false }), path);
  }

  // ---- connection --------------------------------------------------------------------------------------------

  /** Checks that the management API answers `GET /admin/ping` and accepts the token. */
  async connect(): Promise<void> {
    const res = await this.#send("GET", this.url, "/admin/ping", { auth: false });
    const text = (await res.text()).trim();
    if (text !== "pong") {
      throw new ClipperError(
        `${this.url} answered /admin/ping with ${JSON.stringify(text.slice(0, 80))}, not 'pong': is this clipper's management API (port 1338)?`,
      );
    }
    await this.#admin("get_all_applications", { verbose: false });
    this.connected = true;
  }

  /** The query API's `host:port` (`"127.0.0.1:1337"` by default), as Clipper's method returns it. */
  getQueryAddr(): string {
    const u = new URL(this.queryUrl);
    return `${u.hostname}:${u.port || (u.protocol === "https:" ? 443 : 80)}`;
  }

  // ---- applications ------------------------------------------------------------------------------------------

  /** Creates an application, the endpoint `POST /<name>/predict`; rejects with status 409 when it exists. */
  registerApplication(name: string, inputType: InputType, defaultOutput = "-1.0", sloMicros = 100_000): Promise<AppInfo> {
    return this.#admin("add_app", { name, input_type: inputType, default_output: String(defaultOutput), latency_slo_micros: sloMicros });
  }

  /** All applications: their names, or with `verbose` one {@link AppInfo} each. */
  getAllApps(verbose?: false): Promise<string[]>;
  getAllApps(verbose: true): Promise<AppInfo[]>;
  getAllApps(verbose = false): Promise<string[] | AppInfo[]> {
    return this.#admin("get_all_applications", { verbose });
  }

  /** One application; null when unknown. */
  getAppInfo(name: string): Promise<AppInfo | null> {
    return this.#adminOrNull("get_application", { name });
  }

  /** Deletes an application and its links; its models keep running. */
  async deleteApplication(name: string): Promise<void> {
    await this.#admin("delete_app", { name });
  }

  /** Routes an application's queries to a model (its current version). Resolves to the app's linked models. */
  async linkModelToApp(appName: string, modelName: string): Promise<string[]> {
    return (await this.#admin<{ linked_models: string[] }>("add_model_links", { app_name: appName, model_names: [modelName] })).linked_models;
  }

  /** Removes a model's link to an application. Resolves to the models still linked. */
  async unlinkModelFromApp(appName: string, modelName: string): Promise<string[]> {
    return (await this.#admin<{ linked_models: string[] }>("delete_model_links", { app_name: appName, model_names: [modelName] })).linked_models;
  }

  /** The names of the models linked to an application. */
  getLinkedModels(appName: string): Promise<string[]> {
    return this.#admin("get_linked_models", { app_name: appName });
  }

  /** Chooses how an application picks among its models; models named in `options` are linked. Resolves to the app. */
  setPolicy(appName: string, policy: PolicyName, options: SetPolicyOptions = {}): Promise<AppInfo> {
    const { minConfidence, maxContexts, ...rest } = options;
    return this.#admin("set_policy", { app_name: appName, policy, ...rest, min_confidence: minConfidence, max_contexts: maxContexts });
  }

  // ---- models ------------------------------------------------------------------------------------------------

  /**
   * Uploads a model (`modelPath` or `bytes`) and starts its replicas. Resolves once they have loaded it and the
   * version is current; a model that fails to load is not registered, and the runtime's error is in the rejection.
   */
  async deployModel(o: DeployModelOptions): Promise<ModelInfo> {
    let artifactName = o.artifactName;
    let data = o.bytes;
    if (o.modelPath !== undefined) {
      const fsp = await fs();
      if (!fsp) throw new ClipperError("modelPath needs node:fs; pass bytes instead on this platform");
      const stat = await fsp.stat(o.modelPath).catch(() => undefined);
      if (!stat?.isFile()) throw new ClipperError(`modelPath '${o.modelPath}' is not a file`);
      data = new Uint8Array(await fsp.readFile(o.modelPath));
      artifactName ??= o.modelPath.split(/[\\/]/).pop();
    }
    artifactName ??= "model.pkl";
    let sha256: string | undefined;
    if (data !== undefined) {
      const res = await this.#send("PUT", this.url, "/admin/artifacts", { bytes: data });
      sha256 = (await this.#json<{ sha256: string }>(res, "/admin/artifacts")).sha256;
    }
    return this.#admin("add_model", {
      model_name: o.name,
      model_version: o.version === undefined ? undefined : String(o.version),
      input_type: o.inputType ?? "doubles",
      artifact_sha256: sha256,
      artifact_name: artifactName,
      runtime: runtimeFor(o, artifactName),
      replicas: o.replicas ?? 1,
      predict_method: o.predictMethod ?? "predict",
      pkgs: o.pkgs,
      image: o.image,
      command: o.command,
      app: o.appName ? { name: o.appName } : undefined,
    });
  }

  /** All model versions: `"name:version"` strings, or with `verbose` one {@link ModelInfo} each. */
  getAllModels(verbose?: false): Promise<string[]>;
  getAllModels(verbose: true): Promise<ModelInfo[]>;
  getAllModels(verbose = false): Promise<string[] | ModelInfo[]> {
    return this.#admin("get_all_models", { verbose });
  }

  /** One model version; null when unknown. */
  getModelInfo(name: string, version: string | number): Promise<ModelInfo | null> {
    return this.#adminOrNull("get_model", { model_name: name, model_version: String(version) });
  }

  /** Running replicas: `"name:version:n"` strings, or with `verbose` one {@link ReplicaInfo} each. */
  getAllModelReplicas(verbose?: false): Promise<string[]>;
  getAllModelReplicas(verbose: true): Promise<ReplicaInfo[]>;
  async getAllModelReplicas(verbose = false): Promise<string[] | ReplicaInfo[]> {
    const replicas = await this.#admin<ReplicaInfo[]>("get_all_containers");
    if (verbose) return replicas;
    return replicas.map((r) => {
      // clipper's replica ids are "<name>:<version>#<n>"; Clipper's strings end in the bare number.
      const key = `${r.model_name}:${r.model_version}`;
      const id = String(r.model_replica_id);
      return `${key}:${id.startsWith(`${key}#`) ? id.slice(key.length + 1) : id}`;
    });
  }

  /** Makes an existing version the current one (a rollback or roll-forward); resolves once it serves. */
  setModelVersion(name: string, version: string | number): Promise<ModelInfo> {
    return this.#admin("set_model_version", { model_name: name, model_version: String(version) });
  }

  /** Scales the current version of a model to `numReplicas` processes; resolves to the model. */
  setNumReplicas(name: string, numReplicas: number): Promise<ModelInfo> {
    return this.#admin("set_num_replicas", { model_name: name, num_replicas: numReplicas });
  }

  /** Stops and removes every version of each named model. Resolves to the names stopped. */
  async stopModels(modelNames: Names): Promise<string[]> {
    return (await this.#admin<{ stopped: string[] }>("stop_models", { model_names: names(modelNames) })).stopped;
  }

  /** Removes every version but the current one of each named model. Resolves to the removed `"name:version"`s. */
  async stopInactiveModelVersions(modelNames: Names): Promise<string[]> {
    return (await this.#admin<{ stopped: string[] }>("stop_inactive_model_versions", { model_names: names(modelNames) })).stopped;
  }

  /** Removes one version of a model: its replicas, its registry entry and (when unused) its artifact. */
  async deleteVersionedModel(modelName: string, version: string | number): Promise<void> {
    await this.#admin("delete_versioned_model", { model_name: modelName, model_version: String(version) });
  }

  // ---- queries -----------------------------------------------------------------------------------------------

  /** Sends one query to an application; `context` names the user or session whose weights exp3 and ensemble use. */
  predict(appName: string, input: QueryInput, context?: string): Promise<Prediction> {
    return this.#query(appName, "predict", { input: jsonableInput(input), context });
  }

  /** Sends several queries in one request; resolves to one answer per input, in order. */
  async predictBatch(appName: string, inputs: readonly QueryInput[]): Promise<Prediction[]> {
    const body = { input_batch: inputs.map(jsonableInput) };
    return (await this.#query<{ batch_predictions: Prediction[] }>(appName, "predict", body)).batch_predictions;
  }

  /** Tells the application the right answer for an input: models that gave it are rewarded (exp3 learns from it). */
  feedback(appName: string, input: QueryInput, label: string | number, context?: string): Promise<FeedbackResult> {
    return this.#query(appName, "update", { input: jsonableInput(input), label, context });
  }
}
