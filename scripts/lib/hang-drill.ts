/**
 * The hang drill of issue 21, shared by the e2e test (test/e2e/hang.test.ts) and `scripts/bench --hang`:
 * `clients` closed-loop clients query an app for `windowMs`, each input new (a counter per client, so the
 * answers come from the model, not the cache); at `hangAtMs` one query sends the input that hangs the model
 * (first value 13) and at `againAtMs` the same input again. What the other clients lost is measured from
 * their answers; where the time went (the watchdog's detection, the replacement) from the server's log.
 */

export interface DrillOptions {
  readonly clients: number;
  readonly windowMs: number;
  readonly hangAtMs: number;
  readonly againAtMs: number;
}

/** The issue's drill: 12 clients for 20 s, the hanging input at 5 s (and again at 12 s). */
export const ISSUE_DRILL: DrillOptions = { clients: 12, windowMs: 20_000, hangAtMs: 5000, againAtMs: 12_000 };

export interface Answer {
  readonly client: number;
  readonly sentMs: number;
  readonly atMs: number;
  readonly isDefault: boolean;
  readonly reason: string | undefined;
}

export interface DrillResult {
  /** Answers the other clients got, and how many were defaults (their share). */
  readonly others: number;
  readonly lost: number;
  readonly lostShare: number;
  /** The longest run of defaults one client got in a row, from just before the hanging query to the second sending. */
  readonly outage: { readonly ms: number; readonly endMs: number };
  /** The longest such run after the second sending (nothing hangs then: a machine's hiccup at most). */
  readonly gapAfterAgain: { readonly ms: number; readonly endMs: number };
  /** Defaults of the others in the second after the second sending, beside the second before it. */
  readonly lostAroundAgain: { readonly before: number; readonly after: number };
  readonly first: Answer;
  readonly again: Answer;
  readonly reasons: string[];
  /** The drill's start on performance.now()'s clock and on the wall clock (to place the server's log lines). */
  readonly t0: number;
  readonly t0Wall: number;
}

async function post(url: string, input: number[], t0: number, client = -1): Promise<Answer> {
  const sentMs = performance.now() - t0;
  const res = await fetch(url, { method: "POST", body: JSON.stringify({ input }) });
  const json = (await res.json()) as { default?: boolean; default_explanation?: string };
  if (res.status !== 200) throw new Error(`answered ${res.status}: ${JSON.stringify(json)}`);
  return { client, sentMs, atMs: performance.now() - t0, isDefault: json.default === true, reason: json.default_explanation };
}

export async function hangDrill(predictUrl: string, o: DrillOptions = ISSUE_DRILL): Promise<DrillResult> {
  const t0 = performance.now();
  const t0Wall = Date.now();
  const others: Answer[] = [];
  const clients = Array.from({ length: o.clients }, async (_, c) => {
    for (let i = 0; performance.now() - t0 < o.windowMs; i++) others.push(await post(predictUrl, [20 + c * 1_000_000 + i, c], t0, c));
  });
  const hanging = (async () => {
    await Bun.sleep(o.hangAtMs);
    const first = await post(predictUrl, [13, 0], t0);
    await Bun.sleep(Math.max(0, o.againAtMs - (performance.now() - t0)));
    const again = await post(predictUrl, [13, 0], t0);
    return { first, again };
  })();
  await Promise.all(clients);
  const { first, again } = await hanging;
  const defaults = others.filter((a) => a.isDefault);
  const lostIn = (from: number, to: number) => defaults.filter((a) => a.sentMs >= from && a.sentMs < to).length;
  return {
    others: others.length,
    lost: defaults.length,
    lostShare: defaults.length / others.length,
    outage: longestDefaults(others, o.clients, first.sentMs - 200, again.sentMs),
    gapAfterAgain: longestDefaults(others, o.clients, again.sentMs, o.windowMs),
    lostAroundAgain: { before: lostIn(again.sentMs - 1000, again.sentMs), after: lostIn(again.sentMs, again.sentMs + 1000) },
    first,
    again,
    reasons: [...new Set(defaults.map((a) => a.reason ?? ""))],
    t0,
    t0Wall,
  };
}

