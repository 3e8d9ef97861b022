/** Runs the planned admin events through the CLI at their times: deploys alternating two artifacts, rollbacks, a scale up and down. */
import { run } from "../lib/proc.ts";
import type { PlannedEvent } from "./plan.ts";
import type { EventResult } from "./verdict.ts";

export interface EventContext {
  readonly root: string;
  readonly clipperBin: string;
  readonly mgmtUrl: string;
  readonly token: string;
  /** Version N is deployed from artifacts[(N - 1) % artifacts.length]. */
  readonly artifacts: readonly string[];
  readonly model: string;
  readonly log: (line: string) => void;
}

/** Which version is current and which one the next rollback returns to. */
interface VersionState {
  highest: number;
  current: number;
  previous: number | undefined;
}

interface Command {
  readonly args: string[];
  readonly short: string;
  readonly onSuccess: () => void;
}

function command(kind: PlannedEvent["kind"], st: VersionState, c: EventContext): Command | undefined {
  switch (kind) {
    case "deploy": {
      const v = st.highest + 1;
      const artifact = c.artifacts[(v - 1) % c.artifacts.length]!;
      return {
        args: ["deploy", artifact, "--name", c.model, "--app", c.model, "--version", String(v)],
        short: `deploy v${v} (${artifact.replace(/^.*\//, "")})`,
        onSuccess: () => Object.assign(st, { highest: v, previous: st.current, current: v }),
      };
    }
    case "rollback": {
      const target = st.previous;
      if (target === undefined) return undefined;
      return {
        args: ["rollback", c.model, String(target)],
        short: `rollback to v${target}`,
        onSuccess: () => Object.assign(st, { previous: st.current, current: target }),
      };
    }
    case "scale-up":
      return { args: ["scale", c.model, "2"], short: "scale to 2 replicas", onSuccess: () => undefined };
    case "scale-down":
      return { args: ["scale", c.model, "1"], short: "scale to 1 replica", onSuccess: () => undefined };
  }
}

/** Runs every event at `t0 + atSec` (later when the one before overran), one at a time, until done or `stopped()`. */
export async function runEvents(events: readonly PlannedEvent[], t0: number, c: EventContext, stopped: () => boolean): Promise<EventResult[]> {
  const st: VersionState = { highest: 1, current: 1, previous: undefined };
  const results: EventResult[] = [];
  for (const e of events) {
    const wait = t0 + e.atSec * 1000 - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    if (stopped()) break;
    const cmd = command(e.kind, st, c);
    if (!cmd) continue;
    const label = `clipper ${cmd.args.map((a) => a.replace(/^.*\//, "")).join(" ")}`;
    const startSec = (performance.now() - t0) / 1000;
    const r = await run([c.clipperBin, ...cmd.args, "--url", c.mgmtUrl], { cwd: c.root, env: { CLIPPER_TOKEN: c.token }, timeoutMs: 120_000 });
    const endSec = (performance.now() - t0) / 1000;
    if (r.code === 0) cmd.onSuccess();
    const output = (r.code === 0 ? "" : r.stderr || r.stdout).trim();
    results.push({ kind: e.kind, label, short: cmd.short, plannedSec: e.atSec, startSec, endSec, code: r.code, output });
    c.log(`t=${startSec.toFixed(1)} s ${label}: exit ${r.code} after ${(endSec - startSec).toFixed(1)} s${output ? `: ${output.split("\n")[0]}` : ""}`);
  }
  return results;
}
