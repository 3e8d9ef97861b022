/**
 * The invariants between the registry, the running replicas, the stored artifacts and the query snapshot
 * (docs/architecture.md states them), checked by one function: tests call it after any interleaving of
 * operations and after a crash, and GET /admin/invariants (`clipper check`) answers it.
 * While an operation is in progress some of them are legitimately in motion: the report says so in `busy`,
 * and a caller that wants the settled state waits until `busy` is empty.
 */
import { readdirSync, readFileSync } from "node:fs";
import { modelKey } from "../domain.ts";
import { buildSnapshot, type AppRoute, type Snapshot } from "../query/snapshot.ts";
import { maxReplicas, type Registry } from "../registry/registry.ts";
import { procStat } from "../runtime/supervision.ts";
import type { ArtifactUsage } from "./artifact-usage.ts";
import type { ArtifactStore } from "./artifacts.ts";
import type { KeyLock } from "./key-lock.ts";
import type { ModelWrites } from "./model-writes.ts";
import type { PolicyState } from "./policy-state.ts";
import type { Runtimes } from "./ports.ts";

export interface InvariantWorld {
  readonly registry: Registry;
  readonly runtimes: Runtimes;
  readonly snapshot: () => Snapshot;
  readonly policyState: PolicyState;
  readonly artifacts: ArtifactStore;
  readonly locks: KeyLock;
  readonly models: ModelWrites;
  readonly usage: ArtifactUsage;
  readonly restoreErrors: ReadonlyMap<string, string>;
  /** Unreferenced artifacts younger than this are uploads a deploy has not used yet, not garbage. */
  readonly artifactGraceMs: number;
  /** Also compare the replicas with this process's children (the server; a unit test's process has others). */
  readonly processes: boolean;
}

export interface InvariantReport {
  readonly ok: boolean;
  /** Operations in progress: while there are any, some invariants may be in motion. */
  readonly busy: string[];
  readonly violations: string[];
}

/** Checks every invariant; `ok` when none is violated and nothing is in progress. */
export function checkInvariants(w: InvariantWorld): InvariantReport {
  const busy = [...w.locks.holders(), ...[...w.models.retiring].map((k) => `retiring ${k}`)];
  const violations = [...replicaCounts(w), ...runningVersions(w), ...processes(w), ...artifacts(w), ...snapshotMatches(w), ...journal(w, busy.length)];
  return { ok: violations.length === 0 && busy.length === 0, busy, violations };
}

/**
 * The current version of every model with replicas runs, with its registry range, and with a number of replicas
 * (ready or starting) within that range: at its minimum or above while the autoscaler wants more, at zero only
 * when its minimum is 0 (it scaled to zero; its first query starts one).
 */
function replicaCounts(w: InvariantWorld): string[] {
  const out: string[] = [];
  const pools = new Map(w.runtimes.pools().map((p) => [p.key, p]));
  for (const m of w.registry.models()) {
    if (!m.isCurrent || m.runtime === "none") continue;
    const key = modelKey(m.name, m.version);
    if (w.restoreErrors.has(key)) continue; // shown as failed, with the reason
    const max = maxReplicas(m);
    const pool = pools.get(key);
    if (!pool) {
      out.push(`model ${key} is current with ${m.replicas}..${max} replica(s) wanted, but it is not running`);
      continue;
    }
    if (pool.failed) continue; // its replicas kept crashing: status shows it failed, with the reason
    if (pool.min !== m.replicas || pool.max !== max) {
      out.push(`model ${key} runs with the range ${pool.min}..${pool.max} but the registry says ${m.replicas}..${max}`);
    }
    if (pool.wanted < m.replicas || pool.wanted > max) out.push(`model ${key} wants ${pool.wanted} replica(s), outside its range ${m.replicas}..${max}`);
    const live = pool.replicas.filter((r) => r.state === "ready" || r.state === "starting").length;
    if (live < m.replicas || live > max) out.push(`model ${key} has ${live} replica(s) ready or starting, outside its range ${m.replicas}..${max}`);
  }
  return out;
}

/** Nothing runs without a registry row, and only current versions run (others only while they drain, a canary on trial, a replay's version). */
function runningVersions(w: InvariantWorld): string[] {
  const out: string[] = [];
  for (const p of w.runtimes.pools()) {
    const row = w.registry.model(p.model.name, p.model.version);
    const canary = w.registry.canary(p.model.name);
    const onTrial = canary?.state === "running" && canary.version === p.model.version;
    if (!row) out.push(`model ${p.key} runs ${p.replicas.length} replica(s) but has no registry row`);
    else if (!row.isCurrent && !onTrial && !w.models.retiring.has(p.key) && !w.models.replaying.has(p.key)) {
      out.push(`model ${p.key} runs but is not current and is not being retired`);
    }
  }
  return out;
}

