/**
 * Warm spares: Python workers started ahead of need with `--standby`. Each imports what loading its kind of
 * model imports anyway (numpy, scikit-learn; or a framework such as torch or onnxruntime for a model format)
 * and then waits for a `load` frame naming the model. The next Python replica of that kind adopts one
 * instead of starting cold: a deploy, a scale-up, a crash replacement or a cold start from zero.
 * Invariant: the process's exit is reported once, to whoever owns it at that moment.
 */
import type { Subprocess } from "bun";

type ExitHandler = (code: number | null, signal: number | string | null) => void;

export class Spare {
  readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  #exited = false;
  #onExit: ExitHandler | undefined;

  constructor(command: readonly string[]) {
    this.proc = Bun.spawn([...command], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
      onExit: (_p, code, signal) => {
        this.#exited = true;
        this.#onExit?.(code, signal);
      },
    });
  }

  /** False once the process has exited (a spare that died unadopted is never handed out). */
  get alive(): boolean {
    return !this.#exited;
  }

  /** Hands the process to a replica: from now on its exit goes to `onExit`. */
  adopt(onExit: ExitHandler): Subprocess<"pipe", "pipe", "pipe"> {
    this.#onExit = onExit;
    return this.proc;
  }

  kill(): void {
    if (!this.#exited) this.proc.kill("SIGKILL");
  }
}

/** What a spare is warm for: an interpreter, and the modules it imports ahead (none: the worker's default, scikit-learn). */
export interface SpareKind {
  readonly python: string;
  readonly preload: readonly string[];
}

/** Kinds kept warm at once: a kind not asked for since four others were is dropped (its spares killed). */
const MAX_KINDS = 4;

const kindKey = (k: SpareKind) => `${k.python}\u0000${k.preload.join(",")}`;

/**
 * The spares of every kind asked for lately, `perKind` of each. A spare taken is replaced only when `refill`
 * is called (after the replica that adopted it is ready): a replacement importing its libraries would
 * otherwise compete for the CPU with the very start it is meant to speed up.
 */
export class SparePool {
  readonly #kinds = new Map<string, { kind: SpareKind; spares: Spare[]; usedMs: number }>();

  constructor(
    private readonly perKind: number,
    private readonly command: (kind: SpareKind) => string[],
    private readonly changed: () => void,
  ) {}

  /** Keeps `kind` warm from now on and starts its spares when fewer than `perKind` are alive (no-op with 0 spares). */
  warm(kind: SpareKind): void {
    if (this.perKind === 0) return;
    const key = kindKey(kind);
    let entry = this.#kinds.get(key);
    if (!entry) {
      entry = { kind, spares: [], usedMs: performance.now() };
      this.#kinds.set(key, entry);
      this.#dropOldKinds();
    }
    entry.spares = entry.spares.filter((s) => s.alive);
    while (entry.spares.length < this.perKind) {
      try {
        entry.spares.push(new Spare(this.command(kind)));
      } catch {
        break; // No such interpreter: its replicas report it when one is asked for.
      }
    }
    this.changed();
  }

  /** A live spare of `kind`, taken out of the pool (undefined when none is alive); the kind stays wanted. */
  take(kind: SpareKind): Spare | undefined {
    if (this.perKind === 0) return undefined;
    const key = kindKey(kind);
    const entry = this.#kinds.get(key);
    if (!entry) {
      this.#kinds.set(key, { kind, spares: [], usedMs: performance.now() });
      this.#dropOldKinds();
      return undefined;
    }
    entry.usedMs = performance.now();
    entry.spares = entry.spares.filter((s) => s.alive);
    return entry.spares.shift();
  }

  /** Brings `kind` back to `perKind` spares (when it is still wanted). */
  refill(kind: SpareKind): void {
    if (this.#kinds.has(kindKey(kind))) this.warm(kind);
  }

  /** Pids of the spares alive. */
  pids(): number[] {
    return [...this.#kinds.values()].flatMap((e) => e.spares.filter((s) => s.alive).map((s) => s.proc.pid));
  }

  killAll(): void {
    for (const e of this.#kinds.values()) for (const s of e.spares) s.kill();
    this.#kinds.clear();
  }

  #dropOldKinds(): void {
    while (this.#kinds.size > MAX_KINDS) {
      let oldest: string | undefined;
      let oldestMs = Number.POSITIVE_INFINITY;
      for (const [key, e] of this.#kinds) if (e.usedMs < oldestMs) [oldest, oldestMs] = [key, e.usedMs];
      for (const s of this.#kinds.get(oldest!)!.spares) s.kill();
      this.#kinds.delete(oldest!);
    }
  }
}
