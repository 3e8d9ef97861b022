/**
 * Canaries: the verdict and what follows it. A canary is deployed by a deploy with `canary` (model-writes.ts:
 * registered, started, not current, its record in the registry); the query core sends it its share of the
 * model's queries and shadows them on the current version (src/query/canary.ts). A timer judges each running
 * canary: rolled back as soon as a threshold is crossed, promoted when its window ends within them. Promote and
 * abort (by the verdict or by hand) hold the model's turn and are journaled like every model operation: the
 * verdict and the switch commit in one transaction.
 */
import { modelKey } from "../domain.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { CanaryBoard, CanarySummary } from "../query/canary.ts";
import type { CanaryRecord, CanaryState, Registry } from "../registry/registry.ts";
import type { KeyLock } from "./key-lock.ts";
import { modelLockKey, type ModelWrites } from "./model-writes.ts";
import type { Runtimes } from "./ports.ts";
import type { SnapshotStore } from "./snapshot-store.ts";

/** Fewer compared rows than this say nothing yet: no threshold is checked on them. */
export const MIN_CANARY_ROWS = 20;
const TICK_MS = 250;

export type Verdict = { readonly action: "wait" } | { readonly action: "promote" | "rollback"; readonly reason: string };

/** The verdict on a canary's window so far (pure: its record, its comparison, the time it has run). */
export function judge(c: CanaryRecord, s: CanarySummary, elapsedMs: number): Verdict {
  const t = c.thresholds;
  if (s.rows >= MIN_CANARY_ROWS) {
    if (s.canary_error_rate > t.maxErrorRate) {
      return {
        action: "rollback",
        reason: `error rate ${pct(s.canary_error_rate)} above --max-error-rate ${pct(t.maxErrorRate)} (${s.canary_failed} of ${s.rows} rows)`,
      };
    }
    if (t.minAgreement !== undefined && s.compared >= MIN_CANARY_ROWS && s.agreement < t.minAgreement) {
      return { action: "rollback", reason: `agreement ${pct(s.agreement)} with version ${c.previous} below --min-agreement ${pct(t.minAgreement)}` };
    }
    if (t.maxP99Ratio !== undefined && s.p99_ratio > t.maxP99Ratio) {
      return {
        action: "rollback",
        reason: `p99 ${Math.round(s.canary_p99_micros)} µs is ${s.p99_ratio.toFixed(2)}× version ${c.previous}'s (${Math.round(s.current_p99_micros)} µs), above --max-p99-ratio ${t.maxP99Ratio}`,
      };
    }
  }
  if (elapsedMs < c.windowMs) return { action: "wait" };
  if (s.rows < MIN_CANARY_ROWS) return { action: "rollback", reason: `only ${s.rows} rows in its window (at least ${MIN_CANARY_ROWS} needed for a verdict)` };
  return {
    action: "promote",
    reason: `passed its window: error rate ${pct(s.canary_error_rate)}, p99 ratio ${s.p99_ratio.toFixed(2)}, agreement ${pct(s.agreement)} over ${s.rows} rows`,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export interface CanaryDeps {
  readonly registry: Registry;
  readonly runtimes: Runtimes;
  readonly snapshots: SnapshotStore;
  readonly locks: KeyLock;
  readonly models: ModelWrites;
  readonly board: CanaryBoard;
  readonly logger: Logger;
  /** A verdict was given (for the metrics). */
  readonly onVerdict?: (model: string, state: Exclude<CanaryState, "running">) => void;
}

/** What `clipper canary MODEL` shows: the record, the live comparison and the time left. */
export interface CanaryView {
  readonly model: string;
  readonly version: string;
  readonly compared_with: string;
  readonly share: number;
  readonly state: CanaryState;
  readonly reason: string;
  readonly started_at: string;
  readonly ended_at: string | undefined;
  readonly window_ms: number;
  readonly remaining_ms: number;
  readonly thresholds: CanaryRecord["thresholds"];
  readonly comparison: CanarySummary | undefined;
}

export class CanaryWrites {
  readonly #d: CanaryDeps;
  readonly #timer: Timer;
  /** The last comparison of each ended canary (by model), for `clipper canary` after the verdict. */
  readonly #final = new Map<string, CanarySummary>();
  #judging = false;

  constructor(deps: CanaryDeps) {
    this.#d = deps;
    this.#timer = setInterval(() => void this.#tick(), TICK_MS);
    this.#timer.unref?.();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  view(model: string): CanaryView {
    const c = this.#d.registry.canary(model);
    if (!c) throw new NotFoundError(`model ${model} has had no canary`, "deploy one with `clipper deploy ... --canary 10%`");
    return this.#view(c);
  }

  views(): CanaryView[] {
    return this.#d.registry.canaries().map((c) => this.#view(c));
  }

  #view(c: CanaryRecord): CanaryView {
    const running = c.state === "running";
    const elapsed = Date.now() - Date.parse(c.startedAt);
    return {
      model: c.model,
      version: c.version,
      compared_with: c.previous,
      share: c.share,
      state: c.state,
      reason: c.reason,
      started_at: c.startedAt,
      ended_at: c.endedAt,
      window_ms: c.windowMs,
      remaining_ms: running ? Math.max(0, c.windowMs - elapsed) : 0,
      thresholds: c.thresholds,
      comparison: running ? this.#d.board.window(modelKey(c.model, c.version)).summary() : this.#final.get(c.model),
    };
  }

  /** Makes the canary's version current (by hand or by its verdict) and retires the version it was compared with. */
  async promote(model: string, reason = "promoted by hand"): Promise<CanaryView> {
    const { registry, snapshots, models } = this.#d;
    const c = await this.#d.locks.run(modelLockKey(model), `promotion of the canary of model ${model}`, () => {
      const c = this.#running(model);
      const op = registry.beginOperation("promote", model, c.version);
      registry.transaction(() => {
        registry.setCurrent(model, c.version);
        registry.endCanary(model, "promoted", reason);
        registry.endOperation(op);
      });
      this.#ended(c, "promoted");
      snapshots.refresh();
      return c;
    });
    this.#d.logger.info("canary_promoted", `canary ${modelKey(model, c.version)} promoted: ${reason}`, { model: modelKey(model, c.version), reason });
    const previous = registry.model(model, c.previous);
    if (previous) await models.retire(previous);
    return this.view(model);
  }

  /** Ends the canary without promoting it (by hand, or rolled back by its verdict): its share goes back to the current version, its replicas stop. */
  async abort(model: string, reason = "aborted by hand", state: "aborted" | "rolled_back" = "aborted"): Promise<CanaryView> {
    const { registry, snapshots, runtimes } = this.#d;
    const c = await this.#d.locks.run(modelLockKey(model), `${state === "aborted" ? "abort" : "rollback"} of the canary of model ${model}`, async () => {
      const c = this.#running(model);
      const op = registry.beginOperation(state === "aborted" ? "abort" : "rollback", model, c.version);
      registry.transaction(() => {
        registry.endCanary(model, state, reason);
        registry.endOperation(op);
      });
      this.#ended(c, state);
      snapshots.refresh();
      return c;
    });
    const key = modelKey(model, c.version);
    this.#d.logger.warn(
      state === "aborted" ? "canary_aborted" : "canary_rolled_back",
      `canary ${key} ${state === "aborted" ? "aborted" : "rolled back"}: ${reason}`,
      {
        model: key,
        reason,
      },
    );
    // Its queries in flight finish (each also went to the current version); then, still not current, it stops.
    const onTrial = registry.model(model, c.version);
    if (onTrial) await this.#d.models.retire(onTrial);
    else await runtimes.stop(key);
    return this.view(model);
  }

  #running(model: string): CanaryRecord {
    const c = this.#d.registry.canary(model);
    if (c?.state !== "running")
      throw new ConflictError(`model ${model} has no canary on trial`, c ? `its last canary was ${c.state.replace("_", " ")}` : undefined);
    return c;
  }

  #ended(c: CanaryRecord, state: Exclude<CanaryState, "running">): void {
    const key = modelKey(c.model, c.version);
    this.#final.set(c.model, this.#d.board.window(key).summary());
    this.#d.board.delete(key);
    this.#d.onVerdict?.(c.model, state);
  }

  /** Judges every running canary; one pass at a time. */
  async #tick(): Promise<void> {
    if (this.#judging) return;
    this.#judging = true;
    try {
      for (const c of this.#d.registry.canaries()) {
        if (c.state !== "running") continue;
        const verdict = judge(c, this.#d.board.window(modelKey(c.model, c.version)).summary(), Date.now() - Date.parse(c.startedAt));
        if (verdict.action === "wait") continue;
        try {
          if (verdict.action === "promote") await this.promote(c.model, verdict.reason);
          else await this.abort(c.model, verdict.reason, "rolled_back");
        } catch (err) {
          // A promote or abort by hand came first (409), or the model is busy: judged again on the next tick.
          if (!(err instanceof ConflictError))
            this.#d.logger.error("canary_failed", `canary of model ${c.model}: ${(err as Error).message}`, { model: c.model });
        }
      }
    } catch (err) {
      this.#d.logger.error("canary_failed", `judging canaries failed: ${(err as Error).message}`);
    } finally {
      this.#judging = false;
    }
  }
}
