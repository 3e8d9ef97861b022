/**
 * Watches replica processes from the outside: resident memory against a limit, and the PID file that lets
 * a restarted server kill replicas left behind by a previous run that was killed with SIGKILL.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";

/** Resident memory of a process in MiB (Linux /proc), or undefined when it cannot be read. */
export function residentMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Records the PIDs of running replicas, so that the next start can find leftovers. */
export function writePidFile(path: string, pids: readonly number[]): void {
  try {
    writeFileSync(path, pids.join("\n") + (pids.length ? "\n" : ""), { mode: 0o600 });
  } catch {
    // Best effort: losing the file only loses the orphan sweep.
  }
}

/**
 * Kills replicas a previous run left alive: PIDs from the file whose command line still names this data
 * directory (so a reused PID of an unrelated process is never touched). Returns how many were killed.
 */
export function killLeftovers(path: string, dataDir: string): number {
  if (!existsSync(path)) return 0;
  let killed = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const pid = Number(line);
    if (!Number.isInteger(pid) || pid <= 1) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (!cmdline.includes(dataDir)) continue;
      process.kill(pid, "SIGKILL");
      killed++;
    } catch {
      // Gone already.
    }
  }
  writePidFile(path, []);
  return killed;
}

/**
 * A process's scheduler state letter (R running, S sleeping, Z zombie, ...), its parent and the CPU time it used,
 * in clock ticks (Linux /proc/PID/stat), or undefined when it cannot be read (gone, or no /proc).
 */
export function procStat(pid: number | string): { state: string; ppid: number; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may hold spaces) start after its closing parenthesis: state, ppid, …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0]!, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}
