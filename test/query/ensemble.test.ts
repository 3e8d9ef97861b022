/** The ensemble's query path with fake models: who is asked, what the vote gives each row, and the reasons of its defaults. */
import { describe, expect, it } from "bun:test";
import { modelChoice } from "../../src/domain.ts";
import { RECENT_ANSWERS, StragglerGuard } from "../../src/policy/straggler.ts";
import { askModels, combineVotes, ensembleOutcomes } from "../../src/query/ensemble.ts";
import type { Outcome } from "../../src/query/processor.ts";

const [a, b, c, s] = [modelChoice("a", "1"), modelChoice("b", "1"), modelChoice("c", "1"), modelChoice("s", "1")];
const ok = (output: unknown): Outcome => ({ ok: true, output });
const late: Outcome = { ok: false, reason: "no prediction within the latency SLO of 100000 µs" };

describe("combineVotes", () => {
  it("gives each row its own vote, confidence and voters", () => {
    const out = combineVotes(
      [a, b, c, s],
      [
        [ok("1"), ok("0")],
        [ok("1"), ok("0")],
        [ok("0"), ok("0")],
        [late, late],
      ],
      [1, 1, 1, 1],
      2,
      0,
    );
    expect(out[0]).toEqual({ ok: true, output: "1", vote: { confidence: 0.5, answeredBy: ["a:1", "b:1", "c:1"], total: 4 } });
    expect(out[1]).toMatchObject({ ok: true, output: "0", vote: { confidence: 0.75 } });
  });

  it("answers the default below the minimum confidence, and when nobody voted, with the reasons", () => {
    const [low] = combineVotes([a, b], [[ok("1")], [ok("0")]], [1, 1], 1, 0.9);
    expect(low).toMatchObject({ ok: false, reason: "confidence 0.50 below 0.90", vote: { confidence: 0.5 } });
    const [none] = combineVotes([a, s], [[late], [{ ok: false, reason: "model s:1 was not asked: …" }]], [1, 1], 1, 0);
    expect(none).toMatchObject({
      ok: false,
      reason: "no model of the ensemble answered (a:1: no prediction within the latency SLO of 100000 µs; model s:1 was not asked: …)",
    });
  });
});

describe("askModels", () => {
  it("asks every model without a guard, and answers at once when every answer is at hand", () => {
    const asked: string[] = [];
    const out = askModels([a, b], 1, performance.now() + 100, (m) => (asked.push(m.key), [ok(m.name)]), undefined);
    expect(asked).toEqual(["a:1", "b:1"]);
    expect(out).toEqual([[ok("a")], [ok("b")]]);
  });

  it("leaves out a model whose recent answers all came too late, saying why, and times the others' answers", async () => {
    const guard = new StragglerGuard(60_000);
    for (let i = 0; i < RECENT_ANSWERS; i++) guard.observe("s:1", 500);
    guard.shouldAsk("s:1", 100, performance.now()); // spends the probe
    const asked: string[] = [];
    const out = await ensembleOutcomes(
      [a, s],
      [1, 1],
      0,
      [[80]],
      performance.now() + 100,
      (m, answered) => {
        asked.push(m.key);
        return Promise.resolve().then(() => (answered?.(), [ok("1")]));
      },
      guard,
    );
    expect(asked).toEqual(["a:1"]);
    expect(out[0]).toMatchObject({ ok: true, output: "1", vote: { confidence: 0.5, answeredBy: ["a:1"], total: 2 } });
    expect(guard.fastestMs("a:1")).toBeLessThan(100);
  });
});
