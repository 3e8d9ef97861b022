/**
 * The Python spare pool with real processes standing in for workers (`cat` waits on its stdin as a standby
 * worker waits for its `load`): the number kept follows the rate at which spares are taken, a taken spare is
 * replaced, nothing starts without room in the budget, and shedding gives memory back sparing the one kept.
 */
import { afterEach, describe, expect, it } from "bun:test";
import { type Spare, type SpareKind, SparePool } from "../../src/runtime/spare.ts";

const SKLEARN: SpareKind = { python: "py", preload: [] };
const TORCH: SpareKind = { python: "py", preload: ["torch"] };
const taken: Spare[] = [];
let pool: SparePool | undefined;
afterEach(() => {
  pool?.killAll();
  for (const s of taken.splice(0)) s.kill();
});

function make(max: number, opts: { calmMs?: number; room?: () => boolean } = {}): SparePool {
  pool = new SparePool(
    max,
    opts.calmMs ?? 60_000,
    () => ["cat"],
    opts.room ?? (() => true),
    () => undefined,
  );
  return pool;
}

const count = (p: SparePool, kind = "python:py") => p.list().filter((e) => e.kind === kind).length;

/** Looks at the spares until every one is warm (cat asleep on its stdin, no CPU used between two looks). */
async function untilWarm(p: SparePool): Promise<void> {
  for (let i = 0; i < 200 && !p.list().every((e) => e.spare.warm); i++) {
    p.tick(performance.now());
    await Bun.sleep(20);
  }
  expect(p.list().every((e) => e.spare.warm)).toBe(true);
}

describe("SparePool", () => {
  it("keeps one spare per kind at first and hands out the warm one", async () => {
    const p = make(4);
    p.warm(SKLEARN);
    expect(count(p)).toBe(1);
    await untilWarm(p);
    const first = p.list()[0]!.spare;
    const got = p.take(SKLEARN)!;
    taken.push(got);
    expect(got).toBe(first);
    // Taken while warm: no sign of a burst, the target stays 1; the refill replaces it.
    expect(p.targets()).toEqual({ "python:py": 1 });
    p.refill(SKLEARN);
    expect(count(p)).toBe(1);
    expect(p.list()[0]!.spare).not.toBe(first);
  });

  it("grows while spares are taken before they are warm, up to its cap, and shrinks back after a calm window", async () => {
    const p = make(3, { calmMs: 50 });
    p.warm(SKLEARN);
    for (let i = 0; i < 5; i++) {
      // Taken at once after the refill: never warm yet.
      const s = p.take(SKLEARN);
      if (s) taken.push(s);
      p.refill(SKLEARN);
    }
    expect(p.targets()["python:py"]).toBe(3);
    expect(count(p)).toBe(3);
    // No take for the calm window: one less per window, back to one.
    for (let i = 0; i < 100 && count(p) > 1; i++) {
      await Bun.sleep(60);
      p.tick(performance.now());
    }
    expect(p.targets()["python:py"]).toBe(1);
    expect(count(p)).toBe(1);
  });

  it("waits for the first replica of a new kind before starting its spare", () => {
    const p = make(2);
    expect(p.take(TORCH)).toBeUndefined();
    p.tick(performance.now());
    expect(count(p, "python:py+torch")).toBe(0);
    p.warm(TORCH);
    expect(count(p, "python:py+torch")).toBe(1);
  });

  it("starts no spare without room in the memory budget, and refills once there is", () => {
    let room = false;
    const p = make(2, { room: () => room });
    p.warm(SKLEARN);
    expect(count(p)).toBe(0);
    room = true;
    p.tick(performance.now());
    expect(count(p)).toBe(1);
  });

  it("sheds the spare of the kind holding most first, never the one kept, until none is left, and keeps fewer", async () => {
    const p = make(3);
    p.warm(SKLEARN);
    p.warm(TORCH);
    for (let i = 0; i < 2; i++) {
      taken.push(p.take(SKLEARN)!);
      p.refill(SKLEARN);
    }
    expect(count(p)).toBe(3);
    const keep = p.peek(TORCH)!;
    expect(p.shed(keep)).toBe(true);
    expect(count(p)).toBe(2);
    expect(p.shed(keep)).toBe(true);
    expect(p.shed(keep)).toBe(true);
    expect(p.shed(keep)).toBe(false);
    expect(p.list().map((e) => e.spare)).toEqual([keep]);
    // Each spare shed lowers its kind's count (not below one): a full budget does not start spares to kill them.
    expect(p.targets()).toEqual({ "python:py": 1, "python:py+torch": 1 });
  });

  it("keeps none with a cap of 0", () => {
    const p = make(0);
    p.warm(SKLEARN);
    expect(p.take(SKLEARN)).toBeUndefined();
    expect(p.list()).toEqual([]);
  });
});
