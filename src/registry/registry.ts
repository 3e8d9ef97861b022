/**
 * The SQLite registry (bun:sqlite, WAL): apps, models, links and wanted replica counts.
 * Never on the hot path: queries are served from an in-memory snapshot built from here.
 * Every management change is one transaction.
 */
import { Database } from "bun:sqlite";
import type { InputType } from "../domain.ts";

export type Overload = "default" | "reject";
export const OVERLOAD_MODES: readonly Overload[] = ["default", "reject"];

export interface AppRecord {
  readonly name: string;
  readonly inputType: InputType;
  readonly defaultOutput: string;
  readonly sloMicros: number;
  readonly policy: string;
  /** Policy parameters and learned state (split weights, exp3 arm weights, shadow model), as JSON. */
  readonly policyConfig: Record<string, unknown>;
  /** sha256 (hex) of the app's query token, when queries to it need one. */
  readonly queryTokenSha256: string | undefined;
  /** Whether the app's answers go through the prediction cache (Clipper's register_application(cache=...)). */
  readonly cache: boolean;
  /** What a query its model cannot answer in time gets: the default at once, or 429 with Retry-After. */
  readonly overload: Overload;
  readonly createdAt: string;
}

export interface RuntimeOptions {
  readonly image?: string;
  readonly cpus?: string;
  readonly memory?: string;
  readonly pkgs?: readonly string[];
  /** command runtime: the argv that starts it. */
  readonly command?: readonly string[];
  /** Clipper's model description: annotations, and the image named at registration (NO_CONTAINER for none). */
  readonly labels?: readonly string[];
  readonly containerName?: string;
  /** The most rows a batch may hold; absent: adaptive up to the server's --max-batch-size. */
  readonly batchSize?: number;
  /** python runtime: a model format loaded with no wrapper (src/management/formats.ts), and its options. */
  readonly format?: string;
  readonly inputShape?: readonly number[];
  readonly output?: "raw" | "argmax";
  readonly threads?: number;
  /** The hang watchdog's threshold for this model (ms), instead of one derived from its batch times. */
  readonly predictTimeoutMs?: number;
  /** The most replicas the autoscaler may run (absent: the `replicas` column, a fixed count). */
  readonly maxReplicas?: number;
}

export interface ModelRecord {
  readonly name: string;
  readonly version: string;
  readonly inputType: InputType;
  readonly runtime: string;
  readonly artifactSha256: string;
  readonly artifactName: string;
  readonly predictMethod: string;
  /** The fewest replicas wanted (0: the version scales to zero when idle); the most is `options.maxReplicas`. */
  readonly replicas: number;
  readonly runtimeInfo: Record<string, unknown>;
  /** Runtime options: docker image and resource flags, Python packages. */
  readonly options: RuntimeOptions;
  readonly isCurrent: boolean;
  readonly createdAt: string;
}

