/** bench/soak.md: settings, counts, RSS at the warm-up end and the end, growth, events, verdict, machine. */
import { type Machine, machineSection } from "../lib/machine.ts";
import type { Counts } from "./load.ts";
import type { Plan } from "./plan.ts";
import type { RssSample } from "./sampler.ts";
import type { EventResult, Growth, Verdict } from "./verdict.ts";

export interface SoakResults {
  readonly generatedAt: string;
  readonly command: string;
  readonly plan: Plan;
  readonly settings: {
    readonly concurrency: number;
    readonly ratePerSec: number;
    readonly batchEvery: number;
    readonly requestTimeoutMs: number;
    readonly cacheEntries: number;
    readonly maxGrowthPct: number;
    readonly artifacts: readonly string[];
  };
  /** Seconds the load actually ran. */
  readonly loadSec: number;
  readonly counts: Counts;
  readonly growths: readonly Growth[];
  readonly events: readonly EventResult[];
  readonly verdict: Verdict;
  readonly machine: Machine;
  /** clipper's GET /metrics.json after the load stopped. */
  readonly finalMetrics: unknown;
  readonly samples: readonly RssSample[];
}

const MB = 1024 * 1024;
const mb = (b: number | null) => (b === null ? "n/a" : `${(b / MB).toFixed(1)} MB`);
const pct = (p: number | null) => (p === null ? "n/a" : `${p >= 0 ? "+" : ""}${p.toFixed(1)}%`);
const n = (v: number) => v.toLocaleString("en-US");

function countsTable(c: Counts, loadSec: number): string[] {
  return [
    "| answer | requests |",
    "|---|---|",
    `| sent | ${n(c.sent)} (${(c.sent / loadSec).toFixed(0)}/s; ${n(c.batches)} of them input_batch, ${n(c.batchRows)} rows) |`,
    `| 200, real prediction | ${n(c.ok)} |`,
    `| 200, default output | ${n(c.defaults)} |`,
    `| 4xx | ${n(c.errors4xx)} |`,
    `| 5xx | ${n(c.errors5xx)} |`,
    `| other status | ${n(c.otherStatus)} |`,
    `| connection failures (of which timeouts) | ${n(c.failed)} (${n(c.timeouts)}) |`,
    `| sum of the answers | ${n(c.ok + c.defaults + c.errors4xx + c.errors5xx + c.otherStatus + c.failed)} |`,
  ];
}

export function markdown(r: SoakResults): string {
  const p = r.plan;
  const s = r.settings;
  const m = r.machine;
  const last = r.samples.at(-1);
  const strays = Math.max(0, ...r.samples.map((x) => x.strayPids.length));
  const lines = [
    `# clipper soak test (${p.quick ? "quick" : "full"})`,
    "",
    `Generated ${r.generatedAt} by \`${r.command}\`.`,
    "",
    `**Verdict: ${r.verdict.pass ? "PASS" : "FAIL"}**${r.verdict.pass ? ` — no 5xx, no connection failure, RSS growth within ${s.maxGrowthPct}%` : `: ${r.verdict.reasons.join("; ")}`}.`,
    "",
    "## Settings",
    "",
    "| | |",
    "|---|---|",
    `| duration | ${p.durationSec} s of load (ran ${r.loadSec.toFixed(1)} s) |`,
    `| warm-up (not judged) | first ${p.warmupSec} s |`,
    `| RSS windows compared (medians) | baseline ${p.warmupSec}–${p.warmupSec + p.windowSec} s vs end ${p.durationSec - p.windowSec}–${p.durationSec} s |`,
    `| RSS sampled every | ${p.sampleEveryMs / 1000} s (server: /proc/PID/status VmRSS; replicas: pids from POST /admin/get_all_containers) |`,
    `| load | ${s.concurrency} loops on 127.0.0.1, paced to ${s.ratePerSec} requests/s in all; every ${s.batchEvery}th request of a loop an input_batch of 8–32 rows; varied rows from a pool of 4,000; ${s.requestTimeoutMs / 1000} s request timeout |`,
    `| server | \`clipper serve --cache-entries ${s.cacheEntries}\` (a cache small enough to fill during the warm-up, so its growth is not mistaken for a leak), temp data dir, HR model \`hr\` 1 Python replica |`,
    `| artifacts | ${s.artifacts.join("; ")} (deploys alternate between them) |`,
    `| events | ${p.events.length}: ${p.events.map((e) => `${e.kind} at ${e.atSec} s`).join(", ") || "none"} |`,
    `| RSS growth allowed | ${s.maxGrowthPct}% |`,
    "",
    "## Answers",
    "",
    ...countsTable(r.counts, r.loadSec),
    "",
    `Real single predictions per model version: ${
      Object.entries(r.counts.byVersion)
        .filter(([v]) => v !== "batch")
        .map(([v, k]) => `v${v} ${n(k)}`)
        .join(", ") || "none"
    }; ` + `input_batch requests with every row real: ${n(r.counts.byVersion.batch ?? 0)}.`,
    "",
    ...(r.counts.errorSamples.length
      ? ["First failures:", "", ...r.counts.errorSamples.map((e) => `- \`${e.replace(/`/g, "'").replace(/\n/g, " ")}\``), ""]
      : []),
    "## RSS",
    "",
    "| process | at warm-up end (baseline median) | at the end (last-window median) | growth | peak | samples (baseline/end) |",
    "|---|---|---|---|---|---|",
    ...r.growths.map(
      (g) => `| ${g.name} | ${mb(g.baselineBytes)} | ${mb(g.endBytes)} | ${pct(g.growthPct)} | ${mb(g.peakBytes)} | ${g.baselineSamples}/${g.endSamples} |`,
    ),
    "",
    `Replicas at the last sample: ${last ? last.replicas.map((x) => `v${x.version} pid ${x.pid} ${x.state} ${mb(x.rssBytes)}`).join(", ") || "none" : "n/a"}. ` +
      `Processes in the server's session that were neither the server nor a listed replica: at most ${strays} in a sample (a replica between spawn and listing, or after it left the list), ${last?.strayPids.length ?? "n/a"} at the last sample. ` +
      "Replica RSS peaks during deploys and rollbacks, when the incoming and the draining version run side by side.",
    "",
    `![RSS over time](soak-rss.svg)`,
    "",
    "## Events",
    "",
    "| planned s | started s | took s | command | exit |",
    "|---|---|---|---|---|",
    ...r.events.map(
      (e) =>
        `| ${e.plannedSec} | ${e.startSec.toFixed(1)} | ${(e.endSec - e.startSec).toFixed(1)} | \`${e.label}\` | ${e.code}${e.code ? `: ${e.output.replace(/\n/g, " ").slice(0, 200)}` : ""} |`,
    ),
    "",
    ...machineSection(m),
    "",
    "Every sample is in soak.json.",
    "",
  ];
  return lines.join("\n");
}