/** Status lists exactly the replica processes and containers that exist. */
function processes(w: InvariantWorld): string[] {
  const out: string[] = [];
  const listed = w.runtimes.replicas();
  const pids = new Set<number>();
  for (const { replica } of listed) {
    if (replica.pid === undefined || replica.state === "exited") continue;
    pids.add(replica.pid);
    if (!alive(replica.pid)) out.push(`replica ${replica.id} is listed with pid ${replica.pid}, which does not exist`);
  }
  const containers = w.runtimes.containers();
  const standby = w.runtimes.standby();
  if (containers.removing === 0) {
    const live = new Set(listed.flatMap(({ replica }) => (replica.container ? [replica.container] : [])));
    for (const name of standby.containers) live.add(name);
    for (const name of containers.names) if (!live.has(name)) out.push(`container ${name} exists but no replica lists it`);
  }
  if (!w.processes) return out;
  const spares = new Set(w.runtimes.sparePids);
  for (const child of children(process.pid)) {
    if (pids.has(child.pid) || spares.has(child.pid) || housekeeping(child.cmdline)) continue;
    out.push(`process ${child.pid} (${child.cmdline.slice(0, 120)}) is a child of the server that no replica lists`);
  }
  return out;
}

/** Every stored artifact is referenced, or younger than the grace period. */
function artifacts(w: InvariantWorld): string[] {
  const now = Date.now();
  return w.artifacts
    .list()
    .filter((a) => now - a.mtimeMs > w.artifactGraceMs && !w.usage.inUse(a.sha256))
    .map((a) => `artifact ${a.sha256} is referenced by nothing and ${Math.round((now - a.mtimeMs) / 1000)} s old`);
}

/** The snapshot queries read equals what the registry says (weights learned and not yet written aside). */
function snapshotMatches(w: InvariantWorld): string[] {
  const live = w.snapshot();
  const expected = buildSnapshot(w.registry);
  const out: string[] = [];
  const names = new Set([...live.apps.keys(), ...expected.apps.keys()]);
  for (const name of names) {
    const a = live.apps.get(name);
    const b = expected.apps.get(name);
    if (!a || !b) {
      out.push(`application '${name}' is ${a ? "in the snapshot but not in the registry" : "in the registry but not in the snapshot"}`);
      continue;
    }
    const pending = w.policyState.pending(name) !== undefined;
    if (JSON.stringify(shape(a, pending)) !== JSON.stringify(shape(b, pending))) {
      out.push(`application '${name}' routes by ${JSON.stringify(shape(a, pending))} but the registry says ${JSON.stringify(shape(b, pending))}`);
    }
  }
  return out;
}

/** What of a route must equal the registry's (learned weights not yet written are left out). */
function shape(r: AppRoute, pending: boolean) {
  const { policyConfig, ...app } = r.app;
  return {
    app: pending ? app : { ...app, policyConfig },
    policy: r.policy,
    candidates: r.candidates.map((c) => c.key),
    weights: pending ? undefined : r.weights,
    shadow: r.shadow?.key,
    linked: r.linked.map((c) => c.key),
  };
}

/** The journal holds an operation only while one is in progress. */
function journal(w: InvariantWorld, busy: number): string[] {
  if (busy > 0) return [];
  return w.registry.openOperations().map((op) => `the journal has ${op.kind} of model ${op.model} version ${op.version} open, and no operation is in progress`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The live child processes of `parent` (Linux /proc; none elsewhere). */
function children(parent: number): { pid: number; cmdline: string }[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: { pid: number; cmdline: string }[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const stat = procStat(e);
    if (!stat || stat.ppid !== parent || stat.state === "Z") continue;
    try {
      out.push({ pid: Number(e), cmdline: readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ").trim() });
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

/** Children that are not replicas by design: environment builds and Docker housekeeping (rm, ps, inspect). */
function housekeeping(cmdline: string): boolean {
  return /(^|\/)(uv|pip)( |$)|-m venv|\/envs\/|(^|\/)docker (rm|ps|inspect|kill|stop|image|version|info)\b/.test(cmdline);
}
