/**
 * Containers of the Docker runtime: each replica's container is named and labelled by data directory, model,
 * version and replica; it is removed when its replica ends (a SIGKILLed `docker run` client leaves its
 * container running), and a restarted server removes every container a previous run of the same data
 * directory left behind (named in `<data-dir>/containers`).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LABEL_DATA_DIR = "clipper.data-dir";
export const LABEL_MODEL = "clipper.model";
export const LABEL_VERSION = "clipper.version";
export const LABEL_REPLICA = "clipper.replica";

/** How long a `docker rm -f` may take before it is given up on (the engine may be gone). */
const REMOVE_TIMEOUT_MS = 15_000;

/** A container name unique on the engine: Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
export function containerName(dataDir: string, model: string, version: string, replicaSeq: number): string {
  const scope = createHash("sha256").update(dataDir).digest("hex").slice(0, 8);
  const safe = (s: string) => s.replace(/[^a-zA-Z0-9_.-]/g, "_");
  return `clipper-${scope}-${safe(model)}-${safe(version)}-${replicaSeq}-${randomBytes(3).toString("hex")}`;
}

/**
 * Removes containers by name (running or not). Resolves true when the engine answered (removed, or no such
 * container), false when it did not (gone, or no answer within REMOVE_TIMEOUT_MS). Never throws.
 */
export async function removeContainers(names: readonly string[]): Promise<boolean> {
  if (names.length === 0) return true;
  try {
    const proc = Bun.spawn(["docker", "rm", "--force", ...names], { stdout: "ignore", stderr: "pipe", stdin: "ignore" });
    const timer = setTimeout(() => proc.kill("SIGKILL"), REMOVE_TIMEOUT_MS);
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    clearTimeout(timer);
    return code === 0 || /No such container|is already in progress/i.test(stderr);
  } catch {
    return true; // No docker CLI: there is nothing it could have started either.
  }
}

/**
 * The containers this run has started and not yet removed, recorded in a file so that the next start can
 * remove leftovers. A name the engine could not remove (it was gone) stays until a later removal succeeds.
 */
export class ContainerRecord {
  readonly #path: string;
  readonly #names = new Set<string>();
  readonly #removals = new Set<Promise<void>>();

  constructor(path: string) {
    this.#path = path;
  }

  add(name: string): void {
    this.#names.add(name);
    this.#write();
  }

