/** Samples the RSS of the server process and of every replica (pids from POST /admin/get_all_containers) on a timer. */
import { rssBytes, sessionPids } from "../lib/proc.ts";

export interface ReplicaSample {
  readonly pid: number;
  readonly version: string;
  readonly state: string;
  readonly rssBytes: number;
}

export interface RssSample {
  /** Seconds after the load started. */
  readonly tSec: number;
  readonly serverBytes: number;
  /** Sum over the replicas listed; null when get_all_containers did not answer. */
  readonly replicasBytes: number | null;
  readonly replicas: readonly ReplicaSample[];
  /** Processes in the server's session that are neither the server nor a listed replica (leaked children show here). */
  readonly strayPids: readonly number[];
  readonly error?: string;
}

interface Container {
  model_version: string;
  state: string;
  pid: number | null;
}

async function containers(mgmtUrl: string, token: string): Promise<Container[]> {
  const res = await fetch(`${mgmtUrl}/admin/get_all_containers`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5000),
  });
  if (res.status !== 200) throw new Error(`get_all_containers answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return (await res.json()) as Container[];
}

/** One sample now. The server is a session leader (started via setsid), so its session holds exactly its descendants. */
export async function sampleOnce(serverPid: number, mgmtUrl: string, token: string, tSec: number): Promise<RssSample> {
  const serverBytes = rssBytes(serverPid);
  let listed: Container[];
  try {
    listed = await containers(mgmtUrl, token);
  } catch (err) {
    return { tSec, serverBytes, replicasBytes: null, replicas: [], strayPids: [], error: (err as Error).message };
  }
  const replicas = listed.filter((c) => c.pid !== null).map((c) => ({ pid: c.pid!, version: c.model_version, state: c.state, rssBytes: rssBytes(c.pid!) }));
  const known = new Set([serverPid, ...replicas.map((r) => r.pid)]);
  const strayPids = sessionPids(serverPid).filter((p) => !known.has(p));
  return { tSec, serverBytes, replicasBytes: replicas.reduce((s, r) => s + r.rssBytes, 0), replicas, strayPids };
}

/** Samples every `everyMs` from `t0` (a performance.now() value) until stopped. */
export function startSampler(o: { serverPid: number; mgmtUrl: string; token: string; everyMs: number; t0: number }): {
  samples: RssSample[];
  stop(): Promise<RssSample[]>;
} {
  const samples: RssSample[] = [];
  let running = true;
  const done = (async () => {
    for (let next = o.t0; running; next = Math.max(next + o.everyMs, performance.now())) {
      const wait = next - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      if (!running) break;
      samples.push(await sampleOnce(o.serverPid, o.mgmtUrl, o.token, (performance.now() - o.t0) / 1000));
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await done;
      return samples;
    },
  };
}
