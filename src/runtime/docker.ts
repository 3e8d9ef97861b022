/**
 * Containers of the Docker runtime: each replica's container is named and labelled by data directory, model,
 * version and replica; it is removed when its replica ends (a SIGKILLed `docker run` client leaves its
 * container running), and a restarted server removes every container a previous run of the same data
 * directory left behind (named in `<data-dir>/containers`).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

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
