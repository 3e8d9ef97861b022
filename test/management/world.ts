/** A management world for unit tests: a real registry, artifact store and environment builder beside fake runtimes. */
import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PredictionCache } from "../../src/cache/prediction-cache.ts";
import { modelKey } from "../../src/domain.ts";
import { Logger } from "../../src/log.ts";
import { ArtifactStore } from "../../src/management/artifacts.ts";
import type { Runtimes } from "../../src/management/ports.ts";
import { ManagementService } from "../../src/management/service.ts";
import { maxReplicas, type ModelRecord } from "../../src/registry/registry.ts";
import { Registry } from "../../src/registry/registry.ts";
import { EnvironmentBuilder } from "../../src/runtime/environments.ts";
import type { Replica } from "../../src/runtime/replica.ts";

type Pool = { key: string; model: ModelRecord; wanted: number; min: number; max: number; failed: boolean; replicas: Replica[] };

/** The runtime manager's shape, in memory: a step fails when the test says so, a drain waits while the test holds it. */
export class FakeRuntimes implements Runtimes {
  readonly #pools = new Map<string, Pool>();
  failStart: ((m: ModelRecord) => Error | undefined) | undefined;
  failScale: Error | undefined;
  failStop: ((key: string) => Error | undefined) | undefined;
  /** While set, drained() waits for it: a long batch on the version being retired. */
  drain: Promise<void> | undefined;
  starts: string[] = [];
  readonly sparePids: number[] = [];
  standby() {
    return { pids: [] as number[], containers: [] as string[] };
  }

  /** No batching queues here: status shows no watchdog fields. */
  queue(): undefined {
    return undefined;
  }

  async start(model: ModelRecord, _artifact?: string, _python?: string, initial = model.replicas): Promise<{ kind: string }> {
    const key = modelKey(model.name, model.version);
    this.starts.push(key);
    await Promise.resolve();
    const err = this.failStart?.(model);
    if (err) throw err;
    const max = maxReplicas(model);
    this.#pools.set(key, { key, model, wanted: initial, min: model.replicas, max, failed: false, replicas: this.#replicas(key, initial) });
    return { kind: "fake" };
  }
  async stop(key: string): Promise<void> {
    const err = this.failStop?.(key);
    if (err) throw err;
    this.#pools.delete(key);
  }
  async scale(key: string, min: number, max = min): Promise<void> {
    await Promise.resolve();
    if (this.failScale) throw this.failScale;
    const p = this.#pools.get(key)!;
    p.min = min;
    p.max = max;
    p.wanted = Math.min(Math.max(p.replicas.length, min), max);
    p.replicas = this.#replicas(key, p.wanted);
  }
  /** What the autoscaler does: the live count moves within (or, to test the check, outside) the range. */
  setLive(key: string, n: number): void {
    const p = this.#pools.get(key)!;
    p.wanted = n;
    p.replicas = this.#replicas(key, n);
  }
  canServe = (key: string) => this.#pools.has(key);
  scaling = () => undefined;
  memory = () => ({ budgetMb: 0, usedMb: 0, replicasMb: 0, sparesMb: 0, evictions: 0, sparesShed: 0, spares: [], spareTargets: {} });
  memoryMb = () => [];
  limits = () => ({ memoryBudgetMb: 0, idleTimeoutMs: 300_000 });
  setLimits = async () => undefined;
  events = () => [];
  running = (key: string) => this.#pools.has(key);
  async drained(): Promise<void> {
    await this.drain;
  }
  logPath = (name: string, version: string) => join(tmpdir(), `clipper-fake-${name}-${version}.log`);
  replicasOf = (key: string) => this.#pools.get(key)?.replicas ?? [];
  status = (key: string) => (this.#pools.has(key) ? { key, state: "ready" as const, lastError: undefined, restarts: 0 } : undefined);
  replicas = () => [...this.#pools.values()].flatMap((p) => p.replicas.map((replica) => ({ key: p.key, model: p.model, replica })));
  pools = () => [...this.#pools.values()];
  containers = () => ({ names: [], removing: 0 });
  #replicas(key: string, n: number): Replica[] {
    return Array.from({ length: n }, (_, i) => ({ id: `${key}#${i + 1}`, state: "ready", pid: undefined, container: undefined }) as unknown as Replica);
  }
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export interface World {
  readonly m: ManagementService;
  readonly runtimes: FakeRuntimes;
  readonly registry: Registry;
  readonly artifacts: ArtifactStore;
  readonly envs: EnvironmentBuilder;
  readonly dataDir: string;
  /** Makes the next first-prediction replays fail. */
  failProbe: boolean;
  /** Uploads `text` as an artifact; returns its sha256. */
  upload(text: string): Promise<string>;
}

export function world(): World {
  const dataDir = mkdtempSync(join(tmpdir(), "clipper-writes-"));
  dirs.push(dataDir);
  const registry = new Registry(join(dataDir, "registry.db"));
  const runtimes = new FakeRuntimes();
  const artifacts = new ArtifactStore(dataDir, 1 << 20);
  const envs = new EnvironmentBuilder(dataDir, "/usr/bin/python3", () => undefined);
  const w: World = {
    runtimes,
    registry,
    artifacts,
    envs,
    dataDir,
    failProbe: false,
    m: new ManagementService(registry, runtimes, artifacts, new PredictionCache(16), envs, {
      dataDir,
      logger: new Logger("json", "error"),
      firstPrediction: async (_from, to) => {
        if (w.failProbe) throw new Error(`model ${to} raised ValueError`);
      },
      lockWaitMs: 5_000,
    }),
    upload: async (text) => (await artifacts.put(new Blob([text]).stream())).sha256,
  };
  return w;
}
