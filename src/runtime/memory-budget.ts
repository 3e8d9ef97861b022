/**
 * The memory budget's choices (pure): how much a new replica of a version will take, and which version gives
 * a replica back when one must start and the budget is full: the least recently queried version that runs
 * more than its minimum (a version with minimum 0 may go to zero) and has nothing waiting or in flight.
 */

export interface BudgetPool {
  readonly key: string;
  /** Replicas routed to (ready or starting). */
  readonly replicas: number;
  readonly min: number;
  readonly idle: boolean;
  readonly lastQueryMs: number;
  /** The most resident memory a replica of this version was seen to hold (MiB; 0: never measured). */
  readonly peakReplicaMb: number;
}

/** A new replica of `pool` is expected to take what its version's replicas took, else the mean of the others. */
export function estimateMb(pool: BudgetPool, all: readonly BudgetPool[]): number {
  if (pool.peakReplicaMb > 0) return pool.peakReplicaMb;
  const known = all.filter((p) => p.peakReplicaMb > 0);
  return known.length ? known.reduce((a, p) => a + p.peakReplicaMb, 0) / known.length : 0;
}

/** The least recently used version (not `forKey`) that may give a replica back, or undefined when none may. */
export function chooseVictim(pools: readonly BudgetPool[], forKey: string): BudgetPool | undefined {
  let victim: BudgetPool | undefined;
  for (const p of pools) {
    if (p.key === forKey || p.replicas <= p.min || !p.idle) continue;
    if (!victim || p.lastQueryMs < victim.lastQueryMs) victim = p;
  }
  return victim;
}
