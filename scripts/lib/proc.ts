/** Child processes of the benchmark: each server runs in its own session so it and its children stop together. */
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

export interface Service {
  readonly name: string;
  /** Process id of the session leader; also the session and process-group id. */
  readonly pid: number;
  readonly logPath: string;
  readonly exited: Promise<number>;
  /** Exit code of the leader once it has exited, else undefined. */
  exitCode(): number | undefined;
  /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves when the leader is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<number>();

/** Starts `cmd` via setsid (pid = session id = group id), stdout and stderr appended to `logPath`. */
export function spawnService(name: string, cmd: string[], opts: { cwd: string; env?: Record<string, string>; logPath: string }): Service {
  const fd = openSync(opts.logPath, "a");
  const proc = Bun.spawn(["setsid", ...cmd], {
    cwd: opts.cwd,
    stdin: "ignore",
    stdout: fd,
    stderr: fd,
    env: { ...process.env, ...opts.env },
  });
  closeSync(fd);
  const pid = proc.pid;
  live.add(pid);
  let exitCode: number | undefined;
  const exited = proc.exited.then((code) => (live.delete(pid), (exitCode = code)));
  return {
    name,
    pid,
    logPath: opts.logPath,
    exited,
    exitCode: () => exitCode,
    async stop(graceMs = 10_000) {
      signalGroup(pid, "SIGTERM");
      const killed = await Promise.race([exited.then(() => false), Bun.sleep(graceMs).then(() => true)]);
      if (killed) signalGroup(pid, "SIGKILL");
      await exited;
      // Children that outlived their leader (a replica mid-shutdown) go too.
      signalGroup(pid, "SIGKILL");
      live.delete(pid);
    },
  };
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The group is already gone.
  }
}

const helpers = new Set<number>();

/** Registers a plain child (wrk, pip, a CLI call) that killAll() must end too; returns a function that forgets it. */
export function trackChild(pid: number): () => void {
  helpers.add(pid);
  return () => helpers.delete(pid);
}

/** Kills every service and helper still running; synchronous so it can run from an exit handler. */
export function killAll(): void {
  for (const pid of live) signalGroup(pid, "SIGKILL");
  live.clear();
  for (const pid of helpers) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  helpers.clear();
}

let cleanupInstalled = false;
/** Makes sure no server outlives the benchmark, however it ends. */
export function installCleanup(onSignal: () => void = () => undefined): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      onSignal();
      killAll();
      process.exit(130);
    });
  }
}

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly session: number;
  readonly cpuTicks: number;
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SEC = 100;

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may hold spaces and parentheses: the fields we want follow the last ')'.
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat; rest[0] is field 3 (state).
    return { pid, ppid: Number(rest[1]), session: Number(rest[3]), cpuTicks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return undefined;
  }
}

/** Resident set size of one process in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Every process of a session (the service and all its descendants). */
export function sessionPids(session: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const st = readStat(Number(entry));
    if (st && st.session === session) pids.push(st.pid);
  }
  return pids;
}

/** CPU seconds (user + system, all threads) used so far by a service's leader and, summed, by its other processes. */
export function serviceCpu(leader: number): { leaderSec: number; childrenSec: number } {
  let leaderTicks = 0;
  let childTicks = 0;
  for (const pid of sessionPids(leader)) {
    const ticks = readStat(pid)?.cpuTicks ?? 0;
    if (pid === leader) leaderTicks = ticks;
    else childTicks += ticks;
  }
  return { leaderSec: leaderTicks / TICKS_PER_SEC, childrenSec: childTicks / TICKS_PER_SEC };
}

/** RSS of a service: its leader alone, and the leader plus every child in its session. */
export function serviceRss(leader: number): { leaderBytes: number; totalBytes: number; children: number[] } {
  const pids = sessionPids(leader);
  const children = pids.filter((p) => p !== leader);
  return { leaderBytes: rssBytes(leader), totalBytes: pids.reduce((s, p) => s + rssBytes(p), 0), children };
}

/** Samples a service's total RSS every `everyMs` until stopped; returns the peak. */
export function sampleRss(leader: number, everyMs = 500): { stop(): number } {
  let peak = serviceRss(leader).totalBytes;
  const timer = setInterval(() => (peak = Math.max(peak, serviceRss(leader).totalBytes)), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, serviceRss(leader).totalBytes);
    },
  };
}

const taken = new Set<number>();

/** A port from 20000–59999 that nothing on 127.0.0.1 listens on and this run has not handed out. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    if (taken.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (ok) {
      taken.add(port);
      return port;
    }
  }
  throw new Error("found no free port in 20000-59999 after 200 tries");
}

/** Polls `check` every `everyMs` until it returns true; throws after `timeoutMs`, or at once when `service` exits. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 50, service?: Service): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check().catch(() => false)) return;
    const code = service?.exitCode();
    if (code !== undefined) throw new Error(`${service!.name} exited with code ${code} before ${what} was ready`);
    await Bun.sleep(everyMs);
  }
  throw new Error(`${what} not ready after ${(timeoutMs / 1000).toFixed(0)} s`);
}

/** Last `lines` lines of a log file, for error reports. */
export function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Runs a command to completion and captures its output (for short helpers: train, pip, versions). */
export async function run(
  cmd: string[],
  opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...opts.env } });
  const untrack = trackChild(proc.pid);
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  untrack();
  return { code, stdout, stderr };
}

function cpuTimes(): { busy: number; total: number } {
  // First line of /proc/stat: "cpu user nice system idle iowait irq softirq steal ..." in ticks, all cores.
  const v = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

/** Share of all cores busy over the next `ms` (0–100). */
export async function cpuBusyPercent(ms = 500): Promise<number> {
  const a = cpuTimes();
  await Bun.sleep(ms);
  const b = cpuTimes();
  return b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * 100 : 0;
}

/**
 * Waits up to `maxWaitMs` until the machine is quiet (under `thresholdPct` of all cores busy) before a
 * measurement, since it is shared; returns the last busy share seen, which the report shows.
 */
export async function waitQuiet(maxWaitMs: number, thresholdPct = 25): Promise<number> {
  const deadline = performance.now() + maxWaitMs;
  for (;;) {
    const busy = await cpuBusyPercent(500);
    if (busy < thresholdPct || performance.now() >= deadline) return busy;
  }
}
