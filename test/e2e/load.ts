/** Bounded concurrent load on 127.0.0.1 that counts every answer, for rollout and fault tests. */

export interface LoadCounts {
  sent: number;
  ok: number;
  defaults: number;
  errors5xx: number;
  errors4xx: number;
  failed: number;
  /** Output → count among non-default answers. */
  outputs: Map<string, number>;
  /** performance.now() of the first non-default answer per output. */
  firstSeen: Map<string, number>;
  /** Default explanation → count. */
  reasons: Map<string, number>;
}

/** Runs `concurrency` request loops against `url` until `stop()` resolves (or `maxMs`). */
export function steadyLoad(url: string, body: () => unknown, concurrency: number, maxMs = 60_000) {
  const counts: LoadCounts = {
    sent: 0,
    ok: 0,
    defaults: 0,
    errors5xx: 0,
    errors4xx: 0,
    failed: 0,
    outputs: new Map(),
    firstSeen: new Map(),
    reasons: new Map(),
  };
  let running = true;
  const until = performance.now() + maxMs;
  const loop = async () => {
    while (running && performance.now() < until) {
      counts.sent++;
      try {
        const res = await fetch(url, { method: "POST", body: JSON.stringify(body()) });
        const json = (await res.json()) as { output?: unknown; default?: boolean; default_explanation?: string };
        if (res.status >= 500) counts.errors5xx++;
        else if (res.status >= 400) counts.errors4xx++;
        else if (json.default) {
          counts.defaults++;
          const why = String(json.default_explanation);
          counts.reasons.set(why, (counts.reasons.get(why) ?? 0) + 1);
        } else {
          counts.ok++;
          const key = String(json.output);
          counts.outputs.set(key, (counts.outputs.get(key) ?? 0) + 1);
          if (!counts.firstSeen.has(key)) counts.firstSeen.set(key, performance.now());
        }
      } catch {
        counts.failed++;
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    counts,
    async stop(): Promise<LoadCounts> {
      running = false;
      await Promise.all(loops);
      return counts;
    },
  };
}
