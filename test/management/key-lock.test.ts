/** The per-key lock: one holder per key in order of arrival, no lost wake-ups, a failing holder releases it, a bounded wait. */
import { describe, expect, it } from "bun:test";
import { ConflictError } from "../../src/errors.ts";
import { KeyLock } from "../../src/management/key-lock.ts";

/** A promise and its resolver, to hold an operation open until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe("KeyLock", () => {
  it("runs the operations on one key one at a time, in order of arrival", async () => {
    const lock = new KeyLock();
    const events: string[] = [];
    let inside = 0;
    let most = 0;
    const op = (name: string, ticks: number) =>
      lock.run("model m", name, async () => {
        inside++;
        most = Math.max(most, inside);
        events.push(`start ${name}`);
        for (let i = 0; i < ticks; i++) await Promise.resolve();
        events.push(`end ${name}`);
        inside--;
      });
    await Promise.all([op("a", 5), op("b", 1), op("c", 3), op("d", 0)]);
    expect(most).toBe(1);
    expect(events).toEqual(["start a", "end a", "start b", "end b", "start c", "end c", "start d", "end d"]);
  });

  it("runs operations on different keys at the same time", async () => {
    const lock = new KeyLock();
    const g = gate();
    const first = lock.run("model a", "slow", () => g.promise);
    let otherRan = false;
    await lock.run("model b", "fast", () => {
      otherRan = true;
    });
    expect(otherRan).toBe(true);
    expect(lock.holder("model a")).toBe("slow");
    g.open();
    await first;
    expect(lock.holder("model a")).toBeUndefined();
  });

  it("wakes every waiter: none is lost when many queue behind a holder and each releases at once", async () => {
    const lock = new KeyLock();
    const g = gate();
    const first = lock.run("k", "first", () => g.promise);
    const done: number[] = [];
    const waiters = Array.from({ length: 200 }, (_, i) => lock.run("k", `w${i}`, () => void done.push(i)));
    g.open();
    await Promise.all([first, ...waiters]);
    expect(done).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(lock.holders()).toEqual([]);
  });

  it("is released by a holder that throws, and the next in line runs", async () => {
    const lock = new KeyLock();
    const failing = lock.run("k", "failing", async () => {
      await Promise.resolve();
      throw new Error("replica start failed");
    });
    const next = lock.run("k", "next", () => "ran");
    await expect(failing).rejects.toThrow("replica start failed");
    expect(await next).toBe("ran");
    expect(lock.holder("k")).toBeUndefined();
  });

  it("answers a 409 naming the operation in progress to a caller that waited longer than the bound, and keeps the others' order", async () => {
    const lock = new KeyLock(50);
    const g = gate();
    const first = lock.run("model m", "deploy of model m version 2", () => g.promise);
    const late = lock.run("model m", "rollback of model m", () => "late ran");
    const patient = lock.run("model m", "scale", () => "patient ran", Number.POSITIVE_INFINITY);
    const err = await late.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).message).toMatch(
      /^model m is busy: deploy of model m version 2 has run for \d+\.\d s, and rollback of model m waited 0 s behind it$/,
    );
    g.open();
    await first;
    expect(await patient).toBe("patient ran");
    expect(lock.holders()).toEqual([]);
  });
});
