/**
 * What management needs from outside it, as narrow views: the runtimes (a view of the runtime manager), the
 * first-prediction replay (the server provides it; management never reaches into a queue), and the
 * artifacts and environments that operations in flight hold (so that no clean-up removes what another uses).
 */
import type { PoolQueue, RuntimeManager } from "../runtime/manager.ts";

/** The runtime manager as management uses it (a test passes a fake with the same shape). */
export type Runtimes = Pick<
  RuntimeManager<PoolQueue>,
  | "start"
  | "stop"
  | "scale"
  | "running"
  | "drained"
  | "logPath"
  | "replicasOf"
  | "status"
  | "replicas"
  | "pools"
  | "sparePids"
  | "standby"
  | "containers"
  | "canServe"
  | "scaling"
  | "memory"
  | "memoryMb"
  | "limits"
  | "setLimits"
  | "events"
  | "queue"
>;

/**
 * Replays the last input the version `fromKey` answered as the first prediction of the version `toKey`;
 * resolves when it was answered (or there was nothing to replay), rejects with the runtime's error.
 */
export type FirstPrediction = (fromKey: string, toKey: string, timeoutMs: number) => Promise<void>;

/**
 * Artifacts (by sha256) and environments (by id) that operations in flight are using: counted references.
 * An upload holds its artifact for a short lease, so that the deploy that follows finds it even when another
 * operation's clean-up runs in between.
 */
export class InFlight {
  readonly #refs = new Map<string, number>();
  /** Uploads' leases by name: each a release; the deploy that takes the artifact over ends them. */
  readonly #leases = new Map<string, (() => void)[]>();
  /** Called when the last reference to a name goes. */
  onReleased: (name: string) => void = () => undefined;

  /** Holds `name` for `ms` or until claimed (an upload, until its deploy arrives). */
  lease(name: string, ms: number): void {
    const release = this.hold(name);
    const end = () => {
      clearTimeout(timer);
      release();
      const left = (this.#leases.get(name) ?? []).filter((r) => r !== end);
      if (left.length) this.#leases.set(name, left);
      else this.#leases.delete(name);
    };
    const timer = setTimeout(end, ms);
    timer.unref?.();
    this.#leases.set(name, [...(this.#leases.get(name) ?? []), end]);
  }

  /**
   * An operation that now holds `name` itself ends one upload's lease on it (its own upload's, as far as anyone
   * can tell: the same bytes uploaded by two clients are one artifact with two leases, one per deploy to come).
   */
  claim(name: string | undefined): void {
    if (name) this.#leases.get(name)?.[0]?.();
  }

  /** Whether an operation (not only an upload's lease) holds `name`. */
  heldByOperation(name: string): boolean {
    return this.count(name) > (this.#leases.get(name)?.length ?? 0);
  }

  /** Holds `names` until the returned release is called (once). */
  hold(...names: (string | undefined)[]): () => void {
    const held = names.filter((n): n is string => !!n);
    for (const n of held) this.#refs.set(n, (this.#refs.get(n) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const n of held) {
        const left = (this.#refs.get(n) ?? 1) - 1;
        if (left > 0) this.#refs.set(n, left);
        else {
          this.#refs.delete(n);
          this.onReleased(n);
        }
      }
    };
  }

  has(name: string): boolean {
    return this.#refs.has(name);
  }

  /** How many operations hold `name`. */
  count(name: string): number {
    return this.#refs.get(name) ?? 0;
  }
}
