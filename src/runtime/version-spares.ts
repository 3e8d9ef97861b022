/**
 * Warm spares of the Docker and Node runtimes (the other kind of spare set beside the Python workers' pool,
 * spare.ts), keyed
 * by what they can serve. A Docker container is the slowest replica to start (created, its interpreter up and
 * its libraries imported: 1–2 s before its runtime answers): while a Docker version runs, one container of its
 * image waits started with `--standby` and the artifact mounted (key: the version). A Node replica is this
 * binary started again (0.2–0.6 s on a busy machine): one `clipper runtime node --standby` waits for any Node
 * version (key: `node`). The next replica (the replacement of a hung or crashed one, a scale-up) adopts the
 * spare and only loads the model: tens of ms. Another is started once that replica is ready (when the memory
 * budget has room for it).
 * Invariant: a spare is killed, and its container removed, when its version stops or the server does.
 */
import { Spare, type SpareEntry, type SpareSet } from "./spare.ts";

export interface VersionSpare {
  readonly spare: Spare;
  /** Docker: the container's name (recorded for the sweep; removed when the spare dies unadopted). */
  readonly container: string | undefined;
}

export class VersionSpares implements SpareSet {
  readonly #spares = new Map<string, VersionSpare>();

  /** `remove` removes a container whose spare ended without being adopted. */
  constructor(readonly remove: (container: string) => void) {}

  /** The live spare `take(key)` would hand out now. */
  peek(key: string): Spare | undefined {
    const s = this.#spares.get(key);
    return s?.spare.alive ? s.spare : undefined;
  }

  /** The live spare of version `key`, handed out once (the caller adopts it). */
  take(key: string): VersionSpare | undefined {
    const s = this.#spares.get(key);
    this.#spares.delete(key);
    if (s?.spare.alive) return s;
    if (s?.container) this.remove(s.container);
    return undefined;
  }

  /** Starts a spare for `key` unless a live one waits; `make` names the container and gives the command. */
  warm(key: string, make: () => { command: string[]; container?: string }): void {
    const s = this.#spares.get(key);
    if (s?.spare.alive) return;
    if (s?.container) this.remove(s.container);
    const { command, container } = make();
    try {
      this.#spares.set(key, { spare: new Spare(command), container });
    } catch {
      if (container) this.remove(container); // No docker CLI: replicas will say so when one is asked for.
    }
  }

  /** Kills the spare of `key` (its version stopped). */
  drop(key: string): void {
    const s = this.#spares.get(key);
    if (!s) return;
    this.#spares.delete(key);
    s.spare.kill();
    if (s.container) this.remove(s.container);
  }

  killAll(): void {
    for (const key of [...this.#spares.keys()]) this.drop(key);
  }

  list(): SpareEntry[] {
    return [...this.#spares].flatMap(([kind, s]) => (s.spare.alive ? [{ spare: s.spare, kind, container: s.container }] : []));
  }

  /** Kills one spare other than `keep` (the first started) to give its memory back. */
  shed(keep: Spare | undefined): boolean {
    for (const [key, s] of this.#spares) {
      if (s.spare === keep) continue;
      this.drop(key);
      return true;
    }
    return false;
  }

  /** The live spares' pids and containers, those of spares that died unadopted included (children of the server that are no replica). */
  standby(): { pids: number[]; containers: string[] } {
    const pids: number[] = [];
    const containers: string[] = [];
    for (const s of this.#spares.values()) {
      if (s.container) containers.push(s.container);
      if (s.spare.alive) pids.push(s.spare.proc.pid);
    }
    return { pids, containers };
  }
}