  /** Removes a container in the background (killing its `docker run` client, on a hang or crash, does not). */
  remove(name: string): void {
    const removal = removeContainers([name]).then((removed) => {
      if (removed && this.#names.delete(name)) this.#write();
      this.#removals.delete(removal);
    });
    this.#removals.add(removal);
  }

  /** Removes recorded containers that are not in `live` (left while the engine was gone). */
  removeStrays(live: ReadonlySet<string>): void {
    for (const name of this.#names) if (!live.has(name)) this.remove(name);
  }

  /** Containers started and not yet removed. */
  names(): string[] {
    return [...this.#names];
  }

  /** How many removals are under way (a container being removed is neither a replica nor a leak yet). */
  get removing(): number {
    return this.#removals.size;
  }

  /** Resolves when the removals under way have finished. */
  async settled(): Promise<void> {
    await Promise.all(this.#removals);
  }

  /** Removes the containers a previous run recorded and did not remove; returns how many names there were. */
  sweep(): number {
    if (!existsSync(this.#path)) return 0;
    const names = readFileSync(this.#path, "utf8")
      .split("\n")
      .filter((n) => /^clipper-[a-zA-Z0-9_.-]+$/.test(n));
    try {
      if (names.length > 0) Bun.spawnSync(["docker", "rm", "--force", ...names], { stdout: "ignore", stderr: "ignore", timeout: REMOVE_TIMEOUT_MS });
    } catch {
      // No docker CLI any more: nothing to remove with it.
    }
    this.#write();
    return names.length;
  }

  #write(): void {
    try {
      writeFileSync(this.#path, [...this.#names].map((n) => `${n}\n`).join(""), { mode: 0o600 });
    } catch {
      // Best effort: losing the file only loses the sweep after a SIGKILL.
    }
  }
}

/** How long a container's memory from `docker stats` (when its cgroup cannot be read here) is reused. */
const STATS_EVERY_MS = 2000;

/** Memory in bytes from cgroup files: usage less the inactive file cache, as `docker stats` counts it. */
function cgroupBytes(dir: string): number | undefined {
  try {
    const v2 = existsSync(join(dir, "memory.current"));
    const usage = Number(readFileSync(join(dir, v2 ? "memory.current" : "memory.usage_in_bytes"), "utf8"));
    const stat = readFileSync(join(dir, "memory.stat"), "utf8");
    const inactive = new RegExp(`^${v2 ? "inactive_file" : "total_inactive_file"} (\\d+)$`, "m").exec(stat);
    return Number.isFinite(usage) ? Math.max(0, usage - Number(inactive?.[1] ?? 0)) : undefined;
  } catch {
    return undefined;
  }
}

/** The memory cgroup directory of a process, from /proc/PID/cgroup (v1's memory controller, else v2's unified one). */
export function memoryCgroupDir(pid: number, root = "/sys/fs/cgroup"): string | undefined {
  try {
    const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n");
    const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
    const dir = v1 ? join(root, "memory", v1.slice(v1.indexOf(":", v1.indexOf(":") + 1) + 1)) : undefined;
    if (dir && existsSync(join(dir, "memory.usage_in_bytes"))) return dir;
    const v2 = lines.find((l) => l.startsWith("0::"));
    const unified = v2 ? join(root, v2.slice(3)) : undefined;
    return unified && existsSync(join(unified, "memory.current")) ? unified : undefined;
  } catch {
    return undefined;
  }
}

/** `docker stats`'s "12.5MiB / 1.9GiB" → MiB. */
export function statsMb(usage: string): number | undefined {
  const m = /^\s*([\d.]+)\s*([KMGT]?i?B)/i.exec(usage);
  if (!m) return undefined;
  const unit = m[2]!.toUpperCase().replace("I", "");
  const scale = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024, TB: 1048576 }[unit];
  return scale === undefined ? undefined : Number(m[1]) * scale;
}

/**
 * The memory each container holds (MiB), as `docker stats` counts it. Each container's memory cgroup is found
 * once (`docker inspect` gives its init process, /proc gives its cgroup) and then read at every sample, which
 * costs a file read; an engine whose cgroups this process cannot see (another host, another namespace) is asked
 * through `docker stats --no-stream` instead, at most every STATS_EVERY_MS. Undefined until known.
 */
export class ContainerMemory {
  readonly #dirs = new Map<string, string | "pending" | "stats">();
  readonly #stats = new Map<string, number>();
  #statsAtMs = 0;
  #statsRunning = false;

  mb(name: string): number | undefined {
    const dir = this.#dirs.get(name);
    if (dir === undefined) {
      this.#resolve(name);
      return undefined;
    }
    if (dir === "pending") return undefined;
    if (dir === "stats") {
      this.#refreshStats();
      return this.#stats.get(name);
    }
    const bytes = cgroupBytes(dir);
    return bytes === undefined ? undefined : bytes / 1048576;
  }

  forget(name: string): void {
    this.#dirs.delete(name);
    this.#stats.delete(name);
  }

  #resolve(name: string): void {
    this.#dirs.set(name, "pending");
    void (async () => {
      let pid = 0;
      try {
        const proc = Bun.spawn(["docker", "inspect", "--format", "{{.State.Pid}}", name], { stdout: "pipe", stderr: "ignore", stdin: "ignore" });
        const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
        pid = code === 0 ? Number(out.trim()) : 0;
      } catch {
        pid = 0;
      }
      if (this.#dirs.get(name) !== "pending") return; // Forgotten meanwhile.
      if (!(pid > 0)) {
        // Not running yet (or gone): asked again at a later sample.
        setTimeout(() => this.#dirs.get(name) === "pending" && this.#dirs.delete(name), 500);
        return;
      }
      this.#dirs.set(name, memoryCgroupDir(pid) ?? "stats");
    })();
  }

  #refreshStats(): void {
    if (this.#statsRunning || performance.now() - this.#statsAtMs < STATS_EVERY_MS) return;
    const names = [...this.#dirs].filter(([, d]) => d === "stats").map(([n]) => n);
    if (names.length === 0) return;
    this.#statsRunning = true;
    void (async () => {
      try {
        const proc = Bun.spawn(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", ...names], {
          stdout: "pipe",
          stderr: "ignore",
          stdin: "ignore",
        });
        const out = await new Response(proc.stdout).text();
        await proc.exited;
        for (const line of out.split("\n")) {
          const [n, usage] = line.split("\t");
          const mb = usage === undefined ? undefined : statsMb(usage);
          if (n && mb !== undefined && this.#dirs.has(n)) this.#stats.set(n, mb);
        }
      } catch {
        // No answer: the last figures stay.
      } finally {
        this.#statsAtMs = performance.now();
        this.#statsRunning = false;
      }
    })();
  }
}
