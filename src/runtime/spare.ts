/**
 * Warm spares: runtimes started ahead of need, waiting for a `load` frame naming the model, that the next
 * replica adopts instead of starting cold (a deploy, a scale-up, a crash replacement, a cold start from zero).
 * Two kinds of set hold them, both read by the manager through `SpareSet` (memory budget, pid file, status):
 * the Python workers of this file, kept per kind (interpreter and the libraries it imports ahead) in a number
 * that follows the rate at which they are taken; and the Node and Docker spares per version (version-spares.ts).
 * Invariant: a spare's exit is reported once, to whoever owns it at that moment; a spare never starts when the
 * memory budget has no room for it, and it is the first thing killed when a replica needs the room.
 */
import type { Subprocess } from "bun";
import { procStat } from "./supervision.ts";

type ExitHandler = (code: number | null, signal: number | string | null) => void;

export class Spare {
  readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  #exited = false;
  #onExit: ExitHandler | undefined;
  #warm = false;
  #lastTicks = -1;

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

  /** True once the spare has done its imports: seen asleep (waiting for its `load`) with no CPU used since the last look. */
  get warm(): boolean {
    return this.#warm;
  }

  /** Looks at the process once (each tick): a runtime still importing runs or waits for the CPU. */
  look(): void {
    if (this.#warm || this.#exited) return;
    const s = procStat(this.proc.pid);
    if (!s) return;
    if (s.state === "S" && s.ticks === this.#lastTicks) this.#warm = true;
    this.#lastTicks = s.ticks;
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

/** One live spare as the manager sees it: its process, its container (Docker), what it is warm for. */
export interface SpareEntry {
  readonly spare: Spare;
  /** What it can become: a Python kind (`python:<interpreter>[+modules]`), `node`, or a Docker version's key. */
  readonly kind: string;
  readonly container?: string | undefined;
}

/** What the memory budget, the pid file and status read of a set of spares, Python or Node and Docker alike. */
export interface SpareSet {
  /** Every live spare. */
  list(): readonly SpareEntry[];
  /** Kills one spare other than `keep` to give its memory back (the cheapest to lose first); false when none is left. */
  shed(keep: Spare | undefined): boolean;
  killAll(): void;
}

/** What a Python spare is warm for: an interpreter, and the modules it imports ahead (none: the worker's default, scikit-learn). */
export interface SpareKind {
  readonly python: string;
  readonly preload: readonly string[];
}

/** Kinds kept warm at once: a kind not asked for since four others were is dropped (its spares killed). */
const MAX_KINDS = 4;

/** The key of a Python spare kind: `SpareEntry.kind` and status name it so. */
export const spareKindKey = (k: SpareKind) => `python:${k.python}${k.preload.length ? `+${k.preload.join(",")}` : ""}`;

interface Kind {
  readonly kind: SpareKind;
  readonly key: string;
  spares: Spare[];
  /** How many spares of this kind are kept now: 1, more while replicas take them faster than they warm up. */
  target: number;
  usedMs: number;
  /** When the target last changed or a spare was taken: the target shrinks after a calm window from then. */
  changedMs: number;
  /**
   * A kind first asked for by a replica that starts cold, or whose spare a scale-up or a replacement took: its
   * next spare waits until `warm` (that replica is up), or its imports would compete for the CPU with that start
   * and with the replicas under load.
   */
  held: boolean;
}

/**
 * The Python spares of every kind asked for lately. Each kind keeps `target` spares, 1 at first: a cold start that
 * takes a spare while none of its kind is warm (all still importing) shows that spares are taken faster than
 * they warm up, and the target grows by one, up to `maxPerKind`; after `calmMs` without a take it shrinks
 * by one, back to 1. A spare taken is replaced at once, the replacements of a burst in parallel. `room` says
 * whether the memory budget has room for one more spare of a kind: none starts without it.
 */
export class SparePool implements SpareSet {
  readonly #kinds = new Map<string, Kind>();

  constructor(
    private readonly maxPerKind: number,
    private readonly calmMs: number,
    private readonly command: (kind: SpareKind) => string[],
    private readonly room: (kind: string) => boolean,
    private readonly changed: () => void,
  ) {}

  /** Keeps `kind` warm from now on and starts its spares up to its target (no-op with 0 spares). */
  warm(kind: SpareKind): void {
    const entry = this.#entry(kind);
    if (!entry) return;
    entry.held = false;
    this.#topUp(entry);
  }

  /** The spare `take` would hand out now (the memory budget counts it as the replica's already). */
  peek(kind: SpareKind): Spare | undefined {
    const entry = this.#kinds.get(spareKindKey(kind));
    if (!entry) return undefined;
    return entry.spares.find((s) => s.alive && s.warm) ?? entry.spares.find((s) => s.alive);
  }

  /**
   * A live spare of `kind` (a warm one first), taken out of the pool (`refill` replaces it). Undefined when none
   * is alive. `burst` false: a take that does not count toward growing the kind (a scale-up or a replacement,
   * whose extra spares would only take the CPU from the replicas under load).
   */
  take(kind: SpareKind, burst = true): Spare | undefined {
    const known = this.#kinds.has(spareKindKey(kind));
    const entry = this.#entry(kind);
    if (!entry) return undefined;
    if (!known) {
      entry.held = true;
      return undefined;
    }
    const now = performance.now();
    entry.usedMs = now;
    entry.changedMs = now;
    entry.spares = entry.spares.filter((s) => s.alive);
    const spare = this.peek(kind);
    // None at all is no sign of a burst (the budget had no room, or one died): a spare still importing is.
    if (burst && spare && !spare.warm && entry.target < this.maxPerKind) entry.target++;
    if (spare) entry.spares = entry.spares.filter((s) => s !== spare);
    // Not a burst: the kind waits for `warm` (the replica that took it is up) before it starts another.
    if (spare && !burst) entry.held = true;
    return spare;
  }

  /** Starts the spares `kind` lacks now (after a take: once the replica that took one counts in the budget). */
  refill(kind: SpareKind): void {
    const entry = this.#kinds.get(spareKindKey(kind));
    if (entry) this.#topUp(entry);
  }

  /** Each tick: sees which spares have warmed up, shrinks the targets of kinds calm for `calmMs`, and refills. */
  tick(nowMs: number): void {
    for (const entry of this.#kinds.values()) {
      entry.spares = entry.spares.filter((s) => s.alive);
      for (const s of entry.spares) s.look();
      if (entry.target > 1 && nowMs - entry.changedMs >= this.calmMs) {
        entry.target--;
        entry.changedMs = nowMs;
        // The youngest goes: the others are more likely warm.
        while (entry.spares.length > entry.target) entry.spares.pop()!.kill();
        this.changed();
      }
      this.#topUp(entry);
    }
  }

  /** How many spares each kind keeps now (status). */
  targets(): Record<string, number> {
    return Object.fromEntries([...this.#kinds.values()].map((e) => [e.key, e.target]));
  }

  list(): SpareEntry[] {
    return [...this.#kinds.values()].flatMap((e) => e.spares.filter((s) => s.alive).map((spare) => ({ spare, kind: e.key })));
  }

  /**
   * Kills one spare other than `keep`: from the kind holding the most, else the least recently used kind; the
   * youngest of its spares. Its kind keeps one spare less (at least one: refilled when the budget has room again),
   * so that a full budget does not start spares only to kill them.
   */
  shed(keep: Spare | undefined): boolean {
    let from: Kind | undefined;
    let fromN = 0;
    for (const e of this.#kinds.values()) {
      const n = e.spares.filter((s) => s.alive && s !== keep).length;
      if (n === 0) continue;
      if (!from || n > fromN || (n === fromN && e.usedMs < from.usedMs)) {
        from = e;
        fromN = n;
      }
    }
    if (!from) return false;
    const victim = from.spares.findLast((s) => s.alive && s !== keep)!;
    from.spares = from.spares.filter((s) => s !== victim);
    if (from.target > 1) from.target--;
    victim.kill();
    this.changed();
    return true;
  }

  killAll(): void {
    for (const e of this.#kinds.values()) for (const s of e.spares) s.kill();
    this.#kinds.clear();
  }

  /** The kind's entry, made (and the oldest kinds dropped) when it is new; undefined with 0 spares. */
  #entry(kind: SpareKind): Kind | undefined {
    if (this.maxPerKind === 0) return undefined;
    const key = spareKindKey(kind);
    let entry = this.#kinds.get(key);
    if (!entry) {
      const now = performance.now();
      entry = { kind, key, spares: [], target: 1, usedMs: now, changedMs: now, held: false };
      this.#kinds.set(key, entry);
      this.#dropOldKinds();
    }
    return entry;
  }

  /** Starts spares of `entry` up to its target, in parallel, as far as the memory budget has room. */
  #topUp(entry: Kind): void {
    if (entry.held || !this.#kinds.has(entry.key)) return;
    let started = false;
    entry.spares = entry.spares.filter((s) => s.alive);
    while (entry.spares.length < entry.target && this.room(entry.key)) {
      try {
        entry.spares.push(new Spare(this.command(entry.kind)));
        started = true;
      } catch {
        break; // No such interpreter: its replicas report it when one is asked for.
      }
    }
    if (started) this.changed();
  }

  #dropOldKinds(): void {
    while (this.#kinds.size > MAX_KINDS) {
      let oldest: Kind | undefined;
      for (const e of this.#kinds.values()) if (!oldest || e.usedMs < oldest.usedMs) oldest = e;
      for (const s of oldest!.spares) s.kill();
      this.#kinds.delete(oldest!.key);
    }
  }
}
