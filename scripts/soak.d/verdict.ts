/** The soak's judgement (pure): RSS growth between the first post-warm-up window and the last window, and every failed answer. */
import { countsAddUp, type Counts } from "./load.ts";
import type { Plan } from "./plan.ts";
import type { RssSample } from "./sampler.ts";

export interface Growth {
  readonly name: string;
  /** Median over the first window after the warm-up ("at warm-up end"). */
  readonly baselineBytes: number | null;
  /** Median over the last window ("at the end"). */
  readonly endBytes: number | null;
  readonly growthPct: number | null;
  readonly baselineSamples: number;
  readonly endSamples: number;
  readonly peakBytes: number;
}

export interface EventResult {
  readonly kind: string;
  /** The full command line, and a few words for the chart. */
  readonly label: string;
  readonly short: string;
  readonly plannedSec: number;
  readonly startSec: number;
  readonly endSec: number;
  readonly code: number;
  readonly output: string;
}

export interface Verdict {
  readonly pass: boolean;
  readonly reasons: readonly string[];
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function windows(plan: Plan): { baseline: [number, number]; end: [number, number] } {
  return {
    baseline: [plan.warmupSec, plan.warmupSec + plan.windowSec],
    end: [plan.durationSec - plan.windowSec, plan.durationSec + 1],
  };
}

export function growth(name: string, samples: readonly RssSample[], plan: Plan, pick: (s: RssSample) => number | null): Growth {
  const w = windows(plan);
  const values = (from: number, to: number) =>
    samples
      .filter((s) => s.tSec >= from && s.tSec < to)
      .map(pick)
      .filter((v): v is number => v !== null && v > 0);
  const base = values(...w.baseline);
  const end = values(...w.end);
  const baselineBytes = median(base);
  const endBytes = median(end);
  const all = samples.map(pick).filter((v): v is number => v !== null);
  return {
    name,
    baselineBytes,
    endBytes,
    baselineSamples: base.length,
    endSamples: end.length,
    peakBytes: Math.max(0, ...all),
    growthPct: baselineBytes && endBytes !== null ? ((endBytes - baselineBytes) / baselineBytes) * 100 : null,
  };
}

export function judge(o: {
  counts: Counts;
  growths: readonly Growth[];
  maxGrowthPct: number;
  events: readonly EventResult[];
  serverExit: number | undefined;
}): Verdict {
  const reasons: string[] = [];
  const c = o.counts;
  if (c.errors5xx > 0) reasons.push(`${c.errors5xx} answers were 5xx`);
  if (c.failed > 0) reasons.push(`${c.failed} requests got no answer (connection failures or timeouts)`);
  if (c.sent === 0) reasons.push("no request was sent");
  if (!countsAddUp(c)) reasons.push("the counts do not add up");
  for (const g of o.growths) {
    if (g.growthPct === null) reasons.push(`${g.name}: too few RSS samples to compare`);
    else if (g.growthPct > o.maxGrowthPct) reasons.push(`${g.name} RSS grew ${g.growthPct.toFixed(1)}% (limit ${o.maxGrowthPct}%)`);
  }
  for (const e of o.events) if (e.code !== 0) reasons.push(`${e.label} exited ${e.code}`);
  if (o.serverExit !== undefined) reasons.push(`the server exited (code ${o.serverExit}) during the run`);
  return { pass: reasons.length === 0, reasons };
}
