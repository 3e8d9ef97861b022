/**
 * Management, composed of small pieces, each tested alone: the snapshot the query side reads
 * (snapshot-store.ts), reads (reads.ts), model-version writes (model-writes.ts), app, link and policy writes
 * (app-writes.ts) and learned policy state (policy-state.ts). This facade only wires them and gives the
 * routes one object; it holds no logic of its own.
 */
import type { z } from "zod";
import type { ModelQueue } from "../batching/model-queue.ts";
import type { PredictionCache } from "../cache/prediction-cache.ts";
import type { Logger } from "../log.ts";
import type { Snapshot } from "../query/snapshot.ts";
import type { Registry } from "../registry/registry.ts";
import type { EnvironmentBuilder } from "../runtime/environments.ts";
import type { RuntimeManager } from "../runtime/manager.ts";
import { AppWrites } from "./app-writes.ts";
import type { ArtifactStore } from "./artifacts.ts";
import { ModelWrites } from "./model-writes.ts";
import { PolicyState } from "./policy-state.ts";
import { ManagementReads } from "./reads.ts";
import type { AddApp, AddModel, AddModelLinks, SetPolicy } from "./schemas.ts";
import { SnapshotStore } from "./snapshot-store.ts";

export class ManagementService {
  readonly policyState: PolicyState;
  readonly snapshots: SnapshotStore;
  readonly reads: ManagementReads;
  readonly models: ModelWrites;
  readonly apps: AppWrites;

  constructor(registry: Registry, runtimes: RuntimeManager<ModelQueue>, artifacts: ArtifactStore, cache: PredictionCache, envs: EnvironmentBuilder) {
    const restoreErrors = new Map<string, string>();
    this.policyState = new PolicyState(registry);
    this.snapshots = new SnapshotStore(registry, this.policyState);
    this.reads = new ManagementReads(registry, runtimes, cache, this.snapshots, this.policyState, restoreErrors);
    this.models = new ModelWrites(registry, runtimes, artifacts, cache, envs, this.snapshots, this.reads, restoreErrors);
    this.apps = new AppWrites(registry, this.snapshots, this.policyState, this.reads, this.models);
  }

  /** The in-memory view that serves queries. */
  get snapshot(): Snapshot {
    return this.snapshots.current;
  }

  /** Writes what policies learned (shutdown). */
  flushPolicyState(): void {
    this.policyState.flush();
  }

  // Reads.
  logs = (name: string, version: string | undefined, maxBytes: number) => this.reads.logs(name, version, maxBytes);
  versions = (name: string) => this.reads.versions(name);
  getApplication = (name: string) => this.reads.getApplication(name);
  getAllApplications = (verbose: boolean) => this.reads.getAllApplications(verbose);
  getLinkedModels = (appName: string) => this.reads.getLinkedModels(appName);
  getModel = (name: string, version: string) => this.reads.getModel(name, version);
  getAllModels = (verbose: boolean) => this.reads.getAllModels(verbose);
  getAllContainers = () => this.reads.getAllContainers();
  getAllContainerNames = () => this.reads.getAllContainerNames();
  getContainer = (name: string, version: string, replicaNumber: number) => this.reads.getContainer(name, version, replicaNumber);
  status = () => this.reads.status();
  isVersionReady = (key: string) => this.reads.isVersionReady(key);

  // Model versions.
  restore = (logger: Logger) => this.models.restore(logger);
  addModel = (body: z.output<typeof AddModel>) => this.models.addModel(body);
  setModelVersion = (name: string, version: string) => this.models.setModelVersion(name, version);
  setNumReplicas = (name: string, replicas: number) => this.models.setNumReplicas(name, replicas);
  deleteVersionedModel = (name: string, version: string) => this.models.deleteVersionedModel(name, version);
  stopModels = (names: readonly string[]) => this.models.stopModels(names);
  stopInactiveVersions = (names: readonly string[]) => this.models.stopInactiveVersions(names);

  // Apps, links and policies.
  addApp = (body: z.output<typeof AddApp>) => this.apps.addApp(body);
  deleteApp = (name: string) => this.apps.deleteApp(name);
  addModelLinks = (body: z.output<typeof AddModelLinks>) => this.apps.addModelLinks(body);
  deleteModelLinks = (appName: string, modelNames: readonly string[]) => this.apps.deleteModelLinks(appName, modelNames);
  setPolicy = (body: z.output<typeof SetPolicy>) => this.apps.setPolicy(body);
  recordFeedback = (appName: string, rewards: ReadonlyMap<string, number>) => this.apps.recordFeedback(appName, rewards);
}