/** The longest run of defaults one client got in a row among answers sent in [fromMs, toMs]: from its first query's sending to its last answer. */
function longestDefaults(answers: readonly Answer[], clients: number, fromMs: number, toMs: number): { ms: number; endMs: number } {
  let longest = { ms: 0, endMs: fromMs };
  for (let c = 0; c < clients; c++) {
    let runStart: number | undefined;
    for (const a of answers) {
      if (a.client !== c || a.sentMs < fromMs || a.sentMs > toMs) continue;
      if (!a.isDefault) {
        runStart = undefined;
        continue;
      }
      runStart ??= a.sentMs;
      if (a.atMs - runStart > longest.ms) longest = { ms: a.atMs - runStart, endMs: a.atMs };
    }
  }
  return longest;
}

/** Where the outage went, from the server's JSON log lines: ms after the hanging query was sent. */
export interface HangTimeline {
  /** The watchdog found the batch hung (and killed its replica): the detection time. */
  readonly hungMs: number[];
  /** The input was quarantined. */
  readonly quarantinedMs: number | undefined;
  /** A replacement replica answered its hello, and how long it took from the exit. */
  readonly replacedMs: { readonly atMs: number; readonly tookMs: number; readonly spare: boolean }[];
}

export function hangTimeline(log: string, model: string, drill: DrillResult): HangTimeline {
  const origin = drill.t0Wall + drill.first.sentMs;
  const hungMs: number[] = [];
  const replacedMs: { atMs: number; tookMs: number; spare: boolean }[] = [];
  let quarantinedMs: number | undefined;
  for (const line of log.split("\n")) {
    if (!line.startsWith("{") || !line.includes(model)) continue;
    let e: { ts?: string; event?: string; model?: string; ms?: number; spare?: boolean };
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (e.model !== `${model}:1` || !e.ts) continue;
    const at = Date.parse(e.ts) - origin;
    if (at < -1000) continue;
    if (e.event === "replica_hung") hungMs.push(at);
    else if (e.event === "input_quarantined") quarantinedMs ??= at;
    else if (e.event === "replica_replaced") replacedMs.push({ atMs: at, tookMs: e.ms ?? 0, spare: e.spare === true });
  }
  return { hungMs, quarantinedMs, replacedMs };
}

/** One line for the log of a test or a bench. */
export function describeDrill(runtime: string, o: DrillOptions, d: DrillResult, t: HangTimeline | undefined): string {
  const since = (ms: number) => `${Math.round(ms)} ms`;
  return (
    `${runtime} hang drill (${o.clients} clients, ${o.windowMs / 1000} s): others answered ${d.others}, lost ${d.lost} (${(100 * d.lostShare).toFixed(2)}%); ` +
    `outage (longest run of defaults of one client) ${since(d.outage.ms)}, ending ${since(d.outage.endMs - d.first.sentMs)} after the hanging query; ` +
    `hanging query answered in ${since(d.first.atMs - d.first.sentMs)} (${d.first.reason}), again in ${since(d.again.atMs - d.again.sentMs)} (${d.again.reason}); ` +
    `after sending it again: longest run ${since(d.gapAfterAgain.ms)}, defaults in the second before/after ${d.lostAroundAgain.before}/${d.lostAroundAgain.after}` +
    (t
      ? `; timeline after the hanging query: hung at ${t.hungMs.map(since).join(", ") || "-"}, quarantined at ${t.quarantinedMs === undefined ? "-" : since(t.quarantinedMs)}, ` +
        `replaced at ${t.replacedMs.map((r) => `${since(r.atMs)} (took ${since(r.tookMs)}${r.spare ? ", spare" : ""})`).join(", ") || "-"}`
      : "")
  );
}
