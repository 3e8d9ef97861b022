/** Runs wrk against one URL with a file of POST bodies and parses the result line post.lua prints. */
import { join } from "node:path";
import { trackChild } from "../lib/proc.ts";

const LUA = join(import.meta.dir, "post.lua");

export interface WrkResult {
  readonly connections: number;
  readonly threads: number;
  readonly durationSec: number;
  readonly requests: number;
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  /** Responses with status ≥ 400 (wrk counts those as status errors). */
  readonly non2xx: number;
  readonly socketErrors: { connect: number; read: number; write: number; timeout: number };
  readonly errors: number;
  /** CPU seconds (user + system) wrk itself used. */
  readonly cpuSec: number;
}

interface Raw {
  requests: number;
  duration_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  mean_us: number;
  errors_connect: number;
  errors_read: number;
  errors_write: number;
  errors_status: number;
  errors_timeout: number;
}

/**
 * One wrk run: `-t1 -c connections -d durationSec --latency`. One thread: on 2 cores, wrk on one core and the
 * server on the other gave the Bun limit ~50k req/s at 64 connections, -t2 (wrk taking both) ~30k.
 */
/**
 * The CPU wrk is pinned to (with taskset), or undefined to let the scheduler place it. Pinned, wrk keeps one
 * core and the server has the other to itself; unpinned, the scheduler now and then puts both on one core,
 * and the same server's req/s swung by ±30% from one run to the next.
 */
let pinCpu: number | undefined;

export function pinWrk(cpu: number | undefined): void {
  pinCpu = cpu;
}

export async function runWrk(url: string, bodiesPath: string, connections: number, durationSec: number, timeoutSec = 5): Promise<WrkResult> {
  const threads = 1;
  const cmd = [
    ...(pinCpu === undefined ? [] : ["taskset", "-c", String(pinCpu)]),
    "wrk",
    `-t${threads}`,
    `-c${connections}`,
    `-d${durationSec}s`,
    `--timeout`,
    `${timeoutSec}s`,
    "--latency",
    "-s",
    LUA,
    url,
  ];
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, BENCH_BODIES: bodiesPath } });
  const untrack = trackChild(proc.pid);
  // wrk stops itself after -d; this bounds a wrk that hangs on a server that stopped answering.
  const killer = setTimeout(() => proc.kill("SIGKILL"), (durationSec + timeoutSec + 15) * 1000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  untrack();
  const usage = proc.resourceUsage();
  const cpuSec = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 : 0;
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (code !== 0 || !line) throw new Error(`wrk exited ${code} without a result:\n${stdout}\n${stderr}`.trim());
  const r = JSON.parse(line.slice("BENCH_RESULT ".length)) as Raw;
  const seconds = r.duration_us / 1e6;
  const socketErrors = { connect: r.errors_connect, read: r.errors_read, write: r.errors_write, timeout: r.errors_timeout };
  return {
    connections,
    threads,
    durationSec: seconds,
    requests: r.requests,
    requestsPerSec: r.requests / seconds,
    p50Ms: r.p50_us / 1000,
    p90Ms: r.p90_us / 1000,
    p99Ms: r.p99_us / 1000,
    p999Ms: r.p999_us / 1000,
    maxMs: r.max_us / 1000,
    meanMs: r.mean_us / 1000,
    non2xx: r.errors_status,
    socketErrors,
    errors: r.errors_status + r.errors_connect + r.errors_read + r.errors_write + r.errors_timeout,
    cpuSec,
  };
}
