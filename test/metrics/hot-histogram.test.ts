import { expect, test } from "bun:test";
import { Registry } from "prom-client";
import { HotHistogram } from "../../src/metrics/hot-histogram.ts";

test("HotHistogram renders cumulative buckets, +Inf, sum and count per label through prom-client's registry", async () => {
  const registry = new Registry();
  const h = new HotHistogram("x_seconds", "test histogram", "app", [0.1, 1], registry);
  const a = h.child("a");
  for (const v of [0.05, 0.1, 0.5, 2]) a.observe(v);
  expect(h.child("a")).toBe(a);
  h.child("b").observe(5);
  const text = await registry.metrics();
  expect(text).toContain("# TYPE x_seconds histogram");
  expect(text).toContain('x_seconds_bucket{le="0.1",app="a"} 2');
  expect(text).toContain('x_seconds_bucket{le="1",app="a"} 3');
  expect(text).toContain('x_seconds_bucket{le="+Inf",app="a"} 4');
  expect(text).toContain('x_seconds_sum{app="a"} 2.65');
  expect(text).toContain('x_seconds_count{app="a"} 4');
  expect(text).toContain('x_seconds_bucket{le="1",app="b"} 0');
  expect(text).toContain('x_seconds_bucket{le="+Inf",app="b"} 1');
  registry.resetMetrics();
  expect(await registry.metrics()).not.toContain("x_seconds_count");
});
