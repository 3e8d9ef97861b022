import { expect, it } from "bun:test";
import { LogThrottle } from "../src/log.ts";

it("LogThrottle: the first line of a kind in a window goes, the others are counted and reported once at its end", async () => {
  const held: [string, number][] = [];
  let reported: () => void = () => undefined;
  const report = new Promise<void>((resolve) => (reported = resolve));
  const throttle = new LogThrottle(50, (kind, count) => {
    held.push([kind, count]);
    reported();
  });
  const t0 = performance.now();
  expect(throttle.pass("a", t0)).toBe(true);
  // Another kind has its own window.
  expect(throttle.pass("b", t0)).toBe(true);
  for (let i = 0; i < 5; i++) expect(throttle.pass("a", t0 + i)).toBe(false);
  expect(held).toEqual([]);
  await report;
  expect(held).toEqual([["a", 5]]);
  // After the window the next line goes again, and nothing was held for "b".
  expect(throttle.pass("a", performance.now())).toBe(true);
  expect(throttle.pass("b", performance.now())).toBe(true);
  expect(held).toEqual([["a", 5]]);
});

it("LogThrottle: a line after the window opens a new one even before the held count is reported", () => {
  const held: number[] = [];
  const throttle = new LogThrottle(10_000, (_, count) => held.push(count));
  expect(throttle.pass("a", 0)).toBe(true);
  expect(throttle.pass("a", 1)).toBe(false);
  expect(throttle.pass("a", 10_000)).toBe(true);
  expect(throttle.pass("a", 10_001)).toBe(false);
});
