/** The soak's timeline, decided before it starts: duration, warm-up, RSS windows, sampling period and the admin events. */

export type EventKind = "deploy" | "rollback" | "scale-up" | "scale-down";

export interface PlannedEvent {
  /** Seconds after the load started. */
  readonly atSec: number;
  readonly kind: EventKind;
}

export interface Plan {
  readonly quick: boolean;
  readonly durationSec: number;
  /** Samples before this are not judged: caches fill, the JIT settles, the first replica warms up. */
  readonly warmupSec: number;
  /** Length of the two windows compared: right after the warm-up, and at the end. */
  readonly windowSec: number;
  readonly sampleEveryMs: number;
  readonly events: readonly PlannedEvent[];
}

/** Full-mode order: two deploys, a rollback, a deploy, one scale up and down, then deploys and rollbacks in turn. */
const FULL_PATTERN: readonly EventKind[] = ["deploy", "deploy", "rollback", "deploy", "scale-up", "scale-down", "deploy", "rollback"];
/** No event this close to the end, so the run ends on the version its last event made current. */
const QUIET_TAIL_SEC = 45;

export function makePlan(o: { quick: boolean; minutes: number; eventEverySec: number }): Plan {
  if (o.quick) {
    return {
      quick: true,
      durationSec: 25,
      warmupSec: 5,
      windowSec: 2.5,
      sampleEveryMs: 500,
      events: [
        { atSec: 8, kind: "deploy" },
        { atSec: 15, kind: "rollback" },
      ],
    };
  }
  const durationSec = o.minutes * 60;
  const kinds: EventKind[] = [];
  const times: number[] = [];
  for (let t = o.eventEverySec; t <= durationSec - QUIET_TAIL_SEC; t += o.eventEverySec) times.push(t);
  for (let i = 0; i < times.length; i++) {
    kinds.push(FULL_PATTERN[i] ?? (i % 2 === 0 ? "deploy" : "rollback"));
  }
  // A scale-up without its scale-down would leave twice the replicas in the last window.
  if (kinds.at(-1) === "scale-up") kinds[kinds.length - 1] = "deploy";
  return {
    quick: false,
    durationSec,
    warmupSec: Math.max(30, durationSec * 0.2),
    windowSec: durationSec * 0.1,
    sampleEveryMs: 2000,
    events: times.map((atSec, i) => ({ atSec, kind: kinds[i]! })),
  };
}
