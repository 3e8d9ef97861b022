/** The import rules of docs/architecture.md, checked: every import in src/ goes one way along the request path. */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const SRC = join(import.meta.dir, "../src");
const LEAVES = ["domain", "errors", "log", "auth"];

/** Layer → the layers it may import (itself always allowed). */
const ALLOWED: Record<string, readonly string[]> = {
  domain: [],
  errors: [],
  log: [],
  auth: [],
  "types.d": [],
  config: LEAVES,
  registry: LEAVES,
  policy: LEAVES,
  cache: LEAVES,
  runtime: [...LEAVES, "config", "registry"],
  batching: [...LEAVES, "runtime"],
  metrics: [...LEAVES, "batching"],
  capture: LEAVES,
  query: [...LEAVES, "policy", "cache", "batching", "registry", "metrics"],
  management: [...LEAVES, "config", "registry", "policy", "cache", "runtime", "batching", "metrics", "query", "capture"],
  http: [...LEAVES, "config", "registry", "policy", "cache", "runtime", "batching", "metrics", "query", "management", "dashboard", "capture"],
  grpc: [...LEAVES, "config", "registry", "policy", "cache", "runtime", "batching", "metrics", "query", "management"],
  dashboard: [...LEAVES, "config", "management", "metrics"],
};
const ASSEMBLERS = new Set(["server", "cli", "main"]);

/** src/http/x.ts → "http"; src/domain.ts → "domain"; a path outside src/ → undefined. */
function layerOf(path: string): string | undefined {
  const rel = relative(SRC, path);
  if (rel.startsWith("..")) return undefined;
  return rel.split("/")[0]!.replace(/\.ts$/, "");
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

function edges(): { file: string; from: string; to: string }[] {
  const out: { file: string; from: string; to: string }[] = [];
  for (const file of sources(SRC)) {
    const from = layerOf(file)!;
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms)) {
      const to = layerOf(normalize(join(dirname(file), m[1]!)));
      if (to !== undefined && to !== from) out.push({ file: relative(SRC, file), from, to });
    }
  }
  return out;
}

describe("the import rules", () => {
  it("knows every layer of src/", () => {
    const layers = new Set(sources(SRC).map((f) => layerOf(f)!));
    const unknown = [...layers].filter((l) => !(l in ALLOWED) && !ASSEMBLERS.has(l));
    expect(unknown).toEqual([]);
  });

  it("finds imports to check", () => {
    expect(edges().length).toBeGreaterThan(50);
  });

  it("has no import against the direction of the request path", () => {
    const wrong = edges()
      .filter((e) => !ASSEMBLERS.has(e.from) && !ALLOWED[e.from]!.includes(e.to))
      .map((e) => `${e.file}: ${e.from} → ${e.to}`);
    expect(wrong).toEqual([]);
  });
});
