/**
 * Metrics of payload capture and canaries, read at scrape time: captured and dropped rows per app, each
 * canary's state and live comparison, and verdicts by kind. Gauges in GET /metrics, sections in /metrics.json.
 */
import { Gauge } from "prom-client";
import type { Metrics } from "./metrics.ts";

/** What the rollout metrics read (the capture writer's counts, management's canaries). */
export interface RolloutState {
  readonly capture: { statuses(): { app: string; captured_rows: number; dropped_rows: number; pending_rows: number; bytes: number; sample: number }[] };
  canaries(): {
    model: string;
    version: string;
    state: string;
    reason: string;
    comparison: { rows: number; canary_error_rate: number; current_error_rate: number; p99_ratio: number; agreement: number } | undefined;
  }[];
  /** `model\0verdict` → count since start. */
  readonly verdicts: ReadonlyMap<string, number>;
  /** Input statistics per app, with the drift score against the reference. */
  inputStats(): Record<string, { drift: { score: number } | undefined }>;
}

const STATES = ["running", "promoted", "rolled_back", "aborted"] as const;

export function registerRolloutMetrics(metrics: Metrics, s: RolloutState): void {
  const registers = [metrics.prometheus.registry];
  new Gauge({
    name: "clipper_capture_rows",
    help: "Payload capture per app: rows captured, dropped (the writer fell behind) and pending since start",
    labelNames: ["app", "kind"] as const,
    registers,
    collect() {
      this.reset();
      for (const c of s.capture.statuses()) {
        this.set({ app: c.app, kind: "captured" }, c.captured_rows);
        this.set({ app: c.app, kind: "dropped" }, c.dropped_rows);
        this.set({ app: c.app, kind: "pending" }, c.pending_rows);
      }
    },
  });
  new Gauge({
    name: "clipper_capture_bytes",
    help: "Bytes the app's capture files hold",
    labelNames: ["app"] as const,
    registers,
    collect() {
      this.reset();
      for (const c of s.capture.statuses()) this.set({ app: c.app }, c.bytes);
    },
  });
  new Gauge({
    name: "clipper_canary_state",
    help: "Each model's last canary: 1 for its state (running, promoted, rolled_back, aborted)",
    labelNames: ["model", "version", "state"] as const,
    registers,
    collect() {
      this.reset();
      for (const c of s.canaries()) for (const state of STATES) this.set({ model: c.model, version: c.version, state }, c.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: "clipper_canary_comparison",
    help: "A running canary against the current version: rows, error rates, p99 ratio, agreement",
    labelNames: ["model", "version", "measure"] as const,
    registers,
    collect() {
      this.reset();
      for (const c of s.canaries()) {
        const k = c.comparison;
        if (c.state !== "running" || !k) continue;
        const l = { model: c.model, version: c.version };
        this.set({ ...l, measure: "rows" }, k.rows);
        this.set({ ...l, measure: "canary_error_rate" }, k.canary_error_rate);
        this.set({ ...l, measure: "current_error_rate" }, k.current_error_rate);
        this.set({ ...l, measure: "p99_ratio" }, k.p99_ratio);
        this.set({ ...l, measure: "agreement" }, k.agreement);
      }
    },
  });
  new Gauge({
    name: "clipper_canary_verdicts",
    help: "Canary verdicts since start, by model and verdict (promoted, rolled_back, aborted)",
    labelNames: ["model", "verdict"] as const,
    registers,
    collect() {
      this.reset();
      for (const [k, n] of s.verdicts) {
        const [model, verdict] = k.split("\u0000");
        this.set({ model: model!, verdict: verdict! }, n);
      }
    },
  });
  new Gauge({
    name: "clipper_input_drift_score",
    help: "Drift of an app's captured inputs: PSI of its last window against the reference, the largest over the features",
    labelNames: ["app"] as const,
    registers,
    collect() {
      this.reset();
      for (const [app, st] of Object.entries(s.inputStats())) if (st.drift) this.set({ app }, st.drift.score);
    },
  });
  metrics.addSection("capture", () => Object.fromEntries(s.capture.statuses().map((c) => [c.app, c])));
  metrics.addSection("canaries", () => Object.fromEntries(s.canaries().map((c) => [c.model, c])));
  metrics.addSection("input_stats", () => s.inputStats());
}
