/** Steady, paced load on 127.0.0.1: `concurrency` loops of varied single predicts and an occasional input_batch, every answer counted. */
import { batchBody, hrRows, singleBody, type Row } from "../lib/bodies.ts";

export interface Counts {
  sent: number;
  /** 200 with a real prediction (for a batch: every row real). */
  ok: number;
  /** 200 carrying the app's default output (for a batch: at least one row). */
  defaults: number;
  errors4xx: number;
  errors5xx: number;
  /** Any other status (1xx, 3xx): should stay 0. */
  otherStatus: number;
  /** No HTTP answer: refused, reset, or no answer within the request timeout. */
  failed: number;
  /** The part of `failed` that was a timeout. */
  timeouts: number;
  /** How many of `sent` were input_batch requests, and their rows. */
  batches: number;
  batchRows: number;
  /** Non-default single answers per model version. */
  byVersion: Record<string, number>;
  /** The first few failures and error bodies, for the report. */
  errorSamples: string[];
}

export interface LoadOptions {
  readonly url: string;
  readonly concurrency: number;
  /** Target requests per second over all loops: the load stays steady instead of saturating the machine. */
  readonly ratePerSec: number;
  /** Every Nth request of a loop is an input_batch. */
  readonly batchEvery: number;
  readonly requestTimeoutMs: number;
}

const MAX_ERROR_SAMPLES = 10;
const ROW_POOL = 4000;

export function emptyCounts(): Counts {
  return {
    sent: 0,
    ok: 0,
    defaults: 0,
    errors4xx: 0,
    errors5xx: 0,
    otherStatus: 0,
    failed: 0,
    timeouts: 0,
    batches: 0,
    batchRows: 0,
    byVersion: {},
    errorSamples: [],
  };
}

/** sent = ok + defaults + 4xx + 5xx + other + failed, once every request has finished. */
export function countsAddUp(c: Counts): boolean {
  return c.sent === c.ok + c.defaults + c.errors4xx + c.errors5xx + c.otherStatus + c.failed;
}

interface Answer {
  output?: unknown;
  default?: boolean;
  model?: { version?: string };
  batch_predictions?: { default?: boolean }[];
}

function note(c: Counts, what: string): void {
  if (c.errorSamples.length < MAX_ERROR_SAMPLES) c.errorSamples.push(what.slice(0, 300));
}

async function sendOne(c: Counts, o: LoadOptions, body: string, isBatch: boolean): Promise<void> {
  c.sent++;
  let res: Response;
  let text: string;
  try {
    res = await fetch(o.url, { method: "POST", body, headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(o.requestTimeoutMs) });
    text = await res.text();
  } catch (err) {
    c.failed++;
    const name = (err as Error).name;
    if (name === "TimeoutError" || name === "AbortError") c.timeouts++;
    note(c, `no answer: ${name}: ${(err as Error).message}`);
    return;
  }
  if (res.status !== 200) {
    if (res.status >= 500) c.errors5xx++;
    else if (res.status >= 400) c.errors4xx++;
    else c.otherStatus++;
    note(c, `${res.status}: ${text}`);
    return;
  }
  let json: Answer;
  try {
    json = JSON.parse(text) as Answer;
  } catch {
    // A 200 that is not JSON is a server bug: counted with the 5xx so the verdict sees it.
    c.errors5xx++;
    note(c, `200 with a body that is not JSON: ${text}`);
    return;
  }
  const isDefault = isBatch ? (json.batch_predictions ?? []).some((p) => p.default !== false) : json.default !== false;
  if (isDefault) {
    c.defaults++;
    return;
  }
  c.ok++;
  const version = isBatch ? "batch" : (json.model?.version ?? "unknown");
  c.byVersion[version] = (c.byVersion[version] ?? 0) + 1;
}

/** Starts the loops; `stop()` ends them after their request in flight and resolves with the counts. */
export function startLoad(o: LoadOptions): { counts: Counts; stop(): Promise<Counts> } {
  const counts = emptyCounts();
  const rows: Row[] = hrRows(ROW_POOL);
  let running = true;
  // Each loop sends at concurrency / rate second intervals, offset so the loops do not fire together.
  const intervalMs = (o.concurrency / o.ratePerSec) * 1000;
  const loop = async (index: number) => {
    let next = performance.now() + (index * intervalMs) / o.concurrency;
    let seq = index * 7919;
    for (let n = 1; running; n++) {
      const wait = next - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      if (!running) break;
      seq = (seq * 1103515245 + 12345) >>> 0;
      const isBatch = n % o.batchEvery === 0;
      if (isBatch) {
        const size = 8 + (seq % 25);
        const start = seq % (ROW_POOL - size);
        counts.batches++;
        counts.batchRows += size;
        await sendOne(counts, o, batchBody("clipper", rows.slice(start, start + size)), true);
      } else {
        await sendOne(counts, o, singleBody("clipper", rows[seq % ROW_POOL]!), false);
      }
      next = Math.max(next + intervalMs, performance.now());
    }
  };
  const loops = Array.from({ length: o.concurrency }, (_, i) => loop(i));
  return {
    counts,
    async stop() {
      running = false;
      await Promise.all(loops);
      return counts;
    },
  };
}