/** The most replicas a version may run: its `maxReplicas`, else its fixed count (at least 1: a version at 0 comes back on demand). */
export function maxReplicas(model: ModelRecord): number {
  return Math.max(model.options.maxReplicas ?? model.replicas, model.replicas, 1);
}

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE apps (
     name TEXT PRIMARY KEY,
     input_type TEXT NOT NULL,
     default_output TEXT NOT NULL,
     slo_micros INTEGER NOT NULL,
     policy TEXT NOT NULL DEFAULT 'single',
     created_at TEXT NOT NULL);
   CREATE TABLE models (
     name TEXT NOT NULL,
     version TEXT NOT NULL,
     input_type TEXT NOT NULL,
     runtime TEXT NOT NULL,
     artifact_sha256 TEXT NOT NULL,
     artifact_name TEXT NOT NULL,
     predict_method TEXT NOT NULL,
     replicas INTEGER NOT NULL,
     runtime_info TEXT NOT NULL,
     is_current INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL,
     PRIMARY KEY (name, version));
   CREATE TABLE links (
     app_name TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     model_name TEXT NOT NULL,
     PRIMARY KEY (app_name, model_name));`,
  `ALTER TABLE apps ADD COLUMN policy_config TEXT NOT NULL DEFAULT '{}';`,
  `ALTER TABLE models ADD COLUMN options TEXT NOT NULL DEFAULT '{}';`,
  `ALTER TABLE apps ADD COLUMN query_token_sha256 TEXT;`,
  `ALTER TABLE apps ADD COLUMN cache INTEGER NOT NULL DEFAULT 1;`,
  // The journal of model operations in progress: a row is written before an operation changes anything and
  // deleted in the transaction that commits it, so a row found at start-up names an operation a crash cut short.
  `CREATE TABLE operations (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     model TEXT NOT NULL,
     version TEXT NOT NULL,
     started_at TEXT NOT NULL);`,
  `ALTER TABLE apps ADD COLUMN overload TEXT NOT NULL DEFAULT 'default';`,
  // Payload capture per app (sample share, size bound), and canaries: the last one per model with its verdict.
  `CREATE TABLE captures (
     app TEXT PRIMARY KEY REFERENCES apps(name) ON DELETE CASCADE,
     sample REAL NOT NULL,
     max_bytes INTEGER NOT NULL,
     stats_window_ms INTEGER NOT NULL DEFAULT 600000);
   CREATE TABLE canaries (
     model TEXT PRIMARY KEY,
     version TEXT NOT NULL,
     previous TEXT NOT NULL,
     share REAL NOT NULL,
     window_ms INTEGER NOT NULL,
     thresholds TEXT NOT NULL,
     state TEXT NOT NULL,
     reason TEXT NOT NULL DEFAULT '',
     started_at TEXT NOT NULL,
     ended_at TEXT);`,
];

/** An app's payload capture: the share of queries sampled and the bound of its files. */
export interface CaptureRecord {
  readonly app: string;
  readonly sample: number;
  readonly maxBytes: number;
  /** The window of its input statistics. */
  readonly statsWindowMs: number;
}

/** What a canary is judged by (absent: not checked). */
export interface CanaryThresholds {
  readonly maxErrorRate: number;
  readonly maxP99Ratio?: number;
  readonly minAgreement?: number;
}

export type CanaryState = "running" | "promoted" | "rolled_back" | "aborted";

/** A model's last canary: the version on trial, the one it is compared with, and its verdict once given. */
export interface CanaryRecord {
  readonly model: string;
  readonly version: string;
  readonly previous: string;
  readonly share: number;
  readonly windowMs: number;
  readonly thresholds: CanaryThresholds;
  readonly state: CanaryState;
  readonly reason: string;
  readonly startedAt: string;
  readonly endedAt: string | undefined;
}

/** A model operation in progress (or cut short by a crash, when found at start-up). */
export interface OperationRecord {
  readonly id: number;
  readonly kind: string;
  readonly model: string;
  readonly version: string;
  readonly startedAt: string;
}

type AppRow = {
  name: string;
  input_type: string;
  default_output: string;
  slo_micros: number;
  policy: string;
  policy_config: string;
  created_at: string;
  query_token_sha256: string | null;
  cache: number;
  overload: string;
};
type ModelRow = {
  name: string;
  version: string;
  input_type: string;
  runtime: string;
  artifact_sha256: string;
  artifact_name: string;
  predict_method: string;
  replicas: number;
  runtime_info: string;
  options: string;
  is_current: number;
  created_at: string;
};

type CanaryRow = {
  model: string;
  version: string;
  previous: string;
  share: number;
  window_ms: number;
  thresholds: string;
  state: string;
  reason: string;
  started_at: string;
  ended_at: string | null;
};

const toCanary = (r: CanaryRow): CanaryRecord => ({
  model: r.model,
  version: r.version,
  previous: r.previous,
  share: r.share,
  windowMs: r.window_ms,
  thresholds: JSON.parse(r.thresholds) as CanaryThresholds,
  state: r.state as CanaryState,
  reason: r.reason,
  startedAt: r.started_at,
  endedAt: r.ended_at ?? undefined,
});

const toApp = (r: AppRow): AppRecord => ({
  name: r.name,
  inputType: r.input_type as InputType,
  defaultOutput: r.default_output,
  sloMicros: r.slo_micros,
  policy: r.policy,
  policyConfig: JSON.parse(r.policy_config) as Record<string, unknown>,
  queryTokenSha256: r.query_token_sha256 ?? undefined,
  cache: r.cache !== 0,
  overload: r.overload === "reject" ? "reject" : "default",
  createdAt: r.created_at,
});

const toModel = (r: ModelRow): ModelRecord => ({
  name: r.name,
  version: r.version,
  inputType: r.input_type as InputType,
  runtime: r.runtime,
  artifactSha256: r.artifact_sha256,
  artifactName: r.artifact_name,
  predictMethod: r.predict_method,
  replicas: r.replicas,
  runtimeInfo: JSON.parse(r.runtime_info) as Record<string, unknown>,
  options: JSON.parse(r.options) as RuntimeOptions,
  isCurrent: r.is_current === 1,
  createdAt: r.created_at,
});

export class Registry {
  readonly #db: Database;

  constructor(path: string) {
    this.#db = new Database(path, { create: true, strict: true });
    this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;");
    this.#migrate();
  }

  #migrate(): void {
    const { user_version: at } = this.#db.query("PRAGMA user_version").get() as { user_version: number };
    for (let v = at; v < MIGRATIONS.length; v++) {
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[v]!);
        this.#db.exec(`PRAGMA user_version = ${v + 1}`);
      })();
    }
  }

  /** Runs `fn` as one transaction. */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  close(): void {
    this.#db.close();
  }

  apps(): AppRecord[] {
    return (this.#db.query("SELECT * FROM apps ORDER BY name").all() as AppRow[]).map(toApp);
  }

  app(name: string): AppRecord | undefined {
    const row = this.#db.query("SELECT * FROM apps WHERE name = ?").get(name) as AppRow | null;
    return row ? toApp(row) : undefined;
  }

  insertApp(
    a: Omit<AppRecord, "createdAt" | "policyConfig" | "queryTokenSha256" | "cache" | "overload"> & {
      queryTokenSha256?: string;
      cache?: boolean;
      overload?: Overload;
    },
  ): void {
    this.#db
      .query(
        "INSERT INTO apps (name, input_type, default_output, slo_micros, policy, query_token_sha256, cache, overload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(
        a.name,
        a.inputType,
        a.defaultOutput,
        a.sloMicros,
        a.policy,
        a.queryTokenSha256 ?? null,
        a.cache === false ? 0 : 1,
        a.overload ?? "default",
        new Date().toISOString(),
      );
  }

  setPolicy(app: string, policy: string, config: Record<string, unknown>): void {
    this.#db.query("UPDATE apps SET policy = ?, policy_config = ? WHERE name = ?").run(policy, JSON.stringify(config), app);
  }

  deleteApp(name: string): void {
    this.#db.query("DELETE FROM links WHERE app_name = ?").run(name);
    this.#db.query("DELETE FROM apps WHERE name = ?").run(name);
  }

  models(): ModelRecord[] {
    return (this.#db.query("SELECT * FROM models ORDER BY name, created_at").all() as ModelRow[]).map(toModel);
  }

  model(name: string, version: string): ModelRecord | undefined {
    const row = this.#db.query("SELECT * FROM models WHERE name = ? AND version = ?").get(name, version) as ModelRow | null;
    return row ? toModel(row) : undefined;
  }

  /** Versions of one model, oldest first. */
  versions(name: string): ModelRecord[] {
    return (this.#db.query("SELECT * FROM models WHERE name = ? ORDER BY created_at").all(name) as ModelRow[]).map(toModel);
  }

  currentModel(name: string): ModelRecord | undefined {
    const row = this.#db.query("SELECT * FROM models WHERE name = ? AND is_current = 1").get(name) as ModelRow | null;
    return row ? toModel(row) : undefined;
  }

  /** Inserts a model version and makes it the current one of its name (`current` false: a canary, not current yet). */
  insertCurrentModel(m: Omit<ModelRecord, "createdAt" | "isCurrent">, current = true): void {
    if (current) this.#db.query("UPDATE models SET is_current = 0 WHERE name = ?").run(m.name);
    this.#db
      .query(
        `INSERT INTO models (name, version, input_type, runtime, artifact_sha256, artifact_name, predict_method,
         replicas, runtime_info, options, is_current, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        m.name,
        m.version,
        m.inputType,
        m.runtime,
        m.artifactSha256,
        m.artifactName,
        m.predictMethod,
        m.replicas,
        JSON.stringify(m.runtimeInfo),
        JSON.stringify(m.options),
        current ? 1 : 0,
        new Date().toISOString(),
      );
  }

  setCurrent(name: string, version: string): void {
    this.#db.query("UPDATE models SET is_current = (version = ?) WHERE name = ?").run(version, name);
  }

  /** Sets a version's replica range: `min` in the replicas column, `max` in its options. */
  setReplicas(name: string, version: string, min: number, max: number = min): void {
    this.#db
      .query("UPDATE models SET replicas = ?, options = json_set(options, '$.maxReplicas', ?) WHERE name = ? AND version = ?")
      .run(min, max, name, version);
  }

  deleteModelVersion(name: string, version: string): void {
    this.#db.query("DELETE FROM models WHERE name = ? AND version = ?").run(name, version);
  }

  /** Removes a model's links once it has no versions left. */
  deleteLinksOfModel(name: string): void {
    this.#db.query("DELETE FROM links WHERE model_name = ?").run(name);
  }

  /** Journals an operation before it changes anything; returns its id for endOperation. */
  beginOperation(kind: string, model: string, version: string): number {
    const row = this.#db
      .query("INSERT INTO operations (kind, model, version, started_at) VALUES (?, ?, ?, ?) RETURNING id")
      .get(kind, model, version, new Date().toISOString()) as { id: number };
    return row.id;
  }

  /** Removes an operation from the journal (inside the transaction that commits it, or when it was undone). */
  endOperation(id: number): void {
    this.#db.query("DELETE FROM operations WHERE id = ?").run(id);
  }

  /** Operations journaled and not ended, oldest first. */
  openOperations(): OperationRecord[] {
    return (
      this.#db.query("SELECT id, kind, model, version, started_at FROM operations ORDER BY id").all() as {
        id: number;
        kind: string;
        model: string;
        version: string;
        started_at: string;
      }[]
    ).map((r) => ({ id: r.id, kind: r.kind, model: r.model, version: r.version, startedAt: r.started_at }));
  }

  /** Whether a registered model version (of any name) uses the artifact; see ModelWrites for the full answer. */
  artifactInUse(sha256: string): boolean {
    return this.#db.query("SELECT 1 FROM models WHERE artifact_sha256 = ? LIMIT 1").get(sha256) !== null;
  }

  /** Apps a model is linked to. */
  appsOfModel(modelName: string): string[] {
    return (this.#db.query("SELECT app_name FROM links WHERE model_name = ? ORDER BY app_name").all(modelName) as { app_name: string }[]).map(
      (r) => r.app_name,
    );
  }

  deleteLink(appName: string, modelName: string): void {
    this.#db.query("DELETE FROM links WHERE app_name = ? AND model_name = ?").run(appName, modelName);
  }

  linkedModels(appName: string): string[] {
    return (this.#db.query("SELECT model_name FROM links WHERE app_name = ? ORDER BY model_name").all(appName) as { model_name: string }[]).map(
      (r) => r.model_name,
    );
  }

  captures(): CaptureRecord[] {
    return (
      this.#db.query("SELECT app, sample, max_bytes, stats_window_ms FROM captures ORDER BY app").all() as {
        app: string;
        sample: number;
        max_bytes: number;
        stats_window_ms: number;
      }[]
    ).map((r) => ({ app: r.app, sample: r.sample, maxBytes: r.max_bytes, statsWindowMs: r.stats_window_ms }));
  }

  /** Sets an app's capture; a sample of 0 turns it off. */
  setCapture(app: string, sample: number, maxBytes: number, statsWindowMs: number): void {
    if (sample <= 0) this.#db.query("DELETE FROM captures WHERE app = ?").run(app);
    else
      this.#db.query("INSERT OR REPLACE INTO captures (app, sample, max_bytes, stats_window_ms) VALUES (?, ?, ?, ?)").run(app, sample, maxBytes, statsWindowMs);
  }

  /** Every model's last canary (running or judged). */
  canaries(): CanaryRecord[] {
    return (this.#db.query("SELECT * FROM canaries ORDER BY model").all() as CanaryRow[]).map(toCanary);
  }

  canary(model: string): CanaryRecord | undefined {
    const row = this.#db.query("SELECT * FROM canaries WHERE model = ?").get(model) as CanaryRow | null;
    return row ? toCanary(row) : undefined;
  }

  /** Starts a model's canary (replacing its last one's record). */
  insertCanary(c: Omit<CanaryRecord, "state" | "reason" | "endedAt">): void {
    this.#db
      .query(
        "INSERT OR REPLACE INTO canaries (model, version, previous, share, window_ms, thresholds, state, reason, started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', '', ?)",
      )
      .run(c.model, c.version, c.previous, c.share, c.windowMs, JSON.stringify(c.thresholds), c.startedAt);
  }

  /** Records a canary's verdict. */
  endCanary(model: string, state: Exclude<CanaryState, "running">, reason: string): void {
    this.#db.query("UPDATE canaries SET state = ?, reason = ?, ended_at = ? WHERE model = ?").run(state, reason, new Date().toISOString(), model);
  }

  /** A restart starts a running canary's window again (its comparison was in memory). */
  restartCanary(model: string): void {
    this.#db.query("UPDATE canaries SET started_at = ? WHERE model = ?").run(new Date().toISOString(), model);
  }

  insertLink(appName: string, modelName: string): void {
    this.#db.query("INSERT OR IGNORE INTO links (app_name, model_name) VALUES (?, ?)").run(appName, modelName);
  }
}
