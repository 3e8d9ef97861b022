/**
 * Warm spares per model version, for the runtime whose replica is slowest to start: a Docker container
 * (created, its interpreter up and its libraries imported: 1–2 s before its runtime can answer). While a
 * Docker version runs, one container of its image waits started with `--standby` and the artifact mounted;
 * the next replica of that version (the replacement of a hung or crashed one, a scale-up) adopts it and only
 * loads the model: tens of ms instead of a container's start. Another is started once that replica is ready.
 * Invariant: a spare is killed, and its container removed, when its version stops or the server does.
 */
import { Spare } from "./spare.ts";

export interface VersionSpare {
  readonly spare: Spare;
  /** The container's name (recorded for the sweep; removed when the spare dies unadopted). */
  readonly container: string;
}

export class VersionSpares {
  readonly #spares = new Map<string, VersionSpare>();

  /** `remove` removes a container whose spare ended without being adopted. */
  constructor(readonly remove: (container: string) => void) {}

  /** The live spare of version `key`, handed out once (the caller adopts it). */
  take(key: string): VersionSpare | undefined {
    const s = this.#spares.get(key);
    this.#spares.delete(key);
    if (s?.spare.alive) return s;
    if (s) this.remove(s.container);
    return undefined;
  }

  /** Starts a spare for `key` unless a live one waits; `make` names the container and gives the command. */
  warm(key: string, make: () => { command: string[]; container: string }): void {
    const s = this.#spares.get(key);
    if (s?.spare.alive) return;
    if (s) this.remove(s.container);
    const { command, container } = make();
    try {
      this.#spares.set(key, { spare: new Spare(command), container });
    } catch {
      this.remove(container); // No docker CLI: replicas will say so when one is asked for.
    }
  }

  /** Kills the spare of `key` (its version stopped). */
  drop(key: string): void {
    const s = this.#spares.get(key);
    if (!s) return;
    this.#spares.delete(key);
    s.spare.kill();
    this.remove(s.container);
  }

  dropAll(): void {
    for (const key of [...this.#spares.keys()]) this.drop(key);
  }

  /** The live spares' pids and containers (children of the server that are no replica). */
  list(): { pids: number[]; containers: string[] } {
    const pids: number[] = [];
    const containers: string[] = [];
    for (const s of this.#spares.values()) {
      containers.push(s.container);
      if (s.spare.alive) pids.push(s.spare.proc.pid);
    }
    return { pids, containers };
  }
}
